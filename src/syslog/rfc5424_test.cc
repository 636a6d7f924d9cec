// The RFC 5424 message of an audit record and its RFC 5425 octet-counting frame.
#include "syslog/rfc5424.h"

#include <gtest/gtest.h>

namespace tresor::syslog {
namespace {

archive::AuditRecord Sample() {
  archive::AuditRecord r;
  r.seq = 42;
  r.time = 1750000000;  // 2025-06-15T15:06:40Z
  r.hash = "ab01";
  r.event_id = archive::CodeOf(archive::AuditEventId::kQuery);
  r.action = 'E';
  r.source_id = "TRESOR";
  r.query = "PatientID=P1";
  r.sop_class_uid = "1.2.840.10008.5.1.4.1.2.2.1";
  archive::AuditParticipant p;
  p.user_id = "CT_AE";
  p.requestor = true;
  r.participants.push_back(p);
  return r;
}

TEST(Rfc5424, HeaderStructuredDataAndXmlBody) {
  const std::string m = FormatAuditSyslog(Sample(), {"pacs.example", "123"});
  const std::string head =
      "<85>1 2025-06-15T15:06:40Z pacs.example tresor 123 IHE+RFC-3881 "
      "[tresor@32473 seq=\"42\" hash=\"ab01\"] <?xml version=\"1.0\" encoding=\"UTF-8\"?>"
      "<AuditMessage>";
  ASSERT_EQ(m.substr(0, head.size()), head);
  EXPECT_EQ(m.substr(m.size() - 15), "</AuditMessage>");
  EXPECT_NE(m.find("csd-code=\"110112\""), std::string::npos);
  EXPECT_EQ(m.find('\n'), std::string::npos);
}

TEST(Rfc5424, FailuresAreWarningsAndHeaderFieldsArePrintableAscii) {
  archive::AuditRecord r = Sample();
  r.outcome = archive::kAuditMinorFailure;
  const std::string m = FormatAuditSyslog(r, {"host with space", ""});
  EXPECT_EQ(m.rfind("<84>1 2025-06-15T15:06:40Z host_with_space tresor - IHE+RFC-3881 ", 0), 0u) << m;
  r.hash = "a\"]\\";
  EXPECT_NE(FormatAuditSyslog(r, {}).find("hash=\"a\\\"\\]\\\\\"]"), std::string::npos);
  EXPECT_NE(FormatAuditSyslog(r, {}).find(" - tresor - "), std::string::npos);
}

TEST(Rfc5425, OctetCountingCountsBytes) {
  EXPECT_EQ(FrameOctetCounted("<85>1 x"), "7 <85>1 x");
  EXPECT_EQ(FrameOctetCounted("\xc3\xa9"), "2 \xc3\xa9");  // bytes, not characters
}

}  // namespace
}  // namespace tresor::syslog
