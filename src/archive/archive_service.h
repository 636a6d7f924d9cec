// ArchiveService: the one core under every protocol adapter.
//
// DIMSE today and DICOMweb/REST tomorrow call these methods and only map their results
// to protocol statuses; admission, authorization and validation live here so that no
// adapter can skip them. Every method is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "archive/catalog_service.h"
#include "archive/ingest_service.h"
#include "archive/options.h"
#include "archive/principal.h"
#include "archive/types.h"
#include "core/status.h"
#include "dicom/dataset_scanner.h"
#include "dicom/query.h"
#include "security/failure_tracker.h"
#include "security/jwt.h"
#include "security/peer_policy.h"
#include "security/access_scope.h"
#include "store/blob_store.h"
#include "store/index.h"

namespace tresor::archive {

class ArchiveService {
 public:
  ArchiveService(store::Index& index, store::BlobStore& blobs, ArchiveOptions options);
  ~ArchiveService();

  const ArchiveOptions& options() const { return options_; }
  IngestService& ingest() { return ingest_; }
  CatalogService& catalog() { return catalog_; }

  // Password sign-in (HTTPS POST /auth/token). Starts a session and returns its signed
  // token (JWT, HS256). The session ends after options().session_max_minutes, once
  // unused for options().session_idle_seconds, or at Logout. kUnauthenticated for an
  // unknown user, a wrong password or a disabled account (one message for all three);
  // kResourceExhausted while `source` is blocked after repeated failures (each failure is
  // logged as a security event, and so is the block).
  Result<std::string> Login(const std::string& user, const std::string& password,
                            const std::string& source);
  // A bearer credential (session token from Login, or an API token from
  // CreateApiToken) to the principal it stands for. kUnauthenticated if it is invalid,
  // expired, revoked or its user is disabled; kResourceExhausted while `source` is blocked.
  Result<Principal> Authenticate(const std::string& bearer, const std::string& source);
  // Ends the session `who` authenticated with (no effect for API tokens).
  Status Logout(const Principal& who);
  // Creates a long-lived API token for `user` (local administrator only). Returns the
  // token, shown once; only its SHA-256 is stored.
  Result<std::string> CreateApiToken(const Principal& who, const std::string& name,
                                     const std::string& user, int days);
  // DICOM user identity negotiation (PS3.7 D.3.3.7) for an admitted peer: verifies a
  // user name and passcode, or a JWT from Login, and returns the principal acting as
  // that user through that peer (services: the peer's grants that the user's role also
  // has). kUnauthenticated for wrong, expired or unsupported credentials (a security
  // event); the accepted identity is logged.
  enum class IdentityType { kUserPassword, kJwt, kOther };
  Result<Principal> AuthenticateIdentity(const Principal& peer, IdentityType type,
                                         const std::string& primary, const std::string& secondary);

  // True while `source` is blocked after repeated failures.
  bool IsBlocked(const std::string& source);

  // Decides whether a DIMSE association may be opened, and as whom.
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

  // Peer administration (local administrator only).
  Status AddPeer(const Principal& who, const security::Peer& peer);
  Result<bool> RemovePeer(const Principal& who, const std::string& name);
  Result<std::vector<security::Peer>> ListPeers(const Principal& who);

  // User administration (local administrator only). Hashes the password (Argon2id).
  Status CreateUser(const Principal& who, const std::string& name, const std::string& role,
                    const std::string& password, const std::vector<std::string>& groups);
  // Replaces a user's access groups. kNotFound if there is no such user.
  Status SetUserGroups(const Principal& who, const std::string& name,
                       const std::vector<std::string>& groups);

  // Access groups (local administrator only). AddGroupRule also applies the rule to the
  // studies already archived and returns how many it added.
  Result<int64_t> AddGroupRule(const Principal& who, const store::GroupRule& rule);
  Result<bool> RemoveGroupRule(const Principal& who, const store::GroupRule& rule);
  Result<std::vector<store::GroupRule>> ListGroupRules(const Principal& who);
  Result<std::vector<store::GroupSummary>> ListGroups(const Principal& who);
  // Puts a study into a group (or takes it out). kNotFound if there is no such study.
  Status AssignStudy(const Principal& who, const std::string& group, const std::string& study_uid,
                     bool member);
  Result<std::vector<store::UserRecord>> ListUsers(const Principal& who);
  // Disables (or re-enables) a user. kNotFound if there is no such user.
  Status SetUserDisabled(const Principal& who, const std::string& name, bool disabled);
  // Sets a new password (policy-checked, Argon2id). kNotFound if there is no such user.
  Status SetUserPassword(const Principal& who, const std::string& name,
                         const std::string& password);

 private:
  // Records a failed login or association from `source`; logs a security alert when
  // that blocks the source.
  void RecordFailure(const std::string& source, const std::string& what);
  // The user of a valid session token, touching the session; kUnauthenticated otherwise.
  Result<security::TokenClaims> VerifySession(const std::string& token);

  store::Index& index_;
  store::BlobStore& blobs_;
  const ArchiveOptions options_;
  security::FailureTracker failures_;
  CatalogService catalog_;
  IngestService ingest_;  // declared last: destroyed (its queue drained) first
};

}  // namespace tresor::archive
