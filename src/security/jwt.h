// Session tokens: JSON Web Tokens signed with HMAC-SHA256 (RFC 7519, alg HS256) under a
// key that never leaves the data directory's keys/.
#pragma once

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

// A signed token carrying `claims`.
std::string IssueJwt(const std::string& key, const TokenClaims& claims);
// The claims of `token` if its signature is valid under `key`, its algorithm is HS256
// and it has not expired at `now`; kUnauthenticated otherwise.
Result<TokenClaims> VerifyJwt(const std::string& key, const std::string& token, int64_t now);

}  // namespace tresor::security
