// AdminService: administration of the archive by the local administrator (CLI): peers,
// users, access groups (rules and study assignment). Every method refuses anyone else
// with kPermissionDenied. Users are listed as UserInfo, never with their password hash.
// Every method is thread-safe.
#pragma once

#include <cstdint>
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

  // Peer administration (local administrator only).
  Status AddPeer(const Principal& who, const security::Peer& peer);
  Result<bool> RemovePeer(const Principal& who, const std::string& name);
  Result<std::vector<security::Peer>> ListPeers(const Principal& who);

  // User administration (local administrator only). Hashes the password (Argon2id).
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
  // Disables (or re-enables) a user. kNotFound if there is no such user.
  Status SetUserDisabled(const Principal& who, const std::string& name, bool disabled);
  // Sets a new password (policy-checked, Argon2id). kNotFound if there is no such user.
  Status SetUserPassword(const Principal& who, const std::string& name,
                         const std::string& password);

 private:
  // Records `e` with the outcome of `done` and returns `done` (or the audit error).
  Status Audited(const Principal& who, AuditEvent e, const Status& done);

  store::PolicyIndex& policy_;
  store::AccountIndex& accounts_;
  AuditService& audit_;
};

}  // namespace tresor::archive
