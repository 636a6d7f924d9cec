// AccessService: who may talk to the archive. Admission of DIMSE associations, password
// sign-in and sessions, bearer and API tokens, DICOM user identities, and the back-off
// after repeated failures (security::FailureTracker, its counters kept in the AccountIndex so
// that they hold across every node sharing the index). Adapters obtain every Principal from here (or act as
// the local administrator in the CLI). Every method is thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "archive/audit.h"
#include "archive/options.h"
#include "archive/principal.h"
#include "archive/types.h"
#include "core/clock.h"
#include "core/status.h"
#include "security/failure_tracker.h"
#include "security/jwt.h"
#include "security/peer_policy.h"

namespace tresor::store {
class AccountIndex;
class PolicyIndex;
}  // namespace tresor::store

namespace tresor::archive {

class AccessService {
 public:
  // The indexes and `clock` (session and token times, the back-off) must outlive the
  // service.
  // Every sign-in, sign-out, identity negotiation, admission decision, token creation and
  // security alert is recorded through `audit` before the answer.
  AccessService(store::AccountIndex& accounts, store::PolicyIndex& policy,
                ArchiveOptions options, const core::Clock& clock, AuditService& audit);

  // Password sign-in (HTTPS POST /auth/token). Starts a session and returns its signed
  // token (JWT, HS256). The session ends after options.session_max_minutes, once
  // unused for options.session_idle_seconds, or at Logout. kUnauthenticated for an
  // unknown user, a wrong password or a disabled account (one message for all three);
  // kResourceExhausted with retry_after_seconds() while `user` is in back-off from
  // `source` after repeated failures: the password is then not checked (each failure is
  // logged as a security event, a back-off as a security alert).
  Result<std::string> Login(const std::string& user, const std::string& password,
                            const std::string& source);
  // A bearer credential (session token from Login, or an API token from
  // CreateApiToken) to the principal it stands for. kUnauthenticated if it is invalid,
  // expired, revoked or its user is disabled. A valid credential is never refused because
  // of other traffic from `source`.
  Result<Principal> Authenticate(const std::string& bearer, const std::string& source);
  // Ends the session `who` authenticated with (no effect for API tokens).
  Status Logout(const Principal& who);
  // Creates a long-lived API token for `user` (RequireAdmin: the local administrator or
  // an admin user). Returns the token, shown once; only its SHA-256 is stored. Names have
  // 1-64 characters (letters, digits, '.', '_', '-', '@'); kAlreadyExists when taken,
  // kNotFound for an unknown user, kInvalidArgument unless 1 <= days <= 3650.
  Result<std::string> CreateApiToken(const Principal& who, const std::string& name,
                                     const std::string& user, int days);
  // Every API token, by name, without the token or its hash (RequireAdmin).
  Result<std::vector<ApiTokenInfo>> ListApiTokens(const Principal& who);
  // Revokes the token called `name` (RequireAdmin): from the next request on it
  // authenticates no one (Authenticate looks every API token up in the index). Returns
  // false if there was none.
  Result<bool> RevokeApiToken(const Principal& who, const std::string& name);
  // DICOM user identity negotiation (PS3.7 D.3.3.7) for an admitted peer: verifies a
  // user name and passcode, or a JWT from Login, and returns the principal acting as
  // that user through that peer (services: the peer's grants that the user's role also
  // has). kUnauthenticated for wrong, expired or unsupported credentials (a security
  // event); kResourceExhausted (not checked) while the user name is in back-off from the
  // peer's address, as for Login; the accepted identity is logged.
  enum class IdentityType { kUserPassword, kJwt, kOther };
  Result<Principal> AuthenticateIdentity(const Principal& peer, IdentityType type,
                                         const std::string& primary, const std::string& secondary);

  // Decides whether a DIMSE association may be opened, and as whom. kBlocked (not
  // evaluated) while `remote_address` is in back-off after rejected associations and
  // `calling_ae` has not been admitted from it before.
  // `client_certificate_sha256`: fingerprint of the verified TLS client certificate, or
  // empty on plain TCP.
  struct Admission {
    security::Verdict verdict;
    Principal principal;            // valid when verdict is kAccept
    bool require_identity = false;  // the peer must present a user identity
  };
  Result<Admission> AdmitAssociation(const std::string& calling_ae, const std::string& called_ae,
                                     const std::string& remote_address,
                                     const std::string& client_certificate_sha256 = "");

 private:
  // Logs a failed attempt (`what` from `source`) and, when `backoff_seconds` > 0 (the
  // back-off this failure started), a security alert.
  void RecordFailure(const std::string& source, const std::string& what, int backoff_seconds);
  // Counts an invalid bearer token from `source`; true when it is time for an alert.
  bool BearerAlert(const std::string& source);
  // The user of a valid session token, touching the session; kUnauthenticated otherwise.
  Result<security::TokenClaims> VerifySession(const std::string& token);
  // Records an authentication event (or alert) by `who`.
  Status Audit(const Principal& who, AuditEventId id, AuditEventType type, int outcome,
               const std::string& description, const std::string& summary);

  store::AccountIndex& index_;
  store::PolicyIndex& policy_;
  const ArchiveOptions options_;
  const core::Clock& clock_;
  std::unique_ptr<security::ThrottleStore> lockouts_;  // over index_
  security::FailureTracker failures_;
  AuditService& audit_;
};

}  // namespace tresor::archive
