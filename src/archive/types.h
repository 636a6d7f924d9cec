// Value types of the archive API: what the services hand to adapters (dimse/, web/,
// app/). They belong to the archive, so no store:: type and no credential (password
// hash) ever reaches an adapter.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "dicom/query.h"

namespace tresor::archive {

// One archived instance, as CatalogService::ResolveRetrieve finds it.
struct InstanceInfo {
  std::string sop_instance_uid;
  std::string sop_class_uid;
  std::string study_instance_uid;
  std::string transfer_syntax_uid;
  std::string blob_name;  // where its bytes are; only CatalogService::OpenResolved reads it
  uint64_t blob_size = 0;
  std::string content_sha256;  // hex SHA-256 of the data set bytes (meta excluded)
};

// A stored object as a DICOM Part 10 file. Not thread-safe; one per reader.
class StoredObject {
 public:
  virtual ~StoredObject() = default;
  virtual const InstanceInfo& info() const = 0;
  virtual uint64_t size() const = 0;
  // Reads up to `n` bytes at `offset`; 0 at the end. kIoError if the bytes are unreadable.
  virtual Result<size_t> ReadAt(void* out, size_t n, uint64_t offset) = 0;
};

// A byte range within the stored Part 10 blob of an instance.
struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

// Where the frames of an instance's Pixel Data are in its stored Part 10 blob (built at
// store time), as CatalogService::Frames returns it.
struct FrameTable {
  std::string transfer_syntax_uid;  // as stored
  bool encapsulated = false;
  // Per frame, the byte ranges that hold it: one range for native pixel data (frame i at
  // pixel value offset + i * frame size); its fragments for encapsulated data. Empty when
  // encapsulated data gives no way to tell its frames apart (several frames, no offset
  // table and not one fragment per frame), and for a deflated object.
  std::vector<std::vector<ByteRange>> frames;
  // Pixel module of native data, so a reader can describe what it sends.
  uint16_t rows = 0, columns = 0, samples_per_pixel = 1, bits_allocated = 0;
  // True for a deflated object: its frames are not addressable in the stored bytes, so
  // `frames` is empty and a reader must inflate the whole object.
  bool deflated = false;
  // The instance, open, already recorded as accessed: the bytes the ranges address.
  std::shared_ptr<StoredObject> object;
};

// The DICOM JSON object (PS3.18 F.2) of one instance, as WADO-RS metadata returns it,
// built at store time (dicom/dicom_json.h).
struct InstanceMetadata {
  std::string series_instance_uid;
  std::string sop_instance_uid;
  // The JSON object text. Its BulkDataURIs are relative to the metadata URL of the
  // instance's series: "instances/{sop_instance_uid}/bulk/{tag path}".
  std::string json;
};

// One bulk data value of a stored instance (WADO-RS bulkdata), to be read from `object`.
struct BulkData {
  std::unique_ptr<StoredObject> object;
  std::string transfer_syntax_uid;
  bool encapsulated = false;  // Pixel Data in fragments
  // What to send, one part each: a plain value is one part of one range; encapsulated
  // Pixel Data is one part per frame (the frame's fragments), or one part of every
  // fragment when its frames cannot be told apart.
  std::vector<std::vector<ByteRange>> parts;
};

// What the archive holds (within the caller's scope).
struct ArchiveStats {
  int64_t patients = 0;
  int64_t studies = 0;
  int64_t series = 0;
  int64_t instances = 0;
  uint64_t bytes = 0;
};

// The matches of a query, and whether the result limit cut them short.
struct FindResult {
  std::vector<dicom::QueryMatch> matches;
  bool truncated = false;
};

// One study, as REST shows it (GET /api/studies/{uid}). Values are UTF-8; empty when the
// index holds none.
struct StudySummary {
  std::string study_instance_uid;
  std::string study_date;
  std::string study_time;
  std::string accession_number;
  std::string study_description;
  std::string patient_name;
  std::string patient_id;
  std::string patient_birth_date;
  std::vector<std::string> modalities;
  int64_t series = 0;
  int64_t instances = 0;
};

// What the caller declares about an object before sending its bytes (from the C-STORE
// request, the file meta information or the STOW part headers).
struct UploadInfo {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string transfer_syntax_uid;
  // Optional: called by Upload::Commit() once the data set has passed validation and before
  // anything is committed, with its Study and Series Instance UIDs. An error refuses the
  // object (Commit() returns it, nothing is stored). STOW-RS uses it to refuse instances of
  // another study than the target one and to learn where a stored instance lives.
  std::function<Status(const std::string& study_uid, const std::string& series_uid)>
      before_commit = nullptr;
};

enum class StoreOutcome {
  kStored,     // new instance, durable and indexed
  kDuplicate,  // the identical instance was already archived: nothing changed
};

// A user account as administration lists it (never its password hash).
struct UserInfo {
  std::string name;
  std::string role;
  bool disabled = false;
  std::vector<std::string> groups;  // access groups (security/access_scope.h)
};

// An API token as administration lists it (never the token or its hash).
struct ApiTokenInfo {
  std::string name;
  std::string user;
  int64_t expires_at = 0;  // seconds since the epoch
};

// A rule that puts studies into an access group when their instances are stored:
// instances received from peer `value`, or whose Institution Name (0008,0080) or Issuer
// of Patient ID (0010,0021) equals `value` exactly.
struct GroupRule {
  enum class Kind { kPeer, kInstitution, kIssuer };
  std::string group;
  Kind kind = Kind::kPeer;
  std::string value;
};
// "peer", "institution", "issuer".
const char* GroupRuleKindName(GroupRule::Kind kind);

// An access group and how many studies are in it.
struct GroupSummary {
  std::string name;
  int64_t studies = 0;
};

}  // namespace tresor::archive
