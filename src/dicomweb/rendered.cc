// WADO-RS rendered and thumbnail resources (PS3.18 8.3.5, 10.4.1.1.3 / 10.4.1.1.4):
// one frame of an instance as image/jpeg (default) or image/png, windowed from the object
// or the `window` parameter, optionally fitted to `viewport`.
#include <charconv>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dicomweb/rendering.h"
#include "dicomweb/routes.h"

namespace tresor::dicomweb {
namespace {

// Largest viewport side honoured.
constexpr uint32_t kMaxViewport = 4096;
// A thumbnail fits in this box unless `viewport` says otherwise.
constexpr uint32_t kThumbnailSide = 128;

Result<uint32_t> ParseCount(std::string_view text, uint32_t low, uint32_t high,
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

// The image format for the `accept` query parameter (which wins, PS3.18 8.3.3.1) or the
// Accept header; kUnsupported (406) when neither JPEG nor PNG is acceptable.
Result<dicom::ImageFormat> NegotiateFormat(const web::HttpRequest& request,
                                           const std::map<std::string, std::string>& query) {
  auto param = query.find("accept");
  std::string_view accept =
      param != query.end() ? std::string_view(param->second) : request.Header("Accept");
  auto type = ChooseMediaType(accept, {"image/jpeg", "image/png"});
  if (!type.ok()) {
    if (type.status().code() == Code::kUnsupported) {
      return Unsupported("only image/jpeg and image/png are available");
    }
    return type.status();
  }
  return *type == "image/png" ? dicom::ImageFormat::kPng : dicom::ImageFormat::kJpeg;
}

Result<dicom::RenderOptions> ParseRenderQuery(const web::HttpRequest& request, bool thumbnail) {
  TRESOR_ASSIGN_OR_RETURN(auto query, web::ParseFormUrlEncoded(request.query));
  dicom::RenderOptions o;
  TRESOR_ASSIGN_OR_RETURN(o.format, NegotiateFormat(request, query));
  if (thumbnail) {
    o.fit_width = o.fit_height = kThumbnailSide;
    o.enlarge = false;
  }
  if (auto it = query.find("quality"); it != query.end()) {
    TRESOR_ASSIGN_OR_RETURN(uint32_t q, ParseCount(it->second, 1, 100, "quality"));
    o.quality = static_cast<int>(q);
  }
  if (auto it = query.find("viewport"); it != query.end()) {
    std::string_view v = it->second;
    size_t comma = v.find(',');
    if (comma == std::string_view::npos || v.find(',', comma + 1) != std::string_view::npos) {
      return InvalidArgument("viewport must be vw,vh (cropping is not supported)");
    }
    TRESOR_ASSIGN_OR_RETURN(o.fit_width,
                            ParseCount(v.substr(0, comma), 1, kMaxViewport, "viewport width"));
    TRESOR_ASSIGN_OR_RETURN(o.fit_height,
                            ParseCount(v.substr(comma + 1), 1, kMaxViewport, "viewport height"));
  }
  if (auto it = query.find("window"); it != query.end()) {
    TRESOR_ASSIGN_OR_RETURN(o.window, dicom::ParseWindow(it->second));
  }
  // `annotation` and `iccprofile` are accepted and ignored: nothing is burned in and the
  // output is plain sRGB-agnostic 8-bit.
  return o;
}

const std::string& Param(const web::HttpRequest& r, const char* name) {
  static const std::string kEmpty;
  auto it = r.path_params.find(name);
  return it == r.path_params.end() ? kEmpty : it->second;
}

struct Context {
  archive::ArchiveService* archive;
  DicomWebOptions options;
  std::shared_ptr<RenderSlots> slots;
};

web::HttpResponse Render(const Context& c, const web::HttpRequest& request,
                         const archive::Principal& who, bool thumbnail, bool frame_route) {
  auto options = ParseRenderQuery(request, thumbnail);
  if (!options.ok()) return RenderError(options.status());
  RenderTarget target{Param(request, "study"), Param(request, "series"),
                      Param(request, "instance")};
  if (frame_route) {
    const std::string& frames = Param(request, "frame");
    auto n = ParseCount(frames, 1, std::numeric_limits<int32_t>::max(), "frame number");
    if (!n.ok()) {
      return RenderError(InvalidArgument("one frame number per rendered request"));
    }
    options->frame = *n;
  }
  auto instance = ResolveRenderTarget(*c.archive, who, target);
  if (!instance.ok()) return RenderError(instance.status());
  return RenderResponse(*c.archive, *instance, *options, c.options, *c.slots);
}

}  // namespace

void AddRenderedRoutes(web::Router& router, archive::ArchiveService& archive,
                       const DicomWebOptions& options) {
  auto slots = std::make_shared<RenderSlots>(options.max_concurrent_renders);
  auto c = std::make_shared<Context>(Context{&archive, options, slots});
  const std::string study = std::string(kRoot) + "/studies/{study}";
  const std::string series = study + "/series/{series}";
  const std::string instance = series + "/instances/{instance}";
  struct Spec {
    std::string path;
    const char* summary;
    bool thumbnail;
    bool frame;
  };
  const Spec specs[] = {
      {instance + "/rendered",
       "WADO-RS: the instance's first frame rendered as image/jpeg or image/png", false, false},
      {instance + "/frames/{frame}/rendered",
       "WADO-RS: one frame rendered as image/jpeg or image/png", false, true},
      {instance + "/thumbnail", "WADO-RS: a thumbnail of the instance", true, false},
      {series + "/thumbnail",
       "WADO-RS: a thumbnail of the series (its middle instance by Instance Number)", true,
       false},
      {study + "/thumbnail",
       "WADO-RS: a thumbnail of the study (its first series' middle instance)", true, false},
  };
  for (const Spec& s : specs) {
    bool thumbnail = s.thumbnail, frame = s.frame;
    router.Add(web::Route::Authenticated(
        "GET", s.path, s.summary,
        [c, thumbnail, frame](const web::HttpRequest& request, const archive::Principal& who) {
          return Render(*c, request, who, thumbnail, frame);
        }));
  }
  AddWadoUriRoutes(router, archive, options, slots);
}

}  // namespace tresor::dicomweb
