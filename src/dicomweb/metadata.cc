// WADO-RS metadata and bulk data (PS3.18 10.4.1.1.2, 10.4.1.1.5).
//
// Metadata is answered from the documents stored at store time (archive::CatalogService::
// Metadata: one index query, no blob opened). Each stored document names its bulk data
// relative to its series' metadata URL ("instances/{sop}/bulk/{tag path}"); the study and
// instance levels rewrite that prefix so that RFC 3986 resolution against the request URL
// gives the bulk data route of the instance at every level:
//   /studies/S/metadata                           series/SE/instances/I/bulk/7FE00010
//   /studies/S/series/SE/metadata                 instances/I/bulk/7FE00010
//   /studies/S/series/SE/instances/I/metadata     bulk/7FE00010
// (OHIF resolves relative BulkDataURIs against the series by default, which is the series
// level's form.) Bulk data is multipart/related; type="application/octet-stream" with one
// part (the value), or one part per frame for encapsulated Pixel Data.
#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "core/random.h"
#include "dicomweb/negotiation.h"
#include "dicomweb/routes.h"
#include "web/error_mapping.h"

namespace tresor::dicomweb {
namespace {

using web::HttpRequest;
using web::HttpResponse;

constexpr char kDicomJson[] = "application/dicom+json";
constexpr char kOctetStream[] = "application/octet-stream";
constexpr char kBulkMarker[] = "\"BulkDataURI\":\"";

HttpResponse Failure(const Status& status, const char* what) {
  if (web::HttpStatus(status.code()) >= 500) {
    TRESOR_LOG(kError) << what << ": " << status.ToString();
  }
  return web::ErrorFromStatus(status);
}

// True if the Accept header allows a JSON answer (406 otherwise).
Result<bool> AcceptsJson(const HttpRequest& request) {
  TRESOR_ASSIGN_OR_RETURN(std::vector<MediaRange> ranges, ParseAccept(request.Header("Accept")));
  for (const MediaRange& r : ranges) {
    if (r.q <= 0) continue;
    if (Covers(r.media.type, kDicomJson) || Covers(r.media.type, "application/json")) return true;
  }
  return false;
}

// Appends `json` with every BulkDataURI prefix `from` replaced by `to`.
void AppendRewritten(std::string* out, const std::string& json, const std::string& from,
                     const std::string& to) {
  const std::string marker = kBulkMarker + from;
  size_t start = 0;
  while (true) {
    size_t at = json.find(marker, start);
    if (at == std::string::npos) break;
    out->append(json, start, at - start);
    *out += kBulkMarker;
    *out += to;
    start = at + marker.size();
  }
  out->append(json, start, std::string::npos);
}

enum class Level { kStudy, kSeries, kInstance };

HttpResponse Metadata(archive::ArchiveService& archive, const HttpRequest& request,
                      const archive::Principal& who, Level level) {
  auto accepted = AcceptsJson(request);
  if (!accepted.ok()) return HttpResponse::Error(400, "malformed Accept header");
  if (!*accepted) return HttpResponse::Error(406, "metadata is available as application/dicom+json");
  auto param = [&](const char* name) {
    auto it = request.path_params.find(name);
    return it == request.path_params.end() ? std::string() : it->second;
  };
  const std::string study = param("study");
  const std::string series = level == Level::kStudy ? std::string() : param("series");
  const std::string instance = level == Level::kInstance ? param("instance") : std::string();
  auto found = archive.catalog().Metadata(who, study, series, instance);
  if (!found.ok()) return Failure(found.status(), "metadata");
  size_t total = 2;
  for (const archive::InstanceMetadata& m : *found) total += m.json.size() + 1;
  std::string body;
  body.reserve(total + found->size() * 64);
  body.push_back('[');
  bool first = true;
  for (const archive::InstanceMetadata& m : *found) {
    if (!first) body.push_back(',');
    first = false;
    switch (level) {
      case Level::kSeries:
        body += m.json;
        break;
      case Level::kStudy:
        AppendRewritten(&body, m.json, "instances/",
                        "series/" + m.series_instance_uid + "/instances/");
        break;
      case Level::kInstance:
        AppendRewritten(&body, m.json, "instances/" + m.sop_instance_uid + "/", "");
        break;
    }
  }
  body.push_back(']');
  HttpResponse response;
  response.content_type = kDicomJson;
  response.body = std::move(body);
  return response;
}

// A multipart body of literal pieces and byte ranges of a stored object, read on demand.
class BulkSource : public web::BodySource {
 public:
  struct Piece {
    std::string literal;         // sent first
    archive::ByteRange range;    // then these bytes of the object (length 0: none)
  };
  BulkSource(std::unique_ptr<archive::StoredObject> object, std::vector<Piece> pieces)
      : object_(std::move(object)), pieces_(std::move(pieces)) {}

  uint64_t Length() const {
    uint64_t n = 0;
    for (const Piece& p : pieces_) n += p.literal.size() + p.range.length;
    return n;
  }

  Result<size_t> Read(char* out, size_t n) override {
    size_t done = 0;
    while (done < n && index_ < pieces_.size()) {
      const Piece& p = pieces_[index_];
      if (offset_ < p.literal.size()) {
        size_t take = std::min(n - done, p.literal.size() - offset_);
        std::copy_n(p.literal.data() + offset_, take, out + done);
        done += take;
        offset_ += take;
        continue;
      }
      uint64_t in_range = offset_ - p.literal.size();
      if (in_range < p.range.length) {
        size_t take = static_cast<size_t>(std::min<uint64_t>(n - done, p.range.length - in_range));
        TRESOR_ASSIGN_OR_RETURN(size_t got,
                                object_->ReadAt(out + done, take, p.range.offset + in_range));
        if (got == 0) return IoError("stored object ends before its bulk data value");
        done += got;
        offset_ += got;
        continue;
      }
      ++index_;
      offset_ = 0;
    }
    return done;
  }

 private:
  std::unique_ptr<archive::StoredObject> object_;
  const std::vector<Piece> pieces_;
  size_t index_ = 0;
  uint64_t offset_ = 0;
};

// How the bulk data goes out: multipart/related (the standard's) or, when the client
// asks for exactly application/octet-stream, the bare value of a one-part answer.
enum class BulkFraming { kMultipart, kSingle, kNone };

BulkFraming NegotiateBulk(const HttpRequest& request, bool* malformed) {
  auto ranges = ParseAccept(request.Header("Accept"));
  if (!ranges.ok()) {
    *malformed = true;
    return BulkFraming::kNone;
  }
  for (const MediaRange& r : *ranges) {
    if (r.q <= 0) continue;
    const std::string& t = r.media.type;
    if (t == "multipart/related") {
      std::string type = r.media.Param("type");
      std::string inner = type.empty() ? kOctetStream : web::MediaType(type);
      if (inner == kOctetStream || inner == "*/*" || inner == "application/*") {
        return BulkFraming::kMultipart;
      }
      continue;
    }
    if (t == kOctetStream) return BulkFraming::kSingle;
    if (Covers(t, "multipart/related")) return BulkFraming::kMultipart;
  }
  return BulkFraming::kNone;
}

HttpResponse Bulk(archive::ArchiveService& archive, const HttpRequest& request,
                  const archive::Principal& who) {
  bool malformed = false;
  BulkFraming framing = NegotiateBulk(request, &malformed);
  if (malformed) return HttpResponse::Error(400, "malformed Accept header");
  if (framing == BulkFraming::kNone) {
    return HttpResponse::Error(
        406, "bulk data is available as multipart/related; type=\"application/octet-stream\"");
  }
  auto param = [&](const char* name) {
    auto it = request.path_params.find(name);
    return it == request.path_params.end() ? std::string() : it->second;
  };
  auto bulk = archive.catalog().OpenBulkData(who, param("study"), param("series"),
                                             param("instance"), param("path"));
  if (!bulk.ok()) return Failure(bulk.status(), "bulk data");
  std::string part_type = kOctetStream;
  if (bulk->encapsulated) part_type += "; transfer-syntax=" + bulk->transfer_syntax_uid;
  HttpResponse response;
  std::vector<BulkSource::Piece> pieces;
  if (framing == BulkFraming::kSingle && bulk->parts.size() == 1) {
    for (const archive::ByteRange& r : bulk->parts[0]) pieces.push_back({"", r});
    response.content_type = part_type;
  } else {
    const std::string boundary = "tresor-" + RandomHex(12);
    for (const auto& part : bulk->parts) {
      std::string head = "--" + boundary + "\r\nContent-Type: " + part_type + "\r\n\r\n";
      if (!pieces.empty()) head = "\r\n" + head;
      pieces.push_back({std::move(head), {}});
      for (const archive::ByteRange& r : part) pieces.push_back({"", r});
    }
    pieces.push_back({(pieces.empty() ? "--" : "\r\n--") + boundary + "--\r\n", {}});
    response.content_type = "multipart/related; type=\"application/octet-stream\"; boundary=" +
                            boundary;
  }
  auto source = std::make_shared<BulkSource>(std::move(bulk->object), std::move(pieces));
  response.stream_length = source->Length();
  response.stream = std::move(source);
  return response;
}

}  // namespace

void AddMetadataRoutes(web::Router& router, archive::ArchiveService& archive,
                       const DicomWebOptions&) {
  const std::string root = kRoot;
  router.Add(web::Route::Authenticated(
      "GET", root + "/studies/{study}/metadata",
      "WADO-RS: metadata of every instance of a study (application/dicom+json)",
      [&archive](const HttpRequest& request, const archive::Principal& who) {
        return Metadata(archive, request, who, Level::kStudy);
      }));
  router.Add(web::Route::Authenticated(
      "GET", root + "/studies/{study}/series/{series}/metadata",
      "WADO-RS: metadata of every instance of a series, stored at store time",
      [&archive](const HttpRequest& request, const archive::Principal& who) {
        return Metadata(archive, request, who, Level::kSeries);
      }));
  router.Add(web::Route::Authenticated(
      "GET", root + "/studies/{study}/series/{series}/instances/{instance}/metadata",
      "WADO-RS: metadata of one instance",
      [&archive](const HttpRequest& request, const archive::Principal& who) {
        return Metadata(archive, request, who, Level::kInstance);
      }));
  router.Add(web::Route::Authenticated(
      "GET", root + "/studies/{study}/series/{series}/instances/{instance}/bulk/{path}",
      "WADO-RS: one bulk data value (a BulkDataURI of the metadata; path: tag, or "
      "sequence.item.tag...), multipart/related; type=\"application/octet-stream\"",
      [&archive](const HttpRequest& request, const archive::Principal& who) {
        return Bulk(archive, request, who);
      }));
}

}  // namespace tresor::dicomweb
