// Clock: where every decision that depends on time reads it (session and token expiry,
// the failure throttle, connection and association deadlines), so that tests can drive
// time by hand (core/testing/fake_clock.h) instead of sleeping.
//
// Two readings: wall time (seconds since the Unix epoch; stored in the index, written into
// tokens; may jump) and monotonic time (only for durations and deadlines; never jumps).
// Implementations must be thread-safe.
#pragma once

#include <chrono>
#include <cstdint>

namespace tresor::core {

class Clock {
 public:
  using Monotonic = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  // Seconds since the Unix epoch.
  virtual int64_t WallSeconds() const = 0;
  // Milliseconds since the Unix epoch (times shared by several processes, such as the
  // failure back-off kept in the index, where a monotonic clock means nothing). The
  // default is WallSeconds() x 1000.
  virtual int64_t WallMillis() const { return WallSeconds() * 1000; }
  // A point on a clock that never goes backwards. Only differences are meaningful; a real
  // timer may wait for it only when the clock is a SystemClock.
  virtual Monotonic MonotonicNow() const = 0;
};

// The operating system's clocks (time(2), CLOCK_MONOTONIC).
class SystemClock final : public Clock {
 public:
  int64_t WallSeconds() const override;
  int64_t WallMillis() const override;
  Monotonic MonotonicNow() const override { return std::chrono::steady_clock::now(); }
  // The process-wide instance (never destroyed).
  static const SystemClock& Instance();
};

// A point in monotonic time after which something has expired ("is this connection or
// association past its deadline now?"). The decision is made on `clock`; a real timer
// (poll, DCMTK's receive timeout, an Asio timer) only wakes the owner up to ask again.
// Not thread-safe; `clock` must outlive it.
class Deadline {
 public:
  // Expires `timeout` from now.
  Deadline(const Clock& clock, std::chrono::milliseconds timeout)
      : clock_(&clock), at_(clock.MonotonicNow() + timeout) {}
  // Moves the deadline to `timeout` from now (activity on an idle timer).
  void Restart(std::chrono::milliseconds timeout) { at_ = clock_->MonotonicNow() + timeout; }
  bool Expired() const { return clock_->MonotonicNow() >= at_; }
  // Time left, zero once expired.
  std::chrono::milliseconds Remaining() const {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(at_ - clock_->MonotonicNow());
    return left.count() > 0 ? left : std::chrono::milliseconds(0);
  }
  // Time left in whole seconds, rounded up (for APIs that wait in seconds); zero once
  // expired.
  int RemainingSeconds() const {
    return static_cast<int>(std::chrono::ceil<std::chrono::seconds>(Remaining()).count());
  }
  Clock::Monotonic at() const { return at_; }

 private:
  const Clock* clock_;
  Clock::Monotonic at_;
};

}  // namespace tresor::core
