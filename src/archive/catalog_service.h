// CatalogService: everything that reads the archive (C-FIND, C-MOVE/C-GET, REST,
// `tresor send/cat/stats`, QIDO-RS and WADO-RS next).
//
// Per-study access scope: every read sees only the studies in who.scope. A study
// outside it is reported exactly like a missing one; such a request is logged as a
// security event (with UIDs and the caller, no patient data). Every method is
// thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "archive/audit.h"
#include "archive/options.h"
#include "archive/principal.h"
#include "archive/types.h"
#include "core/status.h"
#include "dicom/query.h"
#include "security/peer_policy.h"

namespace tresor::store {
class BlobStore;
class InstanceIndex;
class PolicyIndex;
}  // namespace tresor::store

namespace tresor::archive {

class CatalogService {
 public:
  // The indexes and `blobs` must outlive the service.
  // Every read is recorded through `audit` before it is answered (queries with their
  // keys, retrieves and accesses per study); a read whose record cannot be written fails.
  CatalogService(store::InstanceIndex& index, store::PolicyIndex& policy,
                 store::BlobStore& blobs, ArchiveOptions options, AuditService& audit);

  // Opens a stored instance. kNotFound if it does not exist or is not visible to `who`.
  Result<std::unique_ptr<StoredObject>> OpenInstance(const Principal& who,
                                                     const std::string& sop_instance_uid);

  // Answers a query from the index alone. kPermissionDenied unless `who` may find.
  // At most query.limit and at most options().max_find_results matches, after skipping
  // query.offset (FindResult::truncated says if more exist). Only studies visible to
  // `who` are matched. Person names match fuzzily if the query or the options ask so.
  Result<FindResult> Find(const Principal& who, dicom::Query query);

  // One study (REST), through Find: the same grant and scope. kNotFound if it does not
  // exist or is not visible to `who`; kInvalidArgument for an invalid UID.
  Result<StudySummary> FindStudy(const Principal& who, const std::string& study_uid);

  // The instances a C-MOVE/C-GET (or `tresor send`) identifies, as query conditions at
  // any level. kPermissionDenied unless `who` holds `grant`.
  Result<std::vector<InstanceInfo>> ResolveRetrieve(const Principal& who, dicom::Query query,
                                                    security::Service grant);
  // Opens one instance found by ResolveRetrieve (no further check).
  Result<std::unique_ptr<StoredObject>> OpenResolved(const InstanceInfo& instance);
  // The registered peer with AE title `ae_title`, as a C-MOVE destination. kNotFound if
  // there is none: the move must then fail without any connection being opened.
  Result<security::Peer> MoveDestination(const Principal& who, const std::string& ae_title);

  // Where the frames of one instance are (WADO-RS frames), from one index lookup, with the
  // instance opened (FrameTable::object) and its access recorded once. kNotFound unless
  // the instance exists at that study and series and is visible to `who`, and also when
  // it has no pixel data; kPermissionDenied unless `who` holds the get grant;
  // kInvalidArgument for an invalid UID. A deflated object comes with no frame ranges
  // (FrameTable::deflated).
  Result<FrameTable> Frames(const Principal& who, const std::string& study_uid,
                            const std::string& series_uid, const std::string& sop_uid);

  // The metadata of the instances of a study, of one of its series (`series_uid` not
  // empty) or of one instance (`sop_uid` too), ordered by series then arrival: the
  // documents stored at store time, read in one index query (instances stored before
  // documents existed are built from their blobs). kNotFound if nothing there is visible
  // to `who`; kPermissionDenied without the get grant; kInvalidArgument for invalid UIDs.
  Result<std::vector<InstanceMetadata>> Metadata(const Principal& who,
                                                 const std::string& study_uid,
                                                 const std::string& series_uid,
                                                 const std::string& sop_uid);

  // Opens the bulk data value at `tag_path` (dicom::ParseTagPath) of one instance.
  // kNotFound as for Frames, and when the instance has no such value (or it is a
  // sequence); kInvalidArgument for a malformed path or UID; kUnsupported for a deflated
  // object.
  Result<BulkData> OpenBulkData(const Principal& who, const std::string& study_uid,
                                const std::string& series_uid, const std::string& sop_uid,
                                const std::string& tag_path);

  // What the archive holds within who.scope (users and the local administrator only).
  Result<ArchiveStats> Stats(const Principal& who);

 private:
  // Logs a security event if `query` (which matched nothing for `who`) names studies,
  // series or instances that exist outside who.scope.
  Status AuditOutOfScope(const Principal& who, const dicom::Query& query, const char* action);
  // Logs a security event if the study (series, instance: when not empty), which was not
  // found for `who`, exists outside who.scope.
  Status AuditHiddenInstance(const Principal& who, const std::string& study_uid,
                             const std::string& series_uid, const std::string& sop_uid);
  // Records an out-of-scope request as a security alert.
  Status RecordOutOfScope(const Principal& who, const std::string& what,
                          const std::vector<std::string>& study_uids);
  // Records `e` as refused with `refusal`'s outcome and returns `refusal` (or the audit
  // error).
  Status RecordRefused(const Principal& who, AuditEvent e, const Status& refusal);

  store::InstanceIndex& index_;
  store::PolicyIndex& policy_;
  store::BlobStore& blobs_;
  const ArchiveOptions options_;
  AuditService& audit_;
};

}  // namespace tresor::archive
