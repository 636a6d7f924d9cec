// Plain HTTP request and response values shared by the router, the REST handlers and the
// HTTPS transport. They carry no Boost types, so handlers and their tests never compile
// Beast; the transport converts at the edge.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace tresor::web {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// One request as received. The transport guarantees `path` starts with '/', the header
// block and body stayed within the configured limits, and `client_address` is the peer's
// IP address.
struct HttpRequest {
  std::string method;          // as sent, e.g. "GET"
  std::string path;            // the target up to '?', not percent-decoded
  std::string query;           // the target after '?', raw (may be empty)
  HeaderList headers;          // in arrival order, names as sent
  std::string body;            // empty until the body has been read
  std::string client_address;  // e.g. "127.0.0.1"
  // Values of the route's {name} path segments, filled by the router.
  std::map<std::string, std::string> path_params;

  // The first header called `name` (case-insensitive), or empty.
  std::string_view Header(std::string_view name) const;
};

// A response body produced piece by piece (WADO-RS retrievals of many or large objects),
// so that the transport never holds it whole. The transport calls Read() from a worker
// thread, one call at a time, until it returns 0, and writes each piece before asking for
// the next. Once the status line has gone out an error can no longer become a status: the
// transport then cuts the connection, so the client sees a truncated (invalid) body rather
// than a complete-looking one.
class BodySource {
 public:
  virtual ~BodySource() = default;
  // Writes up to `n` (> 0) bytes into `out`; returns how many, 0 at the end.
  virtual Result<size_t> Read(char* out, size_t n) = 0;
};

// A request body consumed as it arrives (STOW-RS), so that the transport never holds it
// whole. Created by a streamed route's handler once the request head is accepted; the
// transport then calls Write() with each piece of the (de-chunked) body in order, from a
// worker thread, one call at a time, and Finish() once. Destroying a sink without Finish()
// (the client went away) must leave nothing half-done behind.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // Consumes the next piece. An error stops the transfer: the transport answers
  // ErrorFromBodyStatus(status) and closes the connection.
  [[nodiscard]] virtual Status Write(std::string_view piece) = 0;
  // The whole body has arrived: the response to send.
  virtual struct HttpResponse Finish() = 0;
};

// One response. The transport adds the security headers every response carries, the
// Content-Length (or chunked framing for a stream) and the connection handling.
struct HttpResponse {
  int status = 200;
  std::string content_type;  // empty when there is no body
  std::string body;
  HeaderList headers;        // extra headers, e.g. Allow or WWW-Authenticate
  // When set, the body comes from here and `body` is ignored. `stream_length` is its exact
  // size when known (sent as Content-Length), else kUnknownLength (chunked).
  std::shared_ptr<BodySource> stream;
  static constexpr uint64_t kUnknownLength = ~uint64_t{0};
  uint64_t stream_length = kUnknownLength;

  // `json_text` must be a serialized JSON value.
  static HttpResponse Json(int status, std::string json_text);
  // {"error": message} with `status`. `message` must not contain patient data.
  static HttpResponse Error(int status, std::string_view message);
};

// An error response for a failed Status, using the one mapping table (web/error_mapping).
// Messages of 5xx statuses are replaced by a generic text (they may name files or
// internals) and should be logged by the caller instead. A 429 carries Retry-After: the
// status's retry_after_seconds(), at least 1.
HttpResponse ErrorFromStatus(const Status& status);
// Same for calls that consume a request body (kResourceExhausted becomes 413).
HttpResponse ErrorFromBodyStatus(const Status& status);

// ASCII case-insensitive comparison, for header names, media types and schemes.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// The media type of a Content-Type value, lower case and without parameters:
// "Application/JSON; charset=utf-8" -> "application/json".
std::string MediaType(std::string_view content_type);

// Parses application/x-www-form-urlencoded text ('+' is a space, %XX escapes).
// kInvalidArgument for a broken escape, a field without '=', or a name given twice.
Result<std::map<std::string, std::string>> ParseFormUrlEncoded(std::string_view body);

// `target` for logs: the path and the names of the query parameters, never their values
// ("/api/x?limit&offset"); control characters escaped, at most 256 characters.
std::string TargetForLog(std::string_view path, std::string_view query);

}  // namespace tresor::web
