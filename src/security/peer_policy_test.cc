#include "security/peer_policy.h"

#include <gtest/gtest.h>

#include "security/password.h"

namespace tresor::security {
namespace {

std::vector<Peer> Peers() {
  return {{"ct1", "CT_SCANNER", "127.0.0.1", 104, kEcho | kStore, "", false, {}},
          {"ws", "WORKSTATION", "10.1.2.3", 104, kAllServices, "", false, {}}};
}

TEST(PeerPolicyTest, AcceptsRegisteredPeerFromItsHost) {
  Decision d = DecideAssociation(Peers(), "CT_SCANNER", "TRESOR", "TRESOR", "127.0.0.1");
  EXPECT_EQ(d.verdict, Verdict::kAccept);
  EXPECT_EQ(d.peer.name, "ct1");
}

TEST(PeerPolicyTest, RejectsUnknownAeWrongCalledAeAndWrongHost) {
  EXPECT_EQ(DecideAssociation(Peers(), "ANY", "TRESOR", "TRESOR", "127.0.0.1").verdict,
            Verdict::kUnknownCallingAe);
  EXPECT_EQ(DecideAssociation(Peers(), "CT_SCANNER", "OTHER", "TRESOR", "127.0.0.1").verdict,
            Verdict::kWrongCalledAe);
  EXPECT_EQ(DecideAssociation(Peers(), "WORKSTATION", "TRESOR", "TRESOR", "127.0.0.1").verdict,
            Verdict::kWrongHost);
  EXPECT_EQ(DecideAssociation({}, "CT_SCANNER", "TRESOR", "TRESOR", "127.0.0.1").verdict,
            Verdict::kUnknownCallingAe);
}

TEST(PeerPolicyTest, CertificateBindingDecidesOverTls) {
  std::vector<Peer> peers = {{"mr", "MR1", "127.0.0.1", 104, kEcho, "aaaa", false, {}},
                             {"ct", "CT1", "127.0.0.1", 104, kEcho, "", false, {}}};
  EXPECT_EQ(DecideAssociation(peers, "MR1", "TRESOR", "TRESOR", "127.0.0.1", "aaaa").verdict,
            Verdict::kAccept);
  // Bound peer without its certificate (plain TCP, or another certificate).
  EXPECT_EQ(DecideAssociation(peers, "MR1", "TRESOR", "TRESOR", "127.0.0.1", "").verdict,
            Verdict::kWrongCertificate);
  EXPECT_EQ(DecideAssociation(peers, "MR1", "TRESOR", "TRESOR", "127.0.0.1", "bbbb").verdict,
            Verdict::kWrongCertificate);
  // MR1's valid certificate does not lend its holder CT1's AE title.
  EXPECT_EQ(DecideAssociation(peers, "CT1", "TRESOR", "TRESOR", "127.0.0.1", "aaaa").verdict,
            Verdict::kWrongCertificate);
  EXPECT_EQ(DecideAssociation(peers, "CT1", "TRESOR", "TRESOR", "127.0.0.1", "").verdict,
            Verdict::kAccept);
}

TEST(PeerPolicyTest, MatchesMappedAddressesAndNames) {
  EXPECT_TRUE(HostMatches("127.0.0.1", "::ffff:127.0.0.1"));
  EXPECT_TRUE(HostMatches("localhost", "127.0.0.1"));
  EXPECT_FALSE(HostMatches("127.0.0.2", "127.0.0.1"));
}

TEST(PeerPolicyTest, ParsesServices) {
  auto s = ParseServices("echo,store");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, kEcho | kStore);
  EXPECT_EQ(FormatServices(*s), "echo,store");
  EXPECT_FALSE(ParseServices("echo,delete").ok());
}

TEST(PeerPolicyTest, ValidatesAeTitles) {
  EXPECT_TRUE(ValidateAeTitle("CT_1").ok());
  EXPECT_FALSE(ValidateAeTitle("").ok());
  EXPECT_FALSE(ValidateAeTitle("THIS_IS_TOO_LONG_").ok());
  EXPECT_FALSE(ValidateAeTitle("A\\B").ok());
  EXPECT_FALSE(ValidateAeTitle("   ").ok());
}

TEST(PasswordTest, HashesAndVerifies) {
  std::string pw = GeneratePassword();
  EXPECT_TRUE(CheckPasswordPolicy(pw).ok());
  auto h = HashPassword(pw);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->rfind("$argon2id$", 0), 0u);
  EXPECT_TRUE(VerifyPassword(pw, *h));
  EXPECT_FALSE(VerifyPassword(pw + "x", *h));
  EXPECT_FALSE(CheckPasswordPolicy("short").ok());
  EXPECT_FALSE(CheckPasswordPolicy("123456789012345").ok());
}

}  // namespace
}  // namespace tresor::security
