#include "security/failure_tracker.h"

#include <gtest/gtest.h>

#include "core/testing/fake_clock.h"

namespace tresor::security {
namespace {

using testing::FakeClock;

ThrottleOptions Options() {
  ThrottleOptions o;
  o.free_failures = 3;
  o.backoff_seconds = 2;
  o.max_backoff_seconds = 60;
  o.forget_seconds = 300;
  return o;
}

TEST(FailureTrackerTest, WrongPasswordsBackOffThatUserFromThatAddressOnly) {
  FakeClock clock;
  FailureTracker f(Options(), clock);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.SignInFailed("admin", "10.0.0.9"), 0);
  EXPECT_EQ(f.SignInFailed("admin", "10.0.0.9"), 2);
  EXPECT_EQ(f.SignInWait("admin", "10.0.0.9"), 2) << "the guessed user, from the guessing address";
  EXPECT_EQ(f.SignInWait("admin", "10.0.0.1"), 0) << "the same user from another address";
  EXPECT_EQ(f.SignInWait("alice", "10.0.0.9"), 0) << "another user from the same address";
  // After the back-off a correct password clears it.
  clock.AdvanceSeconds(2);
  EXPECT_EQ(f.SignInWait("admin", "10.0.0.9"), 0);
  f.SignInSucceeded("admin", "10.0.0.9");
  EXPECT_EQ(f.SignInFailed("admin", "10.0.0.9"), 0);
}

TEST(FailureTrackerTest, KeysCannotCollide) {
  FakeClock clock;
  FailureTracker f(Options(), clock);
  for (int i = 0; i < 4; ++i) (void)f.SignInFailed("ab", "c");
  EXPECT_GT(f.SignInWait("ab", "c"), 0);
  EXPECT_EQ(f.SignInWait("a", "bc"), 0);
}

TEST(FailureTrackerTest, RejectedAssociationsNeverTouchPasswordsOrTokens) {
  FakeClock clock;
  FailureTracker f(Options(), clock);
  for (int i = 0; i < 20; ++i) (void)f.AssociationRejected("127.0.0.1");
  EXPECT_EQ(f.SignInWait("admin", "127.0.0.1"), 0);
  EXPECT_GT(f.AssociationWait("GUESS", "127.0.0.1"), 0);
  EXPECT_EQ(f.AssociationWait("GUESS", "127.0.0.2"), 0) << "other addresses are not affected";
}

TEST(FailureTrackerTest, AdmittedPeersAreExemptButGuessesFromTheirHostAreSlowed) {
  FakeClock clock;
  FailureTracker f(Options(), clock);
  f.AssociationAdmitted("CT1", "10.1.1.1");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.AssociationRejected("10.1.1.1"), 0);
  EXPECT_EQ(f.AssociationRejected("10.1.1.1"), 2);
  EXPECT_EQ(f.AssociationWait("CT1", "10.1.1.1"), 0) << "the admitted peer is not slowed";
  EXPECT_EQ(f.AssociationWait("CT2", "10.1.1.1"), 2) << "a guess from the peer's own host is";
  EXPECT_EQ(f.AssociationWait("CT1", "10.1.1.2"), 0) << "CT1 from another host: its own count";
  clock.AdvanceSeconds(2);
  EXPECT_EQ(f.AssociationWait("CT2", "10.1.1.1"), 0) << "evaluated again after the back-off";
}

TEST(FailureTrackerTest, InvalidTokensAlertOnceAndNeverDelay) {
  FakeClock clock;
  FailureTracker f(Options(), clock);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(f.BearerRejected("10.0.0.5")) << i;
  EXPECT_TRUE(f.BearerRejected("10.0.0.5")) << "the first failure beyond the free ones";
  EXPECT_FALSE(f.BearerRejected("10.0.0.5")) << "alerted once";
  EXPECT_EQ(f.SignInWait("admin", "10.0.0.5"), 0);
  EXPECT_EQ(f.AssociationWait("CT1", "10.0.0.5"), 0);
}

}  // namespace
}  // namespace tresor::security
