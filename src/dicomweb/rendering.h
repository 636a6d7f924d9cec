// What the rendered/thumbnail routes (rendered.cc) and WADO-URI (wado_uri.cc) share: the
// limit on concurrent renders, finding and reading one instance within the caller's grant
// and scope, and turning a render into an HTTP response.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "archive/archive_service.h"
#include "dicom/render.h"
#include "dicomweb/dicomweb.h"
#include "web/http_message.h"

namespace tresor::dicomweb {

// A counting semaphore bounding how many renders decode at once. Acquire() waits at most
// `wait` for a free slot and gives up then (the caller answers 503): there is no queue
// beyond the threads already waiting, and each of those waits a bounded time.
// Thread-safe.
class RenderSlots {
 public:
  // `slots` >= 1 (smaller values are taken as 1).
  explicit RenderSlots(int slots);

  // A held slot; released when destroyed.
  class Permit {
   public:
    Permit(Permit&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
    Permit& operator=(Permit&&) = delete;
    ~Permit();

   private:
    friend class RenderSlots;
    explicit Permit(RenderSlots* owner) : owner_(owner) {}
    RenderSlots* owner_;
  };

  // A permit, or nullopt if none became free within `wait` (zero: do not wait).
  std::optional<Permit> Acquire(std::chrono::milliseconds wait);
  int in_use() const;

 private:
  void Release();

  const int slots_;
  mutable std::mutex mu_;
  std::condition_variable freed_;
  int used_ = 0;
};

// How long a render waits for a slot before 503, and the Retry-After then sent.
inline constexpr std::chrono::milliseconds kRenderSlotWait{2000};
inline constexpr int kRenderRetryAfterSeconds = 1;

// The UIDs a rendering request names; empty series/instance for a study or series.
struct RenderTarget {
  std::string study;
  std::string series;
  std::string instance;
};

// The one instance `target` names (or, for a study or series, a representative one: the
// first series by Series Number, and in it the middle instance by Instance Number), if
// `who` holds the get grant and sees the study. kNotFound for unknown and out-of-scope
// alike; kInvalidArgument for a malformed UID; kPermissionDenied without the grant.
Result<archive::InstanceInfo> ResolveRenderTarget(archive::ArchiveService& archive,
                                                  const archive::Principal& who,
                                                  const RenderTarget& target);

// Renders `instance` with `options` (size cap from `dicomweb.max_render_pixels`), holding
// one of `slots` while it reads and decodes, and answers with the image, or the error:
// 503 + Retry-After when no slot frees in time, 413 for an image over the size cap, 400
// for a frame out of range or an object without usable pixels, 406 when its pixel data
// cannot be decoded here (e.g. JPEG 2000).
web::HttpResponse RenderResponse(archive::ArchiveService& archive,
                                 const archive::InstanceInfo& instance,
                                 dicom::RenderOptions options, const DicomWebOptions& dicomweb,
                                 RenderSlots& slots);

// The first of `offered` (lower-case media types, in the server's order of preference)
// that the Accept-style list `accept` allows, taking its ranges best first; a type the
// list refuses explicitly (q=0) is never chosen through a wildcard. Empty `accept` allows
// everything. kUnsupported (406) when none is acceptable; kInvalidArgument when `accept`
// does not parse.
Result<std::string> ChooseMediaType(std::string_view accept,
                                    const std::vector<std::string>& offered);

// The media type of `format` ("image/jpeg", "image/png").
const char* ImageMediaType(dicom::ImageFormat format);

// An error response that never carries patient data; 5xx are logged and made generic.
web::HttpResponse RenderError(const Status& status);

// Adds GET /dicom-web/wado (WADO-URI, PS3.18 9), sharing `slots` with the rendered routes.
void AddWadoUriRoutes(web::Router& router, archive::ArchiveService& archive,
                      const DicomWebOptions& options, std::shared_ptr<RenderSlots> slots);

}  // namespace tresor::dicomweb
