// FakeClock: a Clock that moves only when a test advances it. Wall and monotonic time
// advance together. Thread-safe (the server's threads may read it while the test
// advances it).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

#include "core/clock.h"

namespace tresor::testing {

class FakeClock final : public core::Clock {
 public:
  // Starts at `wall_seconds` since the epoch (a fixed, plausible date by default).
  explicit FakeClock(int64_t wall_seconds = 1'750'000'000) : wall_(wall_seconds) {}

  int64_t WallSeconds() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return wall_ + std::chrono::duration_cast<std::chrono::seconds>(elapsed_).count();
  }
  int64_t WallMillis() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return wall_ * 1000 + elapsed_.count();
  }
  Monotonic MonotonicNow() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return Monotonic(std::chrono::hours(1)) + elapsed_;
  }
  // Moves both clocks forward by `d` (never backwards).
  void Advance(std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> lock(mu_);
    if (d.count() > 0) elapsed_ += d;
  }
  void AdvanceSeconds(int64_t s) { Advance(std::chrono::seconds(s)); }

 private:
  mutable std::mutex mu_;
  const int64_t wall_;
  std::chrono::milliseconds elapsed_{0};  // guarded by mu_
};

}  // namespace tresor::testing
