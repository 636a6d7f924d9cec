#include "security/throttle.h"

#include <algorithm>

namespace tresor::security {

Result<std::optional<ThrottleEntry>> MemoryThrottleStore::Find(const std::string& key,
                                                               int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::optional<ThrottleEntry>();
  if (it->second.forget_at_ms <= now_ms) {
    entries_.erase(it);
    return std::optional<ThrottleEntry>();
  }
  return std::optional<ThrottleEntry>(it->second);
}

Result<ThrottleEntry> MemoryThrottleStore::Apply(const std::string& key, int64_t now_ms,
                                                 const Update& update) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.forget_at_ms <= now_ms) {
    entries_.erase(it);
    it = entries_.end();
  }
  if (it == entries_.end()) {
    if (entries_.size() >= kMaxKeys) {
      for (auto e = entries_.begin(); e != entries_.end();) {
        if (e->second.forget_at_ms <= now_ms) e = entries_.erase(e);
        else ++e;
      }
    }
    if (entries_.size() >= kMaxKeys) {
      entries_.erase(std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
        return a.second.forget_at_ms < b.second.forget_at_ms;
      }));
    }
    ThrottleEntry fresh = update(std::nullopt);
    entries_[key] = fresh;
    return fresh;
  }
  it->second = update(it->second);
  return it->second;
}

Status MemoryThrottleStore::Remove(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.erase(key);
  return Status::Ok();
}

Throttle::Throttle(ThrottleOptions options, const core::Clock& clock, ThrottleStore& store)
    : options_(options), clock_(clock), store_(store) {}

Result<int> Throttle::Wait(const std::string& key) {
  const int64_t now = clock_.WallMillis();
  TRESOR_ASSIGN_OR_RETURN(std::optional<ThrottleEntry> e, store_.Find(key, now));
  if (!e || now >= e->not_before_ms) return 0;
  // Whole seconds, rounded up, at least 1.
  return static_cast<int>(std::max<int64_t>(1, (e->not_before_ms - now + 999) / 1000));
}

Result<int> Throttle::RecordFailure(const std::string& key, int* failures) {
  const int64_t now = clock_.WallMillis();
  const ThrottleOptions o = options_;
  // The back-off that the n-th failure starts, in seconds (0: a free failure).
  auto delay_of = [o](int failures) -> int {
    const int over = failures - o.free_failures;
    if (over <= 0) return 0;
    // backoff_seconds * 2^(over - 1), capped (the shift is bounded so it cannot overflow).
    const int64_t backoff = int64_t{o.backoff_seconds} << std::min(over - 1, 30);
    return static_cast<int>(std::min<int64_t>(backoff, o.max_backoff_seconds));
  };
  const int64_t forget_ms = int64_t{o.forget_seconds} * 1000;
  TRESOR_ASSIGN_OR_RETURN(
      ThrottleEntry e, store_.Apply(key, now, [&](const std::optional<ThrottleEntry>& current) {
        ThrottleEntry next = current.value_or(ThrottleEntry{0, now, 0});
        ++next.failures;
        int64_t quiet_from = std::max(now, next.not_before_ms);
        if (const int delay = delay_of(next.failures); delay > 0) {
          next.not_before_ms = now + int64_t{delay} * 1000;
          quiet_from = next.not_before_ms;
        }
        next.forget_at_ms = quiet_from + forget_ms;
        return next;
      }));
  if (failures) *failures = e.failures;
  return delay_of(e.failures);
}

Status Throttle::RecordSuccess(const std::string& key) { return store_.Remove(key); }

Result<int> Throttle::Failures(const std::string& key) {
  TRESOR_ASSIGN_OR_RETURN(std::optional<ThrottleEntry> e, store_.Find(key, clock_.WallMillis()));
  return e ? e->failures : 0;
}

}  // namespace tresor::security
