#include "security/throttle.h"

#include <algorithm>

namespace tresor::security {

using std::chrono::seconds;

Throttle::Throttle(ThrottleOptions options, const core::Clock& clock)
    : options_(options), clock_(clock) {}

Throttle::Entry* Throttle::Find(const std::string& key, core::Clock::Monotonic now) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  if (now >= it->second.quiet_from + seconds(options_.forget_seconds)) {
    entries_.erase(it);
    return nullptr;
  }
  return &it->second;
}

void Throttle::Evict(core::Clock::Monotonic now) {
  if (entries_.size() < kMaxKeys) return;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (now >= it->second.quiet_from + seconds(options_.forget_seconds)) it = entries_.erase(it);
    else ++it;
  }
  if (entries_.size() < kMaxKeys) return;
  auto stalest = std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
    return a.second.quiet_from < b.second.quiet_from;
  });
  entries_.erase(stalest);
}

int Throttle::Wait(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  core::Clock::Monotonic now = clock_.MonotonicNow();
  Entry* e = Find(key, now);
  if (!e || now >= e->not_before) return 0;
  return static_cast<int>(std::max<int64_t>(
      1, std::chrono::ceil<seconds>(e->not_before - now).count()));
}

int Throttle::RecordFailure(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  core::Clock::Monotonic now = clock_.MonotonicNow();
  Entry* e = Find(key, now);
  if (!e) {
    Evict(now);
    e = &entries_[key];
    e->not_before = now;
  }
  ++e->failures;
  e->quiet_from = std::max(now, e->not_before);
  int over = e->failures - options_.free_failures;
  if (over <= 0) return 0;
  // backoff_seconds * 2^(over - 1), capped (the shift is bounded so it cannot overflow).
  int64_t backoff = int64_t{options_.backoff_seconds} << std::min(over - 1, 30);
  int delay = static_cast<int>(std::min<int64_t>(backoff, options_.max_backoff_seconds));
  e->not_before = now + seconds(delay);
  e->quiet_from = e->not_before;
  return delay;
}

void Throttle::RecordSuccess(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.erase(key);
}

int Throttle::Failures(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry* e = Find(key, clock_.MonotonicNow());
  return e ? e->failures : 0;
}

}  // namespace tresor::security
