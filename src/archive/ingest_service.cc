#include "archive/ingest_service.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "archive/blob_byte_reader.h"
#include "archive/group_commit.h"
#include "archive/streaming_hash.h"
#include "core/buffer_pool.h"
#include "core/log.h"
#include "core/sha256.h"
#include "dicom/byte_reader.h"
#include "dicom/dataset_scanner.h"
#include "dicom/dicom_json.h"
#include "dicom/frames.h"
#include "dicom/instance.h"
#include "dicom/part10.h"
#include "dicom/transfer_syntax.h"
#include "dicom/uid.h"
#include "store/blob_store.h"
#include "store/instance_index.h"

namespace tresor::archive {
namespace {

// Data sets up to this size are scanned from memory; larger ones from their blob.
constexpr size_t kInMemoryScanBytes = 1 << 20;
// Threads hashing objects while they arrive (each hashes about 1 GB/s).
constexpr int kHashWorkers = 2;
// Scan buffers kept for reuse once their upload ends (at most this many MiB stay
// allocated between objects).
constexpr size_t kMaxPooledScanBuffers = 16;

// The top-level values a store keeps from its scan: the indexed attributes and the pixel
// module for the frame layout.
const std::set<dicom::TagKey>& StoreScanTags() {
  static const std::set<dicom::TagKey> kTags = [] {
    std::set<dicom::TagKey> tags = dicom::IndexedTags();
    tags.insert(dicom::FrameLayoutTags().begin(), dicom::FrameLayoutTags().end());
    return tags;
  }();
  return kTags;
}

}  // namespace

class UploadImpl : public Upload {
 public:
  UploadImpl(IngestService& archive, const Principal& who, const UploadInfo& info,
             dicom::Encoding encoding, std::unique_ptr<store::BlobWriter> writer,
             uint64_t header_size)
      : archive_(archive), who_(who), info_(info), encoding_(encoding),
        writer_(std::move(writer)), header_size_(header_size),
        head_(archive_.scan_buffers_->Take()), hash_(*archive_.hash_workers_) {}
  ~UploadImpl() override {
    hash_.Wait();  // the hash worker may still read head_
    archive_.scan_buffers_->Give(std::move(head_));
  }

  Status Write(const void* data, size_t n) override {
    if (!status_.ok()) return status_;
    dataset_bytes_ += n;
    if (dataset_bytes_ > archive_.options_.max_object_bytes) {
      status_ = ResourceExhausted("object larger than the limit of " +
                                  std::to_string(archive_.options_.max_object_bytes) + " bytes");
      return status_;
    }
    if (dataset_bytes_ <= kInMemoryScanBytes) {
      std::memcpy(head_.get() + head_size_, data, n);
      head_size_ += n;
      hash_.Available(head_.get(), head_size_);
    } else {
      hash_.Update(data, n);  // beyond the in-memory part: hashed here
    }
    status_ = writer_->Append(data, n);
    return status_;
  }

  Result<StoreOutcome> Commit() override {
    Result<StoreOutcome> r = CommitUnaudited();
    // Accepted objects (and UID conflicts) are recorded in the group commit's transaction;
    // an object refused before that gets its own record.
    if (!r.ok() && !committed_) {
      AuditEvent e;
      e.id = (!who_.IsUser() && who_.peer_name.empty()) ? AuditEventId::kImport
                                                          : AuditEventId::kInstancesTransferred;
      e.action = 'C';
      e.outcome = OutcomeOf(r.status());
      e.outcome_description = "refused: " + std::string(CodeName(r.status().code()));
      e.requestor_role = AuditRole::kSource;
      e.archive_role = AuditRole::kDestination;
      e.sop_class_uid = info_.sop_class_uid;
      e.instances = 1;
      e.object = "instance " + info_.sop_instance_uid;
      e.summary = "instance refused";
      TRESOR_RETURN_IF_ERROR(archive_.audit_.Record(who_, e));
    }
    return r;
  }

 private:
  Result<StoreOutcome> CommitUnaudited() {
    TRESOR_RETURN_IF_ERROR(status_);
    blob_size_ = writer_->size();
    TRESOR_ASSIGN_OR_RETURN(std::string name, writer_->Finish());
    // From here on, the staged blob must be discarded on every error path.
    auto result = Validate(name);
    if (!result.ok()) {
      Status discarded = archive_.blobs_.Discard(name);
      if (!discarded.ok()) {
        TRESOR_LOG(kError) << "refused object left staged until the next recovery: "
                           << discarded.ToString();
      }
      return result.status();
    }
    if (info_.before_commit) {
      Status accepted =
          info_.before_commit(result->attrs.study_instance_uid, result->attrs.series_instance_uid);
      if (!accepted.ok()) {
        Status discarded = archive_.blobs_.Discard(name);
        if (!discarded.ok()) {
          TRESOR_LOG(kError) << "refused object left staged until the next recovery: "
                             << discarded.ToString();
        }
        return accepted;
      }
    }
    committed_ = true;  // from here on the group commit records the outcome
    TRESOR_ASSIGN_OR_RETURN(store::AddOutcome outcome,
                            archive_.committer_->Commit(std::move(result).value(), who_));
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

  Result<store::InstanceRecord> Validate(const std::string& name) {
    // The same pass writes the instance's DICOM JSON (WADO-RS metadata), BulkDataURIs
    // relative to its series' metadata URL.
    dicom::DicomJsonOptions json_options;
    json_options.bulk_data_uri_prefix = "instances/" + info_.sop_instance_uid + "/bulk/";
    dicom::DicomJsonWriter json(encoding_, json_options);
    TRESOR_ASSIGN_OR_RETURN(dicom::ScanResult scan, Scan(name, &json));
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
    r.received_at = archive_.clock_.WallSeconds();
    // Offsets from the start of the blob: the file meta header precedes the data set.
    std::optional<dicom::FrameLayout> layout =
        dicom::BuildFrameLayout(scan, encoding_, header_size_);
    if (layout) r.frame_layout = dicom::SerializeFrameLayout(*layout);
    Result<std::string> document = json.Finish();
    if (document.ok()) {
      r.metadata_document = std::move(document).value();
    } else {
      // Stored without: metadata requests build it from the blob (and skip it if that
      // fails the same way).
      TRESOR_LOG(kWarn) << "instance " << info_.sop_instance_uid
                        << ": no metadata document stored: " << document.status().ToString();
    }
    return r;
  }

  // The bounded pre-scan, from memory when the whole data set was kept there.
  Result<dicom::ScanResult> Scan(const std::string& name, dicom::ScanVisitor* visitor) {
    const dicom::ScanLimits& limits = archive_.options_.limits;
    if (dataset_bytes_ <= kInMemoryScanBytes) {
      dicom::MemoryReader reader(head_.get(), head_size_);
      return dicom::ScanDataset(reader, encoding_, limits, StoreScanTags(), visitor);
    }
    TRESOR_ASSIGN_OR_RETURN(auto blob, archive_.blobs_.Open(name));
    BlobByteReader reader(*blob, header_size_);
    return dicom::ScanDataset(reader, encoding_, limits, StoreScanTags(), visitor);
  }

  IngestService& archive_;
  const Principal who_;
  const UploadInfo info_;
  const dicom::Encoding encoding_;
  std::unique_ptr<store::BlobWriter> writer_;
  const uint64_t header_size_;
  uint64_t dataset_bytes_ = 0;
  uint64_t blob_size_ = 0;
  // The data set while it is at most kInMemoryScanBytes long (from the pool).
  std::unique_ptr<char[]> head_;
  size_t head_size_ = 0;
  // Of the data set: head_ is hashed by a worker while the object arrives.
  StreamingHash hash_;
  Status status_;
  bool committed_ = false;  // handed to the group commit
};

IngestService::IngestService(store::InstanceIndex& index, store::BlobStore& blobs,
                             ArchiveOptions options, const core::Clock& clock, AuditService& audit)
    : index_(index),
      blobs_(blobs),
      options_(std::move(options)),
      clock_(clock),
      audit_(audit),
      scan_buffers_(std::make_unique<core::BufferPool>(kInMemoryScanBytes, kMaxPooledScanBuffers)),
      hash_workers_(std::make_unique<HashWorkers>(kHashWorkers)),
      committer_(std::make_unique<GroupCommitter>(index, blobs, options_.commit_batch_max, audit,
                                                  clock)) {}

// The committer drains its queue when destroyed and confirms its last batch once that
// batch's sync completed, so a clean stop leaves nothing unconfirmed; after a crash the
// next Recover() checks the unconfirmed rows against their blobs and confirms them.
IngestService::~IngestService() = default;

Result<bool> IngestService::BlobMatches(const store::StoredInstance& instance) {
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

Result<VerifyReport> IngestService::Verify(
    const Principal& who, const std::function<void(uint64_t, uint64_t)>& progress) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  VerifyReport report;
  TRESOR_ASSIGN_OR_RETURN(store::IndexStats stats,
                          index_.Stats(security::AccessScope::Everything()));
  const uint64_t total = static_cast<uint64_t>(stats.instances);
  std::vector<char> buf(1 << 20);
  int64_t cursor = 0;
  while (true) {
    int64_t next = cursor;
    TRESOR_ASSIGN_OR_RETURN(std::vector<store::StoredInstance> page,
                            index_.ListInstances(cursor, 1000, &next));
    if (page.empty()) break;
    cursor = next;
    for (const store::StoredInstance& instance : page) {
      ++report.instances;
      auto problem = [&](VerifyProblem::Kind kind, std::string detail) {
        report.problems.push_back(
            {kind, instance.sop_instance_uid, instance.blob_name, std::move(detail)});
      };
      auto blob = blobs_.Open(instance.blob_name);
      if (!blob.ok()) {
        if (blob.status().code() == Code::kNotFound) {
          problem(VerifyProblem::Kind::kMissing, "blob missing from storage");
        } else {
          problem(VerifyProblem::Kind::kCorrupted, blob.status().message());
        }
      } else {
        // Every byte is read, so every segment authenticates; then the data set's hash.
        Status checked = [&]() -> Status {
          // The first segment's own error (an integrity error) rather than the meta parser's.
          TRESOR_RETURN_IF_ERROR((*blob)->ReadAt(buf.data(), 1, 0).status());
          BlobByteReader meta_reader(**blob, 0);
          TRESOR_ASSIGN_OR_RETURN(dicom::FileMeta meta, dicom::ReadFileMeta(meta_reader));
          Sha256 hash;
          for (uint64_t off = 0; off < (*blob)->size();) {
            TRESOR_ASSIGN_OR_RETURN(size_t got, (*blob)->ReadAt(buf.data(), buf.size(), off));
            if (got == 0) return DataLoss("blob shorter than its size");
            if (off + got > meta.dataset_offset) {
              uint64_t skip = off >= meta.dataset_offset ? 0 : meta.dataset_offset - off;
              hash.Update(buf.data() + skip, got - skip);
            }
            off += got;
            report.bytes += got;
          }
          if (hash.FinishHex() != instance.content_sha256) {
            return DataLoss("data set does not match the SHA-256 recorded at store time");
          }
          return Status::Ok();
        }();
        if (!checked.ok()) problem(VerifyProblem::Kind::kCorrupted, checked.message());
      }
      if (progress) progress(report.instances, std::max(total, report.instances));
    }
  }
  TRESOR_RETURN_IF_ERROR(blobs_.List([&](const std::string& name, bool staged) -> Status {
    if (staged) return Status::Ok();
    ++report.blobs;
    TRESOR_ASSIGN_OR_RETURN(bool referenced, index_.IsBlobReferenced(name));
    if (!referenced) {
      report.problems.push_back(
          {VerifyProblem::Kind::kOrphaned, "", name, "blob in storage without an index row"});
    }
    return Status::Ok();
  }));
  return report;
}

Status IngestService::Recover() {
  if (index_.durability() == store::Durability::kOnFilesystemSync) {
    // Rows of the last batches whose sync may not have completed: keep those whose
    // blob survived intact, remove the others (they were never acknowledged).
    TRESOR_ASSIGN_OR_RETURN(std::vector<store::StoredInstance> unconfirmed,
                            index_.ListUnconfirmed());
    int removed = 0;
    std::vector<std::string> left_behind;  // blobs whose removal failed once
    for (const store::StoredInstance& instance : unconfirmed) {
      TRESOR_ASSIGN_OR_RETURN(bool intact, BlobMatches(instance));
      if (!intact) {
        TRESOR_RETURN_IF_ERROR(index_.RemoveUnconfirmed(instance.sop_instance_uid));
        if (Status gone = blobs_.Remove(instance.blob_name); !gone.ok()) {
          TRESOR_LOG(kError) << "index recovery: " << gone.ToString() << "; retrying";
          left_behind.push_back(instance.blob_name);
        }
        ++removed;
      }
    }
    // One retry; the row is gone already, so a blob still left is unreferenced (a staged
    // one is deleted by the storage recovery below, at the latest at the next start).
    for (const std::string& name : left_behind) {
      if (Status gone = blobs_.Remove(name); !gone.ok()) {
        TRESOR_LOG(kError) << "index recovery: unreferenced blob left behind: " << gone.ToString();
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

Result<std::unique_ptr<Upload>> IngestService::BeginStore(const Principal& who,
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


}  // namespace tresor::archive
