// Preloaded into s3rver (node -r) by tests/tools/s3_server.sh: works around a race in
// s3rver 3.7.1's filesystem store (the latest release) that real S3 does not have.
//
// s3rver keeps key a/b/c as the file a/b/c._S3rver_object (plus .md5 and .metadata.json
// beside it). Its deleteObject, after unlinking those, removes every directory on the
// key's path that it then finds empty (readdirSync + rmdir). Its putObject does
// mkdirp(dirname) and only later opens the file. So a DELETE of a/b/x running while a PUT
// of a/b/y is between its mkdirp and its open removes a/b/, and the PUT's write stream
// fails with ENOENT on an 'error' event nobody handles: the whole server crashes. Two
// DELETEs in one directory race the same way (the loser's readdirSync throws: HTTP 500).
// Tresor's S3 store hits this by design, correctly: each node PUTs a staging marker
// staging/<node>/<blob> before a blob and DELETEs it to publish, from several threads.
// On S3 keys are flat (there are no directories), so concurrent PUT and DELETE of
// different keys never interfere.
//
// The fix: deleteObject unlinks the object's files and leaves directories in place. An
// empty directory holds no object, so listings, GETs and HEADs answer exactly as before
// (s3rver's listing walks files only).
'use strict';
const path = require('path');

const dir = process.env.TRESOR_S3RVER_DIR;
if (!dir) throw new Error('s3rver_fixes.js: TRESOR_S3RVER_DIR (the s3rver package) is not set');
const FilesystemStore = require(path.join(dir, 'lib', 'stores', 'filesystem.js'));
const version = require(path.join(dir, 'package.json')).version;
if (version !== '3.7.1') {
  // Written against 3.7.1's deleteObject: check the race again before trusting another.
  throw new Error(`s3rver_fixes.js: written for s3rver 3.7.1, found ${version}`);
}

FilesystemStore.prototype.deleteObject = async function deleteObject(bucket, key) {
  await Promise.all(
    ['object', 'object.md5', 'metadata.json'].map(resource =>
      require('fs').promises.unlink(this.getResourcePath(bucket, key, resource)).catch(err => {
        if (err.code !== 'ENOENT') throw err;
      }),
    ),
  );
};
