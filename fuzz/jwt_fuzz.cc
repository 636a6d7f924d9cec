// Fuzz target: bearer tokens (security/jwt.h). Input byte 0 picks the mode:
//  - even: the rest is a token as a client sends it, verified under the server's key
//    (the fuzzer cannot forge the MAC, so this covers the parts before it);
//  - odd: the rest is "<header JSON>\n<payload JSON>", signed here with the server's key
//    so that VerifyJwt reaches the claims it parses. A token that verifies must re-issue
//    to the same claims.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_input.h"
#include "security/jwt.h"

namespace {

const std::string kKey(32, 'k');
constexpr int64_t kNow = 1767225600;  // 2026-01-01

std::string Base64Url(std::string_view in) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (unsigned char c : in) {
    bits = (bits << 8) | c;
    count += 8;
    while (count >= 6) {
      count -= 6;
      out.push_back(kAlphabet[(bits >> count) & 0x3F]);
    }
  }
  if (count > 0) out.push_back(kAlphabet[(bits << (6 - count)) & 0x3F]);
  return out;
}

std::string Sign(std::string_view header, std::string_view payload) {
  std::string input = Base64Url(header) + "." + Base64Url(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), kKey.data(), static_cast<int>(kKey.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len);
  return input + "." + Base64Url(std::string_view(reinterpret_cast<char*>(mac), mac_len));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tresor::security;
  if (size < 1) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string token;
  if (data[0] % 2 == 0) {
    token = std::string(rest);
  } else {
    size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) return 0;
    token = Sign(rest.substr(0, nl), rest.substr(nl + 1));
  }
  auto claims = VerifyJwt(kKey, token, kNow);
  if (!claims.ok()) return 0;
  TRESOR_FUZZ_CHECK(claims->expires_at > kNow);
  auto again = IssueJwt(kKey, *claims);
  if (!again.ok()) return 0;  // e.g. a claim that is not UTF-8 is refused, not issued
  auto round = VerifyJwt(kKey, *again, kNow);
  TRESOR_FUZZ_CHECK(round.ok());
  TRESOR_FUZZ_CHECK(round->subject == claims->subject && round->role == claims->role &&
                    round->session_id == claims->session_id &&
                    round->issued_at == claims->issued_at &&
                    round->expires_at == claims->expires_at);
  return 0;
}
