// RFC 5424 syslog messages of audit records and their RFC 5425 framing.
//
// One message per record:
//   <PRI>1 TIMESTAMP HOSTNAME tresor PROCID IHE+RFC-3881 [tresor@32473 seq="N" hash="H"] XML
// PRI is facility 10 (security/authorization) with severity 5 (notice) for a successful
// action, 4 (warning) for any other outcome; TIMESTAMP the record's time (UTC);
// the structured data carries the record's seq (gapless, so a collector can see a gap
// and drop a copy it already holds) and its chain hash (to compare with the trail later);
// the message is the DICOM audit message (PS3.15 A.5.1) of the record, UTF-8, with an XML
// declaration and without BOM.
#pragma once

#include <string>

#include "archive/audit.h"

namespace tresor::syslog {

struct SyslogIdentity {
  std::string hostname;  // HOSTNAME (printable ASCII; others become '_'); empty: "-"
  std::string procid;    // PROCID; empty: "-"
};

std::string FormatAuditSyslog(const archive::AuditRecord& record, const SyslogIdentity& identity);
// RFC 5425 section 4.3 octet-counting: "MSG-LEN SP SYSLOG-MSG".
std::string FrameOctetCounted(const std::string& message);

}  // namespace tresor::syslog
