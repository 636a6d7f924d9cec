// A multipart/related response body (RFC 2387, PS3.18 8.6.1.2) produced part by part as
// the transport reads it, so a study of thousands of objects is never held in memory.
//
// Framing: the body starts with the first boundary line (no preamble, so the boundary is
// the first line before the first blank line, as cornerstone's parser wants); each part
// has a Content-Type header, a Content-Length header when its size is known, a blank line
// and its bytes; parts are separated by CRLF "--boundary" and the body ends with CRLF
// "--boundary--" CRLF.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "web/http_message.h"

namespace tresor::dicomweb {

// One part: its headers and its bytes.
struct MultipartPart {
  std::string content_type;        // e.g. "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
  std::optional<uint64_t> length;  // sent as Content-Length; the body must yield exactly this
  std::unique_ptr<web::BodySource> body;
};

// The body source. `next` is called once per part, just before that part's bytes are
// needed (so an object is opened or transcoded only when its turn comes); it returns the
// part, nullopt after the last one, or an error, which Read() returns (the transport then
// cuts the connection: a truncated body, never a complete-looking one). Not thread-safe:
// the transport reads from one thread at a time.
class MultipartWriter : public web::BodySource {
 public:
  using NextPart = std::function<Result<std::optional<MultipartPart>>()>;
  MultipartWriter(std::string boundary, NextPart next);

  Result<size_t> Read(char* out, size_t n) override;

  // A fresh random boundary (a token: letters and digits only, so never quoted).
  static std::string NewBoundary();
  // The exact number of bytes the body has when it holds parts with these headers and
  // lengths; for a Content-Length computed before streaming.
  static uint64_t FramingBytes(std::string_view boundary, std::string_view content_type,
                               uint64_t length);
  static uint64_t ClosingBytes(std::string_view boundary);

 private:
  static std::string PartHeader(std::string_view boundary, bool first,
                                std::string_view content_type, std::optional<uint64_t> length);

  const std::string boundary_;
  NextPart next_;
  std::string pending_;  // framing text not yet handed out
  size_t pending_pos_ = 0;
  std::unique_ptr<web::BodySource> body_;  // the current part, while its bytes flow
  std::optional<uint64_t> remaining_;      // of the current part's declared length
  bool first_ = true;
  bool done_ = false;
};

// A BodySource over bytes it owns.
class StringBodySource : public web::BodySource {
 public:
  explicit StringBodySource(std::string bytes) : bytes_(std::move(bytes)) {}
  Result<size_t> Read(char* out, size_t n) override;

 private:
  std::string bytes_;
  size_t pos_ = 0;
};

}  // namespace tresor::dicomweb
