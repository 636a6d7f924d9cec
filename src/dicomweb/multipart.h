// A streaming, push-based parser of multipart bodies (RFC 2046 5.1; multipart/related, RFC
// 2387), for STOW-RS request bodies that may be far larger than memory.
//
// The body is fed in pieces of any size, split anywhere (inside a boundary, a header line or a
// CRLF); the parser calls its handler with one event per part as soon as the bytes allow:
// OnPartBegin(headers), OnPartData(bytes)... (any number, any sizes), OnPartEnd(). It holds at
// most one part's header block, a few bytes of look-ahead and a 64 KiB slice of the piece
// being fed, never a part's content.
//
// Tolerated, as real clients send them: a preamble before the first boundary and an epilogue
// after the closing one, parts without Content-Length (boundaries alone delimit parts; a
// Content-Length part header is passed on but not relied on), bare LF instead of CRLF line
// ends, transport padding (spaces, tabs) after a boundary, parts without headers.
// Strict: the body must end with the closing boundary ("--boundary--"), every header line
// must be "name: value" (folded continuation lines are joined), a header block is bounded
// and so is the number of parts.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"
#include "web/http_message.h"

namespace tresor::dicomweb {

struct MultipartLimits {
  size_t max_header_bytes = 16 * 1024;  // one part's header block, line ends included
  size_t max_parts = 100000;            // parts in one body
};

// Receives the events of one body, in order. An error returned by a handler stops the
// parser: Feed() returns it, and every later Feed() or Finish() too.
class MultipartHandler {
 public:
  virtual ~MultipartHandler() = default;
  // A part starts; `headers` as sent (names as sent, values trimmed).
  virtual Status OnPartBegin(const web::HeaderList& headers) = 0;
  // The next bytes of the current part's content (never empty).
  virtual Status OnPartData(std::string_view data) = 0;
  // The current part's content is complete.
  virtual Status OnPartEnd() = 0;
};

// Not thread-safe; one per body. `handler` must outlive the parser.
class MultipartParser {
 public:
  // `boundary` is the Content-Type's boundary parameter (1 to 70 characters, RFC 2046).
  MultipartParser(std::string boundary, MultipartHandler& handler, MultipartLimits limits = {});

  // Consumes the next piece of the body. Errors: kInvalidArgument for a malformed body (a
  // bad header line, a header block over the limit, bytes after the closing boundary are
  // fine), kResourceExhausted for more parts than allowed, or the handler's error.
  Status Feed(std::string_view piece);
  // The body has ended. kInvalidArgument unless the closing boundary was seen; a part still
  // open then gets no OnPartEnd().
  Status Finish();

  // Parts begun so far.
  size_t parts() const { return parts_; }
  // True once the closing boundary has been seen.
  bool complete() const { return state_ == State::kEpilogue; }

 private:
  enum class State { kPreamble, kHeaders, kData, kEpilogue, kFailed };

  // Processes buf_ from pos_ as far as its bytes allow.
  Status Process();
  // In kPreamble/kData: consumes content up to the next delimiter and the delimiter's line.
  // Sets *advanced when it consumed anything or changed state.
  Status ScanForDelimiter(bool* advanced);
  // In kHeaders: consumes header lines up to the blank line.
  Status ScanHeaders(bool* advanced);
  Status Fail(Status status);

  const std::string delimiter_;  // "\n--" + boundary (a preceding '\r' is optional)
  MultipartHandler& handler_;
  const MultipartLimits limits_;
  State state_ = State::kPreamble;
  Status error_;
  std::string buf_;   // unconsumed bytes: look-ahead and the header block being read
  size_t pos_ = 0;    // first unconsumed byte of buf_
  bool part_open_ = false;
  bool at_part_start_ = false;  // kData and no content byte seen yet
  size_t header_bytes_ = 0;     // of the current header block
  web::HeaderList headers_;
  size_t parts_ = 0;
};

}  // namespace tresor::dicomweb
