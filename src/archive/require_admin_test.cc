// RequireAdmin: who may administer the archive.
#include <gtest/gtest.h>

#include "archive/principal.h"

namespace tresor::archive {
namespace {

TEST(RequireAdminTest, TheLocalAdministratorAndAdminUsersMayAdminister) {
  EXPECT_TRUE(RequireAdmin(Principal::LocalAdmin()).ok());
  EXPECT_TRUE(IsLocalAdmin(Principal::LocalAdmin()));
  Principal admin = Principal::ForUser("root", "admin", "127.0.0.1", {"all"});
  EXPECT_TRUE(RequireAdmin(admin).ok());
  EXPECT_FALSE(IsLocalAdmin(admin));
}

TEST(RequireAdminTest, OtherRolesArePermissionDenied) {
  for (const char* role : {"radiologist", "technologist", "auditor", "", "Admin"}) {
    Principal user = Principal::ForUser("u", role, "127.0.0.1", {"all"});
    EXPECT_EQ(RequireAdmin(user).code(), Code::kPermissionDenied) << role;
  }
}

TEST(RequireAdminTest, PeersNeverAdministerEvenWithAnAdminIdentity) {
  Principal peer;
  peer.peer_name = "ct1";
  peer.ae_title = "CT1";
  peer.address = "127.0.0.1";
  peer.services = security::kAllServices;
  peer.scope = security::AccessScope::Everything();
  EXPECT_EQ(RequireAdmin(peer).code(), Code::kPermissionDenied);
  // A user identity negotiated over DICOM (AccessService::AuthenticateIdentity).
  peer.user = "root";
  peer.role = "admin";
  EXPECT_EQ(RequireAdmin(peer).code(), Code::kPermissionDenied);
}

TEST(RequireAdminTest, AnEmptyPrincipalIsNotTheLocalAdministrator) {
  EXPECT_EQ(RequireAdmin(Principal{}).code(), Code::kPermissionDenied);
  Principal almost = Principal::LocalAdmin();
  almost.address = "10.0.0.1";
  EXPECT_EQ(RequireAdmin(almost).code(), Code::kPermissionDenied);
}

}  // namespace
}  // namespace tresor::archive
