#include "security/failure_tracker.h"

#include <algorithm>

namespace tresor::security {
namespace {

// Keys are "<kind>:<length of the first part>:<first part><second part>", so that no
// choice of user name or AE title can collide with another pair.
std::string Key(const char* kind, const std::string& a, const std::string& b = "") {
  return std::string(kind) + ":" + std::to_string(a.size()) + ":" + a + b;
}

constexpr int64_t kRenewAdmittedMs = 86400LL * 1000;

}  // namespace

FailureTracker::FailureTracker(ThrottleOptions options, const core::Clock& clock,
                               ThrottleStore& store)
    : throttle_(options, clock, store), clock_(clock), store_(store) {}

Result<int> FailureTracker::SignInWait(const std::string& user, const std::string& source) {
  return throttle_.Wait(Key("password", user, source));
}

Result<int> FailureTracker::SignInFailed(const std::string& user, const std::string& source) {
  return throttle_.RecordFailure(Key("password", user, source));
}

Status FailureTracker::SignInSucceeded(const std::string& user, const std::string& source) {
  return throttle_.RecordSuccess(Key("password", user, source));
}

Result<int> FailureTracker::AssociationWait(const std::string& calling_ae,
                                            const std::string& address) {
  TRESOR_ASSIGN_OR_RETURN(int wait, throttle_.Wait(Key("association", address)));
  if (wait == 0) return 0;
  // In back-off: only pairs admitted before (by any node) pass.
  const std::string key = Key("peer", calling_ae, address);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (admitted_.count(key)) return 0;
  }
  TRESOR_ASSIGN_OR_RETURN(std::optional<ThrottleEntry> known, store_.Find(key, clock_.WallMillis()));
  return known ? 0 : wait;
}

Result<int> FailureTracker::AssociationRejected(const std::string& address) {
  return throttle_.RecordFailure(Key("association", address));
}

Status FailureTracker::AssociationAdmitted(const std::string& calling_ae,
                                           const std::string& address) {
  const std::string key = Key("peer", calling_ae, address);
  const int64_t now = clock_.WallMillis();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = admitted_.find(key);
    if (it != admitted_.end() && now - it->second < kRenewAdmittedMs) return Status::Ok();
  }
  const int64_t forget_at = now + kAdmittedForgetSeconds * 1000;
  TRESOR_RETURN_IF_ERROR(store_.Apply(key, now, [forget_at](const std::optional<ThrottleEntry>&) {
    return ThrottleEntry{0, 0, forget_at};
  }).status());
  std::lock_guard<std::mutex> lock(mu_);
  if (!admitted_.count(key) && admitted_.size() >= kMaxKnownPeers) {
    admitted_.erase(std::min_element(admitted_.begin(), admitted_.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; }));
  }
  admitted_[key] = now;
  return Status::Ok();
}

Result<bool> FailureTracker::BearerRejected(const std::string& source) {
  int failures = 0;
  TRESOR_ASSIGN_OR_RETURN(int backoff, throttle_.RecordFailure(Key("bearer", source), &failures));
  return backoff > 0 && failures == throttle_.options().free_failures + 1;
}

}  // namespace tresor::security
