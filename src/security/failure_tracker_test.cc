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
  MemoryThrottleStore store;
  FailureTracker f(Options(), clock, store);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*f.SignInFailed("admin", "10.0.0.9"), 0);
  EXPECT_EQ(*f.SignInFailed("admin", "10.0.0.9"), 2);
  EXPECT_EQ(*f.SignInWait("admin", "10.0.0.9"), 2) << "the guessed user, from the guessing address";
  EXPECT_EQ(*f.SignInWait("admin", "10.0.0.1"), 0) << "the same user from another address";
  EXPECT_EQ(*f.SignInWait("alice", "10.0.0.9"), 0) << "another user from the same address";
  // After the back-off a correct password clears it.
  clock.AdvanceSeconds(2);
  EXPECT_EQ(*f.SignInWait("admin", "10.0.0.9"), 0);
  ASSERT_TRUE(f.SignInSucceeded("admin", "10.0.0.9").ok());
  EXPECT_EQ(*f.SignInFailed("admin", "10.0.0.9"), 0);
}

TEST(FailureTrackerTest, KeysCannotCollide) {
  FakeClock clock;
  MemoryThrottleStore store;
  FailureTracker f(Options(), clock, store);
  for (int i = 0; i < 4; ++i) (void)f.SignInFailed("ab", "c");
  EXPECT_GT(*f.SignInWait("ab", "c"), 0);
  EXPECT_EQ(*f.SignInWait("a", "bc"), 0);
}

TEST(FailureTrackerTest, RejectedAssociationsNeverTouchPasswordsOrTokens) {
  FakeClock clock;
  MemoryThrottleStore store;
  FailureTracker f(Options(), clock, store);
  for (int i = 0; i < 20; ++i) (void)f.AssociationRejected("127.0.0.1");
  EXPECT_EQ(*f.SignInWait("admin", "127.0.0.1"), 0);
  EXPECT_GT(*f.AssociationWait("GUESS", "127.0.0.1"), 0);
  EXPECT_EQ(*f.AssociationWait("GUESS", "127.0.0.2"), 0) << "other addresses are not affected";
}

TEST(FailureTrackerTest, AdmittedPeersAreExemptButGuessesFromTheirHostAreSlowed) {
  FakeClock clock;
  MemoryThrottleStore store;
  FailureTracker f(Options(), clock, store);
  ASSERT_TRUE(f.AssociationAdmitted("CT1", "10.1.1.1").ok());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*f.AssociationRejected("10.1.1.1"), 0);
  EXPECT_EQ(*f.AssociationRejected("10.1.1.1"), 2);
  EXPECT_EQ(*f.AssociationWait("CT1", "10.1.1.1"), 0) << "the admitted peer is not slowed";
  EXPECT_EQ(*f.AssociationWait("CT2", "10.1.1.1"), 2) << "a guess from the peer's own host is";
  EXPECT_EQ(*f.AssociationWait("CT1", "10.1.1.2"), 0) << "CT1 from another host: its own count";
  clock.AdvanceSeconds(2);
  EXPECT_EQ(*f.AssociationWait("CT2", "10.1.1.1"), 0) << "evaluated again after the back-off";
}

TEST(FailureTrackerTest, InvalidTokensAlertOnceAndNeverDelay) {
  FakeClock clock;
  MemoryThrottleStore store;
  FailureTracker f(Options(), clock, store);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(*f.BearerRejected("10.0.0.5")) << i;
  EXPECT_TRUE(*f.BearerRejected("10.0.0.5")) << "the first failure beyond the free ones";
  EXPECT_FALSE(*f.BearerRejected("10.0.0.5")) << "alerted once";
  EXPECT_EQ(*f.SignInWait("admin", "10.0.0.5"), 0);
  EXPECT_EQ(*f.AssociationWait("CT1", "10.0.0.5"), 0);
}

// Two trackers on one store (two nodes on one index): a peer admitted by one is exempt on
// the other, and a back-off started through one holds on the other.
TEST(FailureTrackerTest, TrackersSharingAStoreAgree) {
  FakeClock clock;
  MemoryThrottleStore store;
  FailureTracker a(Options(), clock, store), b(Options(), clock, store);
  ASSERT_TRUE(a.AssociationAdmitted("CT1", "10.1.1.1").ok());
  for (int i = 0; i < 4; ++i) (void)b.AssociationRejected("10.1.1.1");
  EXPECT_EQ(*a.AssociationWait("CT2", "10.1.1.1"), 2) << "b's back-off holds on a";
  EXPECT_EQ(*b.AssociationWait("CT1", "10.1.1.1"), 0) << "a's admission holds on b";
  for (int i = 0; i < 4; ++i) (void)a.SignInFailed("admin", "10.0.0.9");
  EXPECT_EQ(*b.SignInWait("admin", "10.0.0.9"), 2);
}

// A store that fails: every question is answered with its error, never with "go ahead".
class BrokenStore final : public ThrottleStore {
 public:
  Result<std::optional<ThrottleEntry>> Find(const std::string&, int64_t) override {
    return Status(Code::kUnavailable, "index unreachable");
  }
  Result<ThrottleEntry> Apply(const std::string&, int64_t, const Update&) override {
    return Status(Code::kUnavailable, "index unreachable");
  }
  Status Remove(const std::string&) override { return Status(Code::kUnavailable, "index unreachable"); }
};

TEST(FailureTrackerTest, StoreErrorsAreReturnedNotTakenAsNoBackoff) {
  FakeClock clock;
  BrokenStore store;
  FailureTracker f(Options(), clock, store);
  EXPECT_EQ(f.SignInWait("admin", "10.0.0.9").status().code(), Code::kUnavailable);
  EXPECT_EQ(f.AssociationWait("CT1", "10.0.0.9").status().code(), Code::kUnavailable);
  EXPECT_FALSE(f.SignInFailed("admin", "10.0.0.9").ok());
  EXPECT_FALSE(f.AssociationAdmitted("CT1", "10.0.0.9").ok());
}

}  // namespace
}  // namespace tresor::security
