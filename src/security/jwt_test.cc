#include "security/jwt.h"

#include <gtest/gtest.h>

#include "security/testing/no_crypto_context.h"

namespace tresor::security {
namespace {

TEST(JwtTest, RoundTripsAndRejectsTampering) {
  std::string key(32, 'k');
  TokenClaims c{"alice", "radiologist", 1000, 2000, "s1"};
  auto issued = IssueJwt(key, c);
  ASSERT_TRUE(issued.ok()) << issued.status().ToString();
  std::string token = *issued;
  auto back = VerifyJwt(key, token, 1500);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->subject, "alice");
  EXPECT_EQ(back->role, "radiologist");
  EXPECT_FALSE(VerifyJwt(key, token, 2000).ok()) << "expired";
  EXPECT_FALSE(VerifyJwt(std::string(32, 'x'), token, 1500).ok()) << "other key";
  std::string tampered = token;
  tampered[tampered.find('.') + 3] ^= 1;
  EXPECT_FALSE(VerifyJwt(key, tampered, 1500).ok());
  EXPECT_FALSE(VerifyJwt(key, "a.b", 1500).ok());
  EXPECT_FALSE(VerifyJwt(key, "", 1500).ok());
  // alg "none" with an empty signature is refused.
  EXPECT_FALSE(VerifyJwt(key, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIiwiaWF0IjoxLCJleHAiOjk5OTk5OTk5OTl9.",
                         1500).ok());
}

using testing::NoCryptoContext;

std::string Base64UrlOf(const std::string& in) {
  static const char kTable[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : in) {
    buffer = buffer << 8 | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kTable[(buffer >> bits) & 63];
    }
  }
  if (bits > 0) out += kTable[(buffer << (6 - bits)) & 63];
  return out;
}

TEST(JwtTest, SigningFailureIssuesNoToken) {
  NoCryptoContext broken;
  ASSERT_NE(broken.get(), nullptr);
  std::string key(32, 'k');
  TokenClaims c{"alice", "radiologist", 1000, 2000, "s1"};
  auto token = IssueJwt(key, c, broken.get());
  EXPECT_FALSE(token.ok()) << "a token without its MAC was issued: " << *token;
  EXPECT_EQ(token.status().code(), Code::kInternal);
  EXPECT_TRUE(IssueJwt(key, c).ok()) << "the default context still signs";
}

TEST(JwtTest, KeyTooShortIssuesAndVerifiesNothing) {
  TokenClaims c{"alice", "radiologist", 1000, 2000, "s1"};
  EXPECT_FALSE(IssueJwt("", c).ok());
  EXPECT_FALSE(IssueJwt(std::string(kMinTokenKeyBytes - 1, 'k'), c).ok());
  auto good = IssueJwt(std::string(kMinTokenKeyBytes, 'k'), c);
  ASSERT_TRUE(good.ok());
  EXPECT_FALSE(VerifyJwt("", *good, 1500).ok());
}

// Tokens with an empty or truncated signature are refused, also when the verifier cannot
// compute a MAC at all (an empty "expected" MAC must never match an empty signature).
TEST(JwtTest, EmptyOrShortSignatureIsRefused) {
  std::string key(32, 'k');
  TokenClaims c{"alice", "radiologist", 1000, 2000, "s1"};
  auto issued = IssueJwt(key, c);
  ASSERT_TRUE(issued.ok());
  std::string signing_input = issued->substr(0, issued->rfind('.'));
  std::string signature = issued->substr(issued->rfind('.') + 1);
  ASSERT_TRUE(VerifyJwt(key, signing_input + "." + signature, 1500).ok());
  EXPECT_FALSE(VerifyJwt(key, signing_input + ".", 1500).ok()) << "empty signature";
  EXPECT_FALSE(VerifyJwt(key, signing_input + "." + signature.substr(0, 22), 1500).ok())
      << "first 16 bytes of the MAC only";
  EXPECT_FALSE(VerifyJwt(key, signing_input + "." + signature + "AA", 1500).ok())
      << "MAC with extra bytes";

  NoCryptoContext broken;
  ASSERT_NE(broken.get(), nullptr);
  EXPECT_FALSE(VerifyJwt(key, signing_input + ".", 1500, broken.get()).ok());
  EXPECT_FALSE(VerifyJwt(key, *issued, 1500, broken.get()).ok())
      << "a verifier without a MAC accepts nothing";
  // 32 zero bytes: what a failed MAC into a zeroed buffer would look like.
  std::string zeros = Base64UrlOf(std::string(32, '\0'));
  EXPECT_FALSE(VerifyJwt(key, signing_input + "." + zeros, 1500, broken.get()).ok());
}

// A user name that is not valid UTF-8 (possible through the CLI) makes signing fail with
// a Status; it never throws.
TEST(JwtTest, InvalidUtf8ClaimIsAnErrorNotAThrow) {
  std::string key(32, 'k');
  TokenClaims c{std::string("bad\xff\xfe"), "radiologist", 1000, 2000, "s1"};
  Result<std::string> token = Status(Code::kInternal, "not run");
  EXPECT_NO_THROW(token = IssueJwt(key, c));
  EXPECT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), Code::kInvalidArgument);
  TokenClaims ok{"bj\xc3\xb6rn", "radiologist", 1000, 2000, "s1"};  // valid UTF-8
  auto good = IssueJwt(key, ok);
  ASSERT_TRUE(good.ok());
  auto back = VerifyJwt(key, *good, 1500);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->subject, ok.subject);
}

}  // namespace
}  // namespace tresor::security
