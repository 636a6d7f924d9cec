#include "archive/archive_service.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>

#include "core/log.h"
#include "core/sha256.h"
#include "dicom/byte_reader.h"
#include "dicom/instance.h"
#include "dicom/part10.h"
#include "dicom/transfer_syntax.h"
#include "dicom/uid.h"
#include "core/random.h"
#include "security/jwt.h"
#include "security/password.h"

namespace tresor::archive {
namespace {

// The most instances one retrieve may name.
constexpr size_t kMaxRetrieveInstances = 100000;

// Data sets up to this size are scanned from memory; larger ones from their blob.
constexpr size_t kInMemoryScanBytes = 1 << 20;

// Reads a staged blob from `offset` on, for the scanner, through a read-ahead buffer so
// the scan costs a few large reads rather than one read per element header.
class BlobByteReader : public dicom::ByteReader {
 public:
  BlobByteReader(store::BlobReader& blob, uint64_t offset)
      : blob_(blob), start_(offset), pos_(offset), buf_(64 * 1024) {}
  Result<size_t> Read(void* out, size_t n) override {
    if (buf_pos_ == buf_len_) {
      TRESOR_ASSIGN_OR_RETURN(buf_len_, blob_.ReadAt(buf_.data(), buf_.size(), pos_));
      buf_pos_ = 0;
      if (buf_len_ == 0) return size_t{0};
    }
    size_t take = std::min(n, buf_len_ - buf_pos_);
    std::memcpy(out, buf_.data() + buf_pos_, take);
    buf_pos_ += take;
    pos_ += take;
    return take;
  }
  Status Skip(uint64_t n) override {
    if (n > blob_.size() - pos_) return InvalidArgument("data set ends inside an element value");
    uint64_t buffered = buf_len_ - buf_pos_;
    if (n <= buffered) {
      buf_pos_ += static_cast<size_t>(n);
    } else {
      buf_pos_ = buf_len_ = 0;
    }
    pos_ += n;
    return Status::Ok();
  }
  std::optional<uint64_t> Size() const override { return blob_.size() - start_; }

 private:
  store::BlobReader& blob_;
  const uint64_t start_;
  uint64_t pos_;
  std::vector<char> buf_;
  size_t buf_pos_ = 0;
  size_t buf_len_ = 0;
};

Status RequireAdmin(const Principal& who) {
  if (!who.peer_name.empty() || who.IsUser()) {
    return PermissionDenied("administration is local only");
  }
  return Status::Ok();
}

}  // namespace

Principal Principal::ForUser(const std::string& user, const std::string& role,
                             const std::string& address, const std::vector<std::string>& groups) {
  uint32_t services = 0;
  if (role == "admin") services = security::kAllServices;
  else if (role == "radiologist") services = security::kFind | security::kMove | security::kGet;
  else if (role == "technologist") services = security::kStore | security::kFind;
  return Principal{"", "", address, services, user, role, store::AccessScope::Of(groups), ""};
}

std::string Principal::Describe() const {
  if (!user.empty() && !peer_name.empty()) {
    return "user '" + user + "' (" + role + ") via peer '" + peer_name + "' (AE " + ae_title +
           " from " + address + ")";
  }
  if (!user.empty()) return "user '" + user + "' (" + role + ") from " + address;
  if (peer_name.empty()) return "local administrator";
  return "peer '" + peer_name + "' (AE " + ae_title + " from " + address + ")";
}

class UploadImpl : public Upload {
 public:
  UploadImpl(ArchiveService& archive, const Principal& who, const UploadInfo& info,
             dicom::Encoding encoding, std::unique_ptr<store::BlobWriter> writer,
             uint64_t header_size)
      : archive_(archive), who_(who), info_(info), encoding_(encoding),
        writer_(std::move(writer)), header_size_(header_size) {}

  Status Write(const void* data, size_t n) override {
    if (!status_.ok()) return status_;
    dataset_bytes_ += n;
    if (dataset_bytes_ > archive_.options_.max_object_bytes) {
      status_ = ResourceExhausted("object larger than the limit of " +
                                  std::to_string(archive_.options_.max_object_bytes) + " bytes");
      return status_;
    }
    hash_.Update(data, n);
    if (dataset_bytes_ <= kInMemoryScanBytes) {
      head_.append(static_cast<const char*>(data), n);
    }
    status_ = writer_->Append(data, n);
    return status_;
  }

  Result<StoreOutcome> Commit() override {
    TRESOR_RETURN_IF_ERROR(status_);
    blob_size_ = writer_->size();
    TRESOR_ASSIGN_OR_RETURN(std::string name, writer_->Finish());
    // From here on, the staged blob must be discarded on every error path.
    auto result = Validate(name);
    if (!result.ok()) {
      archive_.blobs_.Discard(name);
      return result.status();
    }
    TRESOR_ASSIGN_OR_RETURN(store::AddOutcome outcome,
                            archive_.committer_->Commit(std::move(result).value()));
    switch (outcome) {
      case store::AddOutcome::kAdded:
        return StoreOutcome::kStored;
      case store::AddOutcome::kIdentical:
        return StoreOutcome::kDuplicate;
      case store::AddOutcome::kInconsistent:
        TRESOR_LOG(kWarn) << "refused " << info_.sop_instance_uid << " from " << who_.Describe()
                          << ": its Series Instance UID belongs to another study";
        return InvalidArgument("Series Instance UID already belongs to another study");
      case store::AddOutcome::kConflict:
        TRESOR_LOG(kWarn) << "refused " << info_.sop_instance_uid << " from " << who_.Describe()
                          << ": an instance with this UID and different content is archived";
        return Conflict("an instance with this SOP Instance UID and different content is "
                        "already archived; nothing was overwritten");
    }
    return Internal("unknown add outcome");
  }

 private:
  Result<store::InstanceRecord> Validate(const std::string& name) {
    TRESOR_ASSIGN_OR_RETURN(dicom::ScanResult scan, Scan(name));
    TRESOR_ASSIGN_OR_RETURN(dicom::InstanceAttributes attrs, dicom::ExtractAttributes(scan));
    if (attrs.text_not_converted) {
      TRESOR_LOG(kWarn) << "instance " << info_.sop_instance_uid << ": text in Specific Character Set '"
                        << attrs.specific_character_set
                        << "' cannot be converted to UTF-8; indexed with '?' for those characters";
    }
    if (attrs.sop_instance_uid != info_.sop_instance_uid) {
      return InvalidArgument("SOP Instance UID in the data set differs from the one declared");
    }
    if (attrs.sop_class_uid != info_.sop_class_uid) {
      return InvalidArgument("SOP Class UID in the data set differs from the one declared");
    }
    store::InstanceRecord r;
    r.attrs = std::move(attrs);
    r.transfer_syntax_uid = info_.transfer_syntax_uid;
    r.blob_name = name;
    r.blob_size = blob_size_;
    r.content_sha256 = hash_.FinishHex();
    r.source_ae = who_.ae_title;
    r.source_peer = who_.peer_name;
    r.received_at = static_cast<int64_t>(std::time(nullptr));
    return r;
  }

  // The bounded pre-scan, from memory when the whole data set was kept there.
  Result<dicom::ScanResult> Scan(const std::string& name) {
    const dicom::ScanLimits& limits = archive_.options_.limits;
    if (dataset_bytes_ <= kInMemoryScanBytes) {
      dicom::MemoryReader reader(head_.data(), head_.size());
      return dicom::ScanDataset(reader, encoding_, limits, dicom::IndexedTags());
    }
    TRESOR_ASSIGN_OR_RETURN(auto blob, archive_.blobs_.Open(name));
    BlobByteReader reader(*blob, header_size_);
    return dicom::ScanDataset(reader, encoding_, limits, dicom::IndexedTags());
  }

  ArchiveService& archive_;
  const Principal who_;
  const UploadInfo info_;
  const dicom::Encoding encoding_;
  std::unique_ptr<store::BlobWriter> writer_;
  const uint64_t header_size_;
  uint64_t dataset_bytes_ = 0;
  uint64_t blob_size_ = 0;
  std::string head_;  // the data set while it is at most kInMemoryScanBytes long
  Sha256 hash_;
  Status status_;
};

namespace {
security::ThrottleOptions BackoffOf(const ArchiveOptions& o) {
  security::ThrottleOptions t;
  t.free_failures = o.max_failures - 1;  // the max_failures-th failure starts the back-off
  t.backoff_seconds = o.backoff_seconds;
  t.max_backoff_seconds = o.max_backoff_seconds;
  t.forget_seconds = o.failure_window_seconds;
  return t;
}
}  // namespace

ArchiveService::ArchiveService(store::Index& index, store::BlobStore& blobs, ArchiveOptions options,
                               const core::Clock& clock)
    : index_(index),
      blobs_(blobs),
      options_(std::move(options)),
      clock_(clock),
      committer_(std::make_unique<GroupCommitter>(index, blobs, options_.commit_batch_max)),
      failures_(BackoffOf(options_), clock) {}

void ArchiveService::RecordFailure(const std::string& source, const std::string& what,
                                   int backoff_seconds) {
  TRESOR_LOG(kWarn) << "security event: " << what << " from " << source;
  if (backoff_seconds > 0) {
    TRESOR_LOG(kError) << "SECURITY ALERT: " << what << " from " << source << " is backed off for "
                       << backoff_seconds << " s after repeated failures";
  }
}

Result<std::string> ArchiveService::Login(const std::string& user, const std::string& password,
                                          const std::string& source) {
  if (int wait = failures_.SignInWait(user, source); wait > 0) {
    TRESOR_LOG(kWarn) << "security event: sign-in for user '" << user << "' from " << source
                      << " refused unchecked (back-off, " << wait << " s left)";
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
    RecordFailure(source, "failed sign-in for user '" + user + "'",
                  failures_.SignInFailed(user, source));
    return Status(Code::kUnauthenticated, "invalid user name or password");
  }
  failures_.SignInSucceeded(user, source);
  int64_t now = clock_.WallSeconds();
  security::TokenClaims claims{record->name, record->role, now,
                               now + 60 * static_cast<int64_t>(options_.session_max_minutes),
                               RandomHex(16)};
  TRESOR_RETURN_IF_ERROR(
      index_.PutSession({claims.session_id, claims.subject, claims.expires_at, claims.issued_at}));
  TRESOR_LOG(kInfo) << "sign-in: user '" << user << "' from " << source << " (session "
                    << claims.session_id.substr(0, 8) << ")";
  return security::IssueJwt(options_.token_key, claims);
}

Result<security::TokenClaims> ArchiveService::VerifySession(const std::string& token) {
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

Status ArchiveService::Logout(const Principal& who) {
  if (who.session_id.empty()) return Status::Ok();
  TRESOR_RETURN_IF_ERROR(index_.RemoveSession(who.session_id).status());
  TRESOR_LOG(kInfo) << "sign-out: " << who.Describe();
  return Status::Ok();
}

Result<Principal> ArchiveService::Authenticate(const std::string& bearer, const std::string& source) {
  // Valid credentials are never refused here, whatever else came from `source`.
  auto invalid = [&] {
    RecordFailure(source, "invalid bearer token", 0);
    if (failures_.BearerRejected(source)) {
      TRESOR_LOG(kError) << "SECURITY ALERT: repeated invalid bearer tokens from " << source;
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

Result<Principal> ArchiveService::AuthenticateIdentity(const Principal& peer, IdentityType type,
                                                       const std::string& primary,
                                                       const std::string& secondary) {
  auto refuse = [&](const char* why, int backoff_seconds = 0) {
    RecordFailure(peer.address, std::string("user identity refused (") + why + ") for " +
                                    peer.Describe(), backoff_seconds);
    return Status(Code::kUnauthenticated, "user identity not accepted");
  };
  std::string user, role;
  std::vector<std::string> groups;
  if (type == IdentityType::kUserPassword) {
    // The same back-off as for HTTPS sign-ins: it is the same password.
    if (int wait = failures_.SignInWait(primary, peer.address); wait > 0) {
      TRESOR_LOG(kWarn) << "security event: user identity '" << primary << "' from "
                        << peer.address << " refused unchecked (back-off, " << wait << " s left)";
      return TryAgainLater("too many failed sign-ins for this user; try again later", wait);
    }
    TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> record, index_.FindUser(primary));
    if (!record || record->disabled || !security::VerifyPassword(secondary, record->password_hash)) {
      return refuse("wrong user name or passcode", failures_.SignInFailed(primary, peer.address));
    }
    failures_.SignInSucceeded(primary, peer.address);
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
      if (failures_.BearerRejected(peer.address)) {
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
  return p;
}

Result<std::string> ArchiveService::CreateApiToken(const Principal& who, const std::string& name,
                                                   const std::string& user, int days) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  if (name.empty() || name.size() > 64) return InvalidArgument("token name must have 1-64 characters");
  if (days < 1 || days > 3650) return InvalidArgument("days must be 1-3650");
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> record, index_.FindUser(user));
  if (!record) return NotFound("no user named " + user);
  std::string token = "trs_" + RandomHex(24);
  Sha256 hash;
  hash.Update(token.data(), token.size());
  TRESOR_RETURN_IF_ERROR(
      index_.PutApiToken({name, user, hash.FinishHex(), clock_.WallSeconds() + 86400LL * days}));
  return token;
}

// The committer drains its queue when destroyed. The rows of its last batch stay marked
// unconfirmed; the next Recover() checks them against their blobs and confirms them.
ArchiveService::~ArchiveService() = default;

Result<bool> ArchiveService::BlobMatches(const store::StoredInstance& instance) {
  auto blob = blobs_.Open(instance.blob_name);
  if (!blob.ok()) return blob.status().code() == Code::kNotFound ? Result<bool>(false) : blob.status();
  BlobByteReader meta_reader(**blob, 0);
  auto meta = dicom::ReadFileMeta(meta_reader);
  if (!meta.ok()) return false;
  Sha256 hash;
  std::vector<char> buf(1 << 20);
  for (uint64_t off = meta->dataset_offset; off < (*blob)->size();) {
    TRESOR_ASSIGN_OR_RETURN(size_t got, (*blob)->ReadAt(buf.data(), buf.size(), off));
    if (got == 0) break;
    hash.Update(buf.data(), got);
    off += got;
  }
  return hash.FinishHex() == instance.content_sha256;
}

Status ArchiveService::Recover() {
  if (index_.durability() == store::Durability::kOnFilesystemSync) {
    // Rows of the last batches whose sync may not have completed: keep those whose
    // blob survived intact, remove the others (they were never acknowledged).
    TRESOR_ASSIGN_OR_RETURN(std::vector<store::StoredInstance> unconfirmed,
                            index_.ListUnconfirmed());
    int removed = 0;
    for (const store::StoredInstance& instance : unconfirmed) {
      TRESOR_ASSIGN_OR_RETURN(bool intact, BlobMatches(instance));
      if (!intact) {
        TRESOR_RETURN_IF_ERROR(index_.RemoveUnconfirmed(instance.sop_instance_uid));
        blobs_.Remove(instance.blob_name);
        ++removed;
      }
    }
    if (!unconfirmed.empty()) {
      TRESOR_LOG(kInfo) << "index recovery: " << unconfirmed.size() - removed
                        << " unconfirmed instance(s) intact, " << removed
                        << " removed (never acknowledged)";
    }
    TRESOR_RETURN_IF_ERROR(index_.ConfirmAll());
  }
  return blobs_.Recover([this](const std::string& name) { return index_.IsBlobReferenced(name); });
}

Result<ArchiveService::Admission> ArchiveService::AdmitAssociation(
    const std::string& calling_ae, const std::string& called_ae, const std::string& remote_address,
    const std::string& client_certificate_sha256) {
  if (int wait = failures_.AssociationWait(calling_ae, remote_address); wait > 0) {
    // Not evaluated: a guess must not learn whether it would have been right.
    return Admission{security::Verdict::kBlocked, {}, false};
  }
  TRESOR_ASSIGN_OR_RETURN(std::vector<security::Peer> peers, ListPeers(Principal::LocalAdmin()));
  security::Decision d = security::DecideAssociation(peers, calling_ae, called_ae, options_.ae_title,
                                                     remote_address, client_certificate_sha256);
  Admission a{d.verdict, {}, false};
  if (d.verdict == security::Verdict::kAccept) {
    // From now on this peer is exempt from its address's back-off: a stranger on the same
    // host (or behind the same NAT) cannot lock it out.
    failures_.AssociationAdmitted(calling_ae, remote_address);
    a.principal = Principal{d.peer.name,      calling_ae, remote_address,
                            d.peer.services, "",         "",
                            store::AccessScope::Of(d.peer.groups), ""};
    a.require_identity = d.peer.require_identity;
  } else {
    RecordFailure(remote_address, "rejected association (calling AE '" + calling_ae + "')",
                  failures_.AssociationRejected(remote_address));
  }
  return a;
}

Result<std::unique_ptr<Upload>> ArchiveService::BeginStore(const Principal& who,
                                                           const UploadInfo& info) {
  if (!who.May(security::kStore)) {
    return PermissionDenied(who.Describe() + " is not granted the store service");
  }
  if (!dicom::IsValidUid(info.sop_instance_uid)) {
    return InvalidArgument("SOP Instance UID is not a valid UID");
  }
  if (!dicom::IsValidUid(info.sop_class_uid)) {
    return InvalidArgument("SOP Class UID is not a valid UID");
  }
  dicom::Encoding encoding;
  if (!dicom::EncodingOf(info.transfer_syntax_uid, &encoding)) {
    return Unsupported("transfer syntax " + info.transfer_syntax_uid + " is not accepted");
  }
  TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<store::BlobWriter> writer, blobs_.Create());
  dicom::FileMeta meta;
  meta.sop_class_uid = info.sop_class_uid;
  meta.sop_instance_uid = info.sop_instance_uid;
  meta.transfer_syntax_uid = info.transfer_syntax_uid;
  meta.source_ae = who.ae_title;
  std::string header = dicom::BuildFileMetaHeader(meta);
  TRESOR_RETURN_IF_ERROR(writer->Append(header.data(), header.size()));
  return std::unique_ptr<Upload>(
      new UploadImpl(*this, who, info, encoding, std::move(writer), header.size()));
}

Result<std::unique_ptr<StoredObject>> ArchiveService::OpenInstance(const Principal& who,
                                                                   const std::string& sop_uid) {
  if (!dicom::IsValidUid(sop_uid)) return InvalidArgument("not a valid UID");
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::StoredInstance> found,
                          index_.FindInstance(sop_uid, who.scope));
  if (!found) {
    if (!who.scope.all) {
      auto hidden = index_.FindInstance(sop_uid, store::AccessScope::Everything());
      if (hidden.ok() && *hidden) {
        TRESOR_LOG(kWarn) << "security event: " << who.Describe() << " asked for instance "
                          << sop_uid << " outside its access scope; answered as not found";
      }
    }
    return NotFound("no such instance");
  }
  TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<store::BlobReader> reader, blobs_.Open(found->blob_name));
  return std::make_unique<StoredObject>(std::move(*found), std::move(reader));
}

Result<FindResult> ArchiveService::Find(const Principal& who, dicom::Query query) {
  if (!who.May(security::kFind)) {
    return PermissionDenied(who.Describe() + " is not granted the find service");
  }
  query.limit = options_.max_find_results;
  query.fuzzy_person_names = options_.fuzzy_person_names;
  TRESOR_ASSIGN_OR_RETURN(std::vector<dicom::QueryMatch> matches, index_.Find(query, who.scope));
  if (matches.empty()) AuditOutOfScope(who, query, "query");
  FindResult result;
  result.truncated = matches.size() > query.limit;
  if (result.truncated) matches.resize(query.limit);
  result.matches = std::move(matches);
  return result;
}

Result<std::vector<store::StoredInstance>> ArchiveService::ResolveRetrieve(
    const Principal& who, dicom::Query query, security::Service grant) {
  if (!who.May(grant)) {
    return PermissionDenied(who.Describe() + " is not granted the " +
                            security::FormatServices(grant) + " service");
  }
  query.level = dicom::QueryLevel::kImage;
  query.return_tags = {dicom::MakeTag(0x0008, 0x0018)};
  query.limit = kMaxRetrieveInstances;
  query.fuzzy_person_names = false;
  TRESOR_ASSIGN_OR_RETURN(std::vector<dicom::QueryMatch> matches, index_.Find(query, who.scope));
  if (matches.empty()) AuditOutOfScope(who, query, "retrieve");
  if (matches.size() > kMaxRetrieveInstances) {
    return ResourceExhausted("more than " + std::to_string(kMaxRetrieveInstances) +
                             " instances requested in one retrieve");
  }
  std::vector<store::StoredInstance> out;
  out.reserve(matches.size());
  for (const dicom::QueryMatch& m : matches) {
    auto it = m.values.find(dicom::MakeTag(0x0008, 0x0018));
    if (it == m.values.end()) continue;
    TRESOR_ASSIGN_OR_RETURN(std::optional<store::StoredInstance> found,
                            index_.FindInstance(it->second, who.scope));
    if (found) out.push_back(std::move(*found));
  }
  return out;
}

Result<std::unique_ptr<StoredObject>> ArchiveService::OpenResolved(
    const store::StoredInstance& instance) {
  TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<store::BlobReader> reader, blobs_.Open(instance.blob_name));
  return std::make_unique<StoredObject>(instance, std::move(reader));
}

Result<security::Peer> ArchiveService::MoveDestination(const Principal& who,
                                                       const std::string& ae_title) {
  if (!who.May(security::kMove)) {
    return PermissionDenied(who.Describe() + " is not granted the move service");
  }
  TRESOR_ASSIGN_OR_RETURN(std::vector<security::Peer> peers, ListPeers(Principal::LocalAdmin()));
  for (const security::Peer& p : peers) {
    if (p.ae_title == ae_title) return p;
  }
  return NotFound("move destination '" + ae_title + "' is not a registered peer");
}

Result<store::IndexStats> ArchiveService::Stats(const Principal& who) {
  if (!who.IsUser()) TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  return index_.Stats(who.scope);
}

Status ArchiveService::AddPeer(const Principal& who, const security::Peer& peer) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  if (peer.name.empty()) return InvalidArgument("peer name must not be empty");
  TRESOR_RETURN_IF_ERROR(security::ValidateAeTitle(peer.ae_title));
  if (peer.host.empty()) return InvalidArgument("peer host must not be empty");
  if (peer.port < 1 || peer.port > 65535) return InvalidArgument("peer port must be 1-65535");
  TRESOR_RETURN_IF_ERROR(store::ValidateGroupNames(peer.groups));
  return index_.PutPeer({peer.name, peer.ae_title, peer.host, peer.port,
                         security::FormatServices(peer.services), peer.certificate_sha256,
                         peer.require_identity, peer.groups});
}

Result<bool> ArchiveService::RemovePeer(const Principal& who, const std::string& name) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  return index_.RemovePeer(name);
}

Result<std::vector<security::Peer>> ArchiveService::ListPeers(const Principal& who) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::PeerRecord> records, index_.ListPeers());
  std::vector<security::Peer> peers;
  for (const auto& r : records) {
    auto services = security::ParseServices(r.services == "none" ? "" : r.services);
    peers.push_back({r.name, r.ae_title, r.host, r.port, services.ok() ? *services : 0u,
                     r.certificate_sha256, r.require_identity, r.groups});
  }
  return peers;
}

Status ArchiveService::CreateUser(const Principal& who, const std::string& name,
                                  const std::string& role, const std::string& password,
                                  const std::vector<std::string>& groups) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_RETURN_IF_ERROR(store::ValidateGroupNames(groups));
  if (name.empty() || name.size() > 64) return InvalidArgument("user name must have 1-64 characters");
  static const char* kRoles[] = {"admin", "radiologist", "technologist", "auditor"};
  if (std::find(std::begin(kRoles), std::end(kRoles), role) == std::end(kRoles)) {
    return InvalidArgument("role must be admin, radiologist, technologist or auditor");
  }
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> existing, index_.FindUser(name));
  if (existing) return Status(Code::kAlreadyExists, "user " + name + " already exists");
  TRESOR_RETURN_IF_ERROR(security::CheckPasswordPolicy(password));
  TRESOR_ASSIGN_OR_RETURN(std::string hash, security::HashPassword(password));
  return index_.PutUser({name, hash, role, false, groups});
}

Status ArchiveService::SetUserGroups(const Principal& who, const std::string& name,
                                     const std::vector<std::string>& groups) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_RETURN_IF_ERROR(store::ValidateGroupNames(groups));
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> user, index_.FindUser(name));
  if (!user) return NotFound("no user named " + name);
  user->groups = groups;
  return index_.PutUser(*user);
}

namespace {
Status ValidateRule(const store::GroupRule& rule) {
  TRESOR_RETURN_IF_ERROR(store::ValidateStudyGroup(rule.group));
  if (rule.value.empty() || rule.value.size() > 256) {
    return InvalidArgument("a rule's value must have 1-256 characters");
  }
  return Status::Ok();
}
}  // namespace

Result<int64_t> ArchiveService::AddGroupRule(const Principal& who, const store::GroupRule& rule) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_RETURN_IF_ERROR(ValidateRule(rule));
  return index_.PutGroupRule(rule);
}

Result<bool> ArchiveService::RemoveGroupRule(const Principal& who, const store::GroupRule& rule) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  return index_.RemoveGroupRule(rule);
}

Result<std::vector<store::GroupRule>> ArchiveService::ListGroupRules(const Principal& who) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  return index_.ListGroupRules();
}

Result<std::vector<store::GroupSummary>> ArchiveService::ListGroups(const Principal& who) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  return index_.ListGroups();
}

Status ArchiveService::AssignStudy(const Principal& who, const std::string& group,
                                   const std::string& study_uid, bool member) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_RETURN_IF_ERROR(store::ValidateStudyGroup(group));
  if (!dicom::IsValidUid(study_uid)) return InvalidArgument("not a valid Study Instance UID");
  TRESOR_ASSIGN_OR_RETURN(bool found, index_.SetStudyGroup(group, study_uid, member));
  if (!found) return NotFound("no study " + study_uid);
  return Status::Ok();
}

void ArchiveService::AuditOutOfScope(const Principal& who, const dicom::Query& query,
                                     const char* action) {
  if (who.scope.all) return;
  // Only requests that name objects by UID: a broad query matching nothing is not a probe.
  static const dicom::TagKey kUidKeys[] = {dicom::MakeTag(0x0020, 0x000D),
                                           dicom::MakeTag(0x0020, 0x000E),
                                           dicom::MakeTag(0x0008, 0x0018)};
  std::string named;
  for (const dicom::Condition& c : query.conditions) {
    if (std::find(std::begin(kUidKeys), std::end(kUidKeys), c.attribute->tag) == std::end(kUidKeys)) {
      continue;
    }
    if (c.kind == dicom::Condition::Kind::kSingle) named += " " + c.value;
    for (const std::string& v : c.list) named += " " + v;
  }
  if (named.empty()) return;
  if (named.size() > 512) named = named.substr(0, 512) + " ...";
  dicom::Query probe = query;
  probe.limit = 0;  // one match is enough
  auto hidden = index_.Find(probe, store::AccessScope::Everything());
  if (hidden.ok() && !hidden->empty()) {
    TRESOR_LOG(kWarn) << "security event: " << action << " by " << who.Describe()
                      << " for UIDs outside its access scope (answered as not found):" << named;
  }
}

Status ArchiveService::SetUserDisabled(const Principal& who, const std::string& name,
                                       bool disabled) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> user, index_.FindUser(name));
  if (!user) return NotFound("no user named " + name);
  user->disabled = disabled;
  return index_.PutUser(*user);
}

Status ArchiveService::SetUserPassword(const Principal& who, const std::string& name,
                                       const std::string& password) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> user, index_.FindUser(name));
  if (!user) return NotFound("no user named " + name);
  TRESOR_RETURN_IF_ERROR(security::CheckPasswordPolicy(password));
  TRESOR_ASSIGN_OR_RETURN(user->password_hash, security::HashPassword(password));
  return index_.PutUser(*user);
}

Result<std::vector<store::UserRecord>> ArchiveService::ListUsers(const Principal& who) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  return index_.ListUsers();
}

}  // namespace tresor::archive
