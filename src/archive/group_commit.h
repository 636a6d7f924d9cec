// GroupCommitter: makes stored instances durable in batches.
//
// Callers on many threads hand in one InstanceRecord each (its blob already staged) and
// block until it is durable. Whichever caller finds no batch being written commits the
// next one on its own thread: everything that queued up while the previous batch was
// being written (its own record among it). For the whole batch it persists the staged
// blobs (one sync), commits the index rows (one transaction), publishes new blobs and
// discards the blobs of duplicates. A lone caller thus commits its own record without
// handing it to another thread and waiting to be woken. The audit records of the batch (one per requestor,
// study and outcome) are appended in the same index transaction: without them nothing
// of the batch is stored. So durability costs two syncs per batch, not per
// instance, and the batch grows by itself under load.
#pragma once

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "archive/audit.h"
#include "archive/principal.h"
#include "core/clock.h"
#include "core/status.h"
#include "store/blob_store.h"
#include "store/instance_index.h"

namespace tresor::archive {

class GroupCommitter {
 public:
  GroupCommitter(store::InstanceIndex& index, store::BlobStore& blobs, int batch_max,
                 AuditService& audit, const core::Clock& clock);
  // Waits for the batch being written (callers still queued commit theirs first), then
  // confirms the last batch if its sync completed.
  ~GroupCommitter();
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Blocks until `record` is durable (or refused). On any error nothing of the record is
  // in the index and its blob has been discarded (or, if that failed, is left staged for
  // the next recovery).
  // `who` sent it (the audit record's requestor).
  Result<store::AddOutcome> Commit(store::InstanceRecord record, const Principal& who);

 private:
  struct Pending {
    store::InstanceRecord record;
    Principal who;
    std::promise<Result<store::AddOutcome>> done;
  };
  // Writes `batch`; called by one caller at a time (the one that set committing_).
  void CommitBatch(std::deque<Pending>& batch);
  // After the queue is drained on stop: confirms the last batch if its sync completed.
  void ConfirmOnStop();
  // Deletes a staged blob that will not be committed; a failure is logged (the next
  // recovery deletes it).
  void Discard(const std::string& name);

  store::InstanceIndex& index_;
  store::BlobStore& blobs_;
  const size_t batch_max_;
  AuditService& audit_;
  const core::Clock& clock_;
  // Rows of a batch whose sync failed and that could not be taken out again, with their
  // blobs (kept staged, so no row is ever without its blob). Committing caller only. They
  // stay unconfirmed: no batch may be added (which would confirm them) until they are
  // removed and their blobs discarded. After a crash meanwhile, recovery checks them as
  // any unconfirmed rows.
  struct Undo {
    std::string sop_instance_uid;
    std::string blob_name;
  };
  std::vector<Undo> undo_pending_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;  // guarded by mu_
  bool stopping_ = false;      // guarded by mu_
  bool committing_ = false;    // guarded by mu_: a caller is writing a batch
  // The last batch's rows were synced (kOnFilesystemSync): a clean stop confirms them,
  // so the next start has nothing to re-check. Committing caller only.
  bool last_batch_synced_ = false;
};

}  // namespace tresor::archive
