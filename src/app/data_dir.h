// The data directory: configuration, key material, index and blob storage, and the
// wiring of the archive on top of them.
//
//   DIR/tresor.conf        documented configuration (see core/config.h)
//   DIR/keys/              key material, mode 0700; files 0600; never in the index
//                          (audit-signing.key: the Ed25519 seed of audit checkpoints)
//   DIR/index.db           the SQLite index ([index] backend = "sqlite", the default;
//                          "postgresql": the index is a database several nodes share)
//   DIR/storage/           sealed blobs (names chosen by the server), the staging area
//                          and `sealed` (the master key id the storage is sealed under);
//                          [storage] backend "shared" or "s3" keeps them elsewhere
//   DIR.keys/master.key    the master key of encryption at rest, OUTSIDE the data
//                          directory (default; keys.master_key_file or --master-key)
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>

#include "archive/archive_service.h"
#include "core/config.h"
#include "security/master_key.h"
#include "store/blob_store.h"
#include "store/index.h"
#include "store/sqlite_index.h"

namespace tresor::app {

// `path` if absolute, else `dir`/`path`.
std::string InDataDir(const std::string& dir, const std::string& path);
Result<std::string> ReadTextFile(const std::string& path);
// Creates `path` (which must not exist) with `mode`, writes and fsyncs it; on failure
// removes what it created.
Status WritePrivateFile(const std::string& path, const std::string& content, mode_t mode);
// fsyncs the directory holding `path` ("." for a bare name), so that a file created or
// renamed there survives a crash.
Status SyncParentDir(const std::string& path);

// The page key of DIR/index.db (docs/encryption-index.md): 32 random bytes made when the
// archive is created, kept in DIR/keys/index.key sealed with AES-256-GCM under
// DeriveKey(master, "index-key-wrap") of the master key whose id it names. `ring` is
// LoadKeyRing's (an interrupted rotation may have sealed it under the new key already).
// A missing key file is created only while DIR/index.db does not exist yet; otherwise
// kNotFound. kPermissionDenied when no key of `ring` sealed it; kDataLoss when damaged.
Result<std::string> IndexPageKey(const std::string& dir, const std::vector<security::MasterKey>& ring);
// Same, with the ring of DIR's configured master key (tools that only have DIR).
Result<std::string> IndexPageKey(const std::string& dir);
// (Re)seals `page_key` as DIR/keys/index.key under `master` (written aside, renamed
// over, directory synced): `tresor keys rotate` re-wraps it without touching the index.
Status SealIndexKeyFile(const std::string& dir, const std::string& page_key,
                        const security::MasterKey& master);

// Resolves --data / $TRESOR_DATA / ./var.
std::string ResolveDataDir(const std::string& flag);

// Where the master key of `dir` is: `flag` (--master-key) if given, else the config's
// keys.master_key_file (relative to `dir`), else `<dir>.keys/master.key` with `dir` made
// absolute (trailing slashes removed).
std::string MasterKeyPath(const std::string& dir, const Config& config, const std::string& flag);
// The key file of an interrupted rotation: the new key, kept beside the current one.
inline std::string RotationKeyPath(const std::string& key_path) { return key_path + ".new"; }

// Creates a new data directory. Fails if `dir` already holds one. Creates the master key
// at `master_key_file` (default: see MasterKeyPath), which must not exist; a given path
// is recorded in tresor.conf. `config_text` is the tresor.conf to write (checked first;
// empty: DefaultConfigText()); when it selects a PostgreSQL index, that database must
// hold no archive yet. Returns the administrator password, which is shown once and
// stored only as an Argon2id hash.
Result<std::string> InitDataDir(const std::string& dir, const std::string& master_key_file = "",
                                const std::string& config_text = "");

// Creates data directory `dir` for another node of the archive of data directory
// `first` (which must select a PostgreSQL index and shared or S3 storage): its
// tresor.conf with [cluster] node = `node`, and copies of the key material every node
// must share (master key, at MasterKeyPath(dir, ...) or `master_key_file`; token.key,
// audit-signing.key, the CA, server certificate and key; the S3 credentials file when it
// is inside `first`). Then opens it once to check that the backends are reachable.
Status JoinDataDir(const std::string& first, const std::string& dir, const std::string& node,
                   const std::string& master_key_file = "");

// An opened data directory with its archive.
struct OpenArchive {
  std::string dir;
  Config config;
  std::string master_key_path;
  // The current master key (subkeys: security::DeriveKey(master_key.bytes, purpose)).
  security::MasterKey master_key;
  // This node's name (app/index_backend.h NodeName).
  std::string node;
  // The configured backends ([index], [storage]); `sqlite` is `index` when it is SQLite.
  std::unique_ptr<store::Index> index;
  store::SqliteIndex* sqlite = nullptr;
  std::unique_ptr<store::BlobStore> blobs;
  // What the archive runs over instead of `index`/`blobs` when decorators are installed
  // (SetStoreDecorators); null otherwise.
  std::unique_ptr<store::Index> decorated_index;
  std::unique_ptr<store::BlobStore> decorated_blobs;
  std::unique_ptr<archive::ArchiveService> archive;
};

// Wrappers around the stores, for test binaries only (tests/tools/tresor_faulty injects
// faults through them). The tresor binary installs none: its archive runs directly over
// the configured index and blob store. Each function returns a store that forwards to the
// one it is given (which outlives it).
struct StoreDecorators {
  std::function<std::unique_ptr<store::Index>(store::Index&)> index;
  std::function<std::unique_ptr<store::BlobStore>(store::BlobStore&)> blobs;
};
// Installs `decorators` for every later OpenDataDir of the process (call before any).
void SetStoreDecorators(StoreDecorators decorators);

// Opens the data directory. Fails (the archive must not start) when the session token
// key is missing and cannot be created, or is shorter than security::kMinTokenKeyBytes,
// and when the master key is missing, unreadable, readable by others or not the one the
// storage is sealed under (a clear error naming the key file). `master_key_file`
// overrides the configured key location (--master-key).
Result<std::unique_ptr<OpenArchive>> OpenDataDir(const std::string& dir,
                                                 const std::string& master_key_file = "");
// The key ring of `key_path`: its key, and the new key of an interrupted rotation when
// RotationKeyPath(key_path) exists (current key first).
Result<std::vector<security::MasterKey>> LoadKeyRing(const std::string& key_path);

}  // namespace tresor::app
