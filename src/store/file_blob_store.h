// FileBlobStore: blobs as files under <root>/blobs/xx/<name>, staged in
// <root>/staging/<name>. Names are 32 random hex digits.
//
// With a key ring, every blob is sealed (store/sealed_blob.h: AES-256-GCM in 64 KiB
// segments) and <root>/sealed records that the storage is sealed and under which master
// key; readers see the plaintext, and any modification fails with kDataLoss. Without a
// key ring blobs are plain files (unit tests); a sealed storage then refuses to open, and
// a sealed store refuses storage holding plain blobs from before encryption at rest.
#pragma once

#include <unistd.h>

#include <functional>
#include <memory>
#include <string>

#include "store/blob_store.h"
#include "store/sealed_blob.h"

namespace tresor::store {

struct FileBlobStoreOptions {
  std::string root;   // directory owned by this store
  bool fsync = true;  // false: Persist() does nothing (disposable test archives only)
  std::shared_ptr<const KeyRing> keys;  // null: plain blobs
};

class FileBlobStore : public BlobStore {
 public:
  // Creates the directory layout if needed.
  static Result<std::unique_ptr<FileBlobStore>> Make(const FileBlobStoreOptions& options);

  ~FileBlobStore() override;
  FileBlobStore(const FileBlobStore&) = delete;
  FileBlobStore& operator=(const FileBlobStore&) = delete;

  Result<std::unique_ptr<BlobWriter>> Create() override;
  Status Persist(const std::vector<std::string>& staged) override;
  Status Publish(const std::string& name) override;
  Status Discard(const std::string& name) override;
  Status Remove(const std::string& name) override;
  Result<std::unique_ptr<BlobReader>> Open(const std::string& name) override;
  Status Recover(const std::function<Result<bool>(const std::string&)>& is_referenced) override;
  Status List(const std::function<Status(const std::string&, bool staged)>& visit) override;

  bool sealed() const { return options_.keys != nullptr; }
  // Key rotation step `step` (see RewrapHeader) on blob `name`, wherever it is: the
  // changed key slot is written in place and the file fsynced. Returns whether it changed.
  Result<bool> Rewrap(const std::string& name, RewrapStep step);
  // Records `key_id` (raw) as the key the storage is sealed under (atomic replace).
  Status RecordSealingKey(const std::string& key_id);

 private:
  explicit FileBlobStore(FileBlobStoreOptions options);
  // The sealed marker against the key ring (see the file comment).
  Status CheckSealing();
  std::string StagingPath(const std::string& name) const;
  std::string FinalPath(const std::string& name) const;

  const FileBlobStoreOptions options_;
  int staging_fd_ = -1;  // kept open for syncfs()
};

}  // namespace tresor::store
