// WADO-URI (PS3.18 9): GET /dicom-web/wado?requestType=WADO&studyUID=&seriesUID=&objectUID=
// with contentType application/dicom (the Part 10 file, in transferSyntax: transcoded
// with dicom/transcode unless stored so) or image/jpeg, image/png (one frame rendered, as
// the rendered resources do: frameNumber, windowCenter/windowWidth, rows/columns,
// imageQuality).
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dicom/transcode.h"
#include "dicom/uid.h"
#include "dicomweb/rendering.h"
#include "dicomweb/retrieve.h"
#include "dicomweb/routes.h"

namespace tresor::dicomweb {
namespace {

constexpr uint32_t kMaxSide = 4096;
constexpr char kExplicitLittle[] = "1.2.840.10008.1.2.1";
// The largest stored object WADO-URI transcodes in memory.
constexpr uint64_t kMaxTranscodeBytes = uint64_t{512} << 20;

Result<uint32_t> ParseCount(const std::string& text, uint32_t low, uint32_t high,
                            const char* what) {
  uint32_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n < low ||
      n > high) {
    return InvalidArgument(std::string(what) + " must be an integer from " +
                           std::to_string(low) + " to " + std::to_string(high));
  }
  return n;
}

Result<double> ParseDecimal(const std::string& text, const char* what) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      !std::isfinite(v)) {
    return InvalidArgument(std::string(what) + " must be a decimal number");
  }
  return v;
}

enum class Wanted { kDicom, kJpeg, kPng };

// contentType is a list of media types with optional q-values, like Accept (PS3.18 9.1.2.2.1
// / 8.7); absent means image/jpeg (an image is what WADO-URI clients ask for by default).
Result<Wanted> ChooseContentType(const std::map<std::string, std::string>& q) {
  auto it = q.find("contentType");
  std::string_view text = it == q.end() ? std::string_view("image/jpeg") : it->second;
  auto type = ChooseMediaType(text, {"image/jpeg", "image/png", "application/dicom"});
  if (!type.ok()) {
    if (type.status().code() == Code::kUnsupported) {
      return Unsupported("contentType must be application/dicom, image/jpeg or image/png");
    }
    return type.status();
  }
  if (*type == "image/png") return Wanted::kPng;
  if (*type == "application/dicom") return Wanted::kDicom;
  return Wanted::kJpeg;
}

web::HttpResponse NotAcceptable(const std::string& message) {
  return web::HttpResponse::Error(406, message);
}

struct Context {
  archive::ArchiveService* archive;
  DicomWebOptions options;
  std::shared_ptr<RenderSlots> slots;
};

web::HttpResponse Wado(const Context& c, const web::HttpRequest& request,
                       const archive::Principal& who) {
  auto parsed = web::ParseFormUrlEncoded(request.query);
  if (!parsed.ok()) return RenderError(parsed.status());
  const std::map<std::string, std::string>& q = *parsed;
  auto get = [&q](const char* name) {
    auto it = q.find(name);
    return it == q.end() ? std::string() : it->second;
  };
  if (get("requestType") != "WADO") {
    return RenderError(InvalidArgument("requestType=WADO is required"));
  }
  RenderTarget target{get("studyUID"), get("seriesUID"), get("objectUID")};
  if (target.study.empty() || target.series.empty() || target.instance.empty()) {
    return RenderError(InvalidArgument("studyUID, seriesUID and objectUID are required"));
  }
  if (get("anonymize") == "yes") {
    return RenderError(InvalidArgument("anonymize is not supported"));
  }
  for (const char* unsupported : {"region", "presentationUID", "presentationSeriesUID"}) {
    if (q.count(unsupported)) {
      return RenderError(InvalidArgument(std::string(unsupported) + " is not supported"));
    }
  }
  auto wanted = ChooseContentType(q);
  if (!wanted.ok()) {
    if (wanted.status().code() == Code::kUnsupported) {
      return NotAcceptable(wanted.status().message());
    }
    return RenderError(wanted.status());
  }

  dicom::RenderOptions options;
  if (*wanted == Wanted::kDicom) {
    for (const char* image_only : {"frameNumber", "windowCenter", "windowWidth", "rows",
                                   "columns", "imageQuality"}) {
      if (q.count(image_only)) {
        return RenderError(InvalidArgument(std::string(image_only) +
                                           " applies to image content types only"));
      }
    }
  } else {
    if (q.count("transferSyntax")) {
      return RenderError(InvalidArgument("transferSyntax applies to application/dicom only"));
    }
    options.format = *wanted == Wanted::kPng ? dicom::ImageFormat::kPng
                                              : dicom::ImageFormat::kJpeg;
    if (q.count("frameNumber")) {
      auto n = ParseCount(get("frameNumber"), 1, std::numeric_limits<int32_t>::max(),
                          "frameNumber");
      if (!n.ok()) return RenderError(n.status());
      options.frame = *n;
    }
    if (q.count("windowCenter") != q.count("windowWidth")) {
      return RenderError(InvalidArgument("windowCenter and windowWidth go together"));
    }
    if (q.count("windowCenter")) {
      auto center = ParseDecimal(get("windowCenter"), "windowCenter");
      if (!center.ok()) return RenderError(center.status());
      auto width = ParseDecimal(get("windowWidth"), "windowWidth");
      if (!width.ok()) return RenderError(width.status());
      if (*width < 1) return RenderError(InvalidArgument("windowWidth must be at least 1"));
      options.window = dicom::VoiWindow{*center, *width, dicom::VoiFunction::kLinear};
    }
    if (q.count("rows")) {
      auto rows = ParseCount(get("rows"), 1, kMaxSide, "rows");
      if (!rows.ok()) return RenderError(rows.status());
      options.fit_height = *rows;
    }
    if (q.count("columns")) {
      auto columns = ParseCount(get("columns"), 1, kMaxSide, "columns");
      if (!columns.ok()) return RenderError(columns.status());
      options.fit_width = *columns;
    }
    if (q.count("imageQuality")) {
      auto quality = ParseCount(get("imageQuality"), 1, 100, "imageQuality");
      if (!quality.ok()) return RenderError(quality.status());
      options.quality = static_cast<int>(*quality);
    }
  }

  auto instance = ResolveRenderTarget(*c.archive, who, target);
  if (!instance.ok()) return RenderError(instance.status());
  if (*wanted != Wanted::kDicom) {
    return RenderResponse(*c.archive, *instance, options, c.options, *c.slots);
  }

  // application/dicom (PS3.18 9.4.2.4): in transferSyntax, by default Explicit VR Little
  // Endian; "*" (as in WADO-RS) or the stored syntax is the stored file byte for byte. An
  // explicit syntax no codec reaches is 406; without the parameter an object that cannot
  // be converted (e.g. JPEG 2000 here) goes out as stored rather than not at all.
  std::string ts = get("transferSyntax");
  const bool explicit_ts = q.count("transferSyntax") > 0;
  if (explicit_ts && ts != "*" && !dicom::IsValidUid(ts)) {
    return RenderError(InvalidArgument("transferSyntax must be a transfer syntax UID"));
  }
  if (!explicit_ts) ts = kExplicitLittle;
  const std::string& stored = instance->transfer_syntax_uid;
  bool as_stored = ts == "*" || ts == stored;
  if (!as_stored && !dicom::CanTranscode(stored, ts)) {
    if (explicit_ts) {
      return NotAcceptable("the object cannot be converted from " + stored + " to " + ts);
    }
    as_stored = true;
  }
  auto object = c.archive->catalog().OpenResolved(*instance);
  if (!object.ok()) return RenderError(object.status());
  web::HttpResponse r;
  r.status = 200;
  r.content_type = "application/dicom";
  auto as_is = [&r, &object] {
    r.stream_length = (*object)->size();
    r.stream = std::make_shared<ObjectBodySource>(std::move(object).value(), 0, r.stream_length);
    return r;
  };
  if (as_stored) return as_is();
  // Transcoding decodes like a render: it takes a render slot.
  std::optional<RenderSlots::Permit> permit = c.slots->Acquire(kRenderSlotWait);
  if (!permit) return RenderError(Unavailable("too many conversions at once; try again"));
  auto whole = ReadWholeObject(**object, kMaxTranscodeBytes);
  if (!whole.ok()) return RenderError(whole.status());
  auto converted = dicom::TranscodePart10(*whole, ts);
  if (!converted.ok()) {
    if (converted.status().code() == Code::kUnsupported) {
      if (explicit_ts) return NotAcceptable(converted.status().message());
      return as_is();
    }
    return RenderError(converted.status());
  }
  r.body = std::move(converted).value();
  return r;
}

}  // namespace

void AddWadoUriRoutes(web::Router& router, archive::ArchiveService& archive,
                      const DicomWebOptions& options, std::shared_ptr<RenderSlots> slots) {
  auto c = std::make_shared<Context>(Context{&archive, options, std::move(slots)});
  router.Add(web::Route::Authenticated(
      "GET", std::string(kRoot) + "/wado",
      "WADO-URI (PS3.18 9): one object as application/dicom, image/jpeg or image/png",
      [c](const web::HttpRequest& request, const archive::Principal& who) {
        return Wado(*c, request, who);
      }));
}

}  // namespace tresor::dicomweb
