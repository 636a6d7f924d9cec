// `tresor audit`: verify, list and export the audit trail, sign a checkpoint now.
#include <iostream>

#include "app/cli.h"
#include "app/data_dir.h"
#include "archive/audit.h"
#include "core/hex.h"
#include "security/audit_chain.h"

namespace tresor::app {
namespace {

// The filters shared by list and export.
Result<archive::AuditQuery> QueryFromFlags(const Args& a) {
  archive::AuditQuery q;
  if (!a.Flag("from").empty()) {
    TRESOR_ASSIGN_OR_RETURN(int64_t from, archive::ParseAuditTime(a.Flag("from")));
    q.from = from;
  }
  if (!a.Flag("to").empty()) {
    TRESOR_ASSIGN_OR_RETURN(int64_t to, archive::ParseAuditTime(a.Flag("to")));
    // A date alone means the whole day.
    q.to = a.Flag("to").size() == 10 ? to + 86399 : to;
  }
  q.user = a.Flag("user");
  q.patient_id = a.Flag("patient-id");
  q.study_uid = a.Flag("study");
  if (!a.Flag("event").empty()) {
    TRESOR_ASSIGN_OR_RETURN(q.event_id, archive::ParseAuditEvent(a.Flag("event")));
  }
  return q;
}

std::string TextLine(const archive::AuditRecord& r) {
  std::string who;
  for (const archive::AuditParticipant& p : r.participants) {
    if (!p.requestor) continue;
    who = p.user_id + (p.alt_user_id.empty() ? "" : " (" + p.alt_user_id + ")") +
          (p.host.empty() ? "" : " from " + p.host);
  }
  std::string line = std::to_string(r.seq) + "  " + archive::FormatAuditTime(r.time) + "  " +
                     r.event_id.code + " " + r.event_id.meaning;
  if (!r.event_type.empty()) line += " / " + r.event_type.meaning;
  line += "  " + std::string(1, r.action) + "  outcome " + std::to_string(r.outcome) + "  " + who;
  if (!r.summary.empty()) line += "  " + r.summary;
  if (!r.study_uids.empty()) line += "  studies " + std::to_string(r.study_uids.size());
  if (r.instances > 0) line += "  instances " + std::to_string(r.instances);
  return line;
}

int Verify(archive::ArchiveService& archive, const Args& a) {
  std::string key;
  if (!a.Flag("public-key").empty()) {
    if (!security::AuditHexDecode(a.Flag("public-key"), &key) || key.size() != 32) {
      return Fail(InvalidArgument("--public-key must be 64 hex digits"));
    }
  }
  auto v = archive.audit().Verify(archive::Principal::LocalAdmin(), key);
  if (!v.ok()) return Fail(v.status());
  if (!v->intact) {
    std::cout << "audit trail TAMPERED: first bad record seq " << v->first_bad_seq << ": "
              << v->problem << "\n"
              << "(" << v->records << " records and " << v->checkpoints << " checkpoints read)\n";
    return 3;
  }
  std::cout << "audit trail intact: " << v->records << " records, " << v->checkpoints
            << " signed checkpoints (last signed seq " << v->last_signed_seq << ")\n";
  return 0;
}

}  // namespace

int CmdAudit(const Args& a) {
  if (a.positional.empty()) {
    return Fail(InvalidArgument("usage: tresor audit verify|list|export|checkpoint|public-key"));
  }
  const std::string& sub = a.positional[0];
  if (sub == "verify") {
    TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {"public-key"}));
  } else if (sub == "list" || sub == "export") {
    TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(
        a, {"from", "to", "user", "patient-id", "study", "event", "limit", "offset", "format"}));
  } else if (sub == "checkpoint" || sub == "public-key") {
    TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {}));
  } else {
    return Fail(InvalidArgument("unknown audit command '" + sub +
                                "' (verify, list, export, checkpoint, public-key)"));
  }
  auto opened = OpenDataDir(ResolveDataDir(a.Flag("data")));
  if (!opened.ok()) return Fail(opened.status());
  archive::ArchiveService& archive = *(*opened)->archive;
  if (sub == "verify") return Verify(archive, a);
  if (sub == "checkpoint") {
    TRESOR_RETURN_IF_ERROR_CLI(archive.audit().Checkpoint());
    std::cout << "checkpoint signed\n";
    return 0;
  }
  if (sub == "public-key") {
    const std::string& key = archive.audit().public_key();
    if (key.empty()) return Fail(Unsupported("no audit signing key"));
    std::cout << HexEncode(key.data(), key.size()) << "\n";
    return 0;
  }
  auto query = QueryFromFlags(a);
  if (!query.ok()) return Fail(query.status());
  const auto admin = archive::Principal::LocalAdmin();
  if (sub == "list") {
    const std::string format = a.Flag("format", "text");
    if (format != "text" && format != "json") return Fail(InvalidArgument("--format must be text or json"));
    auto limit = IntFlag(a, "limit", 100);
    auto offset = IntFlag(a, "offset", 0);
    if (!limit.ok()) return Fail(limit.status());
    if (!offset.ok()) return Fail(offset.status());
    if (*limit < 1 || *limit > 10000 || *offset < 0) {
      return Fail(InvalidArgument("--limit must be 1-10000 and --offset at least 0"));
    }
    query->limit = static_cast<size_t>(*limit);
    query->offset = static_cast<size_t>(*offset);
    auto page = archive.audit().List(admin, *query);
    if (!page.ok()) return Fail(page.status());
    for (const archive::AuditRecord& r : page->records) {
      std::cout << (format == "json" ? archive::ToAuditJson(r) : TextLine(r)) << "\n";
    }
    if (page->more && format == "text") std::cout << "(more: use --offset " << *offset + *limit << ")\n";
    return 0;
  }
  // export: every matching record, page by page.
  const std::string format = a.Flag("format", "xml");
  if (format != "xml" && format != "json") return Fail(InvalidArgument("--format must be xml or json"));
  if (!a.Flag("limit").empty() || !a.Flag("offset").empty()) {
    return Fail(InvalidArgument("export writes every matching record: no --limit/--offset"));
  }
  std::cout << (format == "xml" ? "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AuditMessages>\n" : "[\n");
  query->limit = 10000;
  bool first = true;
  for (size_t offset = 0;; offset += query->limit) {
    query->offset = offset;
    auto page = archive.audit().List(admin, *query);
    if (!page.ok()) return Fail(page.status());
    for (const archive::AuditRecord& r : page->records) {
      if (format == "xml") {
        std::cout << archive::ToAuditMessageXml(r) << "\n";
      } else {
        std::cout << (first ? "" : ",\n") << archive::ToAuditJson(r);
      }
      first = false;
    }
    if (!page->more) break;
  }
  std::cout << (format == "xml" ? "</AuditMessages>\n" : "\n]\n");
  return std::cout.good() ? 0 : Fail(IoError("cannot write the export"));
}

}  // namespace tresor::app
