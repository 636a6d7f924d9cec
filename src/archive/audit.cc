#include "archive/audit.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <map>

#include <nlohmann/json.hpp>

#include "core/log.h"
#include "security/audit_chain.h"
#include "store/audit_index.h"

namespace tresor::archive {

using nlohmann::json;

namespace {

AuditCode Dcm(const char* code, const char* meaning) { return {code, "DCM", meaning}; }

// "\nA\nB\n" for the store's filter columns ("" for none).
std::string JoinColumn(const std::vector<std::string>& values) {
  std::string out;
  for (const std::string& v : values) {
    if (v.empty()) continue;
    if (out.empty()) out = "\n";
    out += v;
    out += '\n';
  }
  return out;
}

std::vector<std::string> Actors(const AuditRecord& r) {
  std::vector<std::string> out;
  for (const AuditParticipant& p : r.participants) {
    if (!p.requestor) continue;
    out.push_back(p.user_id);
    if (!p.alt_user_id.empty()) out.push_back(p.alt_user_id);
  }
  return out;
}

void FillEntry(const AuditRecord& r, int64_t time, store::AuditEntry* out) {
  out->time = time;
  out->event_id = r.event_id.code;
  out->actors = JoinColumn(Actors(r));
  out->patient_ids = JoinColumn(r.patient_ids);
  out->study_uids = JoinColumn(r.study_uids);
  out->body = ToCanonicalJson(r);
}

json CodeJson(const AuditCode& c) { return json{{"code", c.code}, {"scheme", c.scheme}, {"meaning", c.meaning}}; }
AuditCode CodeFrom(const json& j) {
  return {j.at("code").get<std::string>(), j.at("scheme").get<std::string>(),
          j.at("meaning").get<std::string>()};
}

std::string XmlEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // Control characters are not allowed in XML 1.0 (except tab, CR, LF).
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          out += "&#xFFFD;";
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string XmlCode(const char* element, const AuditCode& c) {
  return "<" + std::string(element) + " csd-code=\"" + XmlEscape(c.code) + "\" codeSystemName=\"" +
         XmlEscape(c.scheme) + "\" originalText=\"" + XmlEscape(c.meaning) + "\"/>";
}

std::string Base64(const std::string& in) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace

AuditCode CodeOf(AuditEventId id) {
  switch (id) {
    case AuditEventId::kApplicationActivity: return Dcm("110100", "Application Activity");
    case AuditEventId::kAuditLogUsed: return Dcm("110101", "Audit Log Used");
    case AuditEventId::kInstancesAccessed: return Dcm("110103", "DICOM Instances Accessed");
    case AuditEventId::kInstancesTransferred: return Dcm("110104", "DICOM Instances Transferred");
    case AuditEventId::kStudyDeleted: return Dcm("110105", "DICOM Study Deleted");
    case AuditEventId::kExport: return Dcm("110106", "Export");
    case AuditEventId::kImport: return Dcm("110107", "Import");
    case AuditEventId::kQuery: return Dcm("110112", "Query");
    case AuditEventId::kSecurityAlert: return Dcm("110113", "Security Alert");
    case AuditEventId::kUserAuthentication: return Dcm("110114", "User Authentication");
  }
  return {};
}

AuditCode CodeOf(AuditEventType type) {
  switch (type) {
    case AuditEventType::kNone: return {};
    case AuditEventType::kApplicationStart: return Dcm("110120", "Application Start");
    case AuditEventType::kApplicationStop: return Dcm("110121", "Application Stop");
    case AuditEventType::kLogin: return Dcm("110122", "Login");
    case AuditEventType::kLogout: return Dcm("110123", "Logout");
    case AuditEventType::kNodeAuthentication: return Dcm("110126", "Node Authentication");
    case AuditEventType::kNetworkConfiguration: return Dcm("110128", "Network Configuration");
    case AuditEventType::kSecurityConfiguration: return Dcm("110129", "Security Configuration");
    case AuditEventType::kSoftwareConfiguration: return Dcm("110131", "Software Configuration");
    case AuditEventType::kUseOfRestrictedFunction: return Dcm("110132", "Use of Restricted Function");
    case AuditEventType::kObjectSecurityAttributesChanged:
      return Dcm("110135", "Object Security Attributes Changed");
    case AuditEventType::kSecurityRolesChanged: return Dcm("110136", "Security Roles Changed");
    case AuditEventType::kUserSecurityAttributesChanged:
      return Dcm("110137", "User Security Attributes Changed");
  }
  return {};
}

AuditCode CodeOf(AuditRole role) {
  switch (role) {
    case AuditRole::kNone: return {};
    case AuditRole::kApplication: return Dcm("110150", "Application");
    case AuditRole::kDestination: return Dcm("110152", "Destination Role ID");
    case AuditRole::kSource: return Dcm("110153", "Source Role ID");
  }
  return {};
}

int OutcomeOf(const Status& s) {
  switch (s.code()) {
    case Code::kOk: return kAuditSuccess;
    case Code::kInvalidArgument:
    case Code::kNotFound:
    case Code::kAlreadyExists:
    case Code::kConflict:
    case Code::kPermissionDenied:
    case Code::kUnauthenticated:
    case Code::kResourceExhausted:
    case Code::kUnsupported:
      return kAuditMinorFailure;
    default:
      return kAuditSeriousFailure;
  }
}

std::string ToCanonicalJson(const AuditRecord& r) {
  json j;
  j["event"] = CodeJson(r.event_id);
  if (!r.event_type.empty()) j["type"] = CodeJson(r.event_type);
  j["action"] = std::string(1, r.action);
  j["outcome"] = r.outcome;
  j["outcome_description"] = r.outcome_description;
  json parts = json::array();
  for (const AuditParticipant& p : r.participants) {
    json pj{{"user_id", p.user_id}, {"alt_user_id", p.alt_user_id}, {"host", p.host},
            {"requestor", p.requestor}};
    if (!p.role.empty()) pj["role"] = CodeJson(p.role);
    if (!p.kind.empty()) pj["kind"] = p.kind;
    parts.push_back(std::move(pj));
  }
  j["participants"] = std::move(parts);
  j["source"] = r.source_id;
  j["patients"] = r.patient_ids;
  j["studies"] = r.study_uids;
  j["sop_class"] = r.sop_class_uid;
  j["instances"] = r.instances;
  j["query"] = r.query;
  j["object"] = r.object;
  j["summary"] = r.summary;
  // nlohmann's objects are sorted maps: keys come out sorted; no whitespace.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<AuditRecord> ParseAuditBody(const std::string& body) {
  try {
    json j = json::parse(body);
    AuditRecord r;
    r.event_id = CodeFrom(j.at("event"));
    if (j.contains("type")) r.event_type = CodeFrom(j.at("type"));
    std::string action = j.at("action").get<std::string>();
    if (action.size() != 1) return InvalidArgument("audit record: bad action");
    r.action = action[0];
    r.outcome = j.at("outcome").get<int>();
    r.outcome_description = j.at("outcome_description").get<std::string>();
    for (const json& pj : j.at("participants")) {
      AuditParticipant p;
      p.user_id = pj.at("user_id").get<std::string>();
      p.alt_user_id = pj.at("alt_user_id").get<std::string>();
      p.host = pj.at("host").get<std::string>();
      p.requestor = pj.at("requestor").get<bool>();
      if (pj.contains("role")) p.role = CodeFrom(pj.at("role"));
      if (pj.contains("kind")) p.kind = pj.at("kind").get<std::string>();
      r.participants.push_back(std::move(p));
    }
    r.source_id = j.at("source").get<std::string>();
    r.patient_ids = j.at("patients").get<std::vector<std::string>>();
    r.study_uids = j.at("studies").get<std::vector<std::string>>();
    r.sop_class_uid = j.at("sop_class").get<std::string>();
    r.instances = j.at("instances").get<int64_t>();
    r.query = j.at("query").get<std::string>();
    r.object = j.at("object").get<std::string>();
    r.summary = j.at("summary").get<std::string>();
    return r;
  } catch (const json::exception&) {
    return InvalidArgument("audit record body is not a valid record");
  }
}

std::string FormatAuditTime(int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<int64_t> ParseAuditTime(const std::string& text) {
  auto bad = [&] {
    return InvalidArgument("time '" + text + "' is not YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or seconds");
  };
  if (text.empty()) return bad();
  if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) return bad();
    return v;
  }
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char tail = 0;
  int n = 0;
  if (text.size() == 10) {
    if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10) return bad();
  } else {
    if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6) {
      return bad();
    }
    if (static_cast<size_t>(n) != text.size()) {
      if (static_cast<size_t>(n) + 1 != text.size() || (tail = text[n]) != 'Z') return bad();
    }
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return bad();
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<int64_t>(timegm(&tm));
}

std::string ToAuditMessageXml(const AuditRecord& r) {
  std::string x = "<AuditMessage>";
  x += "<EventIdentification EventActionCode=\"" + std::string(1, r.action) + "\" EventDateTime=\"" +
       FormatAuditTime(r.time) + "\" EventOutcomeIndicator=\"" + std::to_string(r.outcome) + "\">";
  x += XmlCode("EventID", r.event_id);
  if (!r.event_type.empty()) x += XmlCode("EventTypeCode", r.event_type);
  if (!r.outcome_description.empty()) {
    x += "<EventOutcomeDescription>" + XmlEscape(r.outcome_description) + "</EventOutcomeDescription>";
  }
  x += "</EventIdentification>";
  for (const AuditParticipant& p : r.participants) {
    x += "<ActiveParticipant UserID=\"" + XmlEscape(p.user_id) + "\"";
    if (!p.alt_user_id.empty()) x += " AlternativeUserID=\"" + XmlEscape(p.alt_user_id) + "\"";
    x += std::string(" UserIsRequestor=\"") + (p.requestor ? "true" : "false") + "\"";
    if (!p.host.empty()) {
      x += " NetworkAccessPointID=\"" + XmlEscape(p.host) + "\" NetworkAccessPointTypeCode=\"2\"";
    }
    x += ">";
    if (!p.role.empty()) x += XmlCode("RoleIDCode", p.role);
    x += "</ActiveParticipant>";
  }
  x += "<AuditSourceIdentification AuditSourceID=\"" + XmlEscape(r.source_id) + "\">" +
       XmlCode("AuditSourceTypeCode", {"4", "DCM", "Application Server Process"}) +
       "</AuditSourceIdentification>";
  for (const std::string& id : r.patient_ids) {
    x += "<ParticipantObjectIdentification ParticipantObjectID=\"" + XmlEscape(id) +
         "\" ParticipantObjectTypeCode=\"1\" ParticipantObjectTypeCodeRole=\"1\">" +
         XmlCode("ParticipantObjectIDTypeCode", {"2", "RFC-3881", "Patient Number"}) +
         "</ParticipantObjectIdentification>";
  }
  for (const std::string& uid : r.study_uids) {
    x += "<ParticipantObjectIdentification ParticipantObjectID=\"" + XmlEscape(uid) +
         "\" ParticipantObjectTypeCode=\"2\" ParticipantObjectTypeCodeRole=\"3\">" +
         XmlCode("ParticipantObjectIDTypeCode", Dcm("110180", "Study Instance UID"));
    if (!r.sop_class_uid.empty() && r.query.empty()) {
      x += "<SOPClass UID=\"" + XmlEscape(r.sop_class_uid) + "\" NumberOfInstances=\"" +
           std::to_string(r.instances) + "\"/>";
    }
    x += "</ParticipantObjectIdentification>";
  }
  if (!r.query.empty()) {
    x += "<ParticipantObjectIdentification ParticipantObjectID=\"" + XmlEscape(r.sop_class_uid) +
         "\" ParticipantObjectTypeCode=\"2\" ParticipantObjectTypeCodeRole=\"3\">" +
         XmlCode("ParticipantObjectIDTypeCode", Dcm("110181", "SOP Class UID")) +
         "<ParticipantObjectQuery>" + Base64(r.query) + "</ParticipantObjectQuery>" +
         "</ParticipantObjectIdentification>";
  }
  if (!r.object.empty()) {
    x += "<ParticipantObjectIdentification ParticipantObjectID=\"" + XmlEscape(r.object) +
         "\" ParticipantObjectTypeCode=\"2\" ParticipantObjectTypeCodeRole=\"13\">" +
         XmlCode("ParticipantObjectIDTypeCode", {"12", "RFC-3881", "URI"}) +
         "</ParticipantObjectIdentification>";
  }
  x += "</AuditMessage>";
  return x;
}

std::string ToAuditJson(const AuditRecord& r) {
  json j;
  j["seq"] = r.seq;
  j["time"] = FormatAuditTime(r.time);
  j["event_id"] = r.event_id.code;
  j["event_name"] = r.event_id.meaning;
  j["event_type"] = r.event_type.code;
  j["event_type_name"] = r.event_type.meaning;
  j["action"] = std::string(1, r.action);
  j["outcome"] = r.outcome;
  j["outcome_description"] = r.outcome_description;
  std::string user, ae, host;
  for (const AuditParticipant& p : r.participants) {
    if (!p.requestor) continue;
    host = p.host;
    if (p.kind == "user" || p.kind == "local") {
      user = p.user_id;
    } else if (p.kind == "user-via-peer") {
      user = p.user_id;
      ae = p.alt_user_id;
    } else {  // peer, node
      ae = p.user_id;
    }
    break;
  }
  j["user"] = user;
  j["ae_title"] = ae;
  j["host"] = host;
  std::string patients;
  for (const std::string& p : r.patient_ids) patients += (patients.empty() ? "" : "\\") + p;
  j["patient_id"] = patients;
  j["patient_ids"] = r.patient_ids;
  j["study_uids"] = r.study_uids;
  j["sop_class_uid"] = r.sop_class_uid;
  j["instances"] = r.instances;
  j["query"] = r.query;
  j["object"] = r.object;
  j["summary"] = r.summary;
  json parts = json::array();
  for (const AuditParticipant& p : r.participants) {
    parts.push_back({{"user_id", p.user_id}, {"alt_user_id", p.alt_user_id}, {"host", p.host},
                     {"requestor", p.requestor}, {"role", p.role.code}});
  }
  j["participants"] = std::move(parts);
  j["source"] = r.source_id;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<std::string> ParseAuditEvent(const std::string& text) {
  static const std::map<std::string, std::string> kNames = {
      {"application", "110100"}, {"audit", "110101"},    {"accessed", "110103"},
      {"transferred", "110104"}, {"deleted", "110105"},  {"export", "110106"},
      {"import", "110107"},      {"query", "110112"},    {"alert", "110113"},
      {"authentication", "110114"}};
  if (text.size() == 6 && text.rfind("110", 0) == 0 &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return text;
  }
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto it = kNames.find(lower);
  if (it == kNames.end()) {
    return InvalidArgument("unknown audit event '" + text +
                           "' (a CID 400 code such as 110112, or application, audit, accessed, "
                           "transferred, deleted, export, import, query, alert, authentication)");
  }
  return it->second;
}

// ---- AuditService ----

AuditService::AuditService(store::AuditIndex& index, const ArchiveOptions& options,
                           const core::Clock& clock)
    : index_(index),
      ae_title_(options.ae_title),
      source_id_(options.node.empty() ? options.ae_title : options.ae_title + "@" + options.node),
      seed_(options.audit_signing_seed), clock_(clock) {
  if (!seed_.empty()) {
    auto key = security::AuditKeyFromSeed(seed_);
    if (key.ok()) {
      public_key_ = key->public_key;
    } else {
      TRESOR_LOG(kError) << "audit signing key unusable: " << key.status().ToString();
    }
  }
}

AuditRecord AuditService::Compose(const Principal& who, const AuditEvent& e) const {
  AuditRecord r;
  r.event_id = CodeOf(e.id);
  r.event_type = CodeOf(e.type);
  r.action = e.action;
  r.outcome = e.outcome;
  r.outcome_description = e.outcome_description;
  AuditParticipant requestor;
  requestor.requestor = true;
  requestor.host = who.address;
  requestor.role = CodeOf(e.requestor_role);
  if (who.IsUser()) {
    requestor.user_id = who.user;
    requestor.alt_user_id = who.peer_name.empty() ? "" : who.ae_title;
    requestor.kind = who.peer_name.empty() ? "user" : "user-via-peer";
  } else if (!who.peer_name.empty()) {
    requestor.user_id = who.ae_title;
    requestor.alt_user_id = who.peer_name;
    requestor.kind = "peer";
  } else if (IsLocalAdmin(who) && who.address == "local") {
    requestor.user_id = "local administrator";
    requestor.kind = "local";
  } else {
    requestor.user_id = who.ae_title.empty() ? "unknown" : who.ae_title;  // an AE not admitted
    requestor.kind = "node";
  }
  r.participants.push_back(std::move(requestor));
  AuditParticipant archive;
  archive.user_id = ae_title_;
  archive.requestor = false;
  archive.role = CodeOf(e.archive_role);
  r.participants.push_back(std::move(archive));
  r.source_id = source_id_;
  r.patient_ids = e.patient_ids;
  r.study_uids = e.study_uids;
  r.sop_class_uid = e.sop_class_uid;
  r.instances = e.instances;
  r.query = e.query;
  r.object = e.object;
  r.summary = e.summary;
  return r;
}

void AuditService::Build(const Principal& who, const AuditEvent& event, int64_t time,
                         store::AuditEntry* out) const {
  FillEntry(Compose(who, event), time, out);
}

Status AuditService::Record(const Principal& who, const AuditEvent& event) {
  return RecordAll(who, {event});
}

Status AuditService::RecordAll(const Principal& who, const std::vector<AuditEvent>& events) {
  if (events.empty()) return Status::Ok();
  const int64_t now = clock_.WallSeconds();
  std::vector<store::AuditEntry> entries(events.size());
  for (size_t i = 0; i < events.size(); ++i) Build(who, events[i], now, &entries[i]);
  Status s = index_.AppendAudit(entries);
  if (!s.ok()) {
    TRESOR_LOG(kError) << "audit record could not be written (the action fails): " << s.ToString();
    return Status(Code::kIoError, "the audit record could not be written");
  }
  return Status::Ok();
}

Result<AuditPage> AuditService::List(const Principal& who, const AuditQuery& q) {
  const bool allowed = IsLocalAdmin(who) || (who.IsUser() && (who.role == "auditor" || who.role == "admin"));
  AuditEvent used;
  used.id = AuditEventId::kAuditLogUsed;
  used.action = 'R';
  used.requestor_role = AuditRole::kDestination;
  used.archive_role = AuditRole::kSource;
  std::string filter;
  auto add = [&](const char* k, const std::string& v) {
    if (!v.empty()) filter += (filter.empty() ? "" : "; ") + std::string(k) + "=" + v;
  };
  if (q.from) add("from", FormatAuditTime(*q.from));
  if (q.to) add("to", FormatAuditTime(*q.to));
  add("user", q.user);
  add("patient_id", q.patient_id);
  add("study", q.study_uid);
  add("event", q.event_id);
  used.query = filter;
  if (!q.patient_id.empty()) used.patient_ids = {q.patient_id};
  if (!q.study_uid.empty()) used.study_uids = {q.study_uid};
  used.object = "audit trail";
  used.summary = "audit trail read";
  if (!allowed) {
    used.outcome = kAuditMinorFailure;
    used.outcome_description = "not an auditor";
    TRESOR_RETURN_IF_ERROR(Record(who, used));
    return PermissionDenied(who.Describe() + " may not read the audit trail");
  }
  std::string event_code;
  if (!q.event_id.empty()) {
    TRESOR_ASSIGN_OR_RETURN(event_code, ParseAuditEvent(q.event_id));
  }
  if (q.limit > 10000) return InvalidArgument("limit must be at most 10000");
  TRESOR_RETURN_IF_ERROR(Record(who, used));
  store::AuditFilter f;
  f.from_time = q.from;
  f.to_time = q.to;
  f.event_id = event_code;
  f.actor = q.user;
  f.patient_id = q.patient_id;
  f.study_uid = q.study_uid;
  f.limit = q.limit;
  f.offset = q.offset;
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::AuditRow> rows, index_.ListAudit(f));
  AuditPage page;
  page.more = rows.size() > q.limit;
  if (page.more) rows.resize(q.limit);
  for (const store::AuditRow& row : rows) {
    auto parsed = ParseAuditBody(row.entry.body);
    AuditRecord r;
    if (parsed.ok()) {
      r = std::move(parsed).value();
    } else {
      r.summary = "unreadable record (run tresor audit verify)";
      r.outcome = kAuditMajorFailure;
    }
    r.seq = row.seq;
    r.time = row.entry.time;
    page.records.push_back(std::move(r));
  }
  return page;
}

Result<AuditVerification> AuditService::Verify(const Principal& who, const std::string& public_key) {
  TRESOR_RETURN_IF_ERROR(RequireAdmin(who));
  const std::string& key = public_key.empty() ? public_key_ : public_key;
  AuditVerification v;
  auto fail = [&](int64_t seq, std::string problem) {
    if (!v.intact) return;  // keep the first
    v.intact = false;
    v.first_bad_seq = seq;
    v.problem = std::move(problem);
  };
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::AuditCheckpointRecord> checkpoints,
                          index_.ListAuditCheckpoints());
  std::map<int64_t, const store::AuditCheckpointRecord*> signed_at;
  std::string key_hex;
  {
    static const char kDigits[] = "0123456789abcdef";
    for (unsigned char c : key) {
      key_hex += kDigits[c >> 4];
      key_hex += kDigits[c & 15];
    }
  }
  for (const store::AuditCheckpointRecord& c : checkpoints) {
    ++v.checkpoints;
    if (key.empty()) {
      fail(c.seq, "checkpoint cannot be checked: no public key");
    } else if (c.public_key != key_hex) {
      fail(c.seq, "checkpoint signed by another key");
    } else if (!security::VerifyAuditCheckpoint(key, c.seq, c.hash, c.time, c.signature)) {
      fail(c.seq, "checkpoint signature is invalid");
    }
    signed_at[c.seq] = &c;
    v.last_signed_seq = std::max(v.last_signed_seq, c.seq);
  }
  std::string prev = security::kAuditGenesisHash;
  int64_t expected = 1;
  constexpr size_t kPage = 2000;
  for (int64_t after = 0;;) {
    TRESOR_ASSIGN_OR_RETURN(std::vector<store::AuditRow> rows, index_.ReadAuditChain(after, kPage));
    for (const store::AuditRow& row : rows) {
      ++v.records;
      if (row.seq != expected) {
        fail(expected, "record " + std::to_string(expected) + " is missing (next stored is " +
                           std::to_string(row.seq) + ")");
      } else if (row.prev_hash != prev) {
        fail(row.seq, "record does not link to the one before it (removed, inserted or reordered)");
      } else if (security::AuditChainHash(prev, row.seq, row.entry.time, row.entry.body) != row.hash) {
        fail(row.seq, "record content was altered (hash mismatch)");
      } else {
        auto parsed = ParseAuditBody(row.entry.body);
        if (!parsed.ok() || ToCanonicalJson(*parsed) != row.entry.body) {
          fail(row.seq, "record body is not a canonical audit record");
        } else {
          store::AuditEntry derived;
          FillEntry(*parsed, row.entry.time, &derived);
          if (derived.event_id != row.entry.event_id || derived.actors != row.entry.actors ||
              derived.patient_ids != row.entry.patient_ids ||
              derived.study_uids != row.entry.study_uids) {
            fail(row.seq, "record's search columns disagree with its content");
          }
        }
      }
      auto cp = signed_at.find(row.seq);
      if (cp != signed_at.end() && cp->second->hash != row.hash) {
        fail(row.seq, "record differs from the signed checkpoint at this seq");
      }
      prev = row.hash;
      expected = row.seq + 1;
      after = row.seq;
    }
    if (rows.size() < kPage) break;
  }
  const int64_t last = expected - 1;
  if (v.last_signed_seq > last) {
    fail(last + 1, "trail ends at seq " + std::to_string(last) + " but a checkpoint signed seq " +
                       std::to_string(v.last_signed_seq) + " (records cut from the tail)");
  }
  AuditEvent used;
  used.id = AuditEventId::kAuditLogUsed;
  used.action = 'R';
  used.outcome = v.intact ? kAuditSuccess : kAuditSeriousFailure;
  used.outcome_description = v.intact ? "" : "verification failed at seq " + std::to_string(v.first_bad_seq);
  used.object = "audit trail";
  used.summary = "audit trail verified";
  TRESOR_RETURN_IF_ERROR(Record(who, used));
  return v;
}

Status AuditService::Checkpoint() {
  if (public_key_.empty()) return Unsupported("no audit signing key");
  TRESOR_ASSIGN_OR_RETURN(std::optional<store::AuditRow> head, index_.AuditHead());
  if (!head) return Status::Ok();
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::AuditCheckpointRecord> checkpoints,
                          index_.ListAuditCheckpoints());
  if (!checkpoints.empty() && checkpoints.back().seq == head->seq &&
      checkpoints.back().hash == head->hash) {
    return Status::Ok();
  }
  TRESOR_ASSIGN_OR_RETURN(security::AuditSigningKey key, security::AuditKeyFromSeed(seed_));
  const int64_t now = clock_.WallSeconds();
  TRESOR_ASSIGN_OR_RETURN(std::string signature,
                          security::SignAuditCheckpoint(key, head->seq, head->hash, now));
  store::AuditCheckpointRecord c;
  c.seq = head->seq;
  c.hash = head->hash;
  c.time = now;
  static const char kDigits[] = "0123456789abcdef";
  for (unsigned char ch : key.public_key) {
    c.public_key += kDigits[ch >> 4];
    c.public_key += kDigits[ch & 15];
  }
  c.signature = signature;
  return index_.PutAuditCheckpoint(c);
}

Result<std::vector<AuditRecord>> AuditService::ReadAfter(int64_t after_seq, size_t max) {
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::AuditRow> rows, index_.ReadAuditChain(after_seq, max));
  std::vector<AuditRecord> out;
  out.reserve(rows.size());
  for (const store::AuditRow& row : rows) {
    auto parsed = ParseAuditBody(row.entry.body);
    AuditRecord r;
    if (parsed.ok()) {
      r = std::move(parsed).value();
    } else {
      r.event_id = CodeOf(AuditEventId::kSecurityAlert);
      r.outcome = kAuditMajorFailure;
      r.outcome_description = "unreadable record (run tresor audit verify)";
      r.source_id = source_id_;
    }
    r.seq = row.seq;
    r.time = row.entry.time;
    r.hash = row.hash;
    out.push_back(std::move(r));
  }
  return out;
}

Result<int64_t> AuditService::ForwardCursor(const std::string& destination) {
  return index_.AuditForwardCursor(destination);
}

Status AuditService::SetForwardCursor(const std::string& destination, int64_t seq) {
  return index_.SetAuditForwardCursor(destination, seq);
}

}  // namespace tresor::archive
