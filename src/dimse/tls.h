// DICOM TLS (PS3.15 B.1 with the BCP 195 profile): the server's TLS context, the
// handshake Tresor performs itself (so a slow client never holds the hand-over to
// DCMTK), and the transport connection DCMTK then reads and writes through.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/openssl_handles.h"
#include "core/status.h"

namespace tresor::dimse {

using ossl::SslCtxPtr;
using ossl::SslPtr;

struct TlsFiles {
  std::string certificate;     // server certificate chain, PEM
  std::string private_key;     // its private key, PEM
  std::string ca_certificates; // CAs whose client certificates are accepted, PEM
};

// A server context: TLS 1.2 and 1.3 only, forward-secret AEAD cipher suites (BCP 195),
// no compression or renegotiation, and a client certificate required and verified.
Result<SslCtxPtr> CreateServerTlsContext(const TlsFiles& files);

// Performs the server side of the handshake on `fd` before `deadline` expires (decided on
// its clock; the socket waits only wake the check up, at least once a second). On success
// returns the connection and sets `fingerprint` to the SHA-256 (hex) of the verified
// client certificate. The socket is left in blocking mode.
Result<SslPtr> AcceptTls(SSL_CTX* ctx, int fd, const core::Deadline& deadline,
                         std::string* fingerprint);

// Waits until a complete A-ASSOCIATE-RQ PDU has arrived on `ssl` (decrypted), or the
// deadline expires; `why` says what went wrong.
bool WaitForAssociateRqTls(SSL* ssl, int fd, const core::Deadline& deadline, std::string* why);

}  // namespace tresor::dimse
