#include "archive/catalog_service.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>

#include "archive/blob_byte_reader.h"
#include "archive/store_mapping.h"
#include "core/log.h"
#include "dicom/dicom_json.h"
#include "dicom/frames.h"
#include "dicom/part10.h"
#include "dicom/transfer_syntax.h"
#include "dicom/uid.h"
#include "store/blob_store.h"
#include "store/instance_index.h"
#include "store/policy_index.h"

namespace tresor::archive {
namespace {

// The most instances one retrieve may name.
constexpr size_t kMaxRetrieveInstances = 100000;

// A stored object read from its blob.
class BlobObject : public StoredObject {
 public:
  BlobObject(InstanceInfo info, std::unique_ptr<store::BlobReader> reader)
      : info_(std::move(info)), reader_(std::move(reader)) {}
  const InstanceInfo& info() const override { return info_; }
  uint64_t size() const override { return reader_->size(); }
  Result<size_t> ReadAt(void* out, size_t n, uint64_t offset) override {
    return reader_->ReadAt(out, n, offset);
  }

 private:
  const InstanceInfo info_;
  std::unique_ptr<store::BlobReader> reader_;
};

// A count attribute's value; 0 when absent or not a number.
int64_t CountValue(const std::string& value) {
  int64_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  return ec == std::errc() && end == value.data() + value.size() ? n : 0;
}

// A multi-valued attribute's values (backslash-separated).
std::vector<std::string> SplitValues(const std::string& value) {
  std::vector<std::string> out;
  for (size_t start = 0; start < value.size();) {
    size_t end = std::min(value.find('\\', start), value.size());
    out.push_back(value.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The frame layout of an instance indexed before layouts were stored: scanned from its
// blob now (one pass over the element headers; values are skipped). nullopt without
// pixel data.
Result<std::optional<dicom::FrameLayout>> ScanFrameLayout(store::BlobStore& blobs,
                                                          const store::StoredInstance& instance,
                                                          const dicom::ScanLimits& limits) {
  TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<store::BlobReader> blob,
                          blobs.Open(instance.blob_name));
  BlobByteReader meta_reader(*blob, 0);
  TRESOR_ASSIGN_OR_RETURN(dicom::FileMeta meta, dicom::ReadFileMeta(meta_reader));
  dicom::Encoding encoding;
  if (!dicom::EncodingOf(instance.transfer_syntax_uid, &encoding)) {
    return std::optional<dicom::FrameLayout>();
  }
  BlobByteReader reader(*blob, meta.dataset_offset);
  TRESOR_ASSIGN_OR_RETURN(dicom::ScanResult scan,
                          dicom::ScanDataset(reader, encoding, limits, dicom::FrameLayoutTags()));
  return dicom::BuildFrameLayout(scan, encoding, meta.dataset_offset);
}

// The metadata document of an instance stored without one, built from its blob now.
Result<std::string> BuildDocument(store::BlobStore& blobs, const store::StoredInstance& instance,
                                  const dicom::ScanLimits& limits) {
  TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<store::BlobReader> blob,
                          blobs.Open(instance.blob_name));
  BlobByteReader meta_reader(*blob, 0);
  TRESOR_ASSIGN_OR_RETURN(dicom::FileMeta meta, dicom::ReadFileMeta(meta_reader));
  dicom::Encoding encoding;
  if (!dicom::EncodingOf(instance.transfer_syntax_uid, &encoding)) {
    return Unsupported("stored transfer syntax not accepted");
  }
  dicom::DicomJsonOptions options;
  options.bulk_data_uri_prefix = "instances/" + instance.sop_instance_uid + "/bulk/";
  dicom::DicomJsonWriter writer(encoding, options);
  BlobByteReader reader(*blob, meta.dataset_offset);
  TRESOR_RETURN_IF_ERROR(dicom::ScanDataset(reader, encoding, limits, {}, &writer).status());
  return writer.Finish();
}

const dicom::TagKey kPatientIdTag = dicom::MakeTag(0x0010, 0x0020);
const dicom::TagKey kStudyUidTag = dicom::MakeTag(0x0020, 0x000D);

const char* LevelName(dicom::QueryLevel level) {
  switch (level) {
    case dicom::QueryLevel::kPatient: return "PATIENT";
    case dicom::QueryLevel::kStudy: return "STUDY";
    case dicom::QueryLevel::kSeries: return "SERIES";
    case dicom::QueryLevel::kImage: return "IMAGE";
  }
  return "?";
}

// The audit content of a query: its keys as "Keyword=value" (PHI: for the trail only),
// and the patient IDs and study UIDs it names.
void DescribeQuery(const dicom::Query& query, AuditEvent* e) {
  std::string text = std::string("QueryRetrieveLevel=") + LevelName(query.level);
  for (const dicom::Condition& c : query.conditions) {
    std::string value;
    switch (c.kind) {
      case dicom::Condition::Kind::kSingle:
      case dicom::Condition::Kind::kWildcard:
        value = c.value;
        break;
      case dicom::Condition::Kind::kRange:
        value = c.low + "-" + c.high;
        break;
      case dicom::Condition::Kind::kList:
        for (const std::string& v : c.list) value += (value.empty() ? "" : "\\") + v;
        break;
    }
    text += "; " + std::string(c.attribute ? c.attribute->keyword : "?") + "=" + value;
    if (c.attribute && c.kind == dicom::Condition::Kind::kSingle) {
      if (c.attribute->tag == kPatientIdTag) e->patient_ids.push_back(c.value);
      if (c.attribute->tag == kStudyUidTag) e->study_uids.push_back(c.value);
    }
    if (c.attribute && c.kind == dicom::Condition::Kind::kList && c.attribute->tag == kStudyUidTag) {
      e->study_uids.insert(e->study_uids.end(), c.list.begin(), c.list.end());
    }
  }
  if (query.offset > 0) text += "; offset=" + std::to_string(query.offset);
  e->query = std::move(text);
  e->sop_class_uid = query.patient_root ? "1.2.840.10008.5.1.4.1.2.1.1"   // Patient Root FIND
                                        : "1.2.840.10008.5.1.4.1.2.2.1";  // Study Root FIND
}

// An access (read) of instances of one study.
AuditEvent AccessEvent(const std::string& study_uid, const std::string& what) {
  AuditEvent e;
  e.id = AuditEventId::kInstancesAccessed;
  e.action = 'R';
  e.requestor_role = AuditRole::kDestination;
  e.archive_role = AuditRole::kSource;
  if (!study_uid.empty()) e.study_uids = {study_uid};
  e.object = what;
  e.summary = what + " read";
  return e;
}

}  // namespace

CatalogService::CatalogService(store::InstanceIndex& index, store::PolicyIndex& policy,
                               store::BlobStore& blobs, ArchiveOptions options, AuditService& audit)
    : index_(index), policy_(policy), blobs_(blobs), options_(std::move(options)), audit_(audit) {}

Status CatalogService::RecordRefused(const Principal& who, AuditEvent e, const Status& refusal) {
  e.outcome = OutcomeOf(refusal);
  e.outcome_description = "refused: " + std::string(CodeName(refusal.code()));
  TRESOR_RETURN_IF_ERROR(audit_.Record(who, e));
  return refusal;
}

Result<std::unique_ptr<StoredObject>> CatalogService::OpenInstance(const Principal& who,
                                                                   const std::string& sop_uid) {
  if (!dicom::IsValidUid(sop_uid)) return InvalidArgument("not a valid UID");
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::StoredInstance> found,
                          index_.FindInstance(sop_uid, who.scope));
  if (!found) {
    if (!who.scope.all) {
      auto hidden = index_.FindInstance(sop_uid, security::AccessScope::Everything());
      if (hidden.ok() && *hidden) {
        TRESOR_LOG(kWarn) << "security event: " << who.Describe() << " asked for instance "
                          << sop_uid << " outside its access scope; answered as not found";
        TRESOR_RETURN_IF_ERROR(RecordOutOfScope(who, "instance " + sop_uid, {}));
      }
    }
    return NotFound("no such instance");
  }
  {
    AuditEvent e = AccessEvent(found->study_instance_uid, "instance " + sop_uid);
    e.id = AuditEventId::kExport;  // the local administrator copies it out (tresor cat)
    e.sop_class_uid = found->sop_class_uid;
    e.instances = 1;
    TRESOR_RETURN_IF_ERROR(audit_.Record(who, e));
  }
  TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<store::BlobReader> reader, blobs_.Open(found->blob_name));
  return std::unique_ptr<StoredObject>(
      new BlobObject(ToInstanceInfo(*found), std::move(reader)));
}

Result<FindResult> CatalogService::Find(const Principal& who, dicom::Query query) {
  AuditEvent e;
  e.id = AuditEventId::kQuery;
  e.action = 'E';
  e.requestor_role = AuditRole::kSource;
  e.archive_role = AuditRole::kDestination;
  e.summary = std::string("query at ") + LevelName(query.level) + " level";
  DescribeQuery(query, &e);
  if (!who.May(security::kFind)) {
    return RecordRefused(who, e,
                         PermissionDenied(who.Describe() + " is not granted the find service"));
  }
  query.limit = std::min(query.limit, options_.max_find_results);
  query.fuzzy_person_names = query.fuzzy_person_names || options_.fuzzy_person_names;
  TRESOR_ASSIGN_OR_RETURN(std::vector<dicom::QueryMatch> matches, index_.Find(query, who.scope));
  if (matches.empty() && query.offset == 0) TRESOR_RETURN_IF_ERROR(AuditOutOfScope(who, query, "query"));
  e.instances = static_cast<int64_t>(std::min(matches.size(), query.limit));  // matches answered
  TRESOR_RETURN_IF_ERROR(audit_.Record(who, e));  // before the answer
  FindResult result;
  result.truncated = matches.size() > query.limit;
  if (result.truncated) matches.resize(query.limit);
  result.matches = std::move(matches);
  return result;
}

Result<std::vector<InstanceInfo>> CatalogService::ResolveRetrieve(
    const Principal& who, dicom::Query query, security::Service grant) {
  if (!who.May(grant)) {
    AuditEvent e;
    e.id = AuditEventId::kInstancesTransferred;
    e.action = 'R';
    DescribeQuery(query, &e);
    e.query.clear();
    e.sop_class_uid.clear();
    e.summary = "retrieve refused";
    return RecordRefused(who, e,
                         PermissionDenied(who.Describe() + " is not granted the " +
                                          security::FormatServices(grant) + " service"));
  }
  query.level = dicom::QueryLevel::kImage;
  query.return_tags = {dicom::MakeTag(0x0008, 0x0018), kStudyUidTag, kPatientIdTag};
  query.limit = kMaxRetrieveInstances;
  query.fuzzy_person_names = false;
  TRESOR_ASSIGN_OR_RETURN(std::vector<dicom::QueryMatch> matches, index_.Find(query, who.scope));
  if (matches.empty()) TRESOR_RETURN_IF_ERROR(AuditOutOfScope(who, query, "retrieve"));
  if (matches.size() > kMaxRetrieveInstances) {
    return ResourceExhausted("more than " + std::to_string(kMaxRetrieveInstances) +
                             " instances requested in one retrieve");
  }
  std::vector<InstanceInfo> out;
  out.reserve(matches.size());
  for (const dicom::QueryMatch& m : matches) {
    auto it = m.values.find(dicom::MakeTag(0x0008, 0x0018));
    if (it == m.values.end()) continue;
    TRESOR_ASSIGN_OR_RETURN(std::optional<store::StoredInstance> found,
                            index_.FindInstance(it->second, who.scope));
    if (found) out.push_back(ToInstanceInfo(*found));
  }
  // One record per study, before anything is sent.
  std::map<std::string, AuditEvent> studies;
  for (size_t i = 0; i < matches.size(); ++i) {
    const auto& values = matches[i].values;
    auto study = values.find(kStudyUidTag);
    auto patient = values.find(kPatientIdTag);
    const std::string study_uid = study == values.end() ? "" : study->second;
    auto [it, fresh] = studies.try_emplace(study_uid);
    AuditEvent& e = it->second;
    if (fresh) {
      e.id = AuditEventId::kInstancesTransferred;
      e.action = 'R';
      e.requestor_role = grant == security::kMove ? AuditRole::kNone : AuditRole::kDestination;
      e.archive_role = AuditRole::kSource;
      if (!study_uid.empty()) e.study_uids = {study_uid};
      if (patient != values.end() && !patient->second.empty()) e.patient_ids = {patient->second};
      e.summary = grant == security::kMove ? "instances retrieved (move)" : "instances retrieved";
    }
    ++e.instances;
  }
  for (const InstanceInfo& info : out) {
    auto it = studies.find(info.study_instance_uid);
    if (it != studies.end() && it->second.sop_class_uid.empty()) it->second.sop_class_uid = info.sop_class_uid;
  }
  std::vector<AuditEvent> events;
  for (auto& [uid, e] : studies) events.push_back(std::move(e));
  TRESOR_RETURN_IF_ERROR(audit_.RecordAll(who, events));
  return out;
}

Result<std::unique_ptr<StoredObject>> CatalogService::OpenResolved(
    const InstanceInfo& instance) {
  TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<store::BlobReader> reader, blobs_.Open(instance.blob_name));
  return std::unique_ptr<StoredObject>(new BlobObject(instance, std::move(reader)));
}

Result<security::Peer> CatalogService::MoveDestination(const Principal& who,
                                                       const std::string& ae_title) {
  if (!who.May(security::kMove)) {
    return PermissionDenied(who.Describe() + " is not granted the move service");
  }
  TRESOR_ASSIGN_OR_RETURN(std::vector<security::Peer> peers, LoadPeers(policy_));
  for (const security::Peer& p : peers) {
    if (p.ae_title == ae_title) return p;
  }
  return NotFound("move destination '" + ae_title + "' is not a registered peer");
}

namespace {

// The checks every WADO-RS read starts with: the get grant (kPermissionDenied) and valid
// UIDs (kInvalidArgument); series and instance UIDs may be empty when
// `allow_empty_below_study` (a study- or series-level request).
Status CheckInstanceRead(const Principal& who, const std::string& study_uid,
                         const std::string& series_uid, const std::string& sop_uid,
                         bool allow_empty_below_study = false) {
  if (!who.May(security::kGet)) {
    return PermissionDenied(who.Describe() + " is not granted the get service");
  }
  auto valid = [&](const std::string& uid) {
    return (allow_empty_below_study && uid.empty()) || dicom::IsValidUid(uid);
  };
  if (!dicom::IsValidUid(study_uid) || !valid(series_uid) || !valid(sop_uid)) {
    return InvalidArgument("not a valid UID");
  }
  return Status::Ok();
}

}  // namespace

Result<FrameTable> CatalogService::Frames(const Principal& who, const std::string& study_uid,
                                          const std::string& series_uid,
                                          const std::string& sop_uid) {
  if (Status s = CheckInstanceRead(who, study_uid, series_uid, sop_uid); !s.ok()) {
    return RecordRefused(who, AccessEvent(study_uid, "frames"), s);
  }
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::StoredDetails> found,
                          index_.FindFrameLayout(study_uid, series_uid, sop_uid, who.scope));
  if (!found) {
    TRESOR_RETURN_IF_ERROR(AuditHiddenInstance(who, study_uid, series_uid, sop_uid));
    return NotFound("no such instance");
  }
  {
    AuditEvent e = AccessEvent(study_uid, "frames of instance " + sop_uid);
    e.sop_class_uid = found->instance.sop_class_uid;
    e.instances = 1;
    TRESOR_RETURN_IF_ERROR(audit_.Record(who, e));
  }
  std::optional<dicom::FrameLayout> layout;
  if (!found->frame_layout) {
    TRESOR_ASSIGN_OR_RETURN(layout, ScanFrameLayout(blobs_, found->instance, options_.limits));
  } else if (!found->frame_layout->empty()) {
    TRESOR_ASSIGN_OR_RETURN(layout, dicom::ParseFrameLayout(*found->frame_layout));
  }
  bool deflated = found->instance.transfer_syntax_uid == dicom::kDeflatedExplicitVRLittleEndian;
  if (!layout && !deflated) return NotFound("the instance has no pixel data");
  FrameTable table;
  table.transfer_syntax_uid = found->instance.transfer_syntax_uid;
  TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<store::BlobReader> reader,
                          blobs_.Open(found->instance.blob_name));
  table.object = std::make_shared<BlobObject>(ToInstanceInfo(found->instance), std::move(reader));
  if (deflated) {
    table.deflated = true;
    return table;
  }
  table.encapsulated = layout->encapsulated;
  table.rows = layout->rows;
  table.columns = layout->columns;
  table.samples_per_pixel = layout->samples_per_pixel;
  table.bits_allocated = layout->bits_allocated;
  table.frames.reserve(layout->frames.size());
  for (const auto& frame : layout->frames) {
    std::vector<ByteRange> ranges;
    ranges.reserve(frame.size());
    for (const auto& r : frame) ranges.push_back({r.offset, r.length});
    table.frames.push_back(std::move(ranges));
  }
  return table;
}

Result<std::vector<InstanceMetadata>> CatalogService::Metadata(const Principal& who,
                                                               const std::string& study_uid,
                                                               const std::string& series_uid,
                                                               const std::string& sop_uid) {
  if (Status s = CheckInstanceRead(who, study_uid, series_uid, sop_uid,
                                   /*allow_empty_below_study=*/true);
      !s.ok()) {
    return RecordRefused(who, AccessEvent(study_uid, "metadata"), s);
  }
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::StoredDetails> found,
                          index_.FindMetadata(study_uid, series_uid, sop_uid, who.scope));
  if (!found.empty()) {
    AuditEvent e = AccessEvent(study_uid, sop_uid.empty() ? (series_uid.empty() ? "study metadata"
                                                                                : "series metadata")
                                                          : "instance metadata");
    e.sop_class_uid = found.front().instance.sop_class_uid;
    e.instances = static_cast<int64_t>(found.size());
    TRESOR_RETURN_IF_ERROR(audit_.Record(who, e));
  }
  if (found.empty()) {
    TRESOR_RETURN_IF_ERROR(AuditHiddenInstance(who, study_uid, series_uid, sop_uid));
    return NotFound(sop_uid.empty() ? (series_uid.empty() ? "no such study" : "no such series")
                                    : "no such instance");
  }
  std::vector<InstanceMetadata> out;
  out.reserve(found.size());
  for (store::StoredDetails& d : found) {
    InstanceMetadata m;
    m.series_instance_uid = std::move(d.series_instance_uid);
    m.sop_instance_uid = d.instance.sop_instance_uid;
    Result<std::string> json = d.metadata_document && !d.metadata_document->empty()
                                   ? Result<std::string>(std::move(*d.metadata_document))
                                   : BuildDocument(blobs_, d.instance, options_.limits);
    if (!json.ok()) {
      // One unreadable document must not hide a whole series from a viewer.
      TRESOR_LOG(kError) << "metadata of instance " << m.sop_instance_uid
                         << " left out: " << json.status().ToString();
      continue;
    }
    m.json = std::move(json).value();
    out.push_back(std::move(m));
  }
  return out;
}

Result<BulkData> CatalogService::OpenBulkData(const Principal& who, const std::string& study_uid,
                                              const std::string& series_uid,
                                              const std::string& sop_uid,
                                              const std::string& tag_path) {
  if (Status s = CheckInstanceRead(who, study_uid, series_uid, sop_uid); !s.ok()) {
    return RecordRefused(who, AccessEvent(study_uid, "bulk data"), s);
  }
  TRESOR_ASSIGN_OR_RETURN(auto parsed_path, dicom::ParseTagPath(tag_path));
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::StoredDetails> found,
                          index_.FindFrameLayout(study_uid, series_uid, sop_uid, who.scope));
  if (!found) {
    TRESOR_RETURN_IF_ERROR(AuditHiddenInstance(who, study_uid, series_uid, sop_uid));
    return NotFound("no such instance");
  }
  {
    AuditEvent e = AccessEvent(study_uid, "bulk data of instance " + sop_uid);
    e.sop_class_uid = found->instance.sop_class_uid;
    e.instances = 1;
    TRESOR_RETURN_IF_ERROR(audit_.Record(who, e));
  }
  dicom::Encoding encoding;
  if (!dicom::EncodingOf(found->instance.transfer_syntax_uid, &encoding)) {
    return Unsupported("stored transfer syntax not accepted");
  }
  if (encoding == dicom::Encoding::kDeflatedExplicitLittle) {
    return Unsupported("the values of a deflated object are not addressable");
  }
  TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<store::BlobReader> blob,
                          blobs_.Open(found->instance.blob_name));
  BlobByteReader meta_reader(*blob, 0);
  TRESOR_ASSIGN_OR_RETURN(dicom::FileMeta meta, dicom::ReadFileMeta(meta_reader));
  BlobByteReader reader(*blob, meta.dataset_offset);
  TRESOR_ASSIGN_OR_RETURN(std::optional<dicom::LocatedValue> located,
                          dicom::LocateValue(reader, encoding, options_.limits, tag_path));
  if (!located) return NotFound("the instance has no such bulk data value");
  BulkData bulk;
  bulk.transfer_syntax_uid = found->instance.transfer_syntax_uid;
  bulk.encapsulated = located->encapsulated;
  const uint64_t base = meta.dataset_offset;
  if (!located->encapsulated) {
    bulk.parts.push_back({{base + located->value_offset, located->value_length}});
  } else {
    const bool top_pixel_data =
        parsed_path.first.empty() && parsed_path.second == dicom::MakeTag(0x7FE0, 0x0010);
    std::optional<dicom::FrameLayout> layout;
    if (top_pixel_data && found->frame_layout && !found->frame_layout->empty()) {
      auto parsed = dicom::ParseFrameLayout(*found->frame_layout);
      if (parsed.ok()) layout = std::move(parsed).value();
    }
    if (layout && !layout->frames.empty()) {
      for (const auto& frame : layout->frames) {
        std::vector<ByteRange> ranges;
        for (const auto& r : frame) ranges.push_back({r.offset, r.length});
        bulk.parts.push_back(std::move(ranges));
      }
    } else {
      std::vector<ByteRange> all;
      for (size_t i = 1; i < located->fragments.size(); ++i) {
        all.push_back({base + located->fragments[i].first, located->fragments[i].second});
      }
      bulk.parts.push_back(std::move(all));
    }
  }
  bulk.object.reset(new BlobObject(ToInstanceInfo(found->instance), std::move(blob)));
  return bulk;
}

Status CatalogService::AuditHiddenInstance(const Principal& who, const std::string& study_uid,
                                           const std::string& series_uid,
                                           const std::string& sop_uid) {
  if (who.scope.all) return Status::Ok();
  auto hidden = index_.FindMetadata(study_uid, series_uid, sop_uid,
                                    security::AccessScope::Everything());
  if (hidden.ok() && !hidden->empty()) {
    TRESOR_LOG(kWarn) << "security event: " << who.Describe() << " asked for study " << study_uid
                      << (series_uid.empty() ? "" : " series " + series_uid)
                      << (sop_uid.empty() ? "" : " instance " + sop_uid)
                      << " outside its access scope; answered as not found";
    return RecordOutOfScope(who, "study " + study_uid, {study_uid});
  }
  return Status::Ok();
}

Status CatalogService::RecordOutOfScope(const Principal& who, const std::string& what,
                                        const std::vector<std::string>& study_uids) {
  AuditEvent e;
  e.id = AuditEventId::kSecurityAlert;
  e.type = AuditEventType::kUseOfRestrictedFunction;
  e.action = 'E';
  e.outcome = kAuditMinorFailure;
  e.outcome_description = "request outside the access scope, answered as not found";
  e.study_uids = study_uids;
  e.object = what;
  e.summary = "out-of-scope request";
  return audit_.Record(who, e);
}

Result<ArchiveStats> CatalogService::Stats(const Principal& who) {
  if (!who.IsUser()) TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  TRESOR_ASSIGN_OR_RETURN(store::IndexStats stats, index_.Stats(who.scope));
  return ToArchiveStats(stats);
}

Result<StudySummary> CatalogService::FindStudy(const Principal& who,
                                               const std::string& study_uid) {
  if (!dicom::IsValidUid(study_uid)) return InvalidArgument("not a valid Study Instance UID");
  const dicom::TagKey kStudyUid = dicom::MakeTag(0x0020, 0x000D);
  const dicom::TagKey kStudyDate = dicom::MakeTag(0x0008, 0x0020);
  const dicom::TagKey kStudyTime = dicom::MakeTag(0x0008, 0x0030);
  const dicom::TagKey kAccession = dicom::MakeTag(0x0008, 0x0050);
  const dicom::TagKey kDescription = dicom::MakeTag(0x0008, 0x1030);
  const dicom::TagKey kPatientName = dicom::MakeTag(0x0010, 0x0010);
  const dicom::TagKey kPatientId = dicom::MakeTag(0x0010, 0x0020);
  const dicom::TagKey kBirthDate = dicom::MakeTag(0x0010, 0x0030);
  const dicom::TagKey kModalities = dicom::MakeTag(0x0008, 0x0061);
  const dicom::TagKey kSeriesCount = dicom::MakeTag(0x0020, 0x1206);
  const dicom::TagKey kInstanceCount = dicom::MakeTag(0x0020, 0x1208);
  dicom::Query query;
  query.level = dicom::QueryLevel::kStudy;
  dicom::Condition condition;
  condition.attribute = dicom::FindQueryAttribute(kStudyUid);
  condition.value = study_uid;
  query.conditions.push_back(condition);
  query.return_tags = {kStudyUid,    kStudyDate, kStudyTime, kAccession,   kDescription,
                       kPatientName, kPatientId, kBirthDate, kModalities, kSeriesCount,
                       kInstanceCount};
  TRESOR_ASSIGN_OR_RETURN(FindResult found, Find(who, std::move(query)));
  if (found.matches.empty()) return NotFound("no such study");
  const dicom::QueryMatch& match = found.matches.front();
  auto value = [&](dicom::TagKey tag) {
    auto it = match.values.find(tag);
    return it == match.values.end() ? std::string() : it->second;
  };
  StudySummary s;
  s.study_instance_uid = value(kStudyUid);
  s.study_date = value(kStudyDate);
  s.study_time = value(kStudyTime);
  s.accession_number = value(kAccession);
  s.study_description = value(kDescription);
  s.patient_name = value(kPatientName);
  s.patient_id = value(kPatientId);
  s.patient_birth_date = value(kBirthDate);
  s.modalities = SplitValues(value(kModalities));
  s.series = CountValue(value(kSeriesCount));
  s.instances = CountValue(value(kInstanceCount));
  return s;
}

Status CatalogService::AuditOutOfScope(const Principal& who, const dicom::Query& query,
                                       const char* action) {
  if (who.scope.all) return Status::Ok();
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
  if (named.empty()) return Status::Ok();
  if (named.size() > 512) named = named.substr(0, 512) + " ...";
  dicom::Query probe = query;
  probe.limit = 0;  // one match is enough
  auto hidden = index_.Find(probe, security::AccessScope::Everything());
  if (hidden.ok() && !hidden->empty()) {
    TRESOR_LOG(kWarn) << "security event: " << action << " by " << who.Describe()
                      << " for UIDs outside its access scope (answered as not found):" << named;
    AuditEvent described;
    DescribeQuery(query, &described);
    return RecordOutOfScope(who, std::string(action) + " by UID", described.study_uids);
  }
  return Status::Ok();
}

}  // namespace tresor::archive
