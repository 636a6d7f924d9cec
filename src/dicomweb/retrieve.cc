#include "dicomweb/retrieve.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "core/log.h"
#include "dicom/query.h"
#include "dicom/transcode.h"
#include "dicom/transfer_syntax.h"
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

// Transcoding failures the client caused by what it asked for: 406 (a busy server's
// TryAgainLater, with its Retry-After, is not one of them).
bool IsNotAcceptable(const Status& status) {
  return status.code() == Code::kUnsupported ||
         (status.code() == Code::kResourceExhausted && status.retry_after_seconds() == 0);
}

// The response for a part that could not be opened before the status line.
HttpResponse OpenFailure(const Status& status, const char* what) {
  if (IsNotAcceptable(status)) return NotAcceptable();
  return Failure(status, what);
}

// Whole-object conversions (transcoding an instance, decoding frames from a whole object)
// hold the object, its decoded pixels and the result in memory: at most kMaxConversions
// run at once, process-wide, so concurrent requests cannot exhaust memory. Thread-safe.
constexpr int kMaxConversions = 4;
// How long a later part of a response waits for a slot before the response is cut.
constexpr auto kConversionWait = std::chrono::seconds(60);

class ConversionSlot {
 public:
  // Takes a slot: waits up to `wait` for one (zero: only if one is free now).
  // TryAgainLater (429 with Retry-After) if none became free.
  static Result<std::unique_ptr<ConversionSlot>> Take(std::chrono::milliseconds wait) {
    State& s = state();
    std::unique_lock<std::mutex> lock(s.mu);
    if (!s.cv.wait_for(lock, wait, [&] { return s.busy < kMaxConversions; })) {
      return TryAgainLater("the server is busy converting other objects", 1);
    }
    ++s.busy;
    return std::unique_ptr<ConversionSlot>(new ConversionSlot());
  }
  ~ConversionSlot() {
    State& s = state();
    {
      std::lock_guard<std::mutex> lock(s.mu);
      --s.busy;
    }
    s.cv.notify_one();
  }
  ConversionSlot(const ConversionSlot&) = delete;
  ConversionSlot& operator=(const ConversionSlot&) = delete;

 private:
  ConversionSlot() = default;
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    int busy = 0;
  };
  static State& state() {
    static State s;
    return s;
  }
};

// The parts of an instance retrieval, opened one at a time as the transport reads.
// Thread-safety: the transport reads a body from one thread at a time; the mutex only
// guards against a transport that hands reads to different threads in turn.
// The next part of a multipart response whose part 0 may have been opened ahead (before
// the status line, so that it can still fail with a status): hands out `prepared` first,
// then opens parts `next`..`count`-1 in order with `open(i)`. A part failing to open
// mid-response is logged with `what(i)` and ends the body with its error.
template <typename Open, typename What>
Result<std::optional<MultipartPart>> NextPart(std::optional<MultipartPart>& prepared,
                                              size_t& next, size_t count, Open open, What what) {
  if (prepared) {
    std::optional<MultipartPart> part = std::move(prepared);
    prepared.reset();
    ++next;
    return part;
  }
  if (next >= count) return std::optional<MultipartPart>();
  size_t i = next++;
  Result<MultipartPart> part = open(i);
  if (!part.ok()) {
    TRESOR_LOG(kError) << what(i) << " failed mid-response: " << part.status().message();
    return part.status();
  }
  return std::optional<MultipartPart>(std::move(part).value());
}

class InstanceParts {
 public:
  InstanceParts(archive::CatalogService& catalog, std::vector<archive::InstanceInfo> instances,
                std::vector<Rendition> renditions)
      : catalog_(catalog), instances_(std::move(instances)), renditions_(std::move(renditions)) {}

  // Opens part `i` (object `i` in its rendition). A conversion waits up to `wait` for a
  // conversion slot.
  Result<MultipartPart> Open(size_t i, std::chrono::milliseconds wait) {
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
    TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<ConversionSlot> slot, ConversionSlot::Take(wait));
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
    return NextPart(
        prepared_, next_, instances_.size(), [&](size_t i) { return Open(i, kConversionWait); },
        [&](size_t i) { return "dicomweb retrieve: instance " + instances_[i].sop_instance_uid; });
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
  if (!found.ok() && found.status().code() == Code::kResourceExhausted) {
    // Not a rate limit (429): the study is larger than one retrieve may be.
    return HttpResponse::Error(400, "too many instances for one retrieve; retrieve its series");
  }
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
  auto parts =
      std::make_shared<InstanceParts>(archive.catalog(), std::move(found).value(), renditions);
  // The first part is opened (and transcoded) before the status line, so that the common
  // single-object case still gets a true 406 or 404.
  auto first = parts->Open(0, std::chrono::milliseconds(0));
  if (!first.ok()) return OpenFailure(first.status(), "retrieve");
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

// --- Frames --------------------------------------------------------------------------------

// The ranges of a stored object, in order; the object is shared by the frames of one
// response (read by one thread at a time).
class RangesBodySource : public web::BodySource {
 public:
  RangesBodySource(std::shared_ptr<archive::StoredObject> object,
                   std::vector<archive::ByteRange> ranges)
      : object_(std::move(object)), ranges_(std::move(ranges)) {}

  Result<size_t> Read(char* out, size_t n) override {
    while (index_ < ranges_.size() && done_ == ranges_[index_].length) {
      ++index_;
      done_ = 0;
    }
    if (index_ == ranges_.size()) return size_t{0};
    const archive::ByteRange& range = ranges_[index_];
    size_t want = static_cast<size_t>(std::min<uint64_t>(n, range.length - done_));
    TRESOR_ASSIGN_OR_RETURN(size_t got, object_->ReadAt(out, want, range.offset + done_));
    if (got == 0) return IoError("stored object ends inside a frame");
    done_ += got;
    return got;
  }

 private:
  std::shared_ptr<archive::StoredObject> object_;
  const std::vector<archive::ByteRange> ranges_;
  size_t index_ = 0;
  uint64_t done_ = 0;
};

uint64_t TotalLength(const std::vector<archive::ByteRange>& ranges) {
  uint64_t total = 0;
  for (const archive::ByteRange& r : ranges) total += r.length;
  return total;
}

// Reads `length` bytes at `offset` (one read, repeated only if the store returns less).
Result<std::string> ReadRange(archive::StoredObject& object, uint64_t offset, uint64_t length) {
  if (length > kMaxTranscodeBytes) return ResourceExhausted("range too large to decode");
  std::string out(length, '\0');
  for (uint64_t done = 0; done < length;) {
    TRESOR_ASSIGN_OR_RETURN(size_t got,
                            object.ReadAt(out.data() + done, length - done, offset + done));
    if (got == 0) return IoError("stored object ends inside a frame");
    done += got;
  }
  return out;
}

bool IsNativeLittleEndian(std::string_view ts) {
  return ts == dicom::kImplicitVRLittleEndian || ts == dicom::kExplicitVRLittleEndian;
}

// The parts of a frames retrieval: one per requested frame, in the order asked.
class FrameParts {
 public:
  FrameParts(archive::FrameTable table, std::vector<uint32_t> numbers, Rendition rendition)
      : object_(table.object),
        table_(std::move(table)),
        numbers_(std::move(numbers)),
        rendition_(std::move(rendition)) {}

  // True when frames go out as bytes read from the store, with no codec and no swap.
  bool Raw() const {
    return rendition_.as_stored ||
           (!table_.encapsulated && IsNativeLittleEndian(table_.transfer_syntax_uid));
  }

  Result<MultipartPart> Open(size_t i) {
    const std::vector<archive::ByteRange>& ranges = table_.frames[numbers_[i] - 1];
    if (ranges.empty() || table_.frames.front().empty()) return Internal("a frame without bytes");
    MultipartPart part;
    part.content_type = rendition_.ContentType();
    if (Raw()) {
      // Streamed from the store into the connection's buffer piece by piece: no copy of
      // the frame in memory, each stored segment read (and decrypted) once.
      part.length = TotalLength(ranges);
      part.body = std::make_unique<RangesBodySource>(object_, ranges);
      return part;
    }
    std::string decoded;
    if (!table_.encapsulated) {
      // Native big endian: the frame's bytes with each sample's bytes reversed.
      if (ranges.size() != 1) return Internal("a native frame is one range");
      TRESOR_ASSIGN_OR_RETURN(decoded, ReadRange(*object_, ranges[0].offset, ranges[0].length));
      size_t width = (table_.bits_allocated + 7) / 8;
      if (table_.transfer_syntax_uid != dicom::kExplicitVRBigEndian || width < 2) {
        return Unsupported("no conversion for this native syntax");
      }
      for (size_t at = 0; at + width <= decoded.size(); at += width) {
        std::reverse(decoded.begin() + at, decoded.begin() + at + width);
      }
    } else {
      if (header_.empty()) {
        // Everything before the first fragment: the attributes a decoder needs.
        uint64_t end = table_.frames.front().front().offset;
        TRESOR_ASSIGN_OR_RETURN(header_, ReadRange(*object_, 0, end));
      }
      std::vector<std::string> fragments;
      for (const archive::ByteRange& r : ranges) {
        TRESOR_ASSIGN_OR_RETURN(std::string fragment, ReadRange(*object_, r.offset, r.length));
        fragments.push_back(std::move(fragment));
      }
      TRESOR_ASSIGN_OR_RETURN(
          decoded, dicom::DecodeFrameFragments(header_, table_.transfer_syntax_uid, fragments));
    }
    part.length = decoded.size();
    part.body = std::make_unique<StringBodySource>(std::move(decoded));
    return part;
  }

  Result<std::optional<MultipartPart>> Next() {
    std::lock_guard<std::mutex> lock(mu_);
    return NextPart(
        prepared_, next_, numbers_.size(), [&](size_t i) { return Open(i); },
        [&](size_t i) { return "dicomweb frames: frame " + std::to_string(numbers_[i]); });
  }

  void Prepare(MultipartPart part) { prepared_ = std::move(part); }

  std::optional<uint64_t> BodyLength(const std::string& boundary) const {
    if (!Raw()) return std::nullopt;
    uint64_t total = MultipartWriter::ClosingBytes(boundary);
    for (uint32_t n : numbers_) {
      uint64_t length = TotalLength(table_.frames[n - 1]);
      total += MultipartWriter::FramingBytes(boundary, rendition_.ContentType(), length) + length;
    }
    return total;
  }

 private:
  std::shared_ptr<archive::StoredObject> object_;
  const archive::FrameTable table_;
  const std::vector<uint32_t> numbers_;
  const Rendition rendition_;
  std::mutex mu_;
  std::string header_;  // the object's bytes before the first fragment, once read
  std::optional<MultipartPart> prepared_;
  size_t next_ = 0;
};

// The response for a body of parts already in memory (`rendition` for each).
HttpResponse BufferedParts(std::vector<std::string> bodies, const Rendition& rendition) {
  if (!rendition.multipart) {
    HttpResponse response;
    response.content_type = rendition.ContentType();
    response.stream_length = bodies.front().size();
    response.stream = std::make_shared<StringBodySource>(std::move(bodies.front()));
    return response;
  }
  std::string boundary = MultipartWriter::NewBoundary();
  uint64_t length = MultipartWriter::ClosingBytes(boundary);
  for (const std::string& body : bodies) {
    length +=
        MultipartWriter::FramingBytes(boundary, rendition.ContentType(), body.size()) + body.size();
  }
  auto state = std::make_shared<std::pair<std::vector<std::string>, size_t>>(std::move(bodies), 0);
  HttpResponse response;
  response.content_type =
      "multipart/related; type=\"" + rendition.part_type + "\"; boundary=" + boundary;
  response.stream_length = length;
  std::string content_type = rendition.ContentType();
  response.stream = std::make_shared<MultipartWriter>(
      boundary, [state, content_type]() -> Result<std::optional<MultipartPart>> {
        if (state->second == state->first.size()) return std::optional<MultipartPart>();
        MultipartPart part;
        part.content_type = content_type;
        part.length = state->first[state->second].size();
        part.body = std::make_unique<StringBodySource>(std::move(state->first[state->second++]));
        return std::optional<MultipartPart>(std::move(part));
      });
  return response;
}

// Frames whose stored bytes cannot be addressed (a deflated object, or encapsulated data
// that does not tell its frames apart): the object is read whole and DCMTK decodes the
// requested frames into Explicit VR Little Endian, the only rendition offered (a client
// accepting "*" accepts it too).
HttpResponse FramesFromWholeObject(archive::StoredObject& object,
                                   const std::vector<uint32_t>& numbers,
                                   const std::vector<Acceptable>& acceptable) {
  std::optional<Rendition> rendition =
      ChooseRendition(acceptable, dicom::kExplicitVRLittleEndian, Resource::kFrames);
  if (!rendition) return NotAcceptable();
  rendition->as_stored = false;
  auto slot = ConversionSlot::Take(std::chrono::milliseconds(0));
  if (!slot.ok()) return Failure(slot.status(), "frames");
  auto whole = ReadWholeObject(object, kMaxTranscodeBytes);
  if (!whole.ok()) {
    if (IsNotAcceptable(whole.status())) return NotAcceptable();
    return Failure(whole.status(), "frames");
  }
  std::vector<std::string> bodies;
  uint64_t total = 0;
  for (uint32_t n : numbers) {
    auto frame = dicom::DecodeFrameOfFile(*whole, n - 1);
    if (!frame.ok()) {
      if (frame.status().code() == Code::kNotFound)
        return HttpResponse::Error(404, "no such frame");
      if (IsNotAcceptable(frame.status())) return NotAcceptable();
      return Failure(frame.status(), "frames");
    }
    total += frame->size();
    if (total > kMaxTranscodeBytes) return NotAcceptable();
    bodies.push_back(std::move(frame).value());
  }
  return BufferedParts(std::move(bodies), *rendition);
}

// GET /studies/{study}/series/{series}/instances/{instance}/frames/{frames}.
HttpResponse RetrieveFrames(archive::ArchiveService& archive, const HttpRequest& request,
                            const archive::Principal& who) {
  Target target;
  HttpResponse refusal;
  if (!ReadTarget(request, &target, &refusal)) return refusal;
  auto numbers = ParseFrameList(PathParam(request, "frames"));
  if (!numbers.ok()) return HttpResponse::Error(400, numbers.status().message());
  auto ranges = ParseAccept(request.Header("Accept"));
  if (!ranges.ok()) return HttpResponse::Error(400, ranges.status().message());
  auto acceptable = AcceptableRenditions(*ranges, Resource::kFrames, numbers->size() == 1);
  if (!acceptable.ok()) return HttpResponse::Error(400, acceptable.status().message());
  if (acceptable->empty()) return NotAcceptable();

  // One index lookup, one access record, the object opened: all in Frames.
  auto table = archive.catalog().Frames(who, target.study, target.series, target.instance);
  if (!table.ok()) return Failure(table.status(), "frames");
  if (table->deflated || (table->encapsulated && table->frames.empty())) {
    return FramesFromWholeObject(*table->object, *numbers, *acceptable);
  }
  for (uint32_t n : *numbers) {
    if (n > table->frames.size()) return HttpResponse::Error(404, "no such frame");
  }
  std::optional<Rendition> rendition =
      ChooseRendition(*acceptable, table->transfer_syntax_uid, Resource::kFrames);
  if (!rendition) return NotAcceptable();
  bool multipart = rendition->multipart;
  std::string part_type = rendition->part_type;
  auto parts = std::make_shared<FrameParts>(std::move(table).value(), std::move(numbers).value(),
                                            std::move(*rendition));
  auto first = parts->Open(0);
  if (!first.ok()) return OpenFailure(first.status(), "frames");
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
  response.content_type = "multipart/related; type=\"" + part_type + "\"; boundary=" + boundary;
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
    if (item.empty() || item.size() > 9)
      return InvalidArgument("a frame number is missing or too long");
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
    TRESOR_ASSIGN_OR_RETURN(size_t got, object.ReadAt(whole.data() + off, whole.size() - off, off));
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
  router.Add(web::Route::Authenticated(
      "GET", root + "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}",
      "WADO-RS: frames of an instance (multipart/related octet-stream or compressed types)",
      [&archive](const HttpRequest& request, const archive::Principal& who) {
        return RetrieveFrames(archive, request, who);
      }));
}

}  // namespace tresor::dicomweb
