#include "app/migrate.h"

#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "core/log.h"
#include "security/access_scope.h"

namespace tresor::app {
namespace {

using security::AccessScope;

// Instances per batch: one Persist, one AddInstances, then the publishes.
constexpr size_t kBatch = 64;
// Blob bytes read and written per call (the only plaintext buffer of a copy).
constexpr size_t kChunk = 1 << 20;
constexpr size_t kAuditPage = 1000;

// What a group rule can match of a study (step 3): every peer its instances came from,
// its institution and its patient's issuer.
struct StudyFacts {
  std::set<std::string> peers;
  std::string institution;
  std::string issuer;
};

bool RuleMayMatch(const store::GroupRule& rule, const StudyFacts& s) {
  switch (rule.kind) {
    case store::GroupRule::Kind::kPeer: return s.peers.count(rule.value) != 0;
    case store::GroupRule::Kind::kInstitution: return s.institution == rule.value;
    case store::GroupRule::Kind::kIssuer: return s.issuer == rule.value;
  }
  return false;
}

// Copies one blob into a new staged blob of `to`; returns its name. The plaintext passes
// through one buffer in memory.
Result<std::string> CopyBlob(store::BlobStore& from, store::BlobStore& to,
                             const store::InstanceRecord& r, std::vector<char>& buffer) {
  auto reader = from.Open(r.blob_name);
  if (!reader.ok()) {
    return Status(reader.status().code(), "source instance " + r.attrs.sop_instance_uid +
                                              " (blob " + r.blob_name + "): " +
                                              reader.status().message());
  }
  TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<store::BlobWriter> writer, to.Create());
  uint64_t offset = 0;
  for (;;) {
    auto n = (*reader)->ReadAt(buffer.data(), buffer.size(), offset);
    if (!n.ok()) {
      return Status(n.status().code(), "source instance " + r.attrs.sop_instance_uid +
                                           " (blob " + r.blob_name + "): " +
                                           n.status().message() +
                                           " (run tresor verify on the source)");
    }
    if (*n == 0) break;
    TRESOR_RETURN_IF_ERROR(writer->Append(buffer.data(), *n));
    offset += *n;
  }
  if (offset != (*reader)->size()) {
    return DataLoss("source instance " + r.attrs.sop_instance_uid + ": blob ended after " +
                    std::to_string(offset) + " of " + std::to_string((*reader)->size()) +
                    " bytes");
  }
  return writer->Finish();
}

// Makes a batch durable and indexed on the target, in the order the ingest path uses
// for the target's durability (archive/group_commit.h), then publishes it.
Status CommitBatch(store::Index& index, store::BlobStore& blobs,
                   std::vector<store::InstanceRecord>& batch, MigrationReport& report) {
  if (batch.empty()) return Status::Ok();
  std::vector<std::string> staged;
  staged.reserve(batch.size());
  for (const auto& r : batch) staged.push_back(r.blob_name);
  auto discard_all = [&]() {
    for (const std::string& name : staged) {
      Status d = blobs.Discard(name);
      if (!d.ok()) TRESOR_LOG(kWarn) << "migrate: staged blob left for recovery: " << d.ToString();
    }
  };
  Status persisted = blobs.Persist(staged);
  if (!persisted.ok()) {
    discard_all();
    return persisted;
  }
  auto outcomes = index.AddInstances(batch);
  if (!outcomes.ok()) {
    discard_all();
    return outcomes.status();
  }
  if (index.durability() == store::Durability::kOnFilesystemSync) {
    // The rows are committed without a sync: the filesystem sync makes them durable
    // (and a crash before it leaves them unconfirmed, for the target's recovery).
    TRESOR_RETURN_IF_ERROR(blobs.Persist(staged));
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    const store::InstanceRecord& r = batch[i];
    switch ((*outcomes)[i]) {
      case store::AddOutcome::kAdded:
        TRESOR_RETURN_IF_ERROR(blobs.Publish(r.blob_name));
        ++report.instances_copied;
        report.bytes_copied += r.blob_size;
        break;
      case store::AddOutcome::kIdentical:  // indexed meanwhile: our copy is not needed
        TRESOR_RETURN_IF_ERROR(blobs.Discard(r.blob_name));
        ++report.instances_present;
        break;
      case store::AddOutcome::kConflict:
        (void)blobs.Discard(r.blob_name);
        return Conflict("the target holds other content under SOP Instance UID " +
                        r.attrs.sop_instance_uid + ": it is not a copy of this source");
      case store::AddOutcome::kInconsistent:
        (void)blobs.Discard(r.blob_name);
        return Conflict("the target files series " + r.attrs.series_instance_uid +
                        " under another study than the source does");
    }
  }
  batch.clear();
  return Status::Ok();
}

Status CopyAccounts(store::Index& from, store::Index& to, MigrationReport& report) {
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::UserRecord> users, from.ListUsers());
  for (const auto& u : users) TRESOR_RETURN_IF_ERROR(to.PutUser(u));
  report.users = users.size();
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::ApiTokenRecord> tokens, from.ListApiTokens());
  for (const auto& t : tokens) {
    TRESOR_ASSIGN_OR_RETURN(std::optional<store::ApiTokenRecord> there,
                            to.FindApiToken(t.token_sha256));
    if (there) {
      if (there->name != t.name || there->user != t.user || there->expires_at != t.expires_at) {
        return Conflict("the target holds API token '" + there->name +
                        "' with the hash of source token '" + t.name + "'");
      }
      continue;  // copied by an earlier run
    }
    Status put = to.PutApiToken(t);
    if (put.code() == Code::kAlreadyExists) {
      return Conflict("the target already has another API token named '" + t.name + "'");
    }
    TRESOR_RETURN_IF_ERROR(put);
  }
  report.api_tokens = tokens.size();
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::PeerRecord> peers, from.ListPeers());
  for (const auto& p : peers) TRESOR_RETURN_IF_ERROR(to.PutPeer(p));
  report.peers = peers.size();
  return Status::Ok();
}

Status CopyAuditTrail(store::Index& from, store::Index& to, MigrationReport& report) {
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::AuditRow> head, from.AuditHead());
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::AuditCheckpointRecord> checkpoints,
                          from.ListAuditCheckpoints());
  report.audit_records = head ? static_cast<uint64_t>(head->seq) : 0;
  report.audit_checkpoints = checkpoints.size();
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::AuditRow> there, to.AuditHead());
  if (there) {
    // Imported by an earlier run (and extended since, by the verification's own
    // records): the source's head must be in the target at the same seq.
    if (!head) return Conflict("the target has an audit trail, the source none");
    TRESOR_ASSIGN_OR_RETURN(std::vector<store::AuditRow> same, to.ReadAuditChain(head->seq - 1, 1));
    if (same.empty() || same[0].seq != head->seq || same[0].hash != head->hash) {
      return Conflict("the target's audit trail is not the source's (record " +
                      std::to_string(head->seq) + " differs): the target is not empty");
    }
    TRESOR_ASSIGN_OR_RETURN(std::vector<store::AuditCheckpointRecord> there_checkpoints,
                            to.ListAuditCheckpoints());
    if (there_checkpoints.size() < checkpoints.size()) {
      return Conflict("the target's audit trail lacks checkpoints of the source");
    }
  } else if (head) {
    int64_t after = 0;
    TRESOR_RETURN_IF_ERROR(to.ImportAuditTrail(
        [&]() -> Result<std::vector<store::AuditRow>> {
          TRESOR_ASSIGN_OR_RETURN(std::vector<store::AuditRow> rows,
                                  from.ReadAuditChain(after, kAuditPage));
          if (!rows.empty()) after = rows.back().seq;
          return rows;
        },
        checkpoints));
    report.audit_imported = true;
  }
  TRESOR_ASSIGN_OR_RETURN(auto cursors, from.ListAuditForwardCursors());
  for (const auto& [destination, seq] : cursors) {
    TRESOR_RETURN_IF_ERROR(to.SetAuditForwardCursor(destination, seq));
  }
  report.forward_cursors = cursors.size();
  return Status::Ok();
}

}  // namespace

Result<MigrationReport> CopyArchive(store::Index& source_index, store::BlobStore& source_blobs,
                                    store::Index& target_index, store::BlobStore& target_blobs,
                                    const MigrationProgress& progress) {
  MigrationReport report;
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::StoredInstance> unconfirmed,
                          source_index.ListUnconfirmed());
  if (!unconfirmed.empty()) {
    return Conflict("the source archive was not stopped cleanly (" +
                    std::to_string(unconfirmed.size()) +
                    " instance(s) await crash recovery): start and stop 'tresor serve' on it "
                    "once, then migrate");
  }
  TRESOR_RETURN_IF_ERROR(CopyAccounts(source_index, target_index, report));

  // Instances.
  TRESOR_ASSIGN_OR_RETURN(store::IndexStats stats, source_index.Stats(AccessScope::Everything()));
  report.instances = static_cast<uint64_t>(stats.instances);
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::GroupRule> rules, source_index.ListGroupRules());
  std::map<std::string, StudyFacts> studies;  // only kept when there are rules
  std::vector<char> buffer(kChunk);
  std::vector<store::InstanceRecord> batch;
  uint64_t seen = 0;
  if (progress) progress("instances", 0, report.instances);
  for (int64_t after = 0;;) {
    int64_t next = 0;
    TRESOR_ASSIGN_OR_RETURN(std::vector<store::InstanceRecord> page,
                            source_index.ExportInstances(after, kBatch, &next));
    if (page.empty()) break;
    after = next;
    for (store::InstanceRecord& r : page) {
      ++seen;
      if (!rules.empty() && !r.attrs.study_instance_uid.empty()) {
        StudyFacts& f = studies[r.attrs.study_instance_uid];
        if (!r.source_peer.empty()) f.peers.insert(r.source_peer);
        f.institution = r.attrs.institution_name;
        f.issuer = r.attrs.issuer_of_patient_id;
      }
      TRESOR_ASSIGN_OR_RETURN(std::optional<store::StoredInstance> there,
                              target_index.FindInstance(r.attrs.sop_instance_uid,
                                                        AccessScope::Everything()));
      if (there) {
        if (there->content_sha256 != r.content_sha256) {
          return Conflict("the target holds other content under SOP Instance UID " +
                          r.attrs.sop_instance_uid + ": it is not a copy of this source");
        }
        ++report.instances_present;
        continue;
      }
      TRESOR_ASSIGN_OR_RETURN(std::string staged, CopyBlob(source_blobs, target_blobs, r, buffer));
      r.blob_name = std::move(staged);
      batch.push_back(std::move(r));
    }
    TRESOR_RETURN_IF_ERROR(CommitBatch(target_index, target_blobs, batch, report));
    if (progress) progress("instances", seen, std::max<uint64_t>(seen, report.instances));
  }
  if (target_index.durability() == store::Durability::kOnFilesystemSync) {
    TRESOR_RETURN_IF_ERROR(target_index.ConfirmAll());
  }

  // Study groups, then rules (whose application to the copied studies is undone where
  // the source has no such membership).
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::StudyGroupMember> members,
                          source_index.ListStudyGroupMembers());
  std::set<std::pair<std::string, std::string>> member_set;
  for (const auto& m : members) {
    TRESOR_ASSIGN_OR_RETURN(bool found, target_index.SetStudyGroup(m.group, m.study_uid, true));
    if (!found) return Internal("study " + m.study_uid + " was not copied");
    member_set.emplace(m.study_uid, m.group);
  }
  report.study_groups = members.size();
  for (const auto& rule : rules) {
    TRESOR_RETURN_IF_ERROR(target_index.PutGroupRule(rule).status());
    for (const auto& [study, facts] : studies) {
      if (RuleMayMatch(rule, facts) && member_set.count({study, rule.group}) == 0) {
        TRESOR_RETURN_IF_ERROR(target_index.SetStudyGroup(rule.group, study, false).status());
      }
    }
  }
  report.group_rules = rules.size();

  TRESOR_RETURN_IF_ERROR(CopyAuditTrail(source_index, target_index, report));
  return report;
}

}  // namespace tresor::app
