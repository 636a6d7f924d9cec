// IngestService: everything that puts objects into the archive (C-STORE, `tresor
// import`, STOW-RS next) and crash recovery of what a store left unfinished.
//
// Checks the store grant and the declared UIDs, stages the bytes, validates them with
// the bounded scanner and makes them durable through the GroupCommitter. Every method
// is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "archive/audit.h"
#include "archive/options.h"
#include "archive/principal.h"
#include "archive/types.h"
#include "core/clock.h"
#include "core/status.h"

namespace tresor::core {
class BufferPool;
}  // namespace tresor::core

namespace tresor::store {
class BlobStore;
class InstanceIndex;
struct StoredInstance;
}  // namespace tresor::store

namespace tresor::archive {

class GroupCommitter;
class HashWorkers;

// What `IngestService::Verify` found.
struct VerifyProblem {
  enum class Kind { kMissing, kCorrupted, kOrphaned };
  Kind kind;
  std::string sop_instance_uid;  // empty for orphans
  std::string blob;              // the blob name
  std::string detail;            // why (no patient data)
};
struct VerifyReport {
  uint64_t instances = 0;   // index rows checked
  uint64_t blobs = 0;       // published blobs seen in storage
  uint64_t bytes = 0;       // plaintext bytes decrypted and hashed
  std::vector<VerifyProblem> problems;  // in index order, orphans last
};

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

  // Checks the whole archive (local administrator only): every indexed instance's blob
  // exists, decrypts (every segment authenticates) and its data set matches the SHA-256
  // recorded at store time; every published blob has its index row. Staged blobs are not
  // orphans (in flight, or removed by the next recovery). `progress` is called after each
  // instance with (checked, total). Problems are reported, not errors: the Status is for
  // failures to read the index or list the storage.
  Result<VerifyReport> Verify(const Principal& who,
                              const std::function<void(uint64_t, uint64_t)>& progress);

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
  // The in-memory scan buffers (kInMemoryScanBytes each, never reallocated, so the hash
  // worker may read them while they fill). Outlives every upload (and committer_).
  std::unique_ptr<core::BufferPool> scan_buffers_;
  std::unique_ptr<HashWorkers> hash_workers_;     // outlives every upload
  std::unique_ptr<GroupCommitter> committer_;  // reset first by the destructor
};

}  // namespace tresor::archive
