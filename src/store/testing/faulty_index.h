// FaultyIndex: a store::Index that forwards to another one and fails chosen calls.
// Test-only (the tresor_faulty test binary); nothing in the tresor binary uses it.
//
// `active` (set before use) is asked with a fault's name; while it answers true:
//   "index.busy"   every write fails the way SqliteIndex reports a database another
//                  writer keeps locked beyond its busy timeout (kIoError "database is
//                  locked"); reads pass (WAL readers are not blocked by a writer)
//   "index.undo"   RemoveUnconfirmed fails (kIoError), as when the disk that just failed
//                  a group commit's sync cannot take the undo either
//   "audit.write"  appending to the audit trail fails: AppendAudit, checkpoints, and
//                  AddInstances with audit records (their append shares the batch's
//                  transaction, so nothing of the batch is indexed)
// A failing call does nothing. Thread-safe when `active` is.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "store/index.h"

namespace tresor::store::testing {

class FaultyIndex : public Index {
 public:
  explicit FaultyIndex(Index& inner) : inner_(inner) {}

  std::function<bool(std::string_view fault)> active;

  // InstanceIndex
  Durability durability() const override { return inner_.durability(); }
  Result<std::vector<AddOutcome>> AddInstances(const std::vector<InstanceRecord>& records,
                                               const AuditBuilder<AddOutcome>& audit) override {
    TRESOR_RETURN_IF_ERROR(Write("commit"));
    if (audit && Active("audit.write")) return AuditFault();
    return inner_.AddInstances(records, audit);
  }
  Result<std::vector<StoredInstance>> ListUnconfirmed() override { return inner_.ListUnconfirmed(); }
  Status RemoveUnconfirmed(const std::string& sop_instance_uid) override {
    TRESOR_RETURN_IF_ERROR(Write("remove"));
    if (Active("index.undo")) return IoError("index remove: disk I/O error (injected)");
    return inner_.RemoveUnconfirmed(sop_instance_uid);
  }
  Status ConfirmAll() override {
    TRESOR_RETURN_IF_ERROR(Write("confirm"));
    return inner_.ConfirmAll();
  }
  Result<std::optional<StoredInstance>> FindInstance(const std::string& sop_instance_uid,
                                                     const AccessScope& scope) override {
    return inner_.FindInstance(sop_instance_uid, scope);
  }
  Result<std::vector<dicom::QueryMatch>> Find(const dicom::Query& query,
                                              const AccessScope& scope) override {
    return inner_.Find(query, scope);
  }
  Result<std::optional<StoredDetails>> FindFrameLayout(const std::string& study_uid,
                                                       const std::string& series_uid,
                                                       const std::string& sop_uid,
                                                       const AccessScope& scope) override {
    return inner_.FindFrameLayout(study_uid, series_uid, sop_uid, scope);
  }
  Result<std::vector<StoredDetails>> FindMetadata(const std::string& study_uid,
                                                  const std::string& series_uid,
                                                  const std::string& sop_uid,
                                                  const AccessScope& scope) override {
    return inner_.FindMetadata(study_uid, series_uid, sop_uid, scope);
  }
  Result<std::vector<StoredInstance>> ListInstances(int64_t after, size_t limit,
                                                    int64_t* next) override {
    return inner_.ListInstances(after, limit, next);
  }
  Result<bool> IsBlobReferenced(const std::string& name) override {
    return inner_.IsBlobReferenced(name);
  }
  Result<IndexStats> Stats(const AccessScope& scope) override { return inner_.Stats(scope); }

  // AccountIndex
  Status PutUser(const UserRecord& user) override {
    TRESOR_RETURN_IF_ERROR(Write("put user"));
    return inner_.PutUser(user);
  }
  Result<std::optional<UserRecord>> FindUser(const std::string& name) override {
    return inner_.FindUser(name);
  }
  Result<std::vector<UserRecord>> ListUsers() override { return inner_.ListUsers(); }
  Status PutApiToken(const ApiTokenRecord& token) override {
    TRESOR_RETURN_IF_ERROR(Write("put token"));
    return inner_.PutApiToken(token);
  }
  Result<std::optional<ApiTokenRecord>> FindApiToken(const std::string& token_sha256) override {
    return inner_.FindApiToken(token_sha256);
  }
  Result<std::vector<ApiTokenRecord>> ListApiTokens() override { return inner_.ListApiTokens(); }
  Result<bool> RemoveApiToken(const std::string& name) override {
    TRESOR_RETURN_IF_ERROR(Write("remove token"));
    return inner_.RemoveApiToken(name);
  }
  Status PutSession(const SessionRecord& session) override {
    TRESOR_RETURN_IF_ERROR(Write("put session"));
    return inner_.PutSession(session);
  }
  Result<std::optional<SessionRecord>> FindSession(const std::string& id) override {
    return inner_.FindSession(id);
  }
  Status TouchSession(const std::string& id, int64_t last_seen) override {
    TRESOR_RETURN_IF_ERROR(Write("touch session"));
    return inner_.TouchSession(id, last_seen);
  }
  Result<bool> RemoveSession(const std::string& id) override {
    TRESOR_RETURN_IF_ERROR(Write("remove session"));
    return inner_.RemoveSession(id);
  }
  Result<std::optional<LockoutRecord>> FindLockout(const std::string& key, int64_t now_ms) override {
    return inner_.FindLockout(key, now_ms);
  }
  Result<LockoutRecord> UpdateLockout(const std::string& key, int64_t now_ms,
                                      const LockoutUpdate& update) override {
    TRESOR_RETURN_IF_ERROR(Write("update lockout"));
    return inner_.UpdateLockout(key, now_ms, update);
  }
  Status RemoveLockout(const std::string& key) override {
    TRESOR_RETURN_IF_ERROR(Write("remove lockout"));
    return inner_.RemoveLockout(key);
  }

  // PolicyIndex
  Status PutPeer(const PeerRecord& peer) override {
    TRESOR_RETURN_IF_ERROR(Write("put peer"));
    return inner_.PutPeer(peer);
  }
  Result<bool> RemovePeer(const std::string& name) override {
    TRESOR_RETURN_IF_ERROR(Write("remove peer"));
    return inner_.RemovePeer(name);
  }
  Result<std::vector<PeerRecord>> ListPeers() override { return inner_.ListPeers(); }
  Result<int64_t> PutGroupRule(const GroupRule& rule) override {
    TRESOR_RETURN_IF_ERROR(Write("put rule"));
    return inner_.PutGroupRule(rule);
  }
  Result<bool> RemoveGroupRule(const GroupRule& rule) override {
    TRESOR_RETURN_IF_ERROR(Write("remove rule"));
    return inner_.RemoveGroupRule(rule);
  }
  Result<std::vector<GroupRule>> ListGroupRules() override { return inner_.ListGroupRules(); }
  Result<bool> SetStudyGroup(const std::string& group, const std::string& study_uid,
                             bool member) override {
    TRESOR_RETURN_IF_ERROR(Write("set study group"));
    return inner_.SetStudyGroup(group, study_uid, member);
  }
  Result<std::vector<GroupSummary>> ListGroups() override { return inner_.ListGroups(); }

  // AuditIndex
  Status AppendAudit(const std::vector<AuditEntry>& entries) override {
    TRESOR_RETURN_IF_ERROR(Write("audit append"));
    if (Active("audit.write")) return AuditFault();
    return inner_.AppendAudit(entries);
  }
  Result<std::vector<AuditRow>> ListAudit(const AuditFilter& filter) override {
    return inner_.ListAudit(filter);
  }
  Result<std::vector<AuditRow>> ReadAuditChain(int64_t after_seq, size_t max) override {
    return inner_.ReadAuditChain(after_seq, max);
  }
  Result<std::optional<AuditRow>> AuditHead() override { return inner_.AuditHead(); }
  Status PutAuditCheckpoint(const AuditCheckpointRecord& checkpoint) override {
    TRESOR_RETURN_IF_ERROR(Write("checkpoint"));
    if (Active("audit.write")) return AuditFault();
    return inner_.PutAuditCheckpoint(checkpoint);
  }
  Result<std::vector<AuditCheckpointRecord>> ListAuditCheckpoints() override {
    return inner_.ListAuditCheckpoints();
  }
  Result<int64_t> AuditForwardCursor(const std::string& destination) override {
    return inner_.AuditForwardCursor(destination);
  }
  Status SetAuditForwardCursor(const std::string& destination, int64_t seq) override {
    TRESOR_RETURN_IF_ERROR(Write("audit forward cursor"));
    return inner_.SetAuditForwardCursor(destination, seq);
  }

 private:
  bool Active(std::string_view fault) const { return active && active(fault); }
  Status Write(const char* what) const {
    if (!Active("index.busy")) return Status::Ok();
    return IoError(std::string("index ") + what + ": database is locked (injected)");
  }
  static Status AuditFault() { return IoError("index audit append: disk I/O error (injected)"); }

  Index& inner_;
};

}  // namespace tresor::store::testing
