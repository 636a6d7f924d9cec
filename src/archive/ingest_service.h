// IngestService: everything that puts objects into the archive (C-STORE, `tresor
// import`, STOW-RS next) and crash recovery of what a store left unfinished.
//
// Checks the store grant and the declared UIDs, stages the bytes, validates them with
// the bounded scanner and makes them durable through the GroupCommitter. Every method
// is thread-safe.
#pragma once

#include <cstddef>
#include <memory>

#include "archive/audit.h"
#include "archive/options.h"
#include "archive/principal.h"
#include "archive/types.h"
#include "core/clock.h"
#include "core/status.h"

namespace tresor::store {
class BlobStore;
class InstanceIndex;
struct StoredInstance;
}  // namespace tresor::store

namespace tresor::archive {

class GroupCommitter;

// Receives the data set bytes of one object (no file meta information). Destroying it
// without Commit() leaves nothing behind. Not thread-safe; one per object.
class Upload {
 public:
  virtual ~Upload() = default;
  // Fails with kResourceExhausted once the object passes the size limit.
  virtual Status Write(const void* data, size_t n) = 0;
  // Validates, deduplicates and makes the object durable. Errors: kInvalidArgument
  // (malformed or inconsistent data set), kResourceExhausted (limits), kUnsupported,
  // kConflict (same SOP Instance UID, different content: nothing overwritten), kIoError.
  virtual Result<StoreOutcome> Commit() = 0;
};

class IngestService {
 public:
  // `index`, `blobs` and `clock` (receive times) must outlive the service.
  // Stores are recorded through `audit`: accepted ones in the group commit's transaction
  // (one record per requestor, study and outcome in a batch), refused ones on their own.
  IngestService(store::InstanceIndex& index, store::BlobStore& blobs, ArchiveOptions options,
                const core::Clock& clock, AuditService& audit);
  ~IngestService();
  IngestService(const IngestService&) = delete;
  IngestService& operator=(const IngestService&) = delete;

  // Finishes or removes what a crash interrupted. Call once before serving.
  Status Recover();

  // Starts storing one object. kPermissionDenied unless the principal may store;
  // kInvalidArgument for invalid UIDs; kUnsupported for a transfer syntax not accepted.
  Result<std::unique_ptr<Upload>> BeginStore(const Principal& who, const UploadInfo& info);

 private:
  friend class UploadImpl;
  // True if the blob of `instance` exists and its data set hashes to the indexed hash.
  Result<bool> BlobMatches(const store::StoredInstance& instance);

  store::InstanceIndex& index_;
  store::BlobStore& blobs_;
  const ArchiveOptions options_;
  const core::Clock& clock_;  // receive times
  AuditService& audit_;
  std::unique_ptr<GroupCommitter> committer_;  // reset first by the destructor
};

}  // namespace tresor::archive
