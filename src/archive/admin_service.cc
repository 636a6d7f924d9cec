#include "archive/admin_service.h"

#include <algorithm>
#include <optional>

#include "archive/admin_event.h"
#include "archive/store_mapping.h"
#include "dicom/uid.h"
#include "security/access_scope.h"
#include "security/password.h"
#include "store/account_index.h"
#include "store/policy_index.h"

namespace tresor::archive {

namespace {

bool IsRole(const std::string& role) {
  static const char* kRoles[] = {"admin", "radiologist", "technologist", "auditor"};
  return std::find(std::begin(kRoles), std::end(kRoles), role) != std::end(kRoles);
}

Status ValidateUserName(const std::string& name) {
  if (name.empty() || name.size() > 64) return InvalidArgument("user name must have 1-64 characters");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@';
    if (!ok) return InvalidArgument("user name may hold letters, digits, '.', '_', '-' and '@' only");
  }
  return Status::Ok();
}

std::string GroupsText(const std::vector<std::string>& groups) {
  return groups.empty() ? "none" : security::FormatGroupList(groups);
}

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

AdminService::AdminService(store::PolicyIndex& policy, store::AccountIndex& accounts,
                           AuditService& audit)
    : policy_(policy), accounts_(accounts), audit_(audit) {}

Status AdminService::Audited(const Principal& who, AuditEvent e, const Status& done) {
  e.outcome = OutcomeOf(done);
  if (!done.ok()) e.outcome_description = "refused: " + std::string(CodeName(done.code()));
  TRESOR_RETURN_IF_ERROR(audit_.Record(who, e));
  return done;
}

Status AdminService::AddPeer(const Principal& who, const security::Peer& peer, bool replace) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_RETURN_IF_ERROR(security::ValidatePeer(peer));
  TRESOR_RETURN_IF_ERROR(security::ValidateGroupNames(peer.groups));
  if (!replace) {
    TRESOR_ASSIGN_OR_RETURN(std::vector<store::PeerRecord> peers, policy_.ListPeers());
    for (const store::PeerRecord& p : peers) {
      if (p.name == peer.name) return Status(Code::kAlreadyExists, "peer " + peer.name + " already exists");
    }
  }
  TRESOR_RETURN_IF_ERROR(Audited(
      who, Change(AuditEventType::kNetworkConfiguration, 'C', "peer " + peer.name, "peer added"),
      policy_.PutPeer(ToPeerRecord(peer))));
  RecordAdminChange(who, "peer '" + peer.name + "' registered (AE " + peer.ae_title + " at " +
                             peer.host + ":" + std::to_string(peer.port) + ", services " +
                             security::FormatServices(peer.services) + ", groups " +
                             GroupsText(peer.groups) +
                             (peer.certificate_sha256.empty() ? "" : ", certificate pinned") +
                             (peer.require_identity ? ", user identity required" : "") + ")");
  return Status::Ok();
}

Result<bool> AdminService::RemovePeer(const Principal& who, const std::string& name) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  Result<bool> removed = policy_.RemovePeer(name);
  // Recorded with outcome 4 when there was no such peer; the caller still gets false.
  Status audited = Audited(who, Change(AuditEventType::kNetworkConfiguration, 'D', "peer " + name,
                                       "peer removed"),
                           removed.ok() && !*removed ? NotFound("no such peer") : removed.status());
  if (!audited.ok() && audited.code() != Code::kNotFound) return audited;
  if (*removed) RecordAdminChange(who, "peer '" + name + "' removed");
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
  TRESOR_RETURN_IF_ERROR(ValidateUserName(name));
  TRESOR_RETURN_IF_ERROR(security::ValidateGroupNames(groups));
  if (!IsRole(role)) return InvalidArgument("role must be admin, radiologist, technologist or auditor");
  std::lock_guard<std::mutex> lock(users_mu_);
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> existing, accounts_.FindUser(name));
  if (existing) return Status(Code::kAlreadyExists, "user " + name + " already exists");
  TRESOR_RETURN_IF_ERROR(security::CheckPasswordPolicy(password));
  TRESOR_ASSIGN_OR_RETURN(std::string hash, security::HashPassword(password));
  TRESOR_RETURN_IF_ERROR(Audited(who, Change(AuditEventType::kSecurityRolesChanged, 'C',
                                             "user " + name + " (" + role + ")", "user created"),
                                 accounts_.PutUser({name, hash, role, false, groups})));
  RecordAdminChange(who, "user '" + name + "' created (role " + role + ", groups " +
                             GroupsText(groups) + ")");
  return Status::Ok();
}

Status AdminService::SetUserGroups(const Principal& who, const std::string& name,
                                     const std::vector<std::string>& groups) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_RETURN_IF_ERROR(security::ValidateGroupNames(groups));
  std::lock_guard<std::mutex> lock(users_mu_);
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> user, accounts_.FindUser(name));
  if (!user) return NotFound("no user named " + name);
  user->groups = groups;
  TRESOR_RETURN_IF_ERROR(Audited(who, Change(AuditEventType::kUserSecurityAttributesChanged, 'U',
                                             "user " + name, "user groups changed"),
                                 accounts_.PutUser(*user)));
  RecordAdminChange(who, "user '" + name + "': access groups set to " + GroupsText(groups));
  return Status::Ok();
}

namespace {
Status ValidateRule(const GroupRule& rule) {
  TRESOR_RETURN_IF_ERROR(security::ValidateStudyGroup(rule.group));
  if (rule.value.empty() || rule.value.size() > 256) {
    return InvalidArgument("a rule's value must have 1-256 characters");
  }
  return Status::Ok();
}

std::string RuleText(const GroupRule& rule) {
  return "group '" + rule.group + "' rule " + GroupRuleKindName(rule.kind) + " = \"" + rule.value +
         "\"";
}
}  // namespace

Result<int64_t> AdminService::AddGroupRule(const Principal& who, const GroupRule& rule) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_RETURN_IF_ERROR(ValidateRule(rule));
  Result<int64_t> added = policy_.PutGroupRule(ToStoreRule(rule));
  TRESOR_RETURN_IF_ERROR(Audited(who, Change(AuditEventType::kObjectSecurityAttributesChanged, 'C',
                                             "group rule " + rule.group, "group rule added"),
                                 added.status()));
  RecordAdminChange(who, RuleText(rule) + " added (" + std::to_string(*added) +
                             " archived studies added)");
  return added;
}

Result<bool> AdminService::RemoveGroupRule(const Principal& who, const GroupRule& rule) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  Result<bool> removed = policy_.RemoveGroupRule(ToStoreRule(rule));
  TRESOR_RETURN_IF_ERROR(Audited(who, Change(AuditEventType::kObjectSecurityAttributesChanged, 'D',
                                             "group rule " + rule.group, "group rule removed"),
                                 removed.status()));
  if (*removed) RecordAdminChange(who, RuleText(rule) + " removed");
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
  TRESOR_RETURN_IF_ERROR(Audited(who, e, found ? Status::Ok() : NotFound("no study " + study_uid)));
  // The study's UID identifies no patient; it is what the audit trail needs to name.
  RecordAdminChange(who, std::string("study ") + study_uid + (member ? " put into" : " taken out of") +
                             " group '" + group + "'");
  return Status::Ok();
}

Status AdminService::KeepLastAdmin(const std::string& name, const std::string& change) {
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::UserRecord> users, accounts_.ListUsers());
  int enabled_admins = 0;
  bool is_enabled_admin = false;
  for (const store::UserRecord& u : users) {
    if (u.role == "admin" && !u.disabled) {
      ++enabled_admins;
      if (u.name == name) is_enabled_admin = true;
    }
  }
  if (is_enabled_admin && enabled_admins == 1) {
    return Conflict("user " + name + " is the last enabled admin: " + change +
                    " would leave no one to administer the archive");
  }
  return Status::Ok();
}

Result<UserInfo> AdminService::GetUser(const Principal& who, const std::string& name) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> user, accounts_.FindUser(name));
  if (!user) return NotFound("no user named " + name);
  return ToUserInfo(*user);
}

Status AdminService::SetUserDisabled(const Principal& who, const std::string& name,
                                       bool disabled) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  std::lock_guard<std::mutex> lock(users_mu_);
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> user, accounts_.FindUser(name));
  if (!user) return NotFound("no user named " + name);
  if (disabled && !user->disabled) {
    if (who.IsUser() && who.user == name) return Conflict("you cannot disable your own account");
    TRESOR_RETURN_IF_ERROR(KeepLastAdmin(name, "disabling it"));
  }
  if (user->disabled == disabled) return Status::Ok();
  user->disabled = disabled;
  TRESOR_RETURN_IF_ERROR(Audited(who, Change(AuditEventType::kUserSecurityAttributesChanged, 'U',
                                             "user " + name, disabled ? "user disabled" : "user enabled"),
                                 accounts_.PutUser(*user)));
  RecordAdminChange(who, "user '" + name + "' " + (disabled ? "disabled" : "enabled"));
  return Status::Ok();
}

Status AdminService::SetUserRole(const Principal& who, const std::string& name,
                                   const std::string& role) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  if (!IsRole(role)) return InvalidArgument("role must be admin, radiologist, technologist or auditor");
  std::lock_guard<std::mutex> lock(users_mu_);
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> user, accounts_.FindUser(name));
  if (!user) return NotFound("no user named " + name);
  if (user->role == role) return Status::Ok();
  if (user->role == "admin") {
    if (who.IsUser() && who.user == name) return Conflict("you cannot take away your own admin role");
    TRESOR_RETURN_IF_ERROR(KeepLastAdmin(name, "demoting it"));
  }
  std::string old_role = user->role;
  user->role = role;
  TRESOR_RETURN_IF_ERROR(Audited(who, Change(AuditEventType::kSecurityRolesChanged, 'U',
                                             "user " + name + " (" + role + ")", "role changed"),
                                 accounts_.PutUser(*user)));
  RecordAdminChange(who, "user '" + name + "': role " + old_role + " -> " + role);
  return Status::Ok();
}

Status AdminService::SetUserPassword(const Principal& who, const std::string& name,
                                       const std::string& password) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  std::lock_guard<std::mutex> lock(users_mu_);
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> user, accounts_.FindUser(name));
  if (!user) return NotFound("no user named " + name);
  TRESOR_RETURN_IF_ERROR(security::CheckPasswordPolicy(password));
  TRESOR_ASSIGN_OR_RETURN(user->password_hash, security::HashPassword(password));
  TRESOR_RETURN_IF_ERROR(Audited(who, Change(AuditEventType::kUserSecurityAttributesChanged, 'U',
                                             "user " + name, "password changed"),
                                 accounts_.PutUser(*user)));
  RecordAdminChange(who, "user '" + name + "': password changed");
  return Status::Ok();
}

Result<std::vector<UserInfo>> AdminService::ListUsers(const Principal& who) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::UserRecord> users, accounts_.ListUsers());
  std::vector<UserInfo> out;
  for (const store::UserRecord& u : users) out.push_back(ToUserInfo(u));
  return out;
}

}  // namespace tresor::archive
