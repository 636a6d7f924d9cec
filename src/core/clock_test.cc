#include "core/clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/testing/fake_clock.h"

namespace tresor::core {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;

TEST(FakeClockTest, MovesOnlyWhenAdvancedAndBothReadingsTogether) {
  FakeClock clock(1000);
  Clock::Monotonic start = clock.MonotonicNow();
  EXPECT_EQ(clock.WallSeconds(), 1000);
  EXPECT_EQ(clock.MonotonicNow(), start);
  clock.Advance(1500ms);
  EXPECT_EQ(clock.WallSeconds(), 1001);
  EXPECT_EQ(clock.MonotonicNow() - start, 1500ms);
  clock.Advance(-5000ms);  // never backwards
  EXPECT_EQ(clock.MonotonicNow() - start, 1500ms);
  clock.AdvanceSeconds(10);
  EXPECT_EQ(clock.WallSeconds(), 1011);
}

TEST(FakeClockTest, ThreadSafeReadsWhileAdvancing) {
  FakeClock clock;
  Clock::Monotonic start = clock.MonotonicNow();
  std::vector<std::thread> readers;
  std::atomic<bool> went_back{false};
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      Clock::Monotonic last = clock.MonotonicNow();
      for (int i = 0; i < 10000; ++i) {
        Clock::Monotonic now = clock.MonotonicNow();
        if (now < last) went_back = true;
        last = now;
      }
    });
  }
  for (int i = 0; i < 1000; ++i) clock.Advance(1ms);
  for (auto& r : readers) r.join();
  EXPECT_FALSE(went_back);
  EXPECT_EQ(clock.MonotonicNow() - start, 1000ms);
}

TEST(SystemClockTest, ReadsTheOperatingSystem) {
  const SystemClock& clock = SystemClock::Instance();
  EXPECT_GT(clock.WallSeconds(), 1'600'000'000);  // after 2020
  Clock::Monotonic a = clock.MonotonicNow();
  EXPECT_LE(a, clock.MonotonicNow());
}

TEST(DeadlineTest, ExpiresExactlyAtItsTimeout) {
  FakeClock clock;
  Deadline d(clock, 2000ms);
  EXPECT_FALSE(d.Expired());
  EXPECT_EQ(d.Remaining(), 2000ms);
  EXPECT_EQ(d.RemainingSeconds(), 2);
  clock.Advance(1999ms);
  EXPECT_FALSE(d.Expired());
  EXPECT_EQ(d.Remaining(), 1ms);
  EXPECT_EQ(d.RemainingSeconds(), 1);  // rounded up: a wait in seconds never ends early
  clock.Advance(1ms);
  EXPECT_TRUE(d.Expired());
  EXPECT_EQ(d.Remaining(), 0ms);
  EXPECT_EQ(d.RemainingSeconds(), 0);
  clock.AdvanceSeconds(100);
  EXPECT_EQ(d.Remaining(), 0ms);
}

TEST(DeadlineTest, RestartOnActivityKeepsAnIdleTimerAlive) {
  FakeClock clock;
  Deadline idle(clock, 3000ms);
  for (int i = 0; i < 5; ++i) {  // activity every 2 s: never idle for 3 s
    clock.AdvanceSeconds(2);
    EXPECT_FALSE(idle.Expired()) << i;
    idle.Restart(3000ms);
  }
  clock.AdvanceSeconds(3);
  EXPECT_TRUE(idle.Expired());
}

}  // namespace
}  // namespace tresor::core
