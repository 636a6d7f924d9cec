#include "web/http_message.h"

#include <algorithm>

#include "web/error_mapping.h"
#include "web/json_body.h"

namespace tresor::web {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> DecodeFormComponent(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= in.size()) {
        return InvalidArgument("malformed form data: incomplete %-escape");
      }
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return InvalidArgument("malformed form data: invalid %-escape");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

HttpResponse ErrorFor(const Status& status, int http_status) {
  if (http_status >= 500) {
    return HttpResponse::Error(http_status, http_status == 503 ? "service unavailable"
                                                                : "internal error");
  }
  HttpResponse r = HttpResponse::Error(http_status, status.message());
  if (http_status == 429) {
    r.headers.emplace_back("Retry-After", std::to_string(std::max(1, status.retry_after_seconds())));
  }
  return r;
}

}  // namespace

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return {};
}

HttpResponse HttpResponse::Json(int status, std::string json_text) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(json_text);
  return r;
}

HttpResponse HttpResponse::Error(int status, std::string_view message) {
  return Json(status, DumpJson(nlohmann::json{{"error", std::string(message)}}));
}

HttpResponse ErrorFromStatus(const Status& status) {
  return ErrorFor(status, HttpStatus(status.code()));
}

HttpResponse ErrorFromBodyStatus(const Status& status) {
  return ErrorFor(status, HttpStatusForBody(status.code()));
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string MediaType(std::string_view content_type) {
  size_t end = content_type.find(';');
  std::string_view type = content_type.substr(0, end);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  std::string out;
  out.reserve(type.size());
  for (char c : type) out.push_back(Lower(c));
  return out;
}

Result<std::map<std::string, std::string>> ParseFormUrlEncoded(std::string_view body) {
  std::map<std::string, std::string> fields;
  while (!body.empty()) {
    size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return InvalidArgument("malformed form data: field without '='");
    TRESOR_ASSIGN_OR_RETURN(std::string name, DecodeFormComponent(pair.substr(0, eq)));
    TRESOR_ASSIGN_OR_RETURN(std::string value, DecodeFormComponent(pair.substr(eq + 1)));
    if (!fields.emplace(std::move(name), std::move(value)).second) {
      return InvalidArgument("malformed form data: a field is given twice");
    }
  }
  return fields;
}

std::string TargetForLog(std::string_view path, std::string_view query) {
  constexpr size_t kMax = 256;
  std::string out;
  auto append = [&out](std::string_view text) {
    for (char c : text) {
      auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f || u == '"' || u == '\\') {
        static const char kHex[] = "0123456789abcdef";
        out += "\\x";
        out.push_back(kHex[u >> 4]);
        out.push_back(kHex[u & 15]);
      } else {
        out.push_back(c);
      }
    }
  };
  append(path);
  if (!query.empty()) {
    out.push_back('?');
    bool first = true;
    while (!query.empty()) {
      size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      if (pair.empty()) continue;
      if (!first) out.push_back('&');
      first = false;
      append(pair.substr(0, pair.find('=')));
    }
  }
  if (out.size() > kMax) {
    out.resize(kMax);
    out += "...";
  }
  return out;
}

}  // namespace tresor::web
