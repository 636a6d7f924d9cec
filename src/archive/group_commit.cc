#include "archive/group_commit.h"

#include <map>
#include <tuple>

#include "core/log.h"

namespace tresor::archive {

GroupCommitter::GroupCommitter(store::InstanceIndex& index, store::BlobStore& blobs, int batch_max,
                               AuditService& audit, const core::Clock& clock)
    : index_(index), blobs_(blobs), batch_max_(static_cast<size_t>(batch_max)), audit_(audit),
      clock_(clock), pipelined_(index.durability() == store::Durability::kOnFilesystemSync) {
  indexer_ = std::thread([this] { RunIndexer(); });
  if (pipelined_) syncer_ = std::thread([this] { RunSyncer(); });
}

GroupCommitter::~GroupCommitter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  indexer_.join();  // drains the queue, then tells the syncer
  if (syncer_.joinable()) syncer_.join();
  ConfirmOnStop();
}

Result<store::AddOutcome> GroupCommitter::Commit(store::InstanceRecord record, const Principal& who) {
  std::future<Result<store::AddOutcome>> result;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      Discard(record.blob_name);
      return Unavailable("archive is shutting down");
    }
    queue_.push_back(Pending{std::move(record), who, {}});
    result = queue_.back().done.get_future();
  }
  cv_.notify_all();
  return result.get();
}

void GroupCommitter::Discard(const std::string& name) {
  Status s = blobs_.Discard(name);
  if (!s.ok()) TRESOR_LOG(kError) << "blob left staged until the next recovery: " << s.ToString();
}

void GroupCommitter::RunIndexer() {
  while (true) {
    Batch batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // A second indexed batch waits for the syncer in sync_queue_; meanwhile callers
      // queue up into the next one.
      cv_.wait(lock, [this] { return (stopping_ || !queue_.empty()) && sync_queue_.empty(); });
      if (queue_.empty()) {  // stopping and drained
        indexer_done_ = true;
        break;
      }
      while (!queue_.empty() && batch.pending.size() < batch_max_) {
        batch.pending.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      batch.seq = ++next_seq_;
    }
    batch.records.reserve(batch.pending.size());
    batch.names.reserve(batch.pending.size());
    for (Pending& p : batch.pending) {
      batch.names.push_back(p.record.blob_name);
      batch.records.push_back(std::move(p.record));  // `names` keeps what is needed afterwards
    }
    if (!pipelined_) {
      CommitBatch(batch);
      continue;
    }
    if (!IndexBatch(batch)) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      sync_queue_.push_back(std::move(batch));
    }
    sync_cv_.notify_one();
  }
  sync_cv_.notify_one();
}

void GroupCommitter::RunSyncer() {
  while (true) {
    Batch batch;
    bool poisoned = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      sync_cv_.wait(lock, [this] { return indexer_done_ || !sync_queue_.empty(); });
      if (sync_queue_.empty()) return;  // the indexer stopped and everything is synced
      batch = std::move(sync_queue_.front());
      sync_queue_.pop_front();
      poisoned = batch.seq <= poison_through_;
    }
    cv_.notify_all();  // the indexer may index the next batch while this one syncs
    SyncBatch(batch, poisoned);
  }
}

void GroupCommitter::ConfirmOnStop() {
  // (Both threads have stopped: nothing else touches the fields.)
  if (!pipelined_ || next_seq_ == 0 || !undo_pending_.empty()) return;
  // Every row still unconfirmed belongs to a batch whose sync succeeded: the rows of
  // failed ones were taken out (or would be in undo_pending_).
  Status s = index_.ConfirmAll();
  if (!s.ok()) TRESOR_LOG(kWarn) << "last batches left for recovery to check: " << s.ToString();
}

std::vector<store::AuditEntry> GroupCommitter::AuditEntries(
    const Batch& batch, const std::vector<store::AddOutcome>& done) {
  struct Group {
    const Principal* who;
    AuditEvent event;
  };
  std::map<std::tuple<std::string, std::string, int>, Group> groups;
  for (size_t i = 0; i < batch.pending.size() && i < done.size(); ++i) {
    const Principal& who = batch.pending[i].who;
    const store::InstanceRecord& r = batch.records[i];
    const bool refused = done[i] == store::AddOutcome::kConflict ||
                         done[i] == store::AddOutcome::kInconsistent;
    const int outcome = refused ? kAuditMinorFailure : kAuditSuccess;
    auto key = std::make_tuple(who.Describe(), r.attrs.study_instance_uid, outcome);
    auto [it, fresh] = groups.try_emplace(key, Group{&who, {}});
    AuditEvent& e = it->second.event;
    if (fresh) {
      const bool import = !who.IsUser() && who.peer_name.empty();
      e.id = import ? AuditEventId::kImport : AuditEventId::kInstancesTransferred;
      e.action = 'C';
      e.outcome = outcome;
      if (refused) e.outcome_description = "refused: UID conflict or inconsistent series";
      e.requestor_role = AuditRole::kSource;
      e.archive_role = AuditRole::kDestination;
      if (!r.attrs.patient_id.empty()) e.patient_ids = {r.attrs.patient_id};
      if (!r.attrs.study_instance_uid.empty()) e.study_uids = {r.attrs.study_instance_uid};
      e.sop_class_uid = r.attrs.sop_class_uid;
      e.summary = import ? "instances imported" : "instances stored";
    }
    ++e.instances;
  }
  const int64_t now = clock_.WallSeconds();
  std::vector<store::AuditEntry> entries;
  entries.reserve(groups.size());
  for (auto& [key, g] : groups) {
    entries.emplace_back();
    audit_.Build(*g.who, g.event, now, &entries.back());
  }
  return entries;
}

void GroupCommitter::FailBatch(Batch& batch, const Status& why) {
  TRESOR_LOG(kError) << "group commit of " << batch.pending.size() << " instance(s) failed: "
                     << why.ToString();
  for (size_t i = 0; i < batch.pending.size(); ++i) {
    Discard(batch.names[i]);
    batch.pending[i].done.set_value(why);
  }
}

void GroupCommitter::CommitBatch(Batch& batch) {
  // Blobs first: an index row must never point at bytes that could still be lost.
  Status persisted = blobs_.Persist(batch.names);
  if (!persisted.ok()) return FailBatch(batch, persisted);
  auto audit = [&](const std::vector<store::AddOutcome>& done) { return AuditEntries(batch, done); };
  Result<std::vector<store::AddOutcome>> outcomes = index_.AddInstances(batch.records, audit);
  if (!outcomes.ok()) return FailBatch(batch, outcomes.status());
  batch.outcomes = std::move(outcomes).value();
  for (size_t i = 0; i < batch.pending.size(); ++i) {
    store::AddOutcome o = batch.outcomes[i];
    if (o == store::AddOutcome::kAdded) {
      Status s = blobs_.Publish(batch.names[i]);
      if (!s.ok()) TRESOR_LOG(kWarn) << "publish deferred to recovery: " << s.ToString();
    } else {
      Discard(batch.names[i]);
    }
    batch.pending[i].done.set_value(o);
  }
}

Status GroupCommitter::RetryUndo() {
  std::vector<Undo> undo;
  {
    std::lock_guard<std::mutex> lock(mu_);
    undo.swap(undo_pending_);
  }
  Status result = Status::Ok();
  std::vector<Undo> left;
  for (Undo& u : undo) {
    Status removed = result.ok() ? index_.RemoveUnconfirmed(u.sop_instance_uid) : result;
    if (removed.ok()) {
      Discard(u.blob_name);
    } else {
      if (result.ok()) result = removed;
      left.push_back(std::move(u));
    }
  }
  if (!left.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    undo_pending_.insert(undo_pending_.end(), left.begin(), left.end());
  }
  return result;
}

bool GroupCommitter::IndexBatch(Batch& batch) {
  // Rows left over from a failed sync must go before any new batch is indexed.
  Status undone = RetryUndo();
  if (!undone.ok()) {
    FailBatch(batch, Status(undone.code(),
                            "an earlier failed batch cannot be undone yet: " + undone.message()));
    return false;
  }
  store::InstanceIndex::Confirm confirm;
  confirm.all = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    confirm.sop_instance_uids.swap(synced_uids_);
  }
  auto audit = [&](const std::vector<store::AddOutcome>& done) { return AuditEntries(batch, done); };
  // A crash before the batch's sync completes leaves its rows unconfirmed; recovery
  // checks them against their blobs.
  Result<std::vector<store::AddOutcome>> outcomes = index_.AddBatch(batch.records, audit, confirm);
  if (!outcomes.ok()) {
    {  // nothing was confirmed: the next batch confirms them
      std::lock_guard<std::mutex> lock(mu_);
      synced_uids_.insert(synced_uids_.end(), confirm.sop_instance_uids.begin(),
                          confirm.sop_instance_uids.end());
    }
    FailBatch(batch, outcomes.status());
    return false;
  }
  batch.outcomes = std::move(outcomes).value();
  return true;
}

void GroupCommitter::SyncBatch(Batch& batch, bool poisoned) {
  Status persisted = poisoned ? IoError("not stored: the sync of an earlier group commit failed")
                              : blobs_.Persist(batch.names);
  if (!persisted.ok()) {
    if (!poisoned) TRESOR_LOG(kError) << "sync of a group commit failed: " << persisted.ToString();
    UndoBatch(batch, persisted);
    // Every batch indexed up to now may rest on the rows just taken out (or left for
    // undo): none of them is synced or answered as stored.
    std::lock_guard<std::mutex> lock(mu_);
    poison_through_ = next_seq_;
    return;
  }
  std::vector<std::string> added;
  for (size_t i = 0; i < batch.pending.size(); ++i) {
    store::AddOutcome o = batch.outcomes[i];  // kAdded, kIdentical, kConflict or kInconsistent
    if (o == store::AddOutcome::kAdded) {
      added.push_back(batch.records[i].attrs.sop_instance_uid);
      // The index row is durable; a failed rename is finished by Recover() at next start,
      // and Open() finds the blob in staging meanwhile.
      Status s = blobs_.Publish(batch.names[i]);
      if (!s.ok()) TRESOR_LOG(kWarn) << "publish deferred to recovery: " << s.ToString();
    } else {
      Discard(batch.names[i]);
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    synced_uids_.insert(synced_uids_.end(), added.begin(), added.end());
  }
  for (size_t i = 0; i < batch.pending.size(); ++i) batch.pending[i].done.set_value(batch.outcomes[i]);
}

void GroupCommitter::UndoBatch(Batch& batch, const Status& why) {
  // Nothing of the batch may remain: take the new rows out again and drop the blobs.
  // (If even that cannot be done, the rows stay unconfirmed and are retried before the
  // next batch is indexed; after a crash recovery removes them.)
  std::vector<Undo> left;
  for (size_t i = 0; i < batch.pending.size(); ++i) {
    bool keep_blob = false;
    if (batch.outcomes[i] == store::AddOutcome::kAdded) {
      const std::string& uid = batch.records[i].attrs.sop_instance_uid;
      Status removed = index_.RemoveUnconfirmed(uid);
      if (!removed.ok()) {
        TRESOR_LOG(kError) << "cannot undo yet (retried before the next batch): "
                           << removed.ToString();
        left.push_back({uid, batch.names[i]});
        keep_blob = true;
      }
    }
    if (!keep_blob) Discard(batch.names[i]);
    batch.pending[i].done.set_value(why);
  }
  if (!left.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    undo_pending_.insert(undo_pending_.end(), left.begin(), left.end());
  }
}

}  // namespace tresor::archive
