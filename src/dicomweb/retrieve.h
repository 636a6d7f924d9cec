// WADO-RS retrieval (PS3.18 10.4): studies, series and instances as multipart/related
// application/dicom, and frames as application/octet-stream or compressed media types,
// with transfer-syntax negotiation (dicomweb/negotiation.h). Objects are streamed from the
// archive part by part (dicomweb/multipart_writer.h); a frame is read at its offset from
// the store-time frame table, never by parsing its whole object.
//
// The routes (AddRetrieveRoutes, routes.h) are authenticated; every lookup goes through
// CatalogService::ResolveRetrieve with the get grant and the caller's scope, so a study
// outside the scope answers exactly like an unknown one (404).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "archive/types.h"
#include "core/status.h"
#include "web/http_message.h"

namespace tresor::dicomweb {

// Parses the {frames} path segment: 1-based frame numbers separated by commas (also
// "%2C"), e.g. "1,3,5"; order and repeats kept. kInvalidArgument for an empty list, an
// empty item, anything but digits, 0, or more than `max_frames` numbers.
Result<std::vector<uint32_t>> ParseFrameList(std::string_view text, size_t max_frames = 4096);

// Bytes [offset, offset + length) of a stored object, read sequentially.
class ObjectBodySource : public web::BodySource {
 public:
  ObjectBodySource(std::unique_ptr<archive::StoredObject> object, uint64_t offset, uint64_t length)
      : object_(std::move(object)), pos_(offset), end_(offset + length) {}
  Result<size_t> Read(char* out, size_t n) override;

 private:
  std::unique_ptr<archive::StoredObject> object_;
  uint64_t pos_;
  uint64_t end_;
};

// Reads a whole stored object into memory, refusing (kResourceExhausted) one larger than
// `max_bytes`.
Result<std::string> ReadWholeObject(archive::StoredObject& object, uint64_t max_bytes);

}  // namespace tresor::dicomweb
