#include "security/failure_tracker.h"

#include <algorithm>

namespace tresor::security {

bool FailureTracker::Blocked(const std::string& source, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sources_.find(source);
  return it != sources_.end() && it->second.blocked_until > now;
}

bool FailureTracker::RecordFailure(const std::string& source, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (sources_.size() > 100000) sources_.clear();  // bound memory under address spraying
  Entry& e = sources_[source];
  e.failures.erase(std::remove_if(e.failures.begin(), e.failures.end(),
                                  [&](int64_t t) { return t <= now - window_; }),
                   e.failures.end());
  e.failures.push_back(now);
  if (static_cast<int>(e.failures.size()) >= max_failures_ && e.blocked_until <= now) {
    e.blocked_until = now + block_;
    e.failures.clear();
    return true;
  }
  return false;
}

void FailureTracker::RecordSuccess(const std::string& source) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sources_.find(source);
  if (it != sources_.end() && it->second.blocked_until == 0) sources_.erase(it);
  else if (it != sources_.end()) it->second.failures.clear();
}

}  // namespace tresor::security
