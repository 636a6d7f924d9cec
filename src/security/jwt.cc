#include "security/jwt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>

namespace tresor::security {
namespace {

std::string Base64Url(const std::string& in) {
  static const char kTable[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8 | uint8_t(in[i + 2]);
    out += kTable[v >> 18 & 63];
    out += kTable[v >> 12 & 63];
    out += kTable[v >> 6 & 63];
    out += kTable[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    out += kTable[v >> 18 & 63];
    out += kTable[v >> 12 & 63];
  } else if (i + 2 == in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8;
    out += kTable[v >> 18 & 63];
    out += kTable[v >> 12 & 63];
    out += kTable[v >> 6 & 63];
  }
  return out;
}

bool Base64UrlDecode(const std::string& in, std::string* out) {
  out->clear();
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-') v = 62;
    else if (c == '_') v = 63;
    else return false;
    buffer = buffer << 6 | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return true;
}

// HMAC-SHA256 output length: the only signature length a token may carry.
constexpr size_t kMacBytes = 32;

// HMAC-SHA256 of `data` under `key`: exactly kMacBytes bytes, or kInternal.
Result<std::string> Sign(const std::string& key, const std::string& data, OSSL_LIB_CTX* libctx) {
  if (key.size() < kMinTokenKeyBytes) return Internal("token signing key missing or too short");
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (EVP_Q_mac(libctx, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac,
                sizeof mac, &len) == nullptr ||
      len != kMacBytes) {
    return Internal("cannot compute the token signature");
  }
  return std::string(reinterpret_cast<char*>(mac), len);
}

// Compact JSON; invalid UTF-8 is replaced (U+FFFD), never thrown.
std::string Dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

Result<std::string> IssueJwt(const std::string& key, const TokenClaims& claims,
                             OSSL_LIB_CTX* libctx) {
  nlohmann::json header = {{"alg", "HS256"}, {"typ", "JWT"}};
  nlohmann::json payload = {{"sub", claims.subject},
                            {"role", claims.role},
                            {"iat", claims.issued_at},
                            {"exp", claims.expires_at},
                            {"sid", claims.session_id},
                            {"iss", "tresor"}};
  std::string payload_text = Dump(payload);
  // Replacement changed a claim iff it was not valid UTF-8: such a token would name
  // someone else than the session it belongs to.
  if (nlohmann::json::parse(payload_text, nullptr, false) != payload) {
    return InvalidArgument("token claims must be valid UTF-8");
  }
  std::string signing_input = Base64Url(Dump(header)) + "." + Base64Url(payload_text);
  TRESOR_ASSIGN_OR_RETURN(std::string signature, Sign(key, signing_input, libctx));
  std::string token = signing_input + "." + Base64Url(signature);
  // Never issue a token VerifyJwt would refuse for its size.
  if (token.size() > kMaxTokenBytes) {
    return InvalidArgument("token claims too long (the token would exceed " +
                           std::to_string(kMaxTokenBytes) + " bytes)");
  }
  return token;
}

Result<TokenClaims> VerifyJwt(const std::string& key, const std::string& token, int64_t now,
                              OSSL_LIB_CTX* libctx) {
  auto invalid = [] { return Status(Code::kUnauthenticated, "invalid or expired token"); };
  if (token.size() > kMaxTokenBytes) return invalid();
  size_t dot1 = token.find('.');
  size_t dot2 = dot1 == std::string::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string::npos || token.find('.', dot2 + 1) != std::string::npos) return invalid();
  std::string signing_input = token.substr(0, dot2);
  std::string signature;
  if (!Base64UrlDecode(token.substr(dot2 + 1), &signature)) return invalid();
  if (signature.size() != kMacBytes) return invalid();  // empty or cut short
  auto expected = Sign(key, signing_input, libctx);
  if (!expected.ok() ||
      CRYPTO_memcmp(signature.data(), expected->data(), kMacBytes) != 0) {
    return invalid();
  }
  std::string header_text, payload_text;
  if (!Base64UrlDecode(token.substr(0, dot1), &header_text) ||
      !Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1), &payload_text)) {
    return invalid();
  }
  auto header = nlohmann::json::parse(header_text, nullptr, false);
  auto payload = nlohmann::json::parse(payload_text, nullptr, false);
  if (header.is_discarded() || payload.is_discarded() || !header.is_object() ||
      !payload.is_object()) {
    return invalid();
  }
  TokenClaims claims;
  try {  // value() and get() throw on a member of another type ("alg": 1)
    if (header.value("alg", "") != "HS256") return invalid();
    claims.subject = payload.at("sub").get<std::string>();
    claims.role = payload.value("role", "");
    // Times are integers: a float (1e55) would not convert to int64_t (undefined).
    if (!payload.at("iat").is_number_integer() || !payload.at("exp").is_number_integer()) {
      return invalid();
    }
    claims.issued_at = payload.at("iat").get<int64_t>();
    claims.expires_at = payload.at("exp").get<int64_t>();
    claims.session_id = payload.value("sid", "");
  } catch (const nlohmann::json::exception&) {
    return invalid();
  }
  if (claims.expires_at <= now) return invalid();
  return claims;
}

}  // namespace tresor::security
