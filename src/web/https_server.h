// HttpsServer: the HTTPS listener in front of the route table (web/router).
//
// Boost.Beast/Asio, asynchronous, on `threads` I/O threads; handlers (archive calls,
// password hashing) run on `worker_threads` so a slow sign-in never stalls the network.
// TLS 1.2/1.3 only with the BCP 195 AEAD ECDHE/DHE suites (as DICOM TLS), no client
// certificate. Bounded everywhere:
//  - at most `max_connections` connections, and `max_connections_per_address` from one
//    client IP (more are closed at accept), so one address cannot take every slot;
//  - the TLS handshake within `handshake_timeout_seconds` of accept, the first request's
//    header within `read_timeout_seconds` of accept, an idle keep-alive
//    connection closed after `idle_timeout_seconds`;
//  - header block and body limits enforced by the parser: a declared Content-Length
//    beyond the limit is refused with 413 before any body byte is read, a chunked body
//    passing it is cut with 413, an oversized header block gets 431.
// One request at a time per connection (no pipelining ahead). Those deadlines are
// core::Deadline on the injected clock: a per-connection timer only wakes the check up (at
// least once a second) and closes the connection once expired. Time spent in a worker
// (a sink's Write/Finish, a source's Read) never counts against a deadline.
//
// Bodies. A normal route's body is read whole (within read_timeout of its header) before
// its handler runs. A streamed route (Route::Streamed) gets its sink opened on a worker
// once the head is accepted (100-continue is sent only then), and the body, Content-Length
// or chunked (de-chunked by the parser), goes to BodySink::Write piece by piece (at most
// 64 KiB each) on a worker; the next piece is read only after Write returned, so at most
// one piece plus the read buffer is held per connection. Each piece must arrive within
// read_timeout of the previous one (a progress deadline: a long upload is not cut by a
// whole-request timeout). A Write error is answered with ErrorFromBodyStatus and the
// connection closed; a client going away destroys the sink without Finish. A streamed
// response (HttpResponse::stream) goes out as Content-Length when stream_length is known,
// else chunked (HTTP/1.0: delimited by closing); BodySource::Read runs on a worker, each
// piece is written asynchronously (a slow reader holds no thread) and must be taken by the
// client within read_timeout; a Read error (or a length mismatch) after the head went out
// cuts the connection.
//
// CORS, for `cors_origins` only: a request whose Origin is listed gets
// Access-Control-Allow-Origin (that origin), Allow-Credentials and Expose-Headers, and
// every response carries Vary: Origin once any origin is configured. A preflight (OPTIONS
// with Origin and Access-Control-Request-Method) on a routed path is answered before
// authentication: 204 with the path's methods and the allowed request headers (Accept,
// Authorization, Content-Type, X-CSRF-Token) for a listed origin, 403 (JSON, no CORS
// headers) for any other. A plain OPTIONS (no Origin) gets 204 with Allow; an unrouted
// path 404.
//
// Every response, errors and streams included, carries HSTS, CSP (frame-ancestors
// 'none'), X-Content-Type-Options, X-Frame-Options, Referrer-Policy and Cache-Control:
// no-store. A handler's own Content-Security-Policy or Cache-Control header replaces the
// default (static pages, cacheable bundles); a handler's copy of any other of these
// headers is dropped, so they cannot be weakened. Errors are JSON {"error": "..."}. One log line per request at info: method,
// path (query parameter names only), status, client address, user, duration.
//
// Thread-safety: Start/Stop/port from one owning thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "archive/archive_service.h"
#include "core/clock.h"
#include "core/status.h"
#include "web/rest_api.h"
#include "web/router.h"

namespace tresor::web {

struct WebOptions {
  std::string bind_address = "127.0.0.1";
  int port = 8443;                // 0: a free port chosen by the kernel (see port())
  std::string certificate_file;   // server certificate chain, PEM
  std::string private_key_file;   // its private key, PEM
  int threads = 2;                // I/O threads
  int worker_threads = 4;         // threads running handlers
  int max_connections = 256;      // open connections; more are closed at accept
  int max_connections_per_address = 32;  // open connections of one client address (IP);
                                         // more are closed at accept (always enforced)
  uint32_t max_header_bytes = 16384;
  uint64_t max_body_bytes = 1 << 20;  // a body read whole; streamed routes set their own
  int handshake_timeout_seconds = 10;  // the TLS handshake from accept
  int read_timeout_seconds = 30;  // the first request's header from accept; each
                                  // request from its header; each piece of a streamed
                                  // body (either way) from the previous one
  int idle_timeout_seconds = 60;  // a keep-alive connection waiting for its next request
  // Origins granted CORS, exactly as browsers send them ("https://viewer.example:8080").
  // Empty: no CORS headers at all. Never "*".
  std::vector<std::string> cors_origins;
};

class HttpsServer {
 public:
  // Serves the REST API (web/rest_api) over `archive`, which must outlive the server.
  // `clock` (connection deadlines) must outlive the server too.
  HttpsServer(archive::ArchiveService& archive, WebOptions options, const core::Clock& clock)
      : HttpsServer(MakeRestRouter(archive), std::move(options), clock) {}
  // Serves any route table (tests, future DICOMweb composition).
  HttpsServer(std::unique_ptr<Router> router, WebOptions options, const core::Clock& clock);
  // Stops and joins every thread.
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  // Loads the certificate and key, binds, listens and starts the threads.
  // kInvalidArgument for unreadable TLS material or a bad bind address; kIoError when the
  // port cannot be bound; kInternal if called twice.
  Status Start();
  // The bound port after Start(); -1 before.
  int port() const;
  // Stops accepting, closes every connection (a request in flight is cut off) and joins
  // every thread. Idempotent.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tresor::web
