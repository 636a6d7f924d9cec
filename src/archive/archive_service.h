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

#include "archive/access_service.h"
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
  AccessService& access() { return access_; }

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
  store::Index& index_;
  store::BlobStore& blobs_;
  const ArchiveOptions options_;
  AccessService access_;
  CatalogService catalog_;
  IngestService ingest_;  // declared last: destroyed (its queue drained) first
};

}  // namespace tresor::archive
