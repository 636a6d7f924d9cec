#include "web/audit_api.h"

#include <charconv>
#include <string>
#include <string_view>

#include "archive/audit.h"
#include "core/log.h"
#include "web/error_mapping.h"
#include "web/http_message.h"

namespace tresor::web {
namespace {

constexpr size_t kMaxLimit = 1000;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes one query component ('+' is a space); false when malformed.
bool Decode(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out->push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexDigit(in[i + 1]), lo = HexDigit(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out->push_back(c);
    }
  }
  return true;
}

Result<size_t> Count(const std::string& name, const std::string& value, size_t max) {
  size_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || n > max) {
    return InvalidArgument("parameter " + name + " must be a number from 0 to " + std::to_string(max));
  }
  return n;
}

Result<archive::AuditQuery> ParseQuery(std::string_view query_string) {
  archive::AuditQuery q;
  q.limit = 100;
  while (!query_string.empty()) {
    size_t amp = query_string.find('&');
    std::string_view part = query_string.substr(0, amp);
    query_string = amp == std::string_view::npos ? std::string_view() : query_string.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string name, value;
    if (!Decode(part.substr(0, eq), &name) ||
        !Decode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1), &value)) {
      return InvalidArgument("a query parameter is not correctly percent-encoded");
    }
    if (value.empty()) continue;
    if (name == "from" || name == "to") {
      auto t = archive::ParseAuditTime(value);
      if (!t.ok()) return InvalidArgument("parameter " + name + ": " + t.status().message());
      if (name == "from") {
        q.from = *t;
      } else {
        q.to = value.size() == 10 ? *t + 86399 : *t;  // a date: the whole day
      }
    } else if (name == "user") {
      q.user = value;
    } else if (name == "patient_id") {
      q.patient_id = value;
    } else if (name == "study") {
      q.study_uid = value;
    } else if (name == "event") {
      auto code = archive::ParseAuditEvent(value);
      if (!code.ok()) return InvalidArgument("parameter event: " + code.status().message());
      q.event_id = *code;
    } else if (name == "limit") {
      TRESOR_ASSIGN_OR_RETURN(q.limit, Count(name, value, kMaxLimit));
      if (q.limit == 0) return InvalidArgument("parameter limit must be at least 1");
    } else if (name == "offset") {
      TRESOR_ASSIGN_OR_RETURN(q.offset, Count(name, value, size_t{1} << 40));
    } else {
      return InvalidArgument("unknown query parameter (from, to, user, patient_id, study, event, "
                             "limit, offset)");
    }
  }
  return q;
}

HttpResponse ListAudit(archive::ArchiveService& archive, const HttpRequest& request,
                       const archive::Principal& who) {
  auto query = ParseQuery(request.query);
  if (!query.ok()) return ErrorFromStatus(query.status());
  auto page = archive.audit().List(who, *query);
  if (!page.ok()) {
    if (HttpStatus(page.status().code()) >= 500) {
      TRESOR_LOG(kError) << "audit list failed: " << page.status().ToString();
    }
    return ErrorFromStatus(page.status());
  }
  std::string body = "{\"records\":[";
  for (size_t i = 0; i < page->records.size(); ++i) {
    if (i > 0) body += ',';
    body += archive::ToAuditJson(page->records[i]);
  }
  body += "],\"more\":";
  body += page->more ? "true" : "false";
  body += "}";
  return HttpResponse::Json(200, std::move(body));
}

}  // namespace

void AddAuditRoutes(Router& router, archive::ArchiveService& archive) {
  router.Add(Route::Authenticated(
      "GET", "/api/audit",
      "The audit trail, filtered (auditor and admin roles; reading it is recorded)",
      [&archive](const HttpRequest& request, const archive::Principal& who) {
        return ListAudit(archive, request, who);
      }));
}

}  // namespace tresor::web
