#include "dimse/tls.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <poll.h>

#include <thread>

#include "dimse/pdu_guard.h"

namespace tresor::dimse {
namespace {

using Clock = std::chrono::steady_clock;

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

int MillisLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(std::min<int64_t>(left, 1000));
}

}  // namespace

Result<SslCtxPtr> CreateServerTlsContext(const TlsFiles& files) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return Internal("cannot create a TLS context");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE);
  // BCP 195: ECDHE or DHE key exchange, AEAD ciphers only (TLS 1.3 suites are all AEAD).
  const char* kTls12Ciphers =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"
      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:"
      "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";
  if (!SSL_CTX_set_cipher_list(ctx.get(), kTls12Ciphers)) {
    return Internal("cannot set TLS cipher suites: " + OpenSslError());
  }
  SSL_CTX_set_dh_auto(ctx.get(), 1);  // DHE groups of at least 2048 bits
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), files.certificate.c_str()) != 1) {
    return InvalidArgument("cannot load TLS certificate " + files.certificate + ": " + OpenSslError());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), files.private_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return InvalidArgument("cannot load TLS private key " + files.private_key + ": " + OpenSslError());
  }
  if (SSL_CTX_load_verify_locations(ctx.get(), files.ca_certificates.c_str(), nullptr) != 1) {
    return InvalidArgument("cannot load TLS CA certificates " + files.ca_certificates + ": " +
                           OpenSslError());
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_verify_depth(ctx.get(), 4);
  return ctx;
}

Result<SslPtr> AcceptTls(SSL_CTX* ctx, int fd, Clock::time_point deadline,
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
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), digest, &len);
  static const char kHex[] = "0123456789abcdef";
  fingerprint->clear();
  for (unsigned int i = 0; i < len; ++i) {
    fingerprint->push_back(kHex[digest[i] >> 4]);
    fingerprint->push_back(kHex[digest[i] & 15]);
  }
  return ssl;
}

bool WaitForAssociateRqTls(SSL* ssl, int fd, Clock::time_point deadline, std::string* why) {
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
