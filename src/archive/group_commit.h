// GroupCommitter: makes stored instances durable in batches.
//
// Callers on many threads hand in one InstanceRecord each (its blob already staged) and
// block until it is durable. A batch is everything that queued up meanwhile (at most
// batch_max records): one index transaction, one sync, then the new blobs are published
// and the blobs of duplicates discarded. The audit records of the batch (one per
// requestor, study and outcome) are appended in the same index transaction: without them
// nothing of the batch is stored. So durability costs one sync per batch, not per
// instance, and the batch grows by itself under load.
//
// Under Durability::kOnCommit (a database server) one thread persists the blobs, then
// commits the rows, then publishes. Under kOnFilesystemSync the rows go first (marked
// unconfirmed) and one filesystem sync covers rows and blobs; that work is a pipeline of
// two threads: the indexer commits batch N+1 while the syncer syncs batch N, so the
// index transaction and the sync overlap. The rules that keep it safe:
//   - a batch is answered only after its own sync succeeded (and the rows of an earlier
//     batch were synced before or by it);
//   - a batch's rows are confirmed (AddBatch's Confirm) only by a batch indexed after
//     its sync succeeded;
//   - if a sync fails, the rows of that batch are taken out again, and so are those of
//     every batch indexed before that was done (their outcomes, duplicates included,
//     may rest on the rows taken out): all of them are answered with the error.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <mutex>
#include <string>
#include <thread>
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
  // Commits what is queued, then stops the committer threads.
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
  // A batch taken from the queue: its callers, records and staged blob names.
  struct Batch {
    uint64_t seq = 0;  // order of indexing (kOnFilesystemSync)
    std::deque<Pending> pending;
    std::vector<store::InstanceRecord> records;
    std::vector<std::string> names;
    std::vector<store::AddOutcome> outcomes;  // once indexed
  };
  // Rows of a batch whose sync failed and that could not be taken out again, with their
  // blobs (kept staged, so no row is ever without its blob). They stay unconfirmed: no
  // batch may be indexed until they are removed and their blobs discarded. After a crash
  // meanwhile, recovery checks them as any unconfirmed rows.
  struct Undo {
    std::string sop_instance_uid;
    std::string blob_name;
  };

  void RunIndexer();
  void RunSyncer();  // kOnFilesystemSync only
  // kOnCommit: persist the blobs, commit the rows, publish, answer.
  void CommitBatch(Batch& batch);
  // kOnFilesystemSync, indexer: commits the rows; true if the batch goes on to the syncer
  // (otherwise it has been answered with the error).
  bool IndexBatch(Batch& batch);
  // kOnFilesystemSync, syncer: syncs, publishes and answers, or undoes the batch.
  void SyncBatch(Batch& batch, bool poisoned);
  // Takes the batch's new rows out again, discards its blobs and answers `why`.
  void UndoBatch(Batch& batch, const Status& why);
  // Answers every caller of an unindexed batch with `why`, discarding the blobs.
  void FailBatch(Batch& batch, const Status& why);
  // The audit records of an indexed batch (one per requestor, study and outcome).
  std::vector<store::AuditEntry> AuditEntries(const Batch& batch,
                                              const std::vector<store::AddOutcome>& done);
  // Retries taking out rows left by an earlier failed sync; Ok once none is left.
  Status RetryUndo();
  // After both threads stopped: confirms what is left unconfirmed if every row of it was
  // synced, so a clean stop leaves recovery nothing to re-check.
  void ConfirmOnStop();
  // Deletes a staged blob that will not be committed; a failure is logged (the next
  // recovery deletes it).
  void Discard(const std::string& name);

  store::InstanceIndex& index_;
  store::BlobStore& blobs_;
  const size_t batch_max_;
  AuditService& audit_;
  const core::Clock& clock_;
  const bool pipelined_;  // kOnFilesystemSync

  std::mutex mu_;
  std::condition_variable cv_;       // indexer: queue_, stopping_, sync_queue_ emptied
  std::condition_variable sync_cv_;  // syncer: sync_queue_, indexer_done_
  std::deque<Pending> queue_;        // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  // Indexed batches waiting for the syncer: at most one, so that callers queue up into
  // the next batch while one batch syncs and one waits. Guarded by mu_.
  std::deque<Batch> sync_queue_;
  bool indexer_done_ = false;  // guarded by mu_
  uint64_t next_seq_ = 0;      // guarded by mu_: seq of the last batch taken for indexing
  // Batches with seq <= poison_through_ were indexed before a failed sync's rows were
  // taken out: undone, never synced. Guarded by mu_.
  uint64_t poison_through_ = 0;
  // Added rows of synced batches, confirmed by the next batch indexed. Guarded by mu_.
  std::vector<std::string> synced_uids_;
  std::vector<Undo> undo_pending_;  // guarded by mu_
  std::thread indexer_;  // owned; joined by the destructor
  std::thread syncer_;   // owned (kOnFilesystemSync); joined by the destructor
};

}  // namespace tresor::archive
