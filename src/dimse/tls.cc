#include "dimse/tls.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <poll.h>

#include <algorithm>

#include <thread>

#include "dimse/pdu_guard.h"
#include "security/tls_material.h"
#include "security/tls_policy.h"

namespace tresor::dimse {
namespace {

using security::OpenSslError;

// How long the next socket wait may be: 0 once `deadline` has expired, else what is left
// but at most a second, so the deadline is checked again at least once a second.
int MillisLeft(const core::Deadline& deadline) {
  if (deadline.Expired()) return 0;
  return static_cast<int>(std::clamp<int64_t>(deadline.Remaining().count(), 1, 1000));
}

}  // namespace

Result<SslCtxPtr> CreateServerTlsContext(const TlsFiles& files) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return Internal("cannot create a TLS context");
  TRESOR_RETURN_IF_ERROR(
      security::ApplyServerTlsPolicy(ctx.get(), files.certificate, files.private_key));
  if (SSL_CTX_load_verify_locations(ctx.get(), files.ca_certificates.c_str(), nullptr) != 1) {
    return InvalidArgument("cannot load TLS CA certificates " + files.ca_certificates + ": " +
                           OpenSslError());
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_verify_depth(ctx.get(), 4);
  // Bulk transfer: read whatever the socket holds (several records) per read() instead
  // of a record header and then its body. Buffered but unprocessed bytes are seen by
  // SSL_has_pending (networkDataAvailable) and SSL_peek (WaitForAssociateRqTls).
  SSL_CTX_set_read_ahead(ctx.get(), 1);
  SSL_CTX_set_default_read_buffer_len(ctx.get(), 256 * 1024);
  return ctx;
}

Result<SslPtr> AcceptTls(SSL_CTX* ctx, int fd, const core::Deadline& deadline,
                         std::string* fingerprint) {
  SslPtr ssl(SSL_new(ctx));
  if (!ssl) return Internal("cannot create a TLS connection");
  SSL_set_fd(ssl.get(), fd);
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  while (true) {
    ERR_clear_error();
    int rc = SSL_accept(ssl.get());
    if (rc == 1) break;
    int err = SSL_get_error(ssl.get(), rc);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      fcntl(fd, F_SETFL, flags);
      return PermissionDenied("TLS handshake failed: " + OpenSslError());
    }
    int wait = MillisLeft(deadline);
    if (wait == 0) {
      fcntl(fd, F_SETFL, flags);
      return Unavailable("TLS handshake not completed within the ARTIM timeout");
    }
    pollfd p{fd, static_cast<short>(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
    poll(&p, 1, wait);
  }
  fcntl(fd, F_SETFL, flags);
  X509* cert = SSL_get0_peer_certificate(ssl.get());
  if (!cert || SSL_get_verify_result(ssl.get()) != X509_V_OK) {
    return PermissionDenied("no verified client certificate");
  }
  TRESOR_ASSIGN_OR_RETURN(*fingerprint, security::CertificateFingerprint(cert));
  return ssl;
}

bool WaitForAssociateRqTls(SSL* ssl, int fd, const core::Deadline& deadline, std::string* why) {
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  std::string peeked(PduGuard::kMaxAssociateBytes + 6, '\0');
  bool ok = false;
  while (true) {
    ERR_clear_error();
    int got = SSL_peek(ssl, peeked.data(), static_cast<int>(peeked.size()));
    if (got > 0) {
      auto* h = reinterpret_cast<const unsigned char*>(peeked.data());
      if (h[0] != 0x01) {
        *why = "first PDU is not an A-ASSOCIATE-RQ";
        break;
      }
      if (got >= 6) {
        uint32_t length = uint32_t{h[2]} << 24 | uint32_t{h[3]} << 16 | uint32_t{h[4]} << 8 | h[5];
        if (length > PduGuard::kMaxAssociateBytes) {
          *why = "A-ASSOCIATE-RQ too large";
          break;
        }
        if (static_cast<uint64_t>(got) >= uint64_t{length} + 6) {
          ok = true;
          break;
        }
      }
    } else {
      int err = SSL_get_error(ssl, got);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        *why = "connection closed before a complete A-ASSOCIATE-RQ";
        break;
      }
    }
    int wait = MillisLeft(deadline);
    if (wait == 0) {
      *why = "no complete A-ASSOCIATE-RQ within the ARTIM timeout";
      break;
    }
    // Partial data keeps the socket readable; re-check after a short pause.
    if (got > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    } else {
      pollfd p{fd, POLLIN, 0};
      poll(&p, 1, std::min(wait, 50));
    }
  }
  fcntl(fd, F_SETFL, flags);
  return ok;
}

}  // namespace tresor::dimse
