#include "syslog/tls_sink.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "security/tls_policy.h"

namespace tresor::syslog {

namespace {
using std::chrono::milliseconds;

bool IsIpAddress(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}
}  // namespace

Result<std::unique_ptr<SyslogTlsSink>> SyslogTlsSink::Create(const SyslogTlsOptions& options,
                                                             const core::Clock& clock) {
  if (options.host.empty()) return InvalidArgument("audit forwarding: no collector host");
  if (options.port < 1 || options.port > 65535) {
    return InvalidArgument("audit forwarding: collector port out of range");
  }
  ossl::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return Internal("cannot create a TLS context: " + security::OpenSslError());
  TRESOR_RETURN_IF_ERROR(security::ApplyClientTlsPolicy(ctx.get(), options.ca_file,
                                                        options.certificate_file,
                                                        options.private_key_file));
  return std::unique_ptr<SyslogTlsSink>(new SyslogTlsSink(options, clock, std::move(ctx)));
}

SyslogTlsSink::SyslogTlsSink(const SyslogTlsOptions& options, const core::Clock& clock,
                             ossl::SslCtxPtr ctx)
    : options_(options), clock_(clock), ctx_(std::move(ctx)) {}

SyslogTlsSink::~SyslogTlsSink() { Close(); }

std::string SyslogTlsSink::Destination() const {
  const bool v6 = options_.host.find(':') != std::string::npos;
  return (v6 ? "[" + options_.host + "]" : options_.host) + ":" + std::to_string(options_.port);
}

Status SyslogTlsSink::WaitFor(short events, const core::Deadline& deadline, const char* what) {
  for (;;) {
    if (cancelled_) return Unavailable(std::string(what) + ": cancelled (shutting down)");
    if (deadline.Expired()) return Unavailable(std::string(what) + ": timed out");
    pollfd p{fd_, events, 0};
    const int slice = static_cast<int>(std::min<int64_t>(deadline.Remaining().count(), 100));
    int n = poll(&p, 1, std::max(slice, 1));
    if (n < 0 && errno != EINTR) return IoError(std::string(what) + ": poll: " + std::strerror(errno));
    if (n > 0) return Status::Ok();  // ready, or an error/hang-up the next call reports
  }
}

Status SyslogTlsSink::ConnectSocket(const core::Deadline& deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(options_.port);
  int rc = getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || !res) {
    return Unavailable("cannot resolve collector host " + options_.host + ": " + gai_strerror(rc));
  }
  Status last = Unavailable("no address for " + options_.host);
  for (addrinfo* a = res; a; a = a->ai_next) {
    fd_ = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd_ < 0) {
      last = IoError(std::string("socket: ") + std::strerror(errno));
      continue;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd_, a->ai_addr, a->ai_addrlen) == 0) break;
    if (errno == EINPROGRESS) {
      last = WaitFor(POLLOUT, deadline, "connecting");
      int err = 0;
      socklen_t len = sizeof err;
      if (last.ok() && getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) break;
      if (last.ok()) last = Unavailable(std::string("cannot connect: ") + std::strerror(err));
    } else {
      last = Unavailable(std::string("cannot connect: ") + std::strerror(errno));
    }
    close(fd_);
    fd_ = -1;
  }
  freeaddrinfo(res);
  return fd_ >= 0 ? Status::Ok() : last;
}

Status SyslogTlsSink::Connect() {
  Close();
  core::Deadline deadline(clock_, std::chrono::seconds(options_.timeout_seconds));
  Status s = ConnectSocket(deadline);
  if (!s.ok()) return s;
  ssl_.reset(SSL_new(ctx_.get()));
  if (!ssl_ || SSL_set_fd(ssl_.get(), fd_) != 1) {
    Close();
    return Internal("cannot create a TLS connection: " + security::OpenSslError());
  }
  // The collector's certificate must name the configured host (or IP address).
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl_.get());
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  const bool ip = IsIpAddress(options_.host);
  if ((ip ? X509_VERIFY_PARAM_set1_ip_asc(param, options_.host.c_str())
          : X509_VERIFY_PARAM_set1_host(param, options_.host.c_str(), 0)) != 1 ||
      (!ip && SSL_set_tlsext_host_name(ssl_.get(), options_.host.c_str()) != 1)) {
    Close();
    return InvalidArgument("audit forwarding: cannot check the collector's name " + options_.host);
  }
  for (;;) {
    ERR_clear_error();
    int r = SSL_connect(ssl_.get());
    if (r == 1) break;
    int err = SSL_get_error(ssl_.get(), r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      s = WaitFor(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, "TLS handshake");
      if (s.ok()) continue;
    } else {
      long verify = SSL_get_verify_result(ssl_.get());
      std::string why = verify != X509_V_OK
                            ? std::string("collector certificate refused: ") +
                                  X509_verify_cert_error_string(verify)
                            : "TLS handshake failed: " + security::OpenSslError();
      s = PermissionDenied(why);
    }
    Close();
    return s;
  }
  return Status::Ok();
}

bool SyslogTlsSink::Alive() {
  if (!ssl_ || fd_ < 0) return false;
  for (;;) {
    char byte;
    ssize_t n = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return false;  // FIN
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;  // otherwise reset
    }
    // The collector sent TLS records (session tickets, a key update, an alert or
    // close_notify): let TLS read them. Syslog over TLS is one-way, so application data
    // would be ignored.
    char buf[512];
    ERR_clear_error();
    int r = SSL_read(ssl_.get(), buf, sizeof buf);
    if (r > 0) continue;
    int err = SSL_get_error(ssl_.get(), r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) continue;
    ERR_clear_error();
    return false;  // close_notify, an alert, or an error
  }
}

Status SyslogTlsSink::Send(const archive::AuditRecord& record) {
  if (!ssl_) return Unavailable("not connected");
  const std::string frame = FrameOctetCounted(FormatAuditSyslog(record, options_.identity));
  core::Deadline deadline(clock_, std::chrono::seconds(options_.timeout_seconds));
  size_t done = 0;
  while (done < frame.size()) {
    ERR_clear_error();
    size_t written = 0;
    int r = SSL_write_ex(ssl_.get(), frame.data() + done, frame.size() - done, &written);
    if (r == 1) {
      done += written;
      continue;
    }
    int err = SSL_get_error(ssl_.get(), r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      TRESOR_RETURN_IF_ERROR(
          WaitFor(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, "sending"));
      continue;
    }
    return Unavailable("sending failed: " + security::OpenSslError());
  }
  return Status::Ok();
}

void SyslogTlsSink::Close() {
  if (ssl_) {
    // One close_notify, without waiting for the collector's (the socket is non-blocking).
    ERR_clear_error();
    SSL_shutdown(ssl_.get());
    ERR_clear_error();
    ssl_.reset();
  }
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
}

}  // namespace tresor::syslog
