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

bool IsLocalAdmin(const Principal& who) {
  return who.peer_name.empty() && who.user.empty() && who.ae_title == "LOCAL" &&
         who.address == "local";
}

Status RequireAdmin(const Principal& who) {
  // A DICOM association never administers, whoever signed in through it.
  if (!who.peer_name.empty()) return PermissionDenied("administration is not available over DICOM");
  if (who.IsUser()) {
    if (who.role == "admin") return Status::Ok();
    return PermissionDenied("administration needs the admin role");
  }
  if (IsLocalAdmin(who)) return Status::Ok();
  return PermissionDenied("administration needs the admin role");
}

}  // namespace tresor::archive
