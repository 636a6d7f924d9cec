// Throttle: exponential back-off per key after repeated failures.
//
// The first `free_failures` failures on a key cost nothing; each further one puts the key
// into back-off: no attempt on it is evaluated for backoff_seconds, then twice that, ...,
// at most max_backoff_seconds. A key's failures are forgotten forget_seconds after its
// last failure or back-off, whichever is later, and at RecordSuccess.
//
// Time is the injected clock's wall time in milliseconds, so that several processes
// sharing one ThrottleStore (the archive index: every node of a cluster) agree on it.
// The state lives in the ThrottleStore; Throttle itself holds none, so any number of
// Throttles over one store act as one. Thread-safe when the store is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/status.h"

namespace tresor::security {

struct ThrottleOptions {
  int free_failures = 5;          // failures on one key before its first back-off
  int backoff_seconds = 10;       // the first back-off; doubles with every further failure
  int max_backoff_seconds = 900;  // the longest back-off
  int forget_seconds = 300;       // quiet time after which a key's failures are forgotten
};

// What is remembered about one key. Times are wall milliseconds since the epoch.
struct ThrottleEntry {
  int failures = 0;
  int64_t not_before_ms = 0;  // attempts before this are refused
  int64_t forget_at_ms = 0;   // from this time on the entry counts as absent
};

// Where throttle entries live: in memory (MemoryThrottleStore) or shared by several
// processes (the archive index). Implementations are thread-safe.
class ThrottleStore {
 public:
  using Update = std::function<ThrottleEntry(const std::optional<ThrottleEntry>& current)>;
  virtual ~ThrottleStore() = default;
  // The entry of `key`; nullopt if there is none or it is forgotten at `now_ms`
  // (forget_at_ms <= now_ms).
  virtual Result<std::optional<ThrottleEntry>> Find(const std::string& key, int64_t now_ms) = 0;
  // Atomically replaces the entry of `key` by update(current), current being what Find
  // would return at `now_ms`, and returns the new entry. Concurrent updates of one key
  // (from any process sharing the store) are serialized: none is lost. `update` must be
  // a pure function of its argument: it may be called more than once (a retried
  // transaction). Entries forgotten at `now_ms` may be dropped, and the store may drop
  // the entries that would be forgotten soonest to stay within its capacity.
  virtual Result<ThrottleEntry> Apply(const std::string& key, int64_t now_ms,
                                      const Update& update) = 0;
  // Forgets `key`.
  virtual Status Remove(const std::string& key) = 0;
};

// A ThrottleStore in this process's memory, at most kMaxKeys entries.
class MemoryThrottleStore final : public ThrottleStore {
 public:
  static constexpr size_t kMaxKeys = 100000;
  Result<std::optional<ThrottleEntry>> Find(const std::string& key, int64_t now_ms) override;
  Result<ThrottleEntry> Apply(const std::string& key, int64_t now_ms, const Update& update) override;
  Status Remove(const std::string& key) override;

 private:
  std::mutex mu_;
  std::map<std::string, ThrottleEntry> entries_;  // guarded by mu_
};

class Throttle {
 public:
  // `clock` and `store` must outlive the throttle.
  Throttle(ThrottleOptions options, const core::Clock& clock, ThrottleStore& store);

  // 0 if an attempt on `key` may be evaluated now; otherwise the seconds (>= 1) until it
  // may. A refused attempt is not a failure: it neither extends nor counts. An error of
  // the store is returned as such (callers refuse the attempt: fail closed).
  Result<int> Wait(const std::string& key);
  // Records a failed attempt on `key`. Returns the back-off it starts in seconds, 0 if
  // none (still within free_failures). `failures`, if given, receives the key's failure
  // count including this one.
  Result<int> RecordFailure(const std::string& key, int* failures = nullptr);
  // Forgets the failures of `key`.
  Status RecordSuccess(const std::string& key);
  // Failures on `key` that are still remembered (tests, logs).
  Result<int> Failures(const std::string& key);

  const ThrottleOptions& options() const { return options_; }

 private:
  const ThrottleOptions options_;
  const core::Clock& clock_;
  ThrottleStore& store_;
};

}  // namespace tresor::security
