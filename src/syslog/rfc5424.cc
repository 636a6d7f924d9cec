#include "syslog/rfc5424.h"

namespace tresor::syslog {

namespace {

// PRINTUSASCII (33..126) only, at most `max` characters; "-" (NILVALUE) when empty.
std::string HeaderField(const std::string& value, size_t max) {
  std::string out;
  for (char c : value) {
    if (out.size() == max) break;
    out += (c >= 33 && c <= 126) ? c : '_';
  }
  return out.empty() ? "-" : out;
}

// PARAM-VALUE: '"', '\' and ']' escaped with a backslash.
std::string ParamValue(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '"' || c == '\\' || c == ']') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string FormatAuditSyslog(const archive::AuditRecord& r, const SyslogIdentity& id) {
  constexpr int kFacilityAuthPriv = 10;
  const int severity = r.outcome == archive::kAuditSuccess ? 5 : 4;
  std::string m = "<" + std::to_string(kFacilityAuthPriv * 8 + severity) + ">1 ";
  m += archive::FormatAuditTime(r.time) + " ";
  m += HeaderField(id.hostname, 255) + " ";
  m += "tresor ";
  m += HeaderField(id.procid, 128) + " ";
  m += "IHE+RFC-3881 ";
  // 32473: the enterprise number RFC 5612 reserves for documentation and examples.
  m += "[tresor@32473 seq=\"" + std::to_string(r.seq) + "\" hash=\"" + ParamValue(r.hash) + "\"] ";
  m += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
  m += archive::ToAuditMessageXml(r);
  return m;
}

std::string FrameOctetCounted(const std::string& message) {
  return std::to_string(message.size()) + " " + message;
}

}  // namespace tresor::syslog
