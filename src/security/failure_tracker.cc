#include "security/failure_tracker.h"

#include <algorithm>

namespace tresor::security {
namespace {

// Keys are "<kind>:<length of the first part>:<first part><second part>", so that no
// choice of user name or AE title can collide with another pair.
std::string Key(const char* kind, const std::string& a, const std::string& b = "") {
  return std::string(kind) + ":" + std::to_string(a.size()) + ":" + a + b;
}

}  // namespace

FailureTracker::FailureTracker(ThrottleOptions options, const core::Clock& clock)
    : throttle_(options, clock), clock_(clock) {}

int FailureTracker::SignInWait(const std::string& user, const std::string& source) {
  return throttle_.Wait(Key("password", user, source));
}

int FailureTracker::SignInFailed(const std::string& user, const std::string& source) {
  return throttle_.RecordFailure(Key("password", user, source));
}

void FailureTracker::SignInSucceeded(const std::string& user, const std::string& source) {
  throttle_.RecordSuccess(Key("password", user, source));
}

int FailureTracker::AssociationWait(const std::string& calling_ae, const std::string& address) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (admitted_.count(Key("peer", calling_ae, address))) return 0;
  }
  return throttle_.Wait(Key("association", address));
}

int FailureTracker::AssociationRejected(const std::string& address) {
  return throttle_.RecordFailure(Key("association", address));
}

void FailureTracker::AssociationAdmitted(const std::string& calling_ae,
                                         const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string key = Key("peer", calling_ae, address);
  if (!admitted_.count(key) && admitted_.size() >= kMaxKnownPeers) {
    admitted_.erase(std::min_element(admitted_.begin(), admitted_.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; }));
  }
  admitted_[key] = clock_.MonotonicNow();
}

bool FailureTracker::BearerRejected(const std::string& source) {
  std::string key = Key("bearer", source);
  return throttle_.RecordFailure(key) > 0 &&
         throttle_.Failures(key) == throttle_.options().free_failures + 1;
}

}  // namespace tresor::security
