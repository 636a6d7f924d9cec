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
ArchiveService::ArchiveService(store::Index& index, store::BlobStore& blobs, ArchiveOptions options)
    : index_(index),
      blobs_(blobs),
      options_(std::move(options)),
      access_(index, index, options_),
      catalog_(index, index, blobs, options_),
      ingest_(index, blobs, options_) {}

ArchiveService::~ArchiveService() = default;

Status ArchiveService::AddPeer(const Principal& who, const security::Peer& peer) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  if (peer.name.empty()) return InvalidArgument("peer name must not be empty");
  TRESOR_RETURN_IF_ERROR(security::ValidateAeTitle(peer.ae_title));
  if (peer.host.empty()) return InvalidArgument("peer host must not be empty");
  if (peer.port < 1 || peer.port > 65535) return InvalidArgument("peer port must be 1-65535");
  TRESOR_RETURN_IF_ERROR(security::ValidateGroupNames(peer.groups));
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
  TRESOR_RETURN_IF_ERROR(security::ValidateGroupNames(groups));
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
  TRESOR_RETURN_IF_ERROR(security::ValidateGroupNames(groups));
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::UserRecord> user, index_.FindUser(name));
  if (!user) return NotFound("no user named " + name);
  user->groups = groups;
  return index_.PutUser(*user);
}

namespace {
Status ValidateRule(const store::GroupRule& rule) {
  TRESOR_RETURN_IF_ERROR(security::ValidateStudyGroup(rule.group));
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
  TRESOR_RETURN_IF_ERROR(security::ValidateStudyGroup(group));
  if (!dicom::IsValidUid(study_uid)) return InvalidArgument("not a valid Study Instance UID");
  TRESOR_ASSIGN_OR_RETURN(bool found, index_.SetStudyGroup(group, study_uid, member));
  if (!found) return NotFound("no study " + study_uid);
  return Status::Ok();
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
