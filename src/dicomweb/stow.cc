// STOW-RS (PS3.18 10.5): POST /dicom-web/studies[/{study}] with a multipart/related body of
// Part 10 files, streamed part by part into the same ingest path as C-STORE.
//
// Each part's preamble and file meta information are read from a bounded buffer (at most
// kMetaBufferBytes); the data set bytes that follow go to IngestService's Upload as they
// arrive and the part is committed at its end. Neither a part nor the body is ever held
// whole. A part that fails is recorded with its Failure Reason and the next part is parsed
// as usual; the response is the Store Instances Response Module (PS3.18 Annex I) in
// application/dicom+json.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "core/log.h"
#include "dicom/byte_reader.h"
#include "dicom/part10.h"
#include "dicom/uid.h"
#include "dicomweb/multipart.h"
#include "dicomweb/negotiation.h"
#include "dicomweb/routes.h"
#include "dicomweb/stow.h"

namespace tresor::dicomweb {
namespace {

using Json = nlohmann::ordered_json;

// Preamble and "DICM" (132 bytes), the largest file meta group ReadFileMeta accepts (64 KiB)
// and the next element's tag, which ReadFileMeta reads to see where the group ends.
constexpr size_t kMetaBufferBytes = 132 + 64 * 1024 + 16;
// Parts whose commit (validation, fsync, index) runs while the next parts are parsed: so the
// group committer can batch one request's objects the way it batches concurrent
// associations. Each pending part holds at most the ingest's in-memory scan copy (1 MiB).
constexpr size_t kMaxPendingCommits = 8;
// The longest boundary RFC 2046 allows.
constexpr size_t kMaxBoundaryBytes = 70;

constexpr char kDicom[] = "application/dicom";

Json Element(const char* vr, Json value) {
  Json e = {{"vr", vr}};
  if (!value.is_null()) e["Value"] = Json::array({std::move(value)});
  return e;
}

}  // namespace

uint16_t StowFailureReason(const Status& status) {
  switch (status.code()) {
    case Code::kResourceExhausted:
    case Code::kIoError:
    case Code::kUnavailable:
      return kFailureOutOfResources;
    case Code::kInvalidArgument:
      return kFailureCannotUnderstand;
    case Code::kUnsupported:
      return kFailureTransferSyntaxNotSupported;
    case Code::kConflict:
    case Code::kAlreadyExists:
      return kFailureDuplicateSopInstance;
    case Code::kPermissionDenied:
    case Code::kUnauthenticated:
      return kFailureNotAuthorized;
    default:
      return kFailureProcessing;
  }
}

namespace {

std::string StudyUrl(const std::string& study) {
  return std::string(kRoot) + "/studies/" + study;
}

// One part's outcome.
struct PartResult {
  size_t number = 0;             // 1-based position in the body, for logs
  std::string sop_class_uid;     // empty when the part's meta could not be read
  std::string sop_instance_uid;
  std::string study_uid;         // set for stored instances
  std::string series_uid;
  bool stored = false;
  uint16_t failure_reason = 0;
  bool study_mismatch = false;   // set by the ingest's before_commit hook
};

class StowSink final : public web::BodySink, private MultipartHandler {
 public:
  StowSink(archive::IngestService& ingest, archive::Principal who, const std::string& boundary,
           bool parts_default_to_dicom, std::string target_study)
      : ingest_(ingest),
        who_(std::move(who)),
        parts_default_to_dicom_(parts_default_to_dicom),
        target_study_(std::move(target_study)),
        parser_(boundary, *this) {}

  Status Write(std::string_view piece) override { return parser_.Feed(piece); }

  // A sink destroyed without Finish() (the client went away) waits for the commits already
  // started (std::future's destructor); the part being received is dropped.
  ~StowSink() override = default;

  web::HttpResponse Finish() override {
    Status parsed = parser_.Finish();
    if (!parsed.ok() && in_part_) {
      // The body ended inside this part: nothing of it is stored.
      upload_.reset();
      Refuse(results_.back(), kFailureCannotUnderstand, parsed);
      in_part_ = false;
    }
    while (!pending_.empty()) CollectOldest();
    return Respond(parsed);
  }

 private:
  enum class PartState { kMeta, kStreaming, kDiscarding };

  Status OnPartBegin(const web::HeaderList& headers) override {
    in_part_ = true;
    results_.emplace_back();
    results_.back().number = results_.size();
    meta_.clear();
    upload_.reset();
    state_ = PartState::kMeta;
    std::string_view content_type;
    for (const auto& [name, value] : headers) {
      if (web::EqualsIgnoreCase(name, "Content-Type")) {
        content_type = value;
        break;
      }
    }
    if (content_type.empty()) {
      if (!parts_default_to_dicom_) {
        Refuse(results_.back(), kFailureCannotUnderstand,
               InvalidArgument("part without Content-Type"));
      }
      return Status::Ok();
    }
    // `application/dicom`, possibly with parameters (transfer-syntax=...: the file meta
    // information says which syntax the bytes are in, and that is what is stored).
    auto media = ParseMediaType(content_type);
    if (!media.ok() || media->type != kDicom) {
      Refuse(results_.back(), kFailureCannotUnderstand,
             Unsupported("part is not application/dicom"));
    }
    return Status::Ok();
  }

  Status OnPartData(std::string_view data) override {
    switch (state_) {
      case PartState::kDiscarding:
        return Status::Ok();
      case PartState::kMeta: {
        size_t take = std::min(data.size(), kMetaBufferBytes - meta_.size());
        meta_.append(data.data(), take);
        data.remove_prefix(take);
        if (meta_.size() < kMetaBufferBytes) return Status::Ok();
        StartUpload();
        if (state_ != PartState::kStreaming || data.empty()) return Status::Ok();
        [[fallthrough]];
      }
      case PartState::kStreaming: {
        Status written = upload_->Write(data.data(), data.size());
        if (!written.ok()) Refuse(results_.back(), StowFailureReason(written), written);
        return Status::Ok();
      }
    }
    return Status::Ok();
  }

  Status OnPartEnd() override {
    if (state_ == PartState::kMeta) StartUpload();
    in_part_ = false;
    if (state_ != PartState::kStreaming) return Status::Ok();
    state_ = PartState::kDiscarding;
    std::shared_ptr<archive::Upload> upload = std::move(upload_);
    if (pending_.size() >= kMaxPendingCommits) CollectOldest();
    // The commit runs on its own thread; it touches only its Upload and its PartResult
    // (through the before_commit hook), which nothing else reads until it is collected.
    PartResult* r = &results_.back();
    std::future<Result<archive::StoreOutcome>> done;
    try {
      done = std::async(std::launch::async, [upload] { return upload->Commit(); });
    } catch (const std::system_error&) {  // no thread to be had: commit here
      std::promise<Result<archive::StoreOutcome>> now;
      now.set_value(upload->Commit());
      done = now.get_future();
    }
    pending_.push_back(Pending{r, std::move(done)});
    return Status::Ok();
  }

  // Waits for the oldest pending commit and records its outcome.
  void CollectOldest() {
    Pending p = std::move(pending_.front());
    pending_.pop_front();
    Result<archive::StoreOutcome> committed = p.done.get();
    if (!committed.ok()) {
      Refuse(*p.result,
             p.result->study_mismatch ? kFailureStudyMismatch
                                      : StowFailureReason(committed.status()),
             committed.status());
      return;
    }
    p.result->stored = true;  // stored now, or the identical instance was already archived
    ++stored_;
  }

  // Reads the file meta information from the buffered first bytes and begins the upload
  // with the data set bytes that follow it.
  void StartUpload() {
    PartResult& r = results_.back();
    dicom::MemoryReader reader(meta_.data(), meta_.size());
    auto meta = dicom::ReadFileMeta(reader);
    if (!meta.ok()) {
      Refuse(r, kFailureCannotUnderstand, meta.status());
      return;
    }
    // Only valid UIDs are echoed in the response and the log; BeginStore refuses the rest.
    if (dicom::IsValidUid(meta->sop_class_uid)) r.sop_class_uid = meta->sop_class_uid;
    if (dicom::IsValidUid(meta->sop_instance_uid)) r.sop_instance_uid = meta->sop_instance_uid;
    archive::UploadInfo info;
    info.sop_class_uid = meta->sop_class_uid;
    info.sop_instance_uid = meta->sop_instance_uid;
    info.transfer_syntax_uid = meta->transfer_syntax_uid;
    info.before_commit = [result = &r, target = target_study_](const std::string& study,
                                                                 const std::string& series) {
      if (!target.empty() && study != target) {
        result->study_mismatch = true;
        return InvalidArgument("the instance belongs to another study than the target one");
      }
      result->study_uid = study;
      result->series_uid = series;
      return Status::Ok();
    };
    auto begun = ingest_.BeginStore(who_, info);
    if (!begun.ok()) {
      Refuse(r, StowFailureReason(begun.status()), begun.status());
      return;
    }
    upload_ = std::move(begun).value();
    state_ = PartState::kStreaming;
    if (meta->dataset_offset < meta_.size()) {
      Status written = upload_->Write(meta_.data() + meta->dataset_offset,
                                      meta_.size() - static_cast<size_t>(meta->dataset_offset));
      if (!written.ok()) Refuse(r, StowFailureReason(written), written);
    }
    meta_.clear();
  }

  // Part `r` fails with `reason`. When it is the current part, the rest of its bytes are
  // read and dropped.
  void Refuse(PartResult& r, uint16_t reason, const Status& why) {
    r.stored = false;
    r.failure_reason = reason;
    if (&r == &results_.back() && in_part_) {
      upload_.reset();
      meta_.clear();
      state_ = PartState::kDiscarding;
    }
    TRESOR_LOG(kWarn) << "STOW-RS part " << r.number << " from " << who_.Describe()
                      << " refused (0x" << std::hex << reason << std::dec << ")"
                      << (r.sop_instance_uid.empty() ? "" : " for " + r.sop_instance_uid)
                      << ": " << why.message();
  }

  web::HttpResponse Respond(const Status& parsed) {
    Json referenced = Json::array();
    Json failed = Json::array();
    std::string study_url;
    bool one_study = true;
    for (const PartResult& r : results_) {
      Json item = Json::object();
      item["00081150"] = Element("UI", r.sop_class_uid.empty() ? Json() : Json(r.sop_class_uid));
      item["00081155"] =
          Element("UI", r.sop_instance_uid.empty() ? Json() : Json(r.sop_instance_uid));
      if (r.stored) {
        item["00081190"] = Element("UR", StudyUrl(r.study_uid) + "/series/" + r.series_uid +
                                             "/instances/" + r.sop_instance_uid);
        referenced.push_back(std::move(item));
        if (study_url.empty()) {
          study_url = StudyUrl(r.study_uid);
        } else if (study_url != StudyUrl(r.study_uid)) {
          one_study = false;
        }
      } else {
        item["00081197"] = Element("US", r.failure_reason);
        failed.push_back(std::move(item));
      }
    }
    if (!target_study_.empty()) {
      study_url = StudyUrl(target_study_);
    } else if (!one_study) {
      study_url.clear();  // instances of several studies: no one study to point at
    }
    Json body = Json::object();
    body["00081190"] = Element("UR", study_url.empty() ? Json() : Json(study_url));
    if (!failed.empty()) body["00081198"] = {{"vr", "SQ"}, {"Value", std::move(failed)}};
    if (!referenced.empty()) body["00081199"] = {{"vr", "SQ"}, {"Value", std::move(referenced)}};

    int status;
    if (!parsed.ok() || results_.empty()) {
      status = 400;  // bad syntax: not a complete multipart body of at least one part
      TRESOR_LOG(kWarn) << "STOW-RS from " << who_.Describe() << ": "
                        << (parsed.ok() ? "no parts" : parsed.message());
    } else if (stored_ == results_.size()) {
      status = 200;
    } else if (stored_ > 0) {
      status = 202;
    } else {
      status = 409;
    }
    TRESOR_LOG(kInfo) << "STOW-RS from " << who_.Describe() << ": " << stored_ << " stored, "
                      << results_.size() - stored_ << " failed";
    web::HttpResponse response = web::HttpResponse::Json(status, body.dump());
    response.content_type = "application/dicom+json";
    return response;
  }

  archive::IngestService& ingest_;
  const archive::Principal who_;
  const bool parts_default_to_dicom_;  // the body's `type` is application/dicom
  const std::string target_study_;     // of POST /studies/{study}; empty for /studies
  MultipartParser parser_;
  struct Pending {
    PartResult* result;
    std::future<Result<archive::StoreOutcome>> done;
  };
  // One per part, in order; a deque so that pending commits keep valid pointers.
  std::deque<PartResult> results_;
  std::deque<Pending> pending_;  // commits running, oldest first
  size_t stored_ = 0;
  bool in_part_ = false;
  PartState state_ = PartState::kDiscarding;
  std::string meta_;  // the current part's first bytes while its meta is being read
  std::unique_ptr<archive::Upload> upload_;
};

}  // namespace

Result<std::unique_ptr<web::BodySink>> OpenStowSink(archive::IngestService& ingest,
                                                    const web::HttpRequest& head,
                                                    const archive::Principal& who) {
  // Refusals before any body byte is read. The core checks the grant again per object.
  if (!who.May(security::kStore)) {
    return PermissionDenied(who.Describe() + " is not granted the store service");
  }
  std::string target_study;
  if (auto it = head.path_params.find("study"); it != head.path_params.end()) {
    if (!dicom::IsValidUid(it->second)) return InvalidArgument("study is not a valid UID");
    target_study = it->second;
  }
  std::string_view content_type = head.Header("Content-Type");
  if (content_type.empty()) return Unsupported("STOW-RS needs Content-Type multipart/related");
  auto media = ParseMediaType(content_type);
  if (!media.ok() || media->type != "multipart/related") {
    return Unsupported("STOW-RS needs Content-Type multipart/related");
  }
  // `type` is application/dicom (quoted or not, possibly with its own parameters); absent,
  // every part must say what it is.
  bool parts_default_to_dicom = false;
  std::string type = media->Param("type");
  if (!type.empty()) {
    auto part_type = ParseMediaType(type);
    if (!part_type.ok() || part_type->type != kDicom) {
      return Unsupported("STOW-RS stores multipart/related; type=\"application/dicom\" only");
    }
    parts_default_to_dicom = true;
  }
  std::string boundary = media->Param("boundary");
  if (boundary.empty() || boundary.size() > kMaxBoundaryBytes) {
    return InvalidArgument("multipart/related needs a boundary of 1 to 70 characters");
  }
  return std::unique_ptr<web::BodySink>(
      new StowSink(ingest, who, boundary, parts_default_to_dicom, std::move(target_study)));
}

void AddStowRoutes(web::Router& router, archive::ArchiveService& archive,
                   const DicomWebOptions& options) {
  archive::IngestService& ingest = archive.ingest();
  auto handler = [&ingest](const web::HttpRequest& head, const archive::Principal& who) {
    return OpenStowSink(ingest, head, who);
  };
  const std::string studies = std::string(kRoot) + "/studies";
  router.Add(web::Route::Streamed("POST", studies, "STOW-RS: store instances (PS3.18 10.5)",
                                  {"multipart/related"}, options.max_upload_bytes, handler));
  router.Add(web::Route::Streamed("POST", studies + "/{study}",
                                  "STOW-RS: store instances of one study (PS3.18 10.5)",
                                  {"multipart/related"}, options.max_upload_bytes, handler));
}

}  // namespace tresor::dicomweb
