// The one TLS policy of every Tresor listener (DICOM TLS and HTTPS): BCP 195.
#pragma once

#include <openssl/ssl.h>

#include <string>

#include "core/status.h"

namespace tresor::security {

// Restricts `ctx` to TLS 1.2 and 1.3 with forward-secret AEAD suites (ECDHE or DHE of at
// least 2048 bits; TLS 1.3 suites are all AEAD), no compression, no renegotiation, server
// cipher preference, and loads the server certificate chain and private key (PEM).
// kInvalidArgument names the file that could not be loaded.
Status ApplyServerTlsPolicy(SSL_CTX* ctx, const std::string& certificate_chain_file,
                            const std::string& private_key_file);

// The client side of the same policy (outbound mutual TLS, e.g. audit forwarding): TLS
// 1.2/1.3 with the same suites, no compression or renegotiation, the server certificate
// verified against `ca_file` alone (no system trust store: the CA is pinned), and our
// certificate chain and key presented to the server. The host name check is the caller's
// (per connection). kInvalidArgument names the file that could not be loaded.
Status ApplyClientTlsPolicy(SSL_CTX* ctx, const std::string& ca_file,
                            const std::string& certificate_chain_file,
                            const std::string& private_key_file);

// The text of the most recent OpenSSL error (and clears the error queue).
std::string OpenSslError();

}  // namespace tresor::security
