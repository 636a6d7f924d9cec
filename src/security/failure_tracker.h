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
// Thread-safe; in memory, per process; `clock` must outlive the tracker.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "core/clock.h"
#include "security/throttle.h"

namespace tresor::security {

class FailureTracker {
 public:
  static constexpr size_t kMaxKnownPeers = 10000;

  FailureTracker(ThrottleOptions options, const core::Clock& clock);

  // Passwords. SignInWait: 0 if a password for `user` from `source` may be checked now,
  // else seconds to wait. SignInFailed returns the back-off it started (0: none).
  int SignInWait(const std::string& user, const std::string& source);
  int SignInFailed(const std::string& user, const std::string& source);
  void SignInSucceeded(const std::string& user, const std::string& source);

  // Associations. AssociationWait: 0 if an association request with `calling_ae` from
  // `address` may be evaluated now, else seconds to wait.
  int AssociationWait(const std::string& calling_ae, const std::string& address);
  int AssociationRejected(const std::string& address);
  void AssociationAdmitted(const std::string& calling_ae, const std::string& address);

  // An invalid bearer token from `source`. True when this failure is the first beyond
  // free_failures (within the forget window): time for a security alert. Never delays
  // anything.
  bool BearerRejected(const std::string& source);

  const ThrottleOptions& options() const { return throttle_.options(); }

 private:
  Throttle throttle_;
  const core::Clock& clock_;
  std::mutex mu_;
  // (calling AE, address) pairs admitted before, with when: exempt from the address's
  // back-off. Guarded by mu_; at most kMaxKnownPeers (the oldest go first).
  std::map<std::string, core::Clock::Monotonic> admitted_;
};

}  // namespace tresor::security
