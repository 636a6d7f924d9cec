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

// From an address no peer is registered for, a registered calling AE title and an
// unknown one are decided by the same work: the same host checks, in the same order.
TEST(PeerPolicyTest, RejectFromUnregisteredHostDoesTheSameWorkForKnownAndUnknownTitles) {
  std::vector<Peer> peers = Peers();
  peers.push_back({"pacs", "ARCHIVE2", "pacs.example.org", 104, kEcho, "", false, {}});
  auto decide = [&](const std::string& calling, std::vector<std::string>* calls) {
    HostMatcher recording = [calls](const std::string& host, const std::string& address) {
      calls->push_back(host + " ? " + address);
      return host != "pacs.example.org" && HostMatches(host, address);  // no DNS here
    };
    return DecideAssociation(peers, calling, "TRESOR", "TRESOR", "192.0.2.77", "", recording);
  };
  std::vector<std::string> known_calls, unknown_calls, second_calls;
  EXPECT_EQ(decide("WORKSTATION", &known_calls).verdict, Verdict::kWrongHost);
  EXPECT_EQ(decide("NOT_REGISTERED", &unknown_calls).verdict, Verdict::kUnknownCallingAe);
  EXPECT_EQ(decide("CT_SCANNER", &second_calls).verdict, Verdict::kWrongHost);
  ASSERT_EQ(known_calls.size(), peers.size());  // every peer's host, once
  EXPECT_EQ(known_calls, unknown_calls);
  EXPECT_EQ(known_calls, second_calls);
  // An accepted peer is found the same way: the loop does not stop at the match.
  std::vector<std::string> accept_calls;
  HostMatcher recording = [&accept_calls](const std::string& host, const std::string& address) {
    accept_calls.push_back(host);
    return HostMatches(host, address);
  };
  Decision d = DecideAssociation(peers, "CT_SCANNER", "TRESOR", "TRESOR", "127.0.0.1", "", recording);
  EXPECT_EQ(d.verdict, Verdict::kAccept);
  EXPECT_EQ(d.peer.name, "ct1");
  EXPECT_EQ(accept_calls.size(), peers.size());
}

TEST(PeerPolicyTest, FirstPeerMatchingTitleAndHostDecides) {
  std::vector<Peer> peers = {{"a", "SAME", "10.0.0.1", 104, kEcho, "", false, {}},
                             {"b", "SAME", "127.0.0.1", 104, kStore, "", false, {}},
                             {"c", "SAME", "127.0.0.1", 104, kFind, "", false, {}}};
  Decision d = DecideAssociation(peers, "SAME", "TRESOR", "TRESOR", "127.0.0.1");
  EXPECT_EQ(d.verdict, Verdict::kAccept);
  EXPECT_EQ(d.peer.name, "b");
  // A title that is a prefix or an extension of a registered one is another title.
  EXPECT_EQ(DecideAssociation(peers, "SAM", "TRESOR", "TRESOR", "127.0.0.1").verdict,
            Verdict::kUnknownCallingAe);
  EXPECT_EQ(DecideAssociation(peers, "SAMEX", "TRESOR", "TRESOR", "127.0.0.1").verdict,
            Verdict::kUnknownCallingAe);
}

TEST(PeerPolicyTest, IpLiteralsAreComparedWithoutTheResolver) {
  EXPECT_TRUE(HostMatches("127.0.0.1", "::ffff:127.0.0.1"));
  EXPECT_FALSE(HostMatches("10.1.2.3", "127.0.0.1"));
  EXPECT_TRUE(HostMatches("::1", "::1"));
  EXPECT_TRUE(HostMatches("localhost", "127.0.0.1") || HostMatches("localhost", "::1"));
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
