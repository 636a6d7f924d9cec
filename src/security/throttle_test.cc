#include "security/throttle.h"

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

TEST(ThrottleTest, FreeFailuresThenDoublingBackoffUpToTheCap) {
  FakeClock clock;
  MemoryThrottleStore store;
  Throttle t(Options(), clock, store);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(*t.Wait("k"), 0) << i;
    EXPECT_EQ(*t.RecordFailure("k"), 0) << "free failure " << i;
  }
  EXPECT_EQ(*t.Wait("k"), 0);
  // The 4th failure: 2 s, then 4, 8, 16, 32, 60 (cap), 60.
  const int expected[] = {2, 4, 8, 16, 32, 60, 60};
  for (int want : expected) {
    ASSERT_EQ(*t.Wait("k"), 0);
    EXPECT_EQ(*t.RecordFailure("k"), want);
    EXPECT_EQ(*t.Wait("k"), want) << "refused for the whole back-off";
    clock.AdvanceSeconds(want - 1);
    EXPECT_EQ(*t.Wait("k"), 1) << "one second before its end";
    clock.AdvanceSeconds(1);
    EXPECT_EQ(*t.Wait("k"), 0) << "evaluated again after " << want << " s";
  }
  EXPECT_EQ(*t.Wait("other"), 0) << "other keys are not affected";
}

TEST(ThrottleTest, RetryAfterRoundsUp) {
  FakeClock clock;
  ThrottleOptions o = Options();
  o.free_failures = 0;
  MemoryThrottleStore store;
  Throttle t(o, clock, store);
  EXPECT_EQ(*t.RecordFailure("k"), 2);
  clock.Advance(std::chrono::milliseconds(1500));
  EXPECT_EQ(*t.Wait("k"), 1);
  clock.Advance(std::chrono::milliseconds(499));
  EXPECT_EQ(*t.Wait("k"), 1);
  clock.Advance(std::chrono::milliseconds(1));
  EXPECT_EQ(*t.Wait("k"), 0);
}

TEST(ThrottleTest, SuccessAndQuietTimeForgetFailures) {
  FakeClock clock;
  MemoryThrottleStore store;
  Throttle t(Options(), clock, store);
  for (int i = 0; i < 3; ++i) (void)t.RecordFailure("k");
  ASSERT_TRUE(t.RecordSuccess("k").ok());
  EXPECT_EQ(*t.Failures("k"), 0);
  EXPECT_EQ(*t.RecordFailure("k"), 0) << "counting starts again after a success";

  // Failures spread wider than the forget window never add up to a back-off.
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(*t.RecordFailure("slow"), 0) << i;
    clock.AdvanceSeconds(300);
  }
  // A key in back-off is forgotten forget_seconds after the back-off ends, not before.
  for (int i = 0; i < 4; ++i) (void)t.RecordFailure("b");
  EXPECT_EQ(*t.Failures("b"), 4);
  clock.AdvanceSeconds(2 + 299);
  EXPECT_EQ(*t.Failures("b"), 4);
  clock.AdvanceSeconds(1);
  EXPECT_EQ(*t.Failures("b"), 0);
  EXPECT_EQ(*t.RecordFailure("b"), 0) << "forgotten: free failures again";
}

TEST(ThrottleTest, BoundedNumberOfKeys) {
  FakeClock clock;
  ThrottleOptions o = Options();
  o.free_failures = 0;
  MemoryThrottleStore store;
  Throttle t(o, clock, store);
  (void)t.RecordFailure("first");
  clock.AdvanceSeconds(1);
  for (size_t i = 0; i < MemoryThrottleStore::kMaxKeys; ++i) (void)t.RecordFailure("k" + std::to_string(i));
  EXPECT_EQ(*t.Failures("first"), 0) << "the stalest key made room";
  EXPECT_EQ(*t.Failures("k1"), 1);
  EXPECT_GT(*t.Wait("k" + std::to_string(MemoryThrottleStore::kMaxKeys - 1)), 0);
}

// Two throttles over one store (two nodes over one index) act as one: failures add up
// and a back-off started by one refuses attempts on the other.
TEST(ThrottleTest, ThrottlesSharingAStoreAgree) {
  FakeClock clock;
  MemoryThrottleStore store;
  Throttle a(Options(), clock, store), b(Options(), clock, store);
  EXPECT_EQ(*a.RecordFailure("k"), 0);
  EXPECT_EQ(*b.RecordFailure("k"), 0);
  EXPECT_EQ(*a.RecordFailure("k"), 0);
  EXPECT_EQ(*b.RecordFailure("k"), 2) << "the 4th failure, wherever it happened";
  EXPECT_EQ(*a.Wait("k"), 2);
  EXPECT_EQ(*a.Failures("k"), 4);
  ASSERT_TRUE(b.RecordSuccess("k").ok());
  EXPECT_EQ(*a.Wait("k"), 0);
}

}  // namespace
}  // namespace tresor::security
