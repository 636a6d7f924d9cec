// Principal: who is acting on the archive. Every archive service takes one and decides
// with it (grants, per-study scope, administration); adapters obtain one only from
// AccessService (admission, authentication) or as the local administrator (CLI).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "security/access_scope.h"
#include "security/peer_policy.h"

namespace tresor::archive {

// Who is acting: a registered DICOM peer, a signed-in user (HTTPS), or the local
// administrator (CLI).
struct Principal {
  std::string peer_name;  // set for DICOM peers
  std::string ae_title;
  std::string address;
  uint32_t services = 0;  // security::Service bits granted
  std::string user;       // set for users
  std::string role;       // admin, radiologist, technologist, auditor (users only)
  // The studies this principal may see: the peer's groups, the user's groups, or both
  // intersected for a user acting through a peer.
  security::AccessScope scope;
  std::string session_id;  // the session a bearer token belongs to (HTTPS sign-in)

  static Principal LocalAdmin() {
    return Principal{"", "LOCAL", "local", security::kAllServices, "", "",
                     security::AccessScope::Everything(), ""};
  }
  // A user's principal: services follow the role (radiologist: find/move/get;
  // technologist: store/find; admin: all; auditor: none); the scope follows `groups`.
  static Principal ForUser(const std::string& user, const std::string& role,
                           const std::string& address, const std::vector<std::string>& groups);
  bool May(security::Service s) const { return (services & s) != 0; }
  bool IsUser() const { return !user.empty(); }
  // "peer 'ct1' (AE CT_SCANNER from 127.0.0.1)", for logs.
  std::string Describe() const;
};

// True for Principal::LocalAdmin() (the CLI), false for peers and users.
bool IsLocalAdmin(const Principal& who);

// Ok for the local administrator (CLI) and for a signed-in user whose role is "admin"
// (HTTPS session or API token; the role is the one read from the account at
// authentication). kPermissionDenied for everyone else: other roles, and every DICOM
// peer, also with a user identity of an admin.
Status RequireAdmin(const Principal& who);

}  // namespace tresor::archive
