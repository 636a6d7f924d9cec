#include "security/jwt.h"

#include <gtest/gtest.h>

#include "security/failure_tracker.h"

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

TEST(FailureTrackerTest, BlocksAfterRepeatedFailuresAndExpires) {
  FailureTracker t(3, 60, 100);
  EXPECT_FALSE(t.RecordFailure("10.0.0.1", 1000));
  EXPECT_FALSE(t.RecordFailure("10.0.0.1", 1001));
  EXPECT_FALSE(t.Blocked("10.0.0.1", 1002));
  EXPECT_TRUE(t.RecordFailure("10.0.0.1", 1002));
  EXPECT_TRUE(t.Blocked("10.0.0.1", 1050));
  EXPECT_FALSE(t.Blocked("10.0.0.2", 1050)) << "other sources are not affected";
  EXPECT_FALSE(t.Blocked("10.0.0.1", 1103)) << "blocks expire";
  // Failures outside the window do not add up.
  EXPECT_FALSE(t.RecordFailure("10.0.0.3", 0));
  EXPECT_FALSE(t.RecordFailure("10.0.0.3", 100));
  EXPECT_FALSE(t.RecordFailure("10.0.0.3", 200));
  EXPECT_FALSE(t.Blocked("10.0.0.3", 201));
}

}  // namespace
}  // namespace tresor::security
