// S3BlobStore: blobs as objects of an S3-compatible bucket, always sealed.
//
// Object layout under `prefix` (a key prefix, so several archives may share a bucket):
//   PREFIX/sealed                   "tresor sealed storage 1" + the sealing key id, as
//                                   FileBlobStore's marker (no object data, no secret)
//   PREFIX/blobs/<name>             the sealed blob (store/sealed_blob.h format)
//   PREFIX/staging/<node>/<name>    an empty marker: blob <name> is staged by node <node>
//
// S3 has no rename, so staging does not move data: Create() writes the marker before any
// byte of the blob leaves, the blob is uploaded once to its final key, and Publish()
// deletes the marker. Recover() of a node looks only at its own markers
// (staging/<node>/): a referenced blob is published (marker deleted), an unreferenced one
// deleted with its marker. Other nodes' in-flight blobs are never touched.
//
// Uploads are streamed: the sealed bytes collect in a buffer of one part; a blob larger
// than a part becomes a multipart upload (each part sent as it fills), a smaller one one
// PUT. Reads fetch only the sealed segments covering the requested range (ranged GETs of
// up to kReadWindowSegments segments), so any range is read without the whole object.
//
// Durability: an object is durable once the server acknowledged the PUT or the multipart
// completion (S3's contract); Persist() therefore has nothing left to do.
// Integrity: any change to an object (bit flips, truncation, extension, an object copied
// over another's key) fails with kDataLoss, exactly as for FileBlobStore. The server
// never receives plaintext. Unreachable server: kUnavailable naming the endpoint, after
// the client's retries.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "store/blob_store.h"
#include "store/s3_client.h"
#include "store/sealed_blob.h"

namespace tresor::store {

struct S3BlobStoreOptions {
  S3Options s3;
  std::string prefix;  // "" or a key prefix of [A-Za-z0-9._/-] ("/" appended if missing)
  std::string node;    // this node's staging name: 1-64 of [A-Za-z0-9._-]
  std::shared_ptr<const KeyRing> keys;  // required: an S3 store is always sealed
  size_t part_bytes = 8 << 20;          // multipart part size, >= 5 MiB (S3's minimum)
};

class S3BlobStore : public BlobStore {
 public:
  // Contacts the server: checks (or records, in an empty prefix) the sealing marker.
  static Result<std::unique_ptr<S3BlobStore>> Make(S3BlobStoreOptions options);
  ~S3BlobStore() override;

  Result<std::unique_ptr<BlobWriter>> Create() override;
  Status Persist(const std::vector<std::string>& staged) override;
  Status Publish(const std::string& name) override;
  Status Discard(const std::string& name) override;
  Status Remove(const std::string& name) override;
  Result<std::unique_ptr<BlobReader>> Open(const std::string& name) override;
  Status Recover(const std::function<Result<bool>(const std::string&)>& is_referenced) override;
  Status List(const std::function<Status(const std::string&, bool staged)>& visit) override;

  // Object keys, for tests and tools.
  std::string BlobKey(const std::string& name) const;
  std::string MarkerKey(const std::string& name) const;
  S3Client& client() { return *client_; }

  static constexpr uint32_t kReadWindowSegments = 16;  // 1 MiB of plaintext per GET

 private:
  S3BlobStore(S3BlobStoreOptions options, std::unique_ptr<S3Client> client);
  Status CheckSealing();

  const S3BlobStoreOptions options_;
  std::unique_ptr<S3Client> client_;
};

}  // namespace tresor::store
