#include "dicomweb/retrieve.h"

#include <algorithm>
#include <mutex>
#include <optional>

#include "core/log.h"
#include "dicom/query.h"
#include "dicom/transcode.h"
#include "dicom/uid.h"
#include "dicomweb/multipart_writer.h"
#include "dicomweb/negotiation.h"
#include "dicomweb/routes.h"
#include "web/error_mapping.h"

namespace tresor::dicomweb {
namespace {

using web::HttpRequest;
using web::HttpResponse;

// The largest object transcoded (read whole into memory) for one part.
constexpr uint64_t kMaxTranscodeBytes = uint64_t{512} << 20;

constexpr dicom::TagKey kStudyUidTag = dicom::MakeTag(0x0020, 0x000D);
constexpr dicom::TagKey kSeriesUidTag = dicom::MakeTag(0x0020, 0x000E);
constexpr dicom::TagKey kSopUidTag = dicom::MakeTag(0x0008, 0x0018);

HttpResponse NotFoundResponse() { return HttpResponse::Error(404, "not found"); }

HttpResponse NotAcceptable() {
  return HttpResponse::Error(
      406, "none of the accepted media types and transfer syntaxes can be provided");
}

// The response for a failed archive call. Not found is always the same 404, whatever
// the cause (unknown or outside the caller's scope); 5xx causes are logged, not sent.
HttpResponse Failure(const Status& status, const char* what) {
  if (status.code() == Code::kNotFound) return NotFoundResponse();
  if (web::HttpStatus(status.code()) >= 500) {
    TRESOR_LOG(kError) << "dicomweb " << what << " failed: " << status.message();
  }
  return web::ErrorFromStatus(status);
}

// The path's value of {name}, or empty.
std::string PathParam(const HttpRequest& request, const char* name) {
  auto it = request.path_params.find(name);
  return it == request.path_params.end() ? std::string() : it->second;
}

void AddUidCondition(dicom::Query& query, dicom::TagKey tag, const std::string& uid) {
  if (uid.empty()) return;
  dicom::Condition condition;
  condition.attribute = dicom::FindQueryAttribute(tag);
  condition.kind = dicom::Condition::Kind::kSingle;
  condition.value = uid;
  query.conditions.push_back(std::move(condition));
}

// The UIDs a retrieve path names (series and instance may be empty).
struct Target {
  std::string study, series, instance;
};

// Reads the target from the path; false (and a 400 in *refusal) for a malformed UID.
bool ReadTarget(const HttpRequest& request, Target* target, HttpResponse* refusal) {
  target->study = PathParam(request, "study");
  target->series = PathParam(request, "series");
  target->instance = PathParam(request, "instance");
  for (const std::string* uid : {&target->study, &target->series, &target->instance}) {
    if (uid != &target->study && uid->empty()) continue;
    if (!dicom::IsValidUid(*uid)) {
      *refusal = HttpResponse::Error(400, "the path holds an invalid UID");
      return false;
    }
  }
  return true;
}

// The instances a target names within who's scope (the get grant checked by the core).
Result<std::vector<archive::InstanceInfo>> Resolve(archive::ArchiveService& archive,
                                                   const archive::Principal& who,
                                                   const Target& target) {
  dicom::Query query;
  query.level = dicom::QueryLevel::kImage;
  AddUidCondition(query, kStudyUidTag, target.study);
  AddUidCondition(query, kSeriesUidTag, target.series);
  AddUidCondition(query, kSopUidTag, target.instance);
  return archive.catalog().ResolveRetrieve(who, std::move(query), security::kGet);
}

// Transcoding failures the client caused by what it asked for: 406.
bool IsNotAcceptable(const Status& status) {
  return status.code() == Code::kUnsupported || status.code() == Code::kResourceExhausted;
}

// The parts of an instance retrieval, opened one at a time as the transport reads.
// Thread-safety: the transport reads a body from one thread at a time; the mutex only
// guards against a transport that hands reads to different threads in turn.
class InstanceParts {
 public:
  InstanceParts(archive::CatalogService& catalog, std::vector<archive::InstanceInfo> instances,
                std::vector<Rendition> renditions)
      : catalog_(catalog), instances_(std::move(instances)), renditions_(std::move(renditions)) {}

  // Opens part `i` (object `i` in its rendition).
  Result<MultipartPart> Open(size_t i) {
    const archive::InstanceInfo& info = instances_[i];
    const Rendition& rendition = renditions_[i];
    TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<archive::StoredObject> object,
                            catalog_.OpenResolved(info));
    if (object->size() != info.blob_size) {
      return IoError("stored object " + info.sop_instance_uid + " has an unexpected size");
    }
    MultipartPart part;
    part.content_type = rendition.ContentType();
    if (rendition.as_stored) {
      part.length = info.blob_size;
      part.body = std::make_unique<ObjectBodySource>(std::move(object), 0, info.blob_size);
      return part;
    }
    TRESOR_ASSIGN_OR_RETURN(std::string whole, ReadWholeObject(*object, kMaxTranscodeBytes));
    TRESOR_ASSIGN_OR_RETURN(std::string converted,
                            dicom::TranscodePart10(whole, rendition.transfer_syntax));
    part.length = converted.size();
    part.body = std::make_unique<StringBodySource>(std::move(converted));
    return part;
  }

  // The next part for MultipartWriter; the first may have been opened in advance.
  Result<std::optional<MultipartPart>> Next() {
    std::lock_guard<std::mutex> lock(mu_);
    if (prepared_) {
      std::optional<MultipartPart> part = std::move(prepared_);
      prepared_.reset();
      ++next_;
      return part;
    }
    if (next_ >= instances_.size()) return std::optional<MultipartPart>();
    size_t i = next_++;
    auto part = Open(i);
    if (!part.ok()) {
      TRESOR_LOG(kError) << "dicomweb retrieve: instance " << instances_[i].sop_instance_uid
                         << " failed mid-response: " << part.status().message();
      return part.status();
    }
    return std::optional<MultipartPart>(std::move(part).value());
  }

  void Prepare(MultipartPart part) { prepared_ = std::move(part); }

  // The exact body size when every part goes out as stored; nullopt otherwise.
  std::optional<uint64_t> BodyLength(const std::string& boundary) const {
    uint64_t total = MultipartWriter::ClosingBytes(boundary);
    for (size_t i = 0; i < instances_.size(); ++i) {
      if (!renditions_[i].as_stored) return std::nullopt;
      total += MultipartWriter::FramingBytes(boundary, renditions_[i].ContentType(),
                                             instances_[i].blob_size) +
               instances_[i].blob_size;
    }
    return total;
  }

 private:
  archive::CatalogService& catalog_;
  const std::vector<archive::InstanceInfo> instances_;
  const std::vector<Rendition> renditions_;
  std::mutex mu_;
  std::optional<MultipartPart> prepared_;
  size_t next_ = 0;
};

// GET /studies/{study}[/series/{series}[/instances/{instance}]].
HttpResponse RetrieveInstances(archive::ArchiveService& archive, const HttpRequest& request,
                               const archive::Principal& who) {
  Target target;
  HttpResponse refusal;
  if (!ReadTarget(request, &target, &refusal)) return refusal;
  auto ranges = ParseAccept(request.Header("Accept"));
  if (!ranges.ok()) return HttpResponse::Error(400, ranges.status().message());
  bool single = !target.instance.empty();
  auto acceptable = AcceptableRenditions(*ranges, Resource::kInstances, single);
  if (!acceptable.ok()) return HttpResponse::Error(400, acceptable.status().message());
  if (acceptable->empty()) return NotAcceptable();

  auto found = Resolve(archive, who, target);
  if (!found.ok()) return Failure(found.status(), "retrieve");
  if (found->empty()) return NotFoundResponse();
  std::vector<Rendition> renditions;
  renditions.reserve(found->size());
  for (const archive::InstanceInfo& info : *found) {
    std::optional<Rendition> r =
        ChooseRendition(*acceptable, info.transfer_syntax_uid, Resource::kInstances);
    if (!r) return NotAcceptable();
    renditions.push_back(std::move(*r));
  }
  bool multipart = renditions.front().multipart;
  auto parts = std::make_shared<InstanceParts>(archive.catalog(), std::move(found).value(),
                                               renditions);
  // The first part is opened (and transcoded) before the status line, so that the common
  // single-object case still gets a true 406 or 404.
  auto first = parts->Open(0);
  if (!first.ok()) {
    if (IsNotAcceptable(first.status())) return NotAcceptable();
    return Failure(first.status(), "retrieve");
  }
  HttpResponse response;
  if (!multipart) {
    response.content_type = first->content_type;
    response.stream_length = first->length.value_or(HttpResponse::kUnknownLength);
    response.stream = std::shared_ptr<web::BodySource>(std::move(first->body));
    return response;
  }
  std::string boundary = MultipartWriter::NewBoundary();
  std::optional<uint64_t> length = parts->BodyLength(boundary);
  parts->Prepare(std::move(first).value());
  response.content_type = "multipart/related; type=\"application/dicom\"; boundary=" + boundary;
  response.stream = std::make_shared<MultipartWriter>(boundary, [parts] { return parts->Next(); });
  response.stream_length = length.value_or(HttpResponse::kUnknownLength);
  return response;
}

}  // namespace

Result<std::vector<uint32_t>> ParseFrameList(std::string_view text, size_t max_frames) {
  std::vector<uint32_t> frames;
  std::string normalized;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && text[i + 1] == '2' &&
        (text[i + 2] == 'C' || text[i + 2] == 'c')) {
      normalized.push_back(',');
      i += 2;
    } else {
      normalized.push_back(text[i]);
    }
  }
  size_t start = 0;
  while (true) {
    size_t end = std::min(normalized.find(',', start), normalized.size());
    std::string_view item = std::string_view(normalized).substr(start, end - start);
    if (item.empty() || item.size() > 9) return InvalidArgument("a frame number is missing or too long");
    uint32_t value = 0;
    for (char c : item) {
      if (c < '0' || c > '9') return InvalidArgument("frame numbers are decimal digits");
      value = value * 10 + static_cast<uint32_t>(c - '0');
    }
    if (value == 0) return InvalidArgument("frame numbers start at 1");
    if (frames.size() == max_frames) return InvalidArgument("too many frames in one request");
    frames.push_back(value);
    if (end == normalized.size()) break;
    start = end + 1;
  }
  return frames;
}

Result<size_t> ObjectBodySource::Read(char* out, size_t n) {
  if (pos_ >= end_) return size_t{0};
  size_t want = static_cast<size_t>(std::min<uint64_t>(n, end_ - pos_));
  TRESOR_ASSIGN_OR_RETURN(size_t got, object_->ReadAt(out, want, pos_));
  if (got == 0) return IoError("stored object ends early");
  pos_ += got;
  return got;
}

Result<std::string> ReadWholeObject(archive::StoredObject& object, uint64_t max_bytes) {
  if (object.size() > max_bytes) return ResourceExhausted("object too large to convert");
  std::string whole(object.size(), '\0');
  for (uint64_t off = 0; off < whole.size();) {
    TRESOR_ASSIGN_OR_RETURN(size_t got,
                            object.ReadAt(whole.data() + off, whole.size() - off, off));
    if (got == 0) return IoError("stored object shorter than its size");
    off += got;
  }
  return whole;
}

void AddRetrieveRoutes(web::Router& router, archive::ArchiveService& archive,
                       const DicomWebOptions&) {
  const std::string root = kRoot;
  auto instances = [&archive](const HttpRequest& request, const archive::Principal& who) {
    return RetrieveInstances(archive, request, who);
  };
  router.Add(web::Route::Authenticated("GET", root + "/studies/{study}",
                                       "WADO-RS: a study's instances (multipart/related)",
                                       instances));
  router.Add(web::Route::Authenticated("GET", root + "/studies/{study}/series/{series}",
                                       "WADO-RS: a series' instances (multipart/related)",
                                       instances));
  router.Add(web::Route::Authenticated(
      "GET", root + "/studies/{study}/series/{series}/instances/{instance}",
      "WADO-RS: one instance (multipart/related or application/dicom)", instances));
}

}  // namespace tresor::dicomweb
