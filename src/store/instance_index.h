// store::InstanceIndex: the catalogue of archived instances.
//
// Use-case methods only: nothing about SQL or a particular database leaks out of this
// header, so a PostgreSQL backend can implement the same interface. Every method is
// thread-safe. Writes that return Ok are durable, except AddInstances under
// Durability::kOnFilesystemSync (see there).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "dicom/instance.h"
#include "dicom/query.h"
#include "security/access_scope.h"
#include "store/audit_index.h"

namespace tresor::store {

// The scope reads are limited to (security/access_scope.h): the store only applies it.
using security::AccessScope;

// One instance to be indexed, with where its bytes are.
struct InstanceRecord {
  dicom::InstanceAttributes attrs;
  std::string transfer_syntax_uid;
  std::string blob_name;
  uint64_t blob_size = 0;
  std::string content_sha256;  // hex SHA-256 of the data set bytes (meta excluded)
  std::string source_ae;       // calling AE title, or "import"
  std::string source_peer;     // registered peer that sent it (access rules); empty for import
  int64_t received_at = 0;     // seconds since the epoch
  // Built at store time, opaque to the index: the DICOM JSON object of the instance
  // (dicom/dicom_json.h; empty when it could not be built) and where its frames are
  // (dicom/frames.h; empty without pixel data). Both are stored for every new instance.
  std::string metadata_document;
  std::string frame_layout;
};

// What AddInstances did with one record.
enum class AddOutcome {
  kAdded,      // new instance, indexed
  kIdentical,  // same SOP Instance UID with the same content was already there
  kConflict,   // same SOP Instance UID with different content: nothing changed
  kInconsistent,  // its Series Instance UID belongs to another study: nothing changed
};

struct StoredInstance {
  std::string sop_instance_uid;
  std::string sop_class_uid;
  std::string study_instance_uid;
  std::string transfer_syntax_uid;
  std::string blob_name;
  uint64_t blob_size = 0;
  std::string content_sha256;
};

// An instance found by its full path, with what store time recorded about it. The
// optionals are empty for instances indexed before those records existed.
struct StoredDetails {
  StoredInstance instance;
  std::string series_instance_uid;
  std::optional<std::string> metadata_document;  // InstanceRecord::metadata_document
  std::optional<std::string> frame_layout;       // InstanceRecord::frame_layout
};

struct IndexStats {
  int64_t patients = 0;
  int64_t studies = 0;
  int64_t series = 0;
  int64_t instances = 0;
  uint64_t bytes = 0;
};

// How the rows written by AddInstances become durable.
enum class Durability {
  // Durable when AddInstances returns (a database server, or fsync per commit).
  kOnCommit,
  // Durable once the caller has synced the filesystem that holds both the index and
  // the blobs (BlobStore::Persist). One sync then covers the blobs and the rows of a
  // whole batch. Rows added but not yet synced are remembered as unconfirmed (in the
  // same transaction) so that crash recovery can check them against their blobs.
  kOnFilesystemSync,
};

// Indexing, recovery, lookup and queries of instances (ingest and catalog).
class InstanceIndex {
 public:
  virtual ~InstanceIndex() = default;

  virtual Durability durability() const = 0;

  // Indexes `records` in one transaction (group commit). Returns one outcome per
  // record, in order. Duplicates within the batch are resolved in order. Under
  // kOnFilesystemSync the caller must sync before acknowledging, and must not call
  // AddInstances again before that sync succeeded (the next call confirms the rows of
  // this one).
  // `audit` (if set) is called with the outcomes before the commit; the audit records
  // it returns are appended to the trail in the same transaction (if that fails, nothing
  // of the batch is indexed).
  virtual Result<std::vector<AddOutcome>> AddInstances(
      const std::vector<InstanceRecord>& records, const AuditBuilder<AddOutcome>& audit = {}) = 0;

  // Crash recovery under kOnFilesystemSync: the instances added by the last
  // AddInstances calls whose sync may not have completed.
  virtual Result<std::vector<StoredInstance>> ListUnconfirmed() = 0;
  // Removes an unconfirmed instance whose blob did not survive (durably), and the series,
  // study and patient rows left without instances by that.
  virtual Status RemoveUnconfirmed(const std::string& sop_instance_uid) = 0;
  // Marks every unconfirmed instance as confirmed (durably).
  virtual Status ConfirmAll() = 0;
  // The instance if it exists and its study is within `scope` (objects without a study
  // are only within AccessScope::Everything()).
  virtual Result<std::optional<StoredInstance>> FindInstance(const std::string& sop_instance_uid,
                                                             const AccessScope& scope) = 0;
  // Answers `query` from the index alone, over the studies within `scope` only (computed
  // counts included): at most query.limit + 1 matches (one more than the limit tells the
  // caller the limit was reached), in a stable order, after skipping the first
  // query.offset. Attributes the index does not hold are left out of the matches.
  virtual Result<std::vector<dicom::QueryMatch>> Find(const dicom::Query& query,
                                                      const AccessScope& scope) = 0;
  // The frame layout of instance `sop_uid` of series `series_uid` of study `study_uid`, if
  // it exists there within `scope` (metadata_document is left empty).
  virtual Result<std::optional<StoredDetails>> FindFrameLayout(const std::string& study_uid,
                                                               const std::string& series_uid,
                                                               const std::string& sop_uid,
                                                               const AccessScope& scope) = 0;
  // The metadata documents of the instances of study `study_uid` within `scope`, limited
  // to series `series_uid` and instance `sop_uid` when those are not empty, in one query
  // (frame_layout is left empty). Ordered by series, then by arrival.
  virtual Result<std::vector<StoredDetails>> FindMetadata(const std::string& study_uid,
                                                          const std::string& series_uid,
                                                          const std::string& sop_uid,
                                                          const AccessScope& scope) = 0;
  // Every instance, one page at a time in a stable order (verification): at most `limit`
  // instances after cursor `after` (0 for the first page); `*next` is set to the cursor of
  // the following page. An empty page is the end.
  virtual Result<std::vector<StoredInstance>> ListInstances(int64_t after, size_t limit,
                                                            int64_t* next) = 0;
  // True if an indexed instance's bytes are in blob `name` (crash recovery).
  virtual Result<bool> IsBlobReferenced(const std::string& name) = 0;
  // What the index holds within `scope` (non-patient objects count only for
  // AccessScope::Everything()).
  virtual Result<IndexStats> Stats(const AccessScope& scope) = 0;

  // Migration source (`tresor migrate`): every instance with everything the index holds
  // about it, as AddInstances would index it again elsewhere (`blob_name` is its blob in
  // this archive's store; patient, study and series values as they are now; an empty
  // metadata_document/frame_layout where none was recorded). One page at a time in the
  // order the instances were indexed, with the cursor rules of ListInstances. A backend
  // that is never migrated from may leave it: kUnsupported.
  virtual Result<std::vector<InstanceRecord>> ExportInstances(int64_t after, size_t limit,
                                                              int64_t* next) {
    (void)after;
    (void)limit;
    *next = 0;
    return Status(Code::kUnsupported, "this index cannot be exported (migration source)");
  }
};

}  // namespace tresor::store
