// FileBlobStore: blobs as files under <root>/blobs/xx/<name>, staged in
// <root>/staging/<name>. Names are 32 random hex digits.
#pragma once

#include <unistd.h>

#include <string>

#include "store/blob_store.h"

namespace tresor::store {

struct FileBlobStoreOptions {
  std::string root;   // directory owned by this store
  bool fsync = true;  // false: Persist() does nothing (disposable test archives only)
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

 private:
  explicit FileBlobStore(FileBlobStoreOptions options);
  std::string StagingPath(const std::string& name) const;
  std::string FinalPath(const std::string& name) const;

  const FileBlobStoreOptions options_;
  int staging_fd_ = -1;  // kept open for syncfs()
};

}  // namespace tresor::store
