#include "dimse/pdu_guard.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tresor::dimse {
namespace {

void Put16(std::string* s, unsigned v) {
  s->push_back(static_cast<char>(v >> 8));
  s->push_back(static_cast<char>(v & 0xFF));
}
void Put32(std::string* s, uint32_t v) {
  Put16(s, v >> 16);
  Put16(s, v & 0xFFFF);
}
std::string Item(uint8_t type, const std::string& payload) {
  std::string out(1, static_cast<char>(type));
  out.push_back(0);
  Put16(&out, static_cast<unsigned>(payload.size()));
  return out + payload;
}
std::string Field(std::string ae) { return ae.append(16 - ae.size(), ' '); }

// An A-ASSOCIATE-RQ body: fixed fields, application context, one Verification context
// per ID, user information with a maximum length.
std::string RqBody(const std::string& called, const std::string& calling,
                   const std::vector<int>& context_ids) {
  std::string body;
  Put16(&body, 1);
  Put16(&body, 0);
  body += called + calling + std::string(32, '\0');
  body += Item(0x10, "1.2.840.10008.3.1.1.1");
  for (int id : context_ids) {
    std::string pc = {static_cast<char>(id), 0, 0, 0};
    pc += Item(0x30, "1.2.840.10008.1.1") + Item(0x40, "1.2.840.10008.1.2");
    body += Item(0x20, pc);
  }
  std::string max;
  Put32(&max, 16384);
  body += Item(0x50, Item(0x51, max));
  return body;
}
std::string Pdu(uint8_t type, const std::string& body) {
  std::string out = {static_cast<char>(type), 0};
  Put32(&out, static_cast<uint32_t>(body.size()));
  return out + body;
}
AssociateRqCheck Check(const std::string& body) {
  return CheckAssociateRq(reinterpret_cast<const uint8_t*>(body.data()), body.size());
}

TEST(CheckAssociateRqTest, AcceptsAWellFormedRequest) {
  EXPECT_EQ(Check(RqBody(Field("TRESOR"), Field("CT1"), {1, 3, 255})).problem,
            AssociateRqProblem::kNone);
  // Leading spaces are not significant, but they are AE title characters.
  EXPECT_EQ(Check(RqBody(Field("  TRESOR"), Field("CT 1"), {1})).problem, AssociateRqProblem::kNone);
}

TEST(CheckAssociateRqTest, RefusesAeTitleFieldsDcmtkWouldCutShort) {
  std::string nul_padded = "CT1" + std::string(13, '\0');
  EXPECT_EQ(Check(RqBody(Field("TRESOR"), nul_padded, {1})).problem, AssociateRqProblem::kBadCallingAe);
  EXPECT_EQ(Check(RqBody("TRESOR" + std::string(10, '\0'), Field("CT1"), {1})).problem,
            AssociateRqProblem::kBadCalledAe);
  std::string inner_nul = Field("CT1");
  inner_nul[1] = '\0';
  EXPECT_EQ(Check(RqBody(Field("TRESOR"), inner_nul, {1})).problem, AssociateRqProblem::kBadCallingAe);
  EXPECT_EQ(Check(RqBody(Field("TRESOR"), Field("A\\B"), {1})).problem, AssociateRqProblem::kBadCallingAe);
  EXPECT_EQ(Check(RqBody(Field("TRESOR"), Field("CT\x01"), {1})).problem, AssociateRqProblem::kBadCallingAe);
  EXPECT_EQ(Check(RqBody(Field("TRESOR"), Field(""), {1})).problem, AssociateRqProblem::kBadCallingAe);
  std::string high = Field("CT1");
  high[5] = static_cast<char>(0xC3);
  EXPECT_EQ(Check(RqBody(Field("TRESOR"), high, {1})).problem, AssociateRqProblem::kBadCallingAe);
}

TEST(CheckAssociateRqTest, RefusesEvenZeroAndRepeatedContextIds) {
  EXPECT_EQ(Check(RqBody(Field("TRESOR"), Field("CT1"), {2})).problem, AssociateRqProblem::kBadContextId);
  EXPECT_EQ(Check(RqBody(Field("TRESOR"), Field("CT1"), {0})).problem, AssociateRqProblem::kBadContextId);
  EXPECT_EQ(Check(RqBody(Field("TRESOR"), Field("CT1"), {1, 3, 1})).problem,
            AssociateRqProblem::kBadContextId);
  EXPECT_EQ(Check(RqBody(Field("TRESOR"), Field("CT1"), {1, 254})).problem,
            AssociateRqProblem::kBadContextId);
}

TEST(CheckAssociateRqTest, ReportsStructureItCannotWalk) {
  EXPECT_EQ(Check("").problem, AssociateRqProblem::kMalformed);
  std::string body = RqBody(Field("TRESOR"), Field("CT1"), {1});
  EXPECT_EQ(Check(body.substr(0, body.size() - 3)).problem, AssociateRqProblem::kMalformed);
  body += std::string("\x20\x00\xFF\xFF", 4);  // an item claiming 65535 bytes
  EXPECT_EQ(Check(body).problem, AssociateRqProblem::kMalformed);
}

// The body of RqBody with the user information item's payload replaced by `user_info`.
std::string WithUserInfo(const std::string& user_info) {
  std::string body = RqBody(Field("TRESOR"), Field("CT1"), {1});
  const size_t at = body.rfind(std::string("\x50\x00", 2));
  return body.substr(0, at) + Item(0x50, user_info);
}

TEST(CheckAssociateRqTest, WalksSubItemsOfContextsAndUserInformation) {
  std::string max;
  Put32(&max, 16384);
  EXPECT_EQ(Check(WithUserInfo(Item(0x51, max))).problem, AssociateRqProblem::kNone);
  std::string role;
  Put16(&role, 17);
  role += std::string("1.2.840.10008.1.1") + std::string("\x01\x00", 2);
  std::string identity = {1, 0};
  Put16(&identity, 4);
  identity += "user";
  Put16(&identity, 0);
  EXPECT_EQ(Check(WithUserInfo(Item(0x51, max) + Item(0x52, "1.2.3") + Item(0x54, role) +
                               Item(0x55, "IMPL") + Item(0x58, identity)))
                .problem,
            AssociateRqProblem::kNone);
  // Types a request cannot hold: an answer's user identity, and undefined ones.
  EXPECT_EQ(Check(WithUserInfo(Item(0x51, max) + Item(0x59, std::string(2, '\0')))).problem,
            AssociateRqProblem::kMalformed);
  EXPECT_EQ(Check(WithUserInfo(Item(0x51, max) + Item(0x00, ""))).problem,
            AssociateRqProblem::kMalformed);
  // Found by fuzzing: a user information item one byte longer than its sub-items, after
  // an extended negotiation sub-item (DCMTK leaked that sub-item when it gave up).
  std::string ext;
  Put16(&ext, 0);
  ext += std::string("\x40\x00", 2);
  EXPECT_EQ(Check(WithUserInfo(Item(0x56, ext) + Item(0x51, max) + std::string(1, '\0'))).problem,
            AssociateRqProblem::kMalformed);
  EXPECT_EQ(Check(WithUserInfo(Item(0x51, "abc"))).problem, AssociateRqProblem::kMalformed);
  std::string bad_role;
  Put16(&bad_role, 40);  // a UID longer than the sub-item
  bad_role += "1.2";
  EXPECT_EQ(Check(WithUserInfo(Item(0x54, bad_role))).problem, AssociateRqProblem::kMalformed);
  std::string bad_identity = {1, 0};
  Put16(&bad_identity, 9);
  bad_identity += "user";
  EXPECT_EQ(Check(WithUserInfo(Item(0x58, bad_identity))).problem, AssociateRqProblem::kMalformed);

  // A presentation context: one abstract syntax, then transfer syntaxes.
  std::string body;
  Put16(&body, 1);
  Put16(&body, 0);
  body += Field("TRESOR") + Field("CT1") + std::string(32, '\0');
  body += Item(0x10, "1.2.840.10008.3.1.1.1");
  std::string no_ts = {1, 0, 0, 0};
  no_ts += Item(0x30, "1.2.840.10008.1.1");
  EXPECT_EQ(Check(body + Item(0x20, no_ts)).problem, AssociateRqProblem::kMalformed);
  std::string swapped = {1, 0, 0, 0};
  swapped += Item(0x40, "1.2.840.10008.1.2") + Item(0x30, "1.2.840.10008.1.1");
  EXPECT_EQ(Check(body + Item(0x20, swapped)).problem, AssociateRqProblem::kMalformed);
  std::string cut = {1, 0, 0, 0};
  cut += Item(0x30, "1.2.840.10008.1.1") + Item(0x40, "1.2.840.10008.1.2") + "\x40";
  EXPECT_EQ(Check(body + Item(0x20, cut)).problem, AssociateRqProblem::kMalformed);
}

TEST(CheckAssociateRqTest, RefusesItemsARequestCannotHold) {
  std::string body = RqBody(Field("TRESOR"), Field("CT1"), {1});
  std::string ac = {1, 0, 0, 0};
  ac += Item(0x40, "1.2.840.10008.1.2");
  EXPECT_EQ(Check(body + Item(0x21, ac)).problem, AssociateRqProblem::kMalformed);
  EXPECT_EQ(Check(body + Item(0x10, "1.2.840.10008.3.1.1.1")).problem, AssociateRqProblem::kMalformed);
  std::string max;
  Put32(&max, 16384);
  EXPECT_EQ(Check(body + Item(0x50, Item(0x51, max))).problem, AssociateRqProblem::kMalformed);
  // Structure is judged before the titles: DCMTK never sees a broken request.
  EXPECT_EQ(Check(RqBody(Field("TRESOR"), Field("CT\x03"), {1}) + Item(0x21, ac)).problem,
            AssociateRqProblem::kMalformed);
}

TEST(PduGuardTest, AbortsAStructurallyBrokenAssociateRq) {
  std::string max;
  Put32(&max, 16384);
  std::string broken = Pdu(0x01, WithUserInfo(Item(0x51, max) + std::string(2, '\0')));
  PduGuard guard(16384);
  EXPECT_FALSE(guard.Feed(reinterpret_cast<const uint8_t*>(broken.data()), broken.size()));
  EXPECT_NE(guard.error().find("malformed A-ASSOCIATE-RQ"), std::string::npos);
}

TEST(PduGuardTest, ChecksTheFirstAssociateRqFedInPieces) {
  std::string stream = Pdu(0x01, RqBody(Field("TRESOR"), "CT1" + std::string(13, '\0'), {1}));
  PduGuard guard(16384);
  for (char c : stream) {
    uint8_t b = static_cast<uint8_t>(c);
    ASSERT_TRUE(guard.Feed(&b, 1));  // the stream itself is fine: the server rejects
  }
  EXPECT_EQ(guard.associate_check().problem, AssociateRqProblem::kBadCallingAe);

  PduGuard good(16384);
  std::string ok = Pdu(0x01, RqBody(Field("TRESOR"), Field("CT1"), {1, 3}));
  ASSERT_TRUE(good.Feed(reinterpret_cast<const uint8_t*>(ok.data()), ok.size()));
  EXPECT_EQ(good.associate_check().problem, AssociateRqProblem::kNone);
}

TEST(PduGuardTest, StillRefusesOversizedAndUnknownPdus) {
  PduGuard guard(16384);
  std::string huge = {0x04, 0};
  Put32(&huge, 1 << 20);
  EXPECT_FALSE(guard.Feed(reinterpret_cast<const uint8_t*>(huge.data()), huge.size()));
  PduGuard other(16384);
  std::string unknown = Pdu(0x42, "xxxx");
  EXPECT_FALSE(other.Feed(reinterpret_cast<const uint8_t*>(unknown.data()), unknown.size()));
}

}  // namespace
}  // namespace tresor::dimse
