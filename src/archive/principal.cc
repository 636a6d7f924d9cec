#include "archive/principal.h"

namespace tresor::archive {

Principal Principal::ForUser(const std::string& user, const std::string& role,
                             const std::string& address, const std::vector<std::string>& groups) {
  uint32_t services = 0;
  if (role == "admin") services = security::kAllServices;
  else if (role == "radiologist") services = security::kFind | security::kMove | security::kGet;
  else if (role == "technologist") services = security::kStore | security::kFind;
  return Principal{"", "", address, services, user, role, security::AccessScope::Of(groups), ""};
}

std::string Principal::Describe() const {
  if (!user.empty() && !peer_name.empty()) {
    return "user '" + user + "' (" + role + ") via peer '" + peer_name + "' (AE " + ae_title +
           " from " + address + ")";
  }
  if (!user.empty()) return "user '" + user + "' (" + role + ") from " + address;
  if (peer_name.empty()) return "local administrator";
  return "peer '" + peer_name + "' (AE " + ae_title + " from " + address + ")";
}

Status RequireAdmin(const Principal& who) {
  if (!who.peer_name.empty() || who.IsUser()) {
    return PermissionDenied("administration is local only");
  }
  return Status::Ok();
}


}  // namespace tresor::archive
