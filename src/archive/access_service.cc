#include "archive/access_service.h"

#include <cctype>
#include <ctime>
#include <optional>
#include <vector>

#include "archive/admin_event.h"
#include "archive/store_mapping.h"
#include "core/log.h"
#include "core/random.h"
#include "core/sha256.h"
#include "security/jwt.h"
#include "security/password.h"
#include "store/account_index.h"
#include "store/policy_index.h"

namespace tresor::archive {

namespace {
security::ThrottleOptions BackoffOf(const ArchiveOptions& o) {
  security::ThrottleOptions t;
  t.free_failures = o.max_failures - 1;  // the max_failures-th failure starts the back-off
  t.backoff_seconds = o.backoff_seconds;
  t.max_backoff_seconds = o.max_backoff_seconds;
  t.forget_seconds = o.failure_window_seconds;
  return t;
}

// Someone not (yet) authenticated, as an audit requestor.
Principal Anonymous(const std::string& user, const std::string& ae_title, const std::string& address) {
  Principal p;
  p.user = user;
  p.ae_title = ae_title;
  p.address = address;
  return p;
}

const char* VerdictName(security::Verdict v) {
  switch (v) {
    case security::Verdict::kAccept: return "accepted";
    case security::Verdict::kUnknownCallingAe: return "unknown calling AE title";
    case security::Verdict::kWrongCalledAe: return "wrong called AE title";
    case security::Verdict::kWrongHost: return "AE title from an address not registered for it";
    case security::Verdict::kWrongCertificate: return "TLS certificate mismatch";
    case security::Verdict::kBlocked: return "source blocked after repeated failures";
  }
  return "?";
}

// The failure back-off's state in the account index, so that every node sharing the
// index counts the same failures and honours the same back-offs.
class IndexLockouts final : public security::ThrottleStore {
 public:
  explicit IndexLockouts(store::AccountIndex& index) : index_(index) {}

  Result<std::optional<security::ThrottleEntry>> Find(const std::string& key, int64_t now_ms) override {
    TRESOR_ASSIGN_OR_RETURN(std::optional<store::LockoutRecord> r, index_.FindLockout(key, now_ms));
    if (!r) return std::optional<security::ThrottleEntry>();
    return std::optional<security::ThrottleEntry>(ToEntry(*r));
  }
  Result<security::ThrottleEntry> Apply(const std::string& key, int64_t now_ms,
                                        const Update& update) override {
    TRESOR_ASSIGN_OR_RETURN(
        store::LockoutRecord r,
        index_.UpdateLockout(key, now_ms, [&update](const std::optional<store::LockoutRecord>& current) {
          std::optional<security::ThrottleEntry> entry;
          if (current) entry = ToEntry(*current);
          const security::ThrottleEntry next = update(entry);
          return store::LockoutRecord{next.failures, next.not_before_ms, next.forget_at_ms};
        }));
    return ToEntry(r);
  }
  Status Remove(const std::string& key) override { return index_.RemoveLockout(key); }

 private:
  static security::ThrottleEntry ToEntry(const store::LockoutRecord& r) {
    return {r.failures, r.not_before_ms, r.forget_at_ms};
  }
  store::AccountIndex& index_;
};

}  // namespace

AccessService::AccessService(store::AccountIndex& accounts, store::PolicyIndex& policy,
                             ArchiveOptions options, const core::Clock& clock, AuditService& audit)
    : index_(accounts),
      policy_(policy),
      options_(std::move(options)),
      clock_(clock),
      lockouts_(std::make_unique<IndexLockouts>(accounts)),
      failures_(BackoffOf(options_), clock, *lockouts_),
      audit_(audit) {}

Status AccessService::Audit(const Principal& who, AuditEventId id, AuditEventType type, int outcome,
                            const std::string& description, const std::string& summary) {
  AuditEvent e;
  e.id = id;
  e.type = type;
  e.action = 'E';
  e.outcome = outcome;
  e.outcome_description = description;
  e.summary = summary;
  return audit_.Record(who, e);
}

void AccessService::RecordFailure(const std::string& source, const std::string& what,
                                  int backoff_seconds) {
  TRESOR_LOG(kWarn) << "security event: " << what << " from " << source;
  if (backoff_seconds > 0) {
    TRESOR_LOG(kError) << "SECURITY ALERT: " << what << " from " << source << " is backed off for "
                       << backoff_seconds << " s after repeated failures";
  }
}

bool AccessService::BearerAlert(const std::string& source) {
  Result<bool> alert = failures_.BearerRejected(source);
  if (alert.ok()) return *alert;
  // Only the alert is lost: an invalid token is refused whatever the counter says.
  TRESOR_LOG(kWarn) << "invalid bearer token from " << source << " not counted: "
                    << alert.status().ToString();
  return false;
}

Result<std::string> AccessService::Login(const std::string& user, const std::string& password,
                                         const std::string& source) {
  TRESOR_ASSIGN_OR_RETURN(const int wait, failures_.SignInWait(user, source));
  if (wait > 0) {
    TRESOR_LOG(kWarn) << "security event: sign-in for user '" << user << "' from " << source
                      << " refused unchecked (back-off, " << wait << " s left)";
    TRESOR_RETURN_IF_ERROR(Audit(Anonymous(user, "", source), AuditEventId::kSecurityAlert,
                                 AuditEventType::kLogin, kAuditMinorFailure,
                                 "sign-in refused unchecked: locked out after repeated failures",
                                 "sign-in lockout"));
    return TryAgainLater("too many failed sign-ins for this user; try again later", wait);
  }
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> record, index_.FindUser(user));
  // Verify against a real hash even for unknown users, so timing tells nothing.
  static const std::string kDummy = [] {
    auto h = security::HashPassword("not a real password, only for timing");
    return h.ok() ? *h : std::string();
  }();
  bool ok = security::VerifyPassword(password, record ? record->password_hash : kDummy);
  if (!record || !ok || record->disabled) {
    TRESOR_ASSIGN_OR_RETURN(const int backoff, failures_.SignInFailed(user, source));
    RecordFailure(source, "failed sign-in for user '" + user + "'", backoff);
    TRESOR_RETURN_IF_ERROR(Audit(Anonymous(user, "", source), AuditEventId::kUserAuthentication,
                                 AuditEventType::kLogin, kAuditMinorFailure,
                                 "invalid user name or password", "failed sign-in"));
    if (backoff > 0) {
      TRESOR_RETURN_IF_ERROR(Audit(Anonymous(user, "", source), AuditEventId::kSecurityAlert,
                                   AuditEventType::kLogin, kAuditMinorFailure,
                                   "locked out for " + std::to_string(backoff) +
                                       " s after repeated failed sign-ins",
                                   "sign-in lockout"));
    }
    return Status(Code::kUnauthenticated, "invalid user name or password");
  }
  if (Status cleared = failures_.SignInSucceeded(user, source); !cleared.ok()) {
    TRESOR_LOG(kWarn) << "sign-in failures of user '" << user << "' not cleared: " << cleared.ToString();
  }
  int64_t now = clock_.WallSeconds();
  security::TokenClaims claims{record->name, record->role, now,
                               now + 60 * static_cast<int64_t>(options_.session_max_minutes),
                               RandomHex(16)};
  TRESOR_RETURN_IF_ERROR(
      index_.PutSession({claims.session_id, claims.subject, claims.expires_at, claims.issued_at}));
  TRESOR_RETURN_IF_ERROR(Audit(Principal::ForUser(record->name, record->role, source, record->groups),
                               AuditEventId::kUserAuthentication, AuditEventType::kLogin,
                               kAuditSuccess, "", "sign-in"));
  TRESOR_LOG(kInfo) << "sign-in: user '" << user << "' from " << source << " (session "
                    << claims.session_id.substr(0, 8) << ")";
  return security::IssueJwt(options_.token_key, claims);
}

Result<security::TokenClaims> AccessService::VerifySession(const std::string& token) {
  auto invalid = [] { return Status(Code::kUnauthenticated, "invalid or expired token"); };
  if (options_.token_key.empty()) return invalid();
  int64_t now = clock_.WallSeconds();
  auto claims = security::VerifyJwt(options_.token_key, token, now);
  if (!claims.ok() || claims->session_id.empty()) return invalid();
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::SessionRecord> session,
                          index_.FindSession(claims->session_id));
  if (!session || session->user != claims->subject) return invalid();  // ended or unknown
  if (now - session->last_seen > options_.session_idle_seconds) {
    TRESOR_LOG(kInfo) << "session " << session->id.substr(0, 8) << " of user '" << session->user
                      << "' ended after " << options_.session_idle_seconds << " s unused";
    (void)index_.RemoveSession(session->id);
    return invalid();
  }
  // At most one write per second per session.
  if (now > session->last_seen) TRESOR_RETURN_IF_ERROR(index_.TouchSession(session->id, now));
  return claims;
}

Status AccessService::Logout(const Principal& who) {
  if (who.session_id.empty()) return Status::Ok();
  TRESOR_RETURN_IF_ERROR(Audit(who, AuditEventId::kUserAuthentication, AuditEventType::kLogout,
                               kAuditSuccess, "", "sign-out"));
  TRESOR_RETURN_IF_ERROR(index_.RemoveSession(who.session_id).status());
  TRESOR_LOG(kInfo) << "sign-out: " << who.Describe();
  return Status::Ok();
}

Result<Principal> AccessService::Authenticate(const std::string& bearer, const std::string& source) {
  // Valid credentials are never refused here, whatever else came from `source`.
  auto invalid = [&] {
    RecordFailure(source, "invalid bearer token", 0);
    if (BearerAlert(source)) {
      TRESOR_LOG(kError) << "SECURITY ALERT: repeated invalid bearer tokens from " << source;
      Status audited = Audit(Anonymous("", "", source), AuditEventId::kSecurityAlert,
                             AuditEventType::kUseOfRestrictedFunction, kAuditMinorFailure,
                             "repeated invalid bearer tokens", "invalid tokens");
      if (!audited.ok()) return audited;
    }
    return Status(Code::kUnauthenticated, "invalid or expired token");
  };
  std::string user, session_id;
  if (bearer.rfind("trs_", 0) == 0) {
    Sha256 hash;
    hash.Update(bearer.data(), bearer.size());
    TRESOR_ASSIGN_OR_RETURN(std::optional<store::ApiTokenRecord> token,
                            index_.FindApiToken(hash.FinishHex()));
    if (!token || token->expires_at <= clock_.WallSeconds()) return invalid();
    user = token->user;
  } else {
    auto claims = VerifySession(bearer);
    if (!claims.ok()) {
      return claims.status().code() == Code::kUnauthenticated ? invalid() : claims.status();
    }
    user = claims->subject;
    session_id = claims->session_id;
  }
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> record, index_.FindUser(user));
  if (!record || record->disabled) return invalid();
  Principal p = Principal::ForUser(record->name, record->role, source, record->groups);
  p.session_id = session_id;
  return p;
}

Result<Principal> AccessService::AuthenticateIdentity(const Principal& peer, IdentityType type,
                                                       const std::string& primary,
                                                       const std::string& secondary) {
  auto refuse = [&](const char* why, int backoff_seconds = 0) {
    RecordFailure(peer.address, std::string("user identity refused (") + why + ") for " +
                                    peer.Describe(), backoff_seconds);
    Principal attempt = peer;
    if (type == IdentityType::kUserPassword) attempt.user = primary;
    Status audited = Audit(attempt, AuditEventId::kUserAuthentication, AuditEventType::kLogin,
                           kAuditMinorFailure, std::string("user identity refused: ") + why,
                           "user identity negotiation failed");
    if (audited.ok() && backoff_seconds > 0) {
      audited = Audit(attempt, AuditEventId::kSecurityAlert, AuditEventType::kLogin,
                      kAuditMinorFailure, "user identity locked out after repeated failures",
                      "user identity lockout");
    }
    if (!audited.ok()) return audited;
    return Status(Code::kUnauthenticated, "user identity not accepted");
  };
  std::string user, role;
  std::vector<std::string> groups;
  if (type == IdentityType::kUserPassword) {
    // The same back-off as for HTTPS sign-ins: it is the same password.
    TRESOR_ASSIGN_OR_RETURN(const int wait, failures_.SignInWait(primary, peer.address));
    if (wait > 0) {
      TRESOR_LOG(kWarn) << "security event: user identity '" << primary << "' from "
                        << peer.address << " refused unchecked (back-off, " << wait << " s left)";
      Principal attempt = peer;
      attempt.user = primary;
      TRESOR_RETURN_IF_ERROR(Audit(attempt, AuditEventId::kSecurityAlert, AuditEventType::kLogin,
                                   kAuditMinorFailure,
                                   "user identity refused unchecked: locked out", "user identity lockout"));
      return TryAgainLater("too many failed sign-ins for this user; try again later", wait);
    }
    TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> record, index_.FindUser(primary));
    if (!record || record->disabled || !security::VerifyPassword(secondary, record->password_hash)) {
      TRESOR_ASSIGN_OR_RETURN(const int backoff, failures_.SignInFailed(primary, peer.address));
      return refuse("wrong user name or passcode", backoff);
    }
    if (Status cleared = failures_.SignInSucceeded(primary, peer.address); !cleared.ok()) {
      TRESOR_LOG(kWarn) << "sign-in failures of user '" << primary << "' not cleared: "
                        << cleared.ToString();
    }
    user = record->name;
    role = record->role;
    groups = record->groups;
  } else if (type == IdentityType::kJwt) {
    // Tokens are often passed as files: surrounding whitespace is not part of them.
    std::string token = primary;
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.front()))) token.erase(0, 1);
    auto claims = VerifySession(token);
    if (!claims.ok()) {
      if (BearerAlert(peer.address)) {
        TRESOR_LOG(kError) << "SECURITY ALERT: repeated invalid bearer tokens from " << peer.address;
      }
      return refuse("invalid or expired JWT");
    }
    TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> record, index_.FindUser(claims->subject));
    if (!record || record->disabled) return refuse("unknown or disabled user");
    user = record->name;
    role = record->role;
    groups = record->groups;
  } else {
    return refuse("unsupported identity type");
  }
  Principal p = peer;
  p.user = user;
  p.role = role;
  Principal as_user = Principal::ForUser(user, role, peer.address, groups);
  p.services = peer.services & as_user.services;
  p.scope = peer.scope.Intersect(as_user.scope);
  TRESOR_LOG(kInfo) << "user identity accepted: " << p.Describe() << " via peer '" << peer.peer_name
                    << "' (AE " << peer.ae_title << ")";
  TRESOR_RETURN_IF_ERROR(Audit(p, AuditEventId::kUserAuthentication, AuditEventType::kLogin,
                               kAuditSuccess, "", "user identity accepted"));
  return p;
}

Result<std::string> AccessService::CreateApiToken(const Principal& who, const std::string& name,
                                                   const std::string& user, int days) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  if (name.empty() || name.size() > 64) return InvalidArgument("token name must have 1-64 characters");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@';
    if (!ok) return InvalidArgument("token name may hold letters, digits, '.', '_', '-' and '@' only");
  }
  if (days < 1 || days > 3650) return InvalidArgument("days must be 1-3650");
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> record, index_.FindUser(user));
  if (!record) return NotFound("no user named " + user);
  std::string token = "trs_" + RandomHex(24);
  Sha256 hash;
  hash.Update(token.data(), token.size());
  TRESOR_RETURN_IF_ERROR(
      index_.PutApiToken({name, user, hash.FinishHex(), clock_.WallSeconds() + 86400LL * days}));
  AuditEvent e;
  e.id = AuditEventId::kSecurityAlert;
  e.type = AuditEventType::kUserSecurityAttributesChanged;
  e.action = 'C';
  e.object = "token " + name + " of user " + user;
  e.summary = "API token created";
  TRESOR_RETURN_IF_ERROR(audit_.Record(who, e));
  RecordAdminChange(who, "API token '" + name + "' created for user '" + user + "' (" +
                             std::to_string(days) + " days)");
  return token;
}

Result<std::vector<ApiTokenInfo>> AccessService::ListApiTokens(const Principal& who) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::ApiTokenRecord> tokens, index_.ListApiTokens());
  std::vector<ApiTokenInfo> out;
  for (const store::ApiTokenRecord& t : tokens) out.push_back({t.name, t.user, t.expires_at});
  return out;
}

Result<bool> AccessService::RevokeApiToken(const Principal& who, const std::string& name) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_ASSIGN_OR_RETURN(bool removed, index_.RemoveApiToken(name));
  if (!removed) return false;
  AuditEvent e;
  e.id = AuditEventId::kSecurityAlert;
  e.type = AuditEventType::kUserSecurityAttributesChanged;
  e.action = 'D';
  e.object = "token " + name;
  e.summary = "API token revoked";
  TRESOR_RETURN_IF_ERROR(audit_.Record(who, e));
  RecordAdminChange(who, "API token '" + name + "' revoked");
  return true;
}

Result<AccessService::Admission> AccessService::AdmitAssociation(
    const std::string& calling_ae, const std::string& called_ae, const std::string& remote_address,
    const std::string& client_certificate_sha256) {
  TRESOR_ASSIGN_OR_RETURN(const int wait, failures_.AssociationWait(calling_ae, remote_address));
  if (wait > 0) {
    // Not evaluated: a guess must not learn whether it would have been right.
    TRESOR_RETURN_IF_ERROR(Audit(Anonymous("", calling_ae, remote_address),
                                 AuditEventId::kSecurityAlert, AuditEventType::kNodeAuthentication,
                                 kAuditMinorFailure, "association refused unchecked: source blocked",
                                 "association blocked"));
    return Admission{security::Verdict::kBlocked, {}, false};
  }
  TRESOR_ASSIGN_OR_RETURN(std::vector<security::Peer> peers, LoadPeers(policy_));
  security::Decision d = security::DecideAssociation(peers, calling_ae, called_ae, options_.ae_title,
                                                     remote_address, client_certificate_sha256);
  Admission a{d.verdict, {}, false};
  if (d.verdict == security::Verdict::kAccept) {
    // From now on this peer is exempt from its address's back-off: a stranger on the same
    // host (or behind the same NAT) cannot lock it out.
    if (Status noted = failures_.AssociationAdmitted(calling_ae, remote_address); !noted.ok()) {
      TRESOR_LOG(kWarn) << "admission of AE '" << calling_ae << "' from " << remote_address
                        << " not recorded for the back-off exemption: " << noted.ToString();
    }
    a.principal = Principal{d.peer.name,      calling_ae, remote_address,
                            d.peer.services, "",         "",
                            security::AccessScope::Of(d.peer.groups), ""};
    a.require_identity = d.peer.require_identity;
    TRESOR_RETURN_IF_ERROR(Audit(a.principal, AuditEventId::kUserAuthentication,
                                 AuditEventType::kNodeAuthentication, kAuditSuccess, "",
                                 "association accepted"));
  } else {
    TRESOR_ASSIGN_OR_RETURN(const int backoff, failures_.AssociationRejected(remote_address));
    RecordFailure(remote_address, "rejected association (calling AE '" + calling_ae + "')", backoff);
    const bool alert = d.verdict == security::Verdict::kWrongCertificate ||
                       d.verdict == security::Verdict::kWrongHost;
    TRESOR_RETURN_IF_ERROR(Audit(Anonymous("", calling_ae, remote_address),
                                 alert ? AuditEventId::kSecurityAlert : AuditEventId::kUserAuthentication,
                                 AuditEventType::kNodeAuthentication, kAuditMinorFailure,
                                 std::string("association rejected: ") + VerdictName(d.verdict),
                                 "association rejected"));
    if (backoff > 0) {
      TRESOR_RETURN_IF_ERROR(Audit(Anonymous("", calling_ae, remote_address),
                                   AuditEventId::kSecurityAlert, AuditEventType::kNodeAuthentication,
                                   kAuditMinorFailure,
                                   "source blocked for " + std::to_string(backoff) +
                                       " s after repeated rejected associations",
                                   "association source blocked"));
    }
  }
  return a;
}

}  // namespace tresor::archive
