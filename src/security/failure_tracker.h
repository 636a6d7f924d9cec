// FailureTracker: Tresor's policy against guessing, on top of Throttle (back-off).
//
// Failures count per protocol and per target, never per address alone, so that traffic
// of one kind cannot lock out another and a valid credential is never refused because of
// what others did from its address:
// - Passwords (HTTPS sign-in and DICOM user identity alike: the same secret) count per
//   user name *and* source address. Beyond free_failures wrong passwords for one user
//   from one address, further attempts for that user from that address are refused
//   without checking the password, for a back-off that doubles with each further
//   failure up to a cap. Other users, and the same user from other addresses, are not
//   affected; a correct password after the back-off clears it.
// - Rejected associations count per source address (AE title guessing changes the
//   target with every guess, so the address is the target). While an address is in
//   back-off, calling AE titles that have not been admitted from that address before are
//   refused with a transient reject before they are evaluated; a (calling AE, address)
//   pair once admitted is never slowed by other traffic from that address.
// - Session and API tokens are never refused by the tracker (a valid one always works;
//   they are not guessable). Invalid ones count per source address only to raise a
//   security alert.
// State: in the ThrottleStore (the archive index, so the counters, back-offs and admitted
// pairs hold across every node sharing it; a MemoryThrottleStore for one process). Each
// tracker also remembers the pairs it admitted itself, so admitting a known peer again
// costs no write. Thread-safe; `clock` and `store` must outlive the tracker. Errors of the
// store are returned: callers refuse what they could not check (fail closed).
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "core/clock.h"
#include "core/status.h"
#include "security/throttle.h"

namespace tresor::security {

class FailureTracker {
 public:
  // Admitted (calling AE, address) pairs kept in memory per tracker.
  static constexpr size_t kMaxKnownPeers = 10000;
  // How long an admission keeps a pair exempt (renewed by every admission at most once a
  // day per tracker).
  static constexpr int64_t kAdmittedForgetSeconds = 30LL * 86400;

  FailureTracker(ThrottleOptions options, const core::Clock& clock, ThrottleStore& store);

  // Passwords. SignInWait: 0 if a password for `user` from `source` may be checked now,
  // else seconds to wait. SignInFailed returns the back-off it started (0: none).
  Result<int> SignInWait(const std::string& user, const std::string& source);
  Result<int> SignInFailed(const std::string& user, const std::string& source);
  Status SignInSucceeded(const std::string& user, const std::string& source);

  // Associations. AssociationWait: 0 if an association request with `calling_ae` from
  // `address` may be evaluated now, else seconds to wait.
  Result<int> AssociationWait(const std::string& calling_ae, const std::string& address);
  Result<int> AssociationRejected(const std::string& address);
  Status AssociationAdmitted(const std::string& calling_ae, const std::string& address);

  // An invalid bearer token from `source`. True when this failure is the first beyond
  // free_failures (within the forget window): time for a security alert. Never delays
  // anything.
  Result<bool> BearerRejected(const std::string& source);

  const ThrottleOptions& options() const { return throttle_.options(); }

 private:
  Throttle throttle_;
  const core::Clock& clock_;
  ThrottleStore& store_;
  std::mutex mu_;
  // (calling AE, address) pairs this tracker admitted or found admitted in the store, with
  // when it last wrote them there (wall ms; 0: only read). Guarded by mu_; at most
  // kMaxKnownPeers (the oldest go first).
  std::map<std::string, int64_t> admitted_;
};

}  // namespace tresor::security
