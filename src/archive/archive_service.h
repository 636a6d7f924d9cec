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

#include "archive/group_commit.h"
#include "core/clock.h"
#include "core/status.h"
#include "dicom/dataset_scanner.h"
#include "dicom/query.h"
#include "security/failure_tracker.h"
#include "security/jwt.h"
#include "security/peer_policy.h"
#include "store/access_scope.h"
#include "store/blob_store.h"
#include "store/index.h"

namespace tresor::archive {

// Who is acting: a registered DICOM peer, a signed-in user (HTTPS), or the local
// administrator (CLI).
struct Principal {
  std::string peer_name;  // set for DICOM peers
  std::string ae_title;
  std::string address;
  uint32_t services = 0;  // security::Service bits granted
  std::string user;       // set for users
  std::string role;       // admin, radiologist, technologist, auditor (users only)
  // The studies this principal may see: the peer's groups, the user's groups, or both
  // intersected for a user acting through a peer.
  store::AccessScope scope;
  std::string session_id;  // the session a bearer token belongs to (HTTPS sign-in)

  static Principal LocalAdmin() {
    return Principal{"", "LOCAL", "local", security::kAllServices, "", "",
                     store::AccessScope::Everything(), ""};
  }
  // A user's principal: services follow the role (radiologist: find/move/get;
  // technologist: store/find; admin: all; auditor: none); the scope follows `groups`.
  static Principal ForUser(const std::string& user, const std::string& role,
                           const std::string& address, const std::vector<std::string>& groups);
  bool May(security::Service s) const { return (services & s) != 0; }
  bool IsUser() const { return !user.empty(); }
  // "peer 'ct1' (AE CT_SCANNER from 127.0.0.1)", for logs.
  std::string Describe() const;
};

struct ArchiveOptions {
  std::string ae_title = "TRESOR";
  dicom::ScanLimits limits;
  uint64_t max_object_bytes = 2ull << 30;
  int commit_batch_max = 256;
  size_t max_find_results = 1000;   // most matches one query returns
  bool fuzzy_person_names = false;  // PN matching ignores case and accents
  std::string token_key;            // HMAC key for session tokens (32 random bytes)
  int session_idle_seconds = 900;   // a session unused this long ends
  int session_max_minutes = 480;    // a session ends this long after sign-in in any case
  // Back-off after failed attempts (security::FailureTracker has the policy): this many
  // failures on one target are free, then attempts on it wait backoff_seconds, doubling
  // with each further failure up to max_backoff_seconds; failures are forgotten after
  // failure_window_seconds without one.
  int max_failures = 5;
  int failure_window_seconds = 300;
  int backoff_seconds = 10;
  int max_backoff_seconds = 900;
};

// The matches of a query, and whether the result limit cut them short.
struct FindResult {
  std::vector<dicom::QueryMatch> matches;
  bool truncated = false;
};

// What the caller declares about an object before sending its bytes (from the C-STORE
// request, the file meta information or the STOW part headers).
struct UploadInfo {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string transfer_syntax_uid;
};

enum class StoreOutcome {
  kStored,     // new instance, durable and indexed
  kDuplicate,  // the identical instance was already archived: nothing changed
};

// Receives the data set bytes of one object (no file meta information). Destroying it
// without Commit() leaves nothing behind. Not thread-safe; one per object.
class Upload {
 public:
  virtual ~Upload() = default;
  // Fails with kResourceExhausted once the object passes the size limit.
  virtual Status Write(const void* data, size_t n) = 0;
  // Validates, deduplicates and makes the object durable. Errors: kInvalidArgument
  // (malformed or inconsistent data set), kResourceExhausted (limits), kUnsupported,
  // kConflict (same SOP Instance UID, different content: nothing overwritten), kIoError.
  virtual Result<StoreOutcome> Commit() = 0;
};

// A stored object as a DICOM Part 10 file.
class StoredObject {
 public:
  StoredObject(store::StoredInstance info, std::unique_ptr<store::BlobReader> reader)
      : info_(std::move(info)), reader_(std::move(reader)) {}
  const store::StoredInstance& info() const { return info_; }
  uint64_t size() const { return reader_->size(); }
  Result<size_t> ReadAt(void* out, size_t n, uint64_t offset) {
    return reader_->ReadAt(out, n, offset);
  }

 private:
  store::StoredInstance info_;
  std::unique_ptr<store::BlobReader> reader_;
};

class ArchiveService {
 public:
  // `clock` (session and token times, the failure back-off) must outlive the service.
  ArchiveService(store::Index& index, store::BlobStore& blobs, ArchiveOptions options,
                 const core::Clock& clock);
  ~ArchiveService();

  const ArchiveOptions& options() const { return options_; }

  // Finishes or removes what a crash interrupted. Call once before serving.
  Status Recover();

  // Password sign-in (HTTPS POST /auth/token). Starts a session and returns its signed
  // token (JWT, HS256). The session ends after options().session_max_minutes, once
  // unused for options().session_idle_seconds, or at Logout. kUnauthenticated for an
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
  // Creates a long-lived API token for `user` (local administrator only). Returns the
  // token, shown once; only its SHA-256 is stored.
  Result<std::string> CreateApiToken(const Principal& who, const std::string& name,
                                     const std::string& user, int days);
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

  // Starts storing one object. kPermissionDenied unless the principal may store;
  // kInvalidArgument for invalid UIDs; kUnsupported for a transfer syntax not accepted.
  Result<std::unique_ptr<Upload>> BeginStore(const Principal& who, const UploadInfo& info);

  // Per-study access scope: every read below sees only the studies in who.scope. A study
  // outside it is reported exactly like a missing one; such a request is logged as a
  // security event (with UIDs and the caller, no patient data).

  // Opens a stored instance. kNotFound if it does not exist or is not visible to `who`.
  Result<std::unique_ptr<StoredObject>> OpenInstance(const Principal& who,
                                                     const std::string& sop_instance_uid);

  // Answers a query from the index alone. kPermissionDenied unless `who` may find.
  // At most options().max_find_results matches (FindResult::truncated says if more
  // exist). Only studies visible to `who` are matched.
  Result<FindResult> Find(const Principal& who, dicom::Query query);

  // The instances a C-MOVE/C-GET (or `tresor send`) identifies, as query conditions at
  // any level. kPermissionDenied unless `who` holds `grant`.
  Result<std::vector<store::StoredInstance>> ResolveRetrieve(const Principal& who,
                                                             dicom::Query query,
                                                             security::Service grant);
  // Opens one instance found by ResolveRetrieve (no further check).
  Result<std::unique_ptr<StoredObject>> OpenResolved(const store::StoredInstance& instance);
  // The registered peer with AE title `ae_title`, as a C-MOVE destination. kNotFound if
  // there is none: the move must then fail without any connection being opened.
  Result<security::Peer> MoveDestination(const Principal& who, const std::string& ae_title);

  // What the archive holds within who.scope (users and the local administrator only).
  Result<store::IndexStats> Stats(const Principal& who);

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
  friend class UploadImpl;
  // True if the blob of `instance` exists and its data set hashes to the indexed hash.
  Result<bool> BlobMatches(const store::StoredInstance& instance);

  // Logs a failed attempt (`what` from `source`) and, when `backoff_seconds` > 0 (the
  // back-off this failure started), a security alert.
  void RecordFailure(const std::string& source, const std::string& what, int backoff_seconds);
  // The user of a valid session token, touching the session; kUnauthenticated otherwise.
  Result<security::TokenClaims> VerifySession(const std::string& token);
  // Logs a security event if `query` (which matched nothing for `who`) names studies,
  // series or instances that exist outside who.scope.
  void AuditOutOfScope(const Principal& who, const dicom::Query& query, const char* action);

  store::Index& index_;
  store::BlobStore& blobs_;
  const ArchiveOptions options_;
  const core::Clock& clock_;
  std::unique_ptr<GroupCommitter> committer_;  // reset first by the destructor
  security::FailureTracker failures_;
};

}  // namespace tresor::archive
