#include "archive/admin_service.h"

#include <algorithm>
#include <optional>

#include "archive/store_mapping.h"
#include "dicom/uid.h"
#include "security/access_scope.h"
#include "security/password.h"
#include "store/account_index.h"
#include "store/policy_index.h"

namespace tresor::archive {

AdminService::AdminService(store::PolicyIndex& policy, store::AccountIndex& accounts,
                           AuditService& audit)
    : policy_(policy), accounts_(accounts), audit_(audit) {}

namespace {
// The record of one change: a security alert typed by what changed (CID 401).
AuditEvent Change(AuditEventType type, char action, std::string object, std::string summary) {
  AuditEvent e;
  e.id = AuditEventId::kSecurityAlert;
  e.type = type;
  e.action = action;
  e.object = std::move(object);
  e.summary = std::move(summary);
  return e;
}
}  // namespace

Status AdminService::Audited(const Principal& who, AuditEvent e, const Status& done) {
  e.outcome = OutcomeOf(done);
  if (!done.ok()) e.outcome_description = "refused: " + std::string(CodeName(done.code()));
  TRESOR_RETURN_IF_ERROR(audit_.Record(who, e));
  return done;
}

Status AdminService::AddPeer(const Principal& who, const security::Peer& peer) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  if (peer.name.empty()) return InvalidArgument("peer name must not be empty");
  TRESOR_RETURN_IF_ERROR(security::ValidateAeTitle(peer.ae_title));
  if (peer.host.empty()) return InvalidArgument("peer host must not be empty");
  if (peer.port < 1 || peer.port > 65535) return InvalidArgument("peer port must be 1-65535");
  TRESOR_RETURN_IF_ERROR(security::ValidateGroupNames(peer.groups));
  return Audited(who, Change(AuditEventType::kNetworkConfiguration, 'C', "peer " + peer.name, "peer added"),
                 policy_.PutPeer(ToPeerRecord(peer)));
}

Result<bool> AdminService::RemovePeer(const Principal& who, const std::string& name) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  Result<bool> removed = policy_.RemovePeer(name);
  // Recorded with outcome 4 when there was no such peer; the caller still gets false.
  Status audited = Audited(who, Change(AuditEventType::kNetworkConfiguration, 'D', "peer " + name,
                                       "peer removed"),
                           removed.ok() && !*removed ? NotFound("no such peer") : removed.status());
  if (!audited.ok() && audited.code() != Code::kNotFound) return audited;
  return removed;
}

Result<std::vector<security::Peer>> AdminService::ListPeers(const Principal& who) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  return LoadPeers(policy_);
}

Status AdminService::CreateUser(const Principal& who, const std::string& name,
                                  const std::string& role, const std::string& password,
                                  const std::vector<std::string>& groups) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_RETURN_IF_ERROR(security::ValidateGroupNames(groups));
  if (name.empty() || name.size() > 64) return InvalidArgument("user name must have 1-64 characters");
  static const char* kRoles[] = {"admin", "radiologist", "technologist", "auditor"};
  if (std::find(std::begin(kRoles), std::end(kRoles), role) == std::end(kRoles)) {
    return InvalidArgument("role must be admin, radiologist, technologist or auditor");
  }
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> existing, accounts_.FindUser(name));
  if (existing) return Status(Code::kAlreadyExists, "user " + name + " already exists");
  TRESOR_RETURN_IF_ERROR(security::CheckPasswordPolicy(password));
  TRESOR_ASSIGN_OR_RETURN(std::string hash, security::HashPassword(password));
  return Audited(who, Change(AuditEventType::kSecurityRolesChanged, 'C', "user " + name + " (" + role + ")",
                             "user created"),
                 accounts_.PutUser({name, hash, role, false, groups}));
}

Status AdminService::SetUserGroups(const Principal& who, const std::string& name,
                                     const std::vector<std::string>& groups) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_RETURN_IF_ERROR(security::ValidateGroupNames(groups));
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> user, accounts_.FindUser(name));
  if (!user) return NotFound("no user named " + name);
  user->groups = groups;
  return Audited(who, Change(AuditEventType::kUserSecurityAttributesChanged, 'U', "user " + name,
                             "user groups changed"),
                 accounts_.PutUser(*user));
}

namespace {
Status ValidateRule(const GroupRule& rule) {
  TRESOR_RETURN_IF_ERROR(security::ValidateStudyGroup(rule.group));
  if (rule.value.empty() || rule.value.size() > 256) {
    return InvalidArgument("a rule's value must have 1-256 characters");
  }
  return Status::Ok();
}
}  // namespace

Result<int64_t> AdminService::AddGroupRule(const Principal& who, const GroupRule& rule) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_RETURN_IF_ERROR(ValidateRule(rule));
  Result<int64_t> added = policy_.PutGroupRule(ToStoreRule(rule));
  TRESOR_RETURN_IF_ERROR(Audited(who, Change(AuditEventType::kObjectSecurityAttributesChanged, 'C',
                                             "group rule " + rule.group, "group rule added"),
                                 added.status()));
  return added;
}

Result<bool> AdminService::RemoveGroupRule(const Principal& who, const GroupRule& rule) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  Result<bool> removed = policy_.RemoveGroupRule(ToStoreRule(rule));
  TRESOR_RETURN_IF_ERROR(Audited(who, Change(AuditEventType::kObjectSecurityAttributesChanged, 'D',
                                             "group rule " + rule.group, "group rule removed"),
                                 removed.status()));
  return removed;
}

Result<std::vector<GroupRule>> AdminService::ListGroupRules(const Principal& who) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::GroupRule> rules, policy_.ListGroupRules());
  std::vector<GroupRule> out;
  for (const store::GroupRule& r : rules) out.push_back(ToGroupRule(r));
  return out;
}

Result<std::vector<GroupSummary>> AdminService::ListGroups(const Principal& who) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::GroupSummary> groups, policy_.ListGroups());
  std::vector<GroupSummary> out;
  for (const store::GroupSummary& g : groups) out.push_back(ToGroupSummary(g));
  return out;
}

Status AdminService::AssignStudy(const Principal& who, const std::string& group,
                                   const std::string& study_uid, bool member) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_RETURN_IF_ERROR(security::ValidateStudyGroup(group));
  if (!dicom::IsValidUid(study_uid)) return InvalidArgument("not a valid Study Instance UID");
  TRESOR_ASSIGN_OR_RETURN(bool found, policy_.SetStudyGroup(group, study_uid, member));
  AuditEvent e = Change(AuditEventType::kObjectSecurityAttributesChanged, member ? 'C' : 'D',
                        "group " + group, member ? "study assigned to group" : "study taken out of group");
  e.study_uids = {study_uid};
  return Audited(who, e, found ? Status::Ok() : NotFound("no study " + study_uid));
}

Status AdminService::SetUserDisabled(const Principal& who, const std::string& name,
                                       bool disabled) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> user, accounts_.FindUser(name));
  if (!user) return NotFound("no user named " + name);
  user->disabled = disabled;
  return Audited(who, Change(AuditEventType::kUserSecurityAttributesChanged, 'U', "user " + name,
                             disabled ? "user disabled" : "user enabled"),
                 accounts_.PutUser(*user));
}

Status AdminService::SetUserPassword(const Principal& who, const std::string& name,
                                       const std::string& password) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> user, accounts_.FindUser(name));
  if (!user) return NotFound("no user named " + name);
  TRESOR_RETURN_IF_ERROR(security::CheckPasswordPolicy(password));
  TRESOR_ASSIGN_OR_RETURN(user->password_hash, security::HashPassword(password));
  return Audited(who, Change(AuditEventType::kUserSecurityAttributesChanged, 'U', "user " + name,
                             "password changed"),
                 accounts_.PutUser(*user));
}

Result<std::vector<UserInfo>> AdminService::ListUsers(const Principal& who) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::UserRecord> users, accounts_.ListUsers());
  std::vector<UserInfo> out;
  for (const store::UserRecord& u : users) out.push_back(ToUserInfo(u));
  return out;
}

}  // namespace tresor::archive
