// Session tokens: JSON Web Tokens signed with HMAC-SHA256 (RFC 7519, alg HS256) under a
// key that never leaves the data directory's keys/.
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <string>

#include "core/status.h"

namespace tresor::security {

struct TokenClaims {
  std::string subject;  // user name
  std::string role;
  int64_t issued_at = 0;   // seconds since the epoch
  int64_t expires_at = 0;
  std::string session_id;  // "sid": the server-side session this token belongs to
};

// The shortest signing key accepted (the key is random bytes; 256 bits like the MAC).
inline constexpr size_t kMinTokenKeyBytes = 32;

// The longest token VerifyJwt considers (longer ones are refused unread).
inline constexpr size_t kMaxTokenBytes = 4096;

// A signed token carrying `claims`. Errors: kInternal if `key` is shorter than
// kMinTokenKeyBytes or the MAC cannot be computed (no token is ever issued without its
// full signature); kInvalidArgument if a text claim is not valid UTF-8 (it could not
// round-trip through the token) or the token would be longer than kMaxTokenBytes (which
// VerifyJwt refuses). `libctx` is the OpenSSL library context computing the
// MAC (nullptr: the process default; tests pass one without providers).
Result<std::string> IssueJwt(const std::string& key, const TokenClaims& claims,
                             OSSL_LIB_CTX* libctx = nullptr);
// The claims of `token` if its signature is valid under `key` (exactly one full HMAC-SHA256,
// compared in constant time), its algorithm is HS256 and it has not expired at `now`;
// kUnauthenticated otherwise, including for a short key or a MAC that cannot be computed.
Result<TokenClaims> VerifyJwt(const std::string& key, const std::string& token, int64_t now,
                              OSSL_LIB_CTX* libctx = nullptr);

}  // namespace tresor::security
