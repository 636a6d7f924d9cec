// HttpsServer: the HTTPS listener in front of the route table (web/router).
//
// Boost.Beast/Asio, asynchronous, on `threads` I/O threads; handlers (archive calls,
// password hashing) run on `worker_threads` so a slow sign-in never stalls the network.
// TLS 1.2/1.3 only with the BCP 195 AEAD ECDHE/DHE suites (as DICOM TLS), no client
// certificate. Bounded everywhere: at most `max_connections` connections (more are
// closed at accept), header block and body limits enforced by the parser (a declared
// Content-Length beyond the limit is refused with 413 before any body byte is read; an
// oversized header block gets 431), the TLS handshake and each request must arrive within
// `read_timeout_seconds`, an idle keep-alive connection is closed after
// `idle_timeout_seconds`. One request at a time per connection (no pipelining ahead).
// Those deadlines are core::Deadline on the injected clock: a per-connection timer only
// wakes the check up (at least once a second) and closes the connection once expired.
//
// Every response, errors included, carries HSTS, CSP (frame-ancestors 'none'),
// X-Content-Type-Options, X-Frame-Options, Referrer-Policy and Cache-Control: no-store;
// errors are JSON {"error": "..."}. One log line per request at info: method, path
// (query parameter names only), status, client address, user, duration.
//
// Thread-safety: Start/Stop/port from one owning thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

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
  uint32_t max_header_bytes = 16384;
  uint64_t max_body_bytes = 1 << 20;
  int read_timeout_seconds = 30;  // TLS handshake; each request from its first byte
  int idle_timeout_seconds = 60;  // a keep-alive connection waiting for its next request
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
