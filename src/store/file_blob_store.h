// FileBlobStore: blobs as files under <root>/blobs/xx/<name>, staged in
// <root>/staging/<name>. Names are 32 random hex digits.
//
// Shared-directory mode (`node` set): several nodes serve one directory on a shared mount
// (NFS, CephFS, ...). Each node stages in <root>/staging/<node>/ and its Recover() looks
// only there, so one node's recovery never publishes or deletes another's in-flight
// blobs. Durability does not rely on syncfs() (which a network filesystem need not
// honour for other clients' view): Persist() fsyncs every staged file and the node's
// staging directory, and Recover() fsyncs each directory it published into. Open() of a
// committed blob that its node has not yet published (a node that died between commit
// and publish) looks in every node's staging directory.
//
// A staged blob's file is taken from a few empty, unnamed files (O_TMPFILE) that a thread
// of the store creates ahead of demand once the first blob is created, and is given its
// name when taken: allocating an inode cost 100-300 us of kernel time on the file
// systems measured, naming one about 10 us. Nothing of this is on disk under a name, so
// a crash leaves nothing behind; where the kernel or file system cannot do it, files
// are created one by one as they are needed.
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
#include <mutex>
#include <string>

#include "store/blob_store.h"
#include "store/sealed_blob.h"

namespace tresor::core {
class BufferPool;
}  // namespace tresor::core

namespace tresor::store {

class UnnamedFiles;

struct FileBlobStoreOptions {
  std::string root;   // directory owned by this store
  bool fsync = true;  // false: Persist() does nothing (disposable test archives only)
  std::shared_ptr<const KeyRing> keys;  // null: plain blobs
};

class FileBlobStore : public BlobStore {
 public:
  // Creates the directory layout if needed.
  static Result<std::unique_ptr<FileBlobStore>> Make(const FileBlobStoreOptions& options);
  // Shared-directory mode (see above), staging as `node` (1-64 of [A-Za-z0-9._-]).
  static Result<std::unique_ptr<FileBlobStore>> MakeShared(const FileBlobStoreOptions& options,
                                                           const std::string& node);

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
  FileBlobStore(FileBlobStoreOptions options, std::string node);
  // The sealed marker against the key ring (see the file comment).
  Status CheckSealing();
  bool shared() const { return !node_.empty(); }
  // This node's staging directory.
  std::string StagingDir() const;
  std::string StagingPath(const std::string& name) const;
  // Opens blob `name` with `flags`: published, else staged here, else (shared mode)
  // staged by another node. -1 with errno set if it is nowhere.
  int OpenAnywhere(const std::string& name, int flags) const;
  std::string FinalPath(const std::string& name) const;
  // A new, empty staging file named `name`, open for writing; -1 with errno set.
  int CreateStagingFile(const std::string& name);

  const FileBlobStoreOptions options_;
  const std::string node_;  // empty: the single-node layout
  int staging_fd_ = -1;  // this node's staging directory, kept open for syncfs()/fsync()
  // Sealed writers' output buffers, reused (shared: a writer may outlive the store).
  std::shared_ptr<core::BufferPool> buffers_;
  std::once_flag unnamed_once_;
  std::unique_ptr<UnnamedFiles> unnamed_;  // started by the first Create()
};

}  // namespace tresor::store
