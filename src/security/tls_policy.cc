#include "security/tls_policy.h"

#include <openssl/err.h>

namespace tresor::security {

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

namespace {

// Versions and suites shared by both sides.
Status ApplySuites(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return Internal("cannot set the TLS minimum version: " + OpenSslError());
  }
  static const char kTls12Ciphers[] =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"
      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:"
      "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";
  if (!SSL_CTX_set_cipher_list(ctx, kTls12Ciphers)) {
    return Internal("cannot set TLS cipher suites: " + OpenSslError());
  }
  // TLS 1.3: all three AEAD suites; AES-128-GCM first (the fastest with AES-NI).
  if (!SSL_CTX_set_ciphersuites(
          ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256")) {
    return Internal("cannot set TLS 1.3 cipher suites: " + OpenSslError());
  }
  return Status::Ok();
}

Status LoadOwnCertificate(SSL_CTX* ctx, const std::string& certificate_chain_file,
                          const std::string& private_key_file) {
  if (SSL_CTX_use_certificate_chain_file(ctx, certificate_chain_file.c_str()) != 1) {
    return InvalidArgument("cannot load TLS certificate " + certificate_chain_file + ": " +
                           OpenSslError());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, private_key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    return InvalidArgument("cannot load TLS private key " + private_key_file + ": " +
                           OpenSslError());
  }
  return Status::Ok();
}

}  // namespace

Status ApplyServerTlsPolicy(SSL_CTX* ctx, const std::string& certificate_chain_file,
                            const std::string& private_key_file) {
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  TRESOR_RETURN_IF_ERROR(ApplySuites(ctx));
  SSL_CTX_set_dh_auto(ctx, 1);  // DHE groups of at least 2048 bits
  return LoadOwnCertificate(ctx, certificate_chain_file, private_key_file);
}

Status ApplyClientTlsPolicy(SSL_CTX* ctx, const std::string& ca_file,
                            const std::string& certificate_chain_file,
                            const std::string& private_key_file) {
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  TRESOR_RETURN_IF_ERROR(ApplySuites(ctx));
  // Only this CA: the default verify paths (the system store) are never loaded.
  if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) {
    return InvalidArgument("cannot load the collector's CA certificate " + ca_file + ": " +
                           OpenSslError());
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  return LoadOwnCertificate(ctx, certificate_chain_file, private_key_file);
}

}  // namespace tresor::security
