#include "archive/access_service.h"

#include <cctype>
#include <ctime>
#include <optional>
#include <vector>

#include "archive/store_mapping.h"
#include "core/log.h"
#include "core/random.h"
#include "core/sha256.h"
#include "security/jwt.h"
#include "security/password.h"
#include "store/account_index.h"
#include "store/policy_index.h"

namespace tresor::archive {

AccessService::AccessService(store::AccountIndex& accounts, store::PolicyIndex& policy,
                             ArchiveOptions options)
    : index_(accounts),
      policy_(policy),
      options_(std::move(options)),
      failures_(options_.max_failures, options_.failure_window_seconds, options_.block_seconds) {}

namespace {
int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }
}  // namespace

void AccessService::RecordFailure(const std::string& source, const std::string& what) {
  TRESOR_LOG(kWarn) << "security event: " << what << " from " << source;
  if (failures_.RecordFailure(source, Now())) {
    TRESOR_LOG(kError) << "SECURITY ALERT: " << source << " blocked for "
                       << options_.block_seconds << " s after " << options_.max_failures
                       << " failures";
  }
}

bool AccessService::IsBlocked(const std::string& source) { return failures_.Blocked(source, Now()); }

Result<std::string> AccessService::Login(const std::string& user, const std::string& password,
                                          const std::string& source) {
  if (IsBlocked(source)) {
    return ResourceExhausted("too many failed attempts from this address; try again later");
  }
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> record, index_.FindUser(user));
  // Verify against a real hash even for unknown users, so timing tells nothing.
  static const std::string kDummy = [] {
    auto h = security::HashPassword("not a real password, only for timing");
    return h.ok() ? *h : std::string();
  }();
  bool ok = security::VerifyPassword(password, record ? record->password_hash : kDummy);
  if (!record || !ok || record->disabled) {
    RecordFailure(source, "failed sign-in");
    return Status(Code::kUnauthenticated, "invalid user name or password");
  }
  failures_.RecordSuccess(source);
  security::TokenClaims claims{record->name, record->role, Now(),
                               Now() + 60 * static_cast<int64_t>(options_.session_max_minutes),
                               RandomHex(16)};
  TRESOR_RETURN_IF_ERROR(
      index_.PutSession({claims.session_id, claims.subject, claims.expires_at, claims.issued_at}));
  TRESOR_LOG(kInfo) << "sign-in: user '" << user << "' from " << source << " (session "
                    << claims.session_id.substr(0, 8) << ")";
  return security::IssueJwt(options_.token_key, claims);
}

Result<security::TokenClaims> AccessService::VerifySession(const std::string& token) {
  auto invalid = [] { return Status(Code::kUnauthenticated, "invalid or expired token"); };
  if (options_.token_key.empty()) return invalid();
  auto claims = security::VerifyJwt(options_.token_key, token, Now());
  if (!claims.ok() || claims->session_id.empty()) return invalid();
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::SessionRecord> session,
                          index_.FindSession(claims->session_id));
  if (!session || session->user != claims->subject) return invalid();  // ended or unknown
  int64_t now = Now();
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
  TRESOR_RETURN_IF_ERROR(index_.RemoveSession(who.session_id).status());
  TRESOR_LOG(kInfo) << "sign-out: " << who.Describe();
  return Status::Ok();
}

Result<Principal> AccessService::Authenticate(const std::string& bearer, const std::string& source) {
  if (IsBlocked(source)) {
    return ResourceExhausted("too many failed attempts from this address; try again later");
  }
  auto invalid = [&] {
    RecordFailure(source, "invalid bearer token");
    return Status(Code::kUnauthenticated, "invalid or expired token");
  };
  std::string user, session_id;
  if (bearer.rfind("trs_", 0) == 0) {
    Sha256 hash;
    hash.Update(bearer.data(), bearer.size());
    TRESOR_ASSIGN_OR_RETURN(std::optional<store::ApiTokenRecord> token,
                            index_.FindApiToken(hash.FinishHex()));
    if (!token || token->expires_at <= Now()) return invalid();
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
  auto refuse = [&](const char* why) {
    RecordFailure(peer.address, std::string("user identity refused (") + why + ") for " +
                                    peer.Describe());
    return Status(Code::kUnauthenticated, "user identity not accepted");
  };
  std::string user, role;
  std::vector<std::string> groups;
  if (type == IdentityType::kUserPassword) {
    TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> record, index_.FindUser(primary));
    if (!record || record->disabled || !security::VerifyPassword(secondary, record->password_hash)) {
      return refuse("wrong user name or passcode");
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
    if (!claims.ok()) return refuse("invalid or expired JWT");
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
  return p;
}

Result<std::string> AccessService::CreateApiToken(const Principal& who, const std::string& name,
                                                   const std::string& user, int days) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  if (name.empty() || name.size() > 64) return InvalidArgument("token name must have 1-64 characters");
  if (days < 1 || days > 3650) return InvalidArgument("days must be 1-3650");
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> record, index_.FindUser(user));
  if (!record) return NotFound("no user named " + user);
  std::string token = "trs_" + RandomHex(24);
  Sha256 hash;
  hash.Update(token.data(), token.size());
  TRESOR_RETURN_IF_ERROR(index_.PutApiToken({name, user, hash.FinishHex(), Now() + 86400LL * days}));
  return token;
}

Result<AccessService::Admission> AccessService::AdmitAssociation(
    const std::string& calling_ae, const std::string& called_ae, const std::string& remote_address,
    const std::string& client_certificate_sha256) {
  TRESOR_ASSIGN_OR_RETURN(std::vector<security::Peer> peers, LoadPeers(policy_));
  security::Decision d = security::DecideAssociation(peers, calling_ae, called_ae, options_.ae_title,
                                                     remote_address, client_certificate_sha256);
  Admission a{d.verdict, {}, false};
  if (d.verdict == security::Verdict::kAccept) {
    // A registered peer is admitted even from a blocked address: the block slows down
    // guessing, it must not let a stranger on the same host (or NAT) lock out a modality.
    a.principal = Principal{d.peer.name,      calling_ae, remote_address,
                            d.peer.services, "",         "",
                            security::AccessScope::Of(d.peer.groups), ""};
    a.require_identity = d.peer.require_identity;
  } else if (IsBlocked(remote_address)) {
    a.verdict = security::Verdict::kBlocked;
  } else {
    RecordFailure(remote_address, "association rejected");
  }
  return a;
}

}  // namespace tresor::archive
