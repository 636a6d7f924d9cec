// AdminService: administration of the archive: peers, users, access groups (rules and
// study assignment). Every method first checks RequireAdmin (principal.h): the local
// administrator (CLI) or a signed-in user with the admin role (HTTPS); everyone else,
// DICOM peers included, gets kPermissionDenied. Users are listed as UserInfo, never with
// their password hash. Every successful change is recorded once (admin_event.h: a
// security event in the log, the audit trail's hook). Every method is thread-safe.
//
// The last enabled admin stays: disabling or demoting it is refused (kConflict), and so
// is a user disabling or demoting themselves, so no one locks the web administration
// out by mistake (the CLI can always re-enable an account).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "archive/audit.h"
#include "archive/principal.h"
#include "archive/types.h"
#include "core/status.h"
#include "security/peer_policy.h"

namespace tresor::store {
class AccountIndex;
class PolicyIndex;
}  // namespace tresor::store

namespace tresor::archive {

class AdminService {
 public:
  // The indexes must outlive the service.
  // Every change (and every refused attempt) is recorded through `audit` as a security
  // alert with the CID 401 type of what changed; a change whose record cannot be
  // written is reported as failed.
  AdminService(store::PolicyIndex& policy, store::AccountIndex& accounts, AuditService& audit);

  // Peer administration. The peer is checked with security::ValidatePeer and its groups
  // with ValidateGroupNames (kInvalidArgument). With `replace` a peer of the same name is
  // replaced (CLI `peer add`), else kAlreadyExists.
  Status AddPeer(const Principal& who, const security::Peer& peer, bool replace = true);
  Result<bool> RemovePeer(const Principal& who, const std::string& name);
  Result<std::vector<security::Peer>> ListPeers(const Principal& who);

  // User administration. Hashes the password (Argon2id). User names have 1-64
  // characters: letters, digits, '.', '_', '-', '@'. kAlreadyExists for a taken name.
  Status CreateUser(const Principal& who, const std::string& name, const std::string& role,
                    const std::string& password, const std::vector<std::string>& groups);
  // Replaces a user's access groups. kNotFound if there is no such user.
  Status SetUserGroups(const Principal& who, const std::string& name,
                       const std::vector<std::string>& groups);

  // Access groups (local administrator only). AddGroupRule also applies the rule to the
  // studies already archived and returns how many it added.
  Result<int64_t> AddGroupRule(const Principal& who, const GroupRule& rule);
  Result<bool> RemoveGroupRule(const Principal& who, const GroupRule& rule);
  Result<std::vector<GroupRule>> ListGroupRules(const Principal& who);
  Result<std::vector<GroupSummary>> ListGroups(const Principal& who);
  // Puts a study into a group (or takes it out). kNotFound if there is no such study.
  Status AssignStudy(const Principal& who, const std::string& group, const std::string& study_uid,
                     bool member);
  Result<std::vector<UserInfo>> ListUsers(const Principal& who);
  // One user. kNotFound if there is no such user.
  Result<UserInfo> GetUser(const Principal& who, const std::string& name);
  // Disables (or re-enables) a user; a disabled user's sessions and API tokens stop
  // authenticating at once. kNotFound if there is no such user; kConflict for `who`
  // disabling themselves or the last enabled admin.
  Status SetUserDisabled(const Principal& who, const std::string& name, bool disabled);
  // Changes a user's role (admin, radiologist, technologist, auditor). kNotFound if there
  // is no such user; kInvalidArgument for another role; kConflict for `who` demoting
  // themselves or the last enabled admin.
  Status SetUserRole(const Principal& who, const std::string& name, const std::string& role);
  // Sets a new password (policy-checked, Argon2id). kNotFound if there is no such user.
  Status SetUserPassword(const Principal& who, const std::string& name,
                         const std::string& password);

 private:
  // Records `e` with the outcome of `done` and returns `done` (or the audit error).
  Status Audited(const Principal& who, AuditEvent e, const Status& done);
  // kConflict if `name` is the only enabled user with the admin role (so it must stay
  // an enabled admin).
  Status KeepLastAdmin(const std::string& name, const std::string& change);

  store::PolicyIndex& policy_;
  store::AccountIndex& accounts_;
  AuditService& audit_;
  // Serializes user changes, so two concurrent changes cannot both remove "the other"
  // enabled admin (within this process).
  std::mutex users_mu_;
};

}  // namespace tresor::archive
