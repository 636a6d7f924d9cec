// SyslogTlsSink: the audit trail's sink over RFC 5425 (syslog over TLS) to one collector,
// with mutual TLS: the collector's certificate must chain to a pinned CA file (never the
// system store) and match the configured host name or IP address; Tresor presents its
// own client certificate. Each record goes out as one RFC 5424 message
// (syslog/rfc5424.h) with octet-counting framing.
//
// The socket is non-blocking; connecting, the handshake and each send are bounded by
// `timeout_seconds`, measured on the injected clock (real waits are slices of at most
// 100 ms that also notice Cancel). Alive() peeks without blocking: a FIN, a reset or a
// TLS close_notify/alert from the collector means closed. Not thread-safe, except Cancel.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "archive/audit_forwarder.h"
#include "core/clock.h"
#include "core/openssl_handles.h"
#include "core/status.h"
#include "syslog/rfc5424.h"

namespace tresor::syslog {

struct SyslogTlsOptions {
  std::string host;  // name or IP address; the collector's certificate must match it
  int port = 6514;
  std::string ca_file;           // the CA(s) the collector's certificate must chain to
  std::string certificate_file;  // our client certificate chain (PEM)
  std::string private_key_file;  // its key (PEM)
  int timeout_seconds = 10;
  SyslogIdentity identity;
};

class SyslogTlsSink final : public archive::AuditSink {
 public:
  // Loads the CA, certificate and key; kInvalidArgument names a file that cannot be read.
  static Result<std::unique_ptr<SyslogTlsSink>> Create(const SyslogTlsOptions& options,
                                                       const core::Clock& clock);
  ~SyslogTlsSink() override;

  std::string Destination() const override;
  Status Connect() override;
  bool Alive() override;
  Status Send(const archive::AuditRecord& record) override;
  void Close() override;
  void Cancel() override { cancelled_ = true; }

 private:
  SyslogTlsSink(const SyslogTlsOptions& options, const core::Clock& clock, ossl::SslCtxPtr ctx);
  // Waits until `fd_` is ready for `events` or the deadline passes (kUnavailable) or
  // Cancel was called (kUnavailable either way).
  Status WaitFor(short events, const core::Deadline& deadline, const char* what);
  Status ConnectSocket(const core::Deadline& deadline);

  const SyslogTlsOptions options_;
  const core::Clock& clock_;
  ossl::SslCtxPtr ctx_;
  ossl::SslPtr ssl_;
  int fd_ = -1;
  std::atomic<bool> cancelled_{false};
};

}  // namespace tresor::syslog
