#include "dicomweb/rendering.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <tuple>
#include <utility>
#include <vector>

#include "core/log.h"
#include "dicom/query.h"
#include "dicom/uid.h"
#include "dicomweb/negotiation.h"

namespace tresor::dicomweb {
namespace {

const dicom::TagKey kStudyUid = dicom::MakeTag(0x0020, 0x000D);
const dicom::TagKey kSeriesUid = dicom::MakeTag(0x0020, 0x000E);
const dicom::TagKey kSopUid = dicom::MakeTag(0x0008, 0x0018);
const dicom::TagKey kSeriesNumber = dicom::MakeTag(0x0020, 0x0011);
const dicom::TagKey kInstanceNumber = dicom::MakeTag(0x0020, 0x0013);

// The object bytes a render may read: the pixels at up to 32 bits plus 16 MiB of other
// attributes. Beyond that the object is refused before it is read.
uint64_t MaxObjectBytes(const DicomWebOptions& o) {
  return o.max_render_pixels * 4 + (uint64_t{16} << 20);
}

dicom::Query UidQuery(const RenderTarget& t) {
  dicom::Query q;
  q.level = dicom::QueryLevel::kImage;
  auto add = [&q](dicom::TagKey tag, const std::string& value) {
    if (value.empty()) return;
    dicom::Condition c;
    c.attribute = dicom::FindQueryAttribute(tag);
    c.kind = dicom::Condition::Kind::kSingle;
    c.value = value;
    q.conditions.push_back(std::move(c));
  };
  add(kStudyUid, t.study);
  add(kSeriesUid, t.series);
  add(kSopUid, t.instance);
  return q;
}

// An IS value as a number for ordering; absent or malformed values sort last.
int64_t NumberOrLast(const dicom::TagValues& values, dicom::TagKey tag) {
  auto it = values.find(tag);
  if (it == values.end()) return std::numeric_limits<int64_t>::max();
  std::string_view s = it->second;
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  int64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || s.empty()) return std::numeric_limits<int64_t>::max();
  (void)end;
  return n;
}

// The representative SOP Instance UID among `matches` (image-level matches with series
// and instance numbers): first series by Series Number (then UID), its middle instance
// by Instance Number (then UID).
std::string Representative(const std::vector<dicom::QueryMatch>& matches) {
  using Key = std::tuple<int64_t, std::string, int64_t, std::string>;
  std::vector<Key> keys;
  for (const dicom::QueryMatch& m : matches) {
    auto sop = m.values.find(kSopUid);
    auto series = m.values.find(kSeriesUid);
    if (sop == m.values.end()) continue;
    keys.emplace_back(NumberOrLast(m.values, kSeriesNumber),
                      series == m.values.end() ? std::string() : series->second,
                      NumberOrLast(m.values, kInstanceNumber), sop->second);
  }
  if (keys.empty()) return {};
  std::sort(keys.begin(), keys.end());
  // The instances of the first series.
  size_t n = 0;
  while (n < keys.size() && std::get<0>(keys[n]) == std::get<0>(keys[0]) &&
         std::get<1>(keys[n]) == std::get<1>(keys[0])) {
    ++n;
  }
  return std::get<3>(keys[(n - 1) / 2]);
}

Result<std::string> ReadAll(archive::StoredObject& object, uint64_t max_bytes) {
  if (object.size() > max_bytes) {
    return ResourceExhausted("the object is " + std::to_string(object.size()) +
                             " bytes, more than the render limit of " +
                             std::to_string(max_bytes));
  }
  std::string bytes(static_cast<size_t>(object.size()), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    TRESOR_ASSIGN_OR_RETURN(size_t n, object.ReadAt(bytes.data() + done, bytes.size() - done,
                                                    done));
    if (n == 0) return IoError("the stored object ended early");
    done += n;
  }
  return bytes;
}

}  // namespace

RenderSlots::RenderSlots(int slots) : slots_(std::max(slots, 1)) {}

RenderSlots::Permit::~Permit() {
  if (owner_ != nullptr) owner_->Release();
}

std::optional<RenderSlots::Permit> RenderSlots::Acquire(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!freed_.wait_for(lock, wait, [this] { return used_ < slots_; })) return std::nullopt;
  ++used_;
  return Permit(this);
}

int RenderSlots::in_use() const {
  std::lock_guard<std::mutex> lock(mu_);
  return used_;
}

void RenderSlots::Release() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --used_;
  }
  freed_.notify_one();
}

Result<archive::InstanceInfo> ResolveRenderTarget(archive::ArchiveService& archive,
                                                  const archive::Principal& who,
                                                  const RenderTarget& target) {
  for (const std::string* uid : {&target.study, &target.series, &target.instance}) {
    if (!uid->empty() && !dicom::IsValidUid(*uid)) return InvalidArgument("not a valid UID");
  }
  if (target.study.empty()) return InvalidArgument("no study UID");
  RenderTarget one = target;
  if (target.instance.empty()) {
    // A study or series: pick the representative from the index (find grant), then check
    // the get grant on that one instance. Without the find grant, the middle of what the
    // get grant resolves (by SOP Instance UID) stands in.
    dicom::Query q = UidQuery(target);
    q.return_tags = {kSopUid, kSeriesUid, kSeriesNumber, kInstanceNumber};
    auto found = archive.catalog().Find(who, q);
    if (found.ok()) {
      one.instance = Representative(found->matches);
      if (one.instance.empty()) return NotFound("no such study or series");
    } else if (found.status().code() != Code::kPermissionDenied) {
      return found.status();
    } else {
      TRESOR_ASSIGN_OR_RETURN(std::vector<archive::InstanceInfo> all,
                              archive.catalog().ResolveRetrieve(who, UidQuery(target),
                                                                security::kGet));
      if (all.empty()) return NotFound("no such study or series");
      std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
        return a.sop_instance_uid < b.sop_instance_uid;
      });
      return all[(all.size() - 1) / 2];
    }
  }
  TRESOR_ASSIGN_OR_RETURN(std::vector<archive::InstanceInfo> found,
                          archive.catalog().ResolveRetrieve(who, UidQuery(one), security::kGet));
  if (found.empty()) return NotFound("no such instance");
  return found.front();
}

Result<std::string> ChooseMediaType(std::string_view accept,
                                    const std::vector<std::string>& offered) {
  TRESOR_ASSIGN_OR_RETURN(std::vector<MediaRange> ranges, ParseAccept(accept));
  std::vector<std::string> refused;
  for (const MediaRange& r : ranges) {
    if (r.q <= 0) refused.push_back(r.media.type);
  }
  auto is_refused = [&refused](const std::string& type) {
    for (const std::string& t : refused) {
      if (t == type) return true;
    }
    return false;
  };
  for (const MediaRange& r : ranges) {
    if (r.q <= 0) continue;
    for (const std::string& type : offered) {
      if (Covers(r.media.type, type) && !is_refused(type)) return type;
    }
  }
  return Unsupported("none of the acceptable media types is available");
}

const char* ImageMediaType(dicom::ImageFormat format) {
  return format == dicom::ImageFormat::kPng ? "image/png" : "image/jpeg";
}

web::HttpResponse RenderError(const Status& status) {
  switch (status.code()) {
    case Code::kInvalidArgument:
      return web::HttpResponse::Error(400, status.message());
    case Code::kNotFound:
      return web::HttpResponse::Error(404, "not found");
    case Code::kResourceExhausted:
      if (status.retry_after_seconds() > 0) return web::ErrorFromStatus(status);
      return web::HttpResponse::Error(413, status.message());
    case Code::kUnsupported:
      return web::HttpResponse::Error(406, status.message());
    case Code::kUnavailable: {
      web::HttpResponse r = web::HttpResponse::Error(503, status.message());
      r.headers.emplace_back("Retry-After", std::to_string(kRenderRetryAfterSeconds));
      return r;
    }
    default:
      if (web::ErrorFromStatus(status).status >= 500) {
        TRESOR_LOG(kError) << "render failed: " << status.ToString();
      }
      return web::ErrorFromStatus(status);
  }
}

web::HttpResponse RenderResponse(archive::ArchiveService& archive,
                                 const archive::InstanceInfo& instance,
                                 dicom::RenderOptions options, const DicomWebOptions& dicomweb,
                                 RenderSlots& slots) {
  std::optional<RenderSlots::Permit> permit = slots.Acquire(kRenderSlotWait);
  if (!permit) return RenderError(Unavailable("too many renders at once; try again"));
  options.max_samples = dicomweb.max_render_pixels;
  auto object = archive.catalog().OpenResolved(instance);
  if (!object.ok()) return RenderError(object.status());
  auto bytes = ReadAll(**object, MaxObjectBytes(dicomweb));
  if (!bytes.ok()) return RenderError(bytes.status());
  auto image = dicom::RenderFrame(*bytes, options);
  if (!image.ok()) {
    if (image.status().code() != Code::kInvalidArgument) {
      TRESOR_LOG(kInfo) << "render of " << instance.sop_instance_uid
                        << " refused: " << image.status().ToString();
    }
    return RenderError(image.status());
  }
  web::HttpResponse r;
  r.status = 200;
  r.content_type = ImageMediaType(options.format);
  r.body = std::move(image).value();
  return r;
}

}  // namespace tresor::dicomweb
