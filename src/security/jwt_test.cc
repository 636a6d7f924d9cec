#include "security/jwt.h"

#include <gtest/gtest.h>

namespace tresor::security {
namespace {

TEST(JwtTest, RoundTripsAndRejectsTampering) {
  std::string key(32, 'k');
  TokenClaims c{"alice", "radiologist", 1000, 2000, "s1"};
  std::string token = IssueJwt(key, c);
  auto back = VerifyJwt(key, token, 1500);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->subject, "alice");
  EXPECT_EQ(back->role, "radiologist");
  EXPECT_FALSE(VerifyJwt(key, token, 2000).ok()) << "expired";
  EXPECT_FALSE(VerifyJwt(std::string(32, 'x'), token, 1500).ok()) << "other key";
  std::string tampered = token;
  tampered[tampered.find('.') + 3] ^= 1;
  EXPECT_FALSE(VerifyJwt(key, tampered, 1500).ok());
  EXPECT_FALSE(VerifyJwt(key, "a.b", 1500).ok());
  EXPECT_FALSE(VerifyJwt(key, "", 1500).ok());
  // alg "none" with an empty signature is refused.
  EXPECT_FALSE(VerifyJwt(key, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIiwiaWF0IjoxLCJleHAiOjk5OTk5OTk5OTl9.",
                         1500).ok());
}

}  // namespace
}  // namespace tresor::security
