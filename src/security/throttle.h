// Throttle: exponential back-off per key after repeated failures.
//
// The first `free_failures` failures on a key cost nothing; each further one puts the key
// into back-off: no attempt on it is evaluated for backoff_seconds, then twice that, ...,
// at most max_backoff_seconds. A key's failures are forgotten forget_seconds after its
// last failure or back-off, whichever is later, and at RecordSuccess. Time comes from the
// injected clock (monotonic). In memory, per process; at most kMaxKeys keys (the stalest
// are forgotten first). Thread-safe.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>

#include "core/clock.h"

namespace tresor::security {

struct ThrottleOptions {
  int free_failures = 5;          // failures on one key before its first back-off
  int backoff_seconds = 10;       // the first back-off; doubles with every further failure
  int max_backoff_seconds = 900;  // the longest back-off
  int forget_seconds = 300;       // quiet time after which a key's failures are forgotten
};

class Throttle {
 public:
  static constexpr size_t kMaxKeys = 100000;

  // `clock` must outlive the throttle.
  Throttle(ThrottleOptions options, const core::Clock& clock);

  // 0 if an attempt on `key` may be evaluated now; otherwise the seconds (>= 1) until it
  // may. A refused attempt is not a failure: it neither extends nor counts.
  int Wait(const std::string& key);
  // Records a failed attempt on `key`. Returns the back-off it starts in seconds, 0 if
  // none (still within free_failures).
  int RecordFailure(const std::string& key);
  // Forgets the failures of `key`.
  void RecordSuccess(const std::string& key);
  // Failures on `key` that are still remembered (tests, logs).
  int Failures(const std::string& key);

  const ThrottleOptions& options() const { return options_; }

 private:
  struct Entry {
    int failures = 0;
    core::Clock::Monotonic quiet_from;  // the last failure or the end of its back-off
    core::Clock::Monotonic not_before;  // attempts before this are refused
  };
  // The entry of `key` unless it has been forgotten at `now` (then erased). mu_ held.
  Entry* Find(const std::string& key, core::Clock::Monotonic now);
  // Makes room for one more key. mu_ held.
  void Evict(core::Clock::Monotonic now);

  const ThrottleOptions options_;
  const core::Clock& clock_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;  // guarded by mu_
};

}  // namespace tresor::security
