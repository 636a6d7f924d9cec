#include "archive/group_commit.h"

#include <chrono>
#include <map>
#include <tuple>

#include "core/log.h"

namespace tresor::archive {

GroupCommitter::GroupCommitter(store::InstanceIndex& index, store::BlobStore& blobs, int batch_max,
                               AuditService& audit, const core::Clock& clock)
    : index_(index), blobs_(blobs), batch_max_(static_cast<size_t>(batch_max)), audit_(audit),
      clock_(clock) {}

GroupCommitter::~GroupCommitter() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.wait(lock, [this] { return queue_.empty() && !committing_; });
  }
  ConfirmOnStop();
}

Result<store::AddOutcome> GroupCommitter::Commit(store::InstanceRecord record, const Principal& who) {
  std::future<Result<store::AddOutcome>> result;
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) {
    lock.unlock();
    Discard(record.blob_name);
    return Unavailable("archive is shutting down");
  }
  queue_.push_back(Pending{std::move(record), who, {}});
  result = queue_.back().done.get_future();
  // Until this record is written: lead the next batch whenever none is being written,
  // else wait for the one that is.
  while (result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    if (committing_) {
      cv_.wait(lock);
      continue;
    }
    committing_ = true;
    std::deque<Pending> batch;
    while (!queue_.empty() && batch.size() < batch_max_) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    CommitBatch(batch);  // sets every promise of the batch
    lock.lock();
    committing_ = false;
    cv_.notify_all();
  }
  lock.unlock();
  return result.get();
}

void GroupCommitter::Discard(const std::string& name) {
  Status s = blobs_.Discard(name);
  if (!s.ok()) TRESOR_LOG(kError) << "blob left staged until the next recovery: " << s.ToString();
}

void GroupCommitter::ConfirmOnStop() {
  if (!last_batch_synced_ || index_.durability() != store::Durability::kOnFilesystemSync) return;
  Status s = index_.ConfirmAll();
  if (!s.ok()) TRESOR_LOG(kWarn) << "last batch left for recovery to check: " << s.ToString();
}

void GroupCommitter::CommitBatch(std::deque<Pending>& batch) {
  std::vector<std::string> names;
  std::vector<store::InstanceRecord> records;
  names.reserve(batch.size());
  records.reserve(batch.size());
  for (Pending& p : batch) {
    names.push_back(p.record.blob_name);
    records.push_back(std::move(p.record));  // `names` keeps what is needed afterwards
  }
  auto fail = [&](const Status& s) {
    TRESOR_LOG(kError) << "group commit of " << batch.size() << " instance(s) failed: "
                       << s.ToString();
    for (size_t i = 0; i < batch.size(); ++i) {
      Discard(names[i]);
      batch[i].done.set_value(s);
    }
  };
  // One audit record per (requestor, study, outcome) of the batch, built once the
  // outcomes are known and written in the batch's transaction.
  auto audit = [&](const std::vector<store::AddOutcome>& done) {
    struct Group {
      const Principal* who;
      AuditEvent event;
    };
    std::map<std::tuple<std::string, std::string, int>, Group> groups;
    for (size_t i = 0; i < batch.size() && i < done.size(); ++i) {
      const Principal& who = batch[i].who;
      const store::InstanceRecord& r = records[i];
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
  };
  // Rows left over from a failed sync must go before any new batch confirms them.
  for (auto it = undo_pending_.begin(); it != undo_pending_.end();) {
    Status removed = index_.RemoveUnconfirmed(it->sop_instance_uid);
    if (!removed.ok()) {
      return fail(Status(removed.code(), "an earlier failed batch cannot be undone yet: " +
                                             removed.message()));
    }
    Discard(it->blob_name);
    it = undo_pending_.erase(it);
  }
  Result<std::vector<store::AddOutcome>> outcomes = Status(Code::kInternal, "not run");
  if (index_.durability() == store::Durability::kOnCommit) {
    // Blobs first: an index row must never point at bytes that could still be lost.
    Status persisted = blobs_.Persist(names);
    if (!persisted.ok()) return fail(persisted);
    outcomes = index_.AddInstances(records, audit);
    if (!outcomes.ok()) return fail(outcomes.status());
  } else {
    // Rows first, then one filesystem sync for rows and blobs together. A crash before
    // the sync completes leaves the rows marked unconfirmed; recovery checks them
    // against their blobs.
    outcomes = index_.AddInstances(records, audit);
    if (!outcomes.ok()) return fail(outcomes.status());
    Status persisted = blobs_.Persist(names);
    last_batch_synced_ = persisted.ok();
    if (!persisted.ok()) {
      // Nothing of the batch may remain: take the new rows out again and drop the blobs.
      // (If even that cannot be done, the rows stay unconfirmed: retried before the next
      // batch, which must not confirm them; after a crash recovery removes them.)
      TRESOR_LOG(kError) << "sync of a group commit failed: " << persisted.ToString();
      for (size_t i = 0; i < batch.size(); ++i) {
        bool keep_blob = false;
        if ((*outcomes)[i] == store::AddOutcome::kAdded) {
          Status removed = index_.RemoveUnconfirmed(records[i].attrs.sop_instance_uid);
          if (!removed.ok()) {
            TRESOR_LOG(kError) << "cannot undo yet (retried before the next batch): "
                               << removed.ToString();
            undo_pending_.push_back({records[i].attrs.sop_instance_uid, names[i]});
            keep_blob = true;
          }
        }
        if (!keep_blob) Discard(names[i]);
        batch[i].done.set_value(persisted);
      }
      return;
    }
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    store::AddOutcome o = (*outcomes)[i];  // kAdded, kIdentical, kConflict or kInconsistent
    if (o == store::AddOutcome::kAdded) {
      // The index row is durable; a failed rename is finished by Recover() at next start,
      // and Open() finds the blob in staging meanwhile.
      Status s = blobs_.Publish(names[i]);
      if (!s.ok()) {
        TRESOR_LOG(kWarn) << "publish deferred to recovery: " << s.ToString();
      }
    } else {
      Discard(names[i]);
    }
    batch[i].done.set_value(o);
  }
}

}  // namespace tresor::archive
