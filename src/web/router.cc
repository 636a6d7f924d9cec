#include "web/router.h"

#include <cstdlib>
#include <exception>

#include "core/log.h"
#include "core/sha256.h"
#include "web/json_body.h"

namespace tresor::web {
namespace {

constexpr char kChallenge[] = "Bearer realm=\"tresor\"";
constexpr char kInvalidTokenChallenge[] = "Bearer realm=\"tresor\", error=\"invalid_token\"";
constexpr size_t kMaxCredentialBytes = 8192;

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    if (path.front() == '/') path.remove_prefix(1);
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
    if (path == "/") {  // trailing slash: an empty last segment
      out.emplace_back();
      break;
    }
  }
  return out;
}

bool IsParam(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

bool IsPrefixPattern(std::string_view pattern) {
  return pattern.size() >= 2 && pattern.substr(pattern.size() - 2) == "/*";
}

// True if `path` matches the route pattern; fills `params` with the {name} segments (or
// the rest of a prefix route).
bool Match(std::string_view pattern, std::string_view path,
           std::map<std::string, std::string>* params) {
  if (IsPrefixPattern(pattern)) {
    std::string_view prefix = pattern.substr(0, pattern.size() - 1);
    if (path.substr(0, prefix.size()) != prefix) return false;
    if (params) *params = {{kRestParam, std::string(path.substr(prefix.size()))}};
    return true;
  }
  auto want = Segments(pattern);
  auto got = Segments(path);
  if (want.size() != got.size()) return false;
  std::map<std::string, std::string> found;
  for (size_t i = 0; i < want.size(); ++i) {
    if (IsParam(want[i])) {
      if (got[i].empty()) return false;
      found.emplace(std::string(want[i].substr(1, want[i].size() - 2)), std::string(got[i]));
    } else if (want[i] != got[i]) {
      return false;
    }
  }
  if (params) *params = std::move(found);
  return true;
}

// token68 (RFC 7235): the only syntax a bearer credential can have.
bool IsToken68(std::string_view s) {
  if (s.empty() || s.size() > kMaxCredentialBytes) return false;
  size_t i = 0;
  for (; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
    if (!ok) break;
  }
  if (i == 0) return false;
  for (; i < s.size(); ++i) {
    if (s[i] != '=') return false;
  }
  return true;
}

HttpResponse Unauthorized(std::string_view message, const char* challenge) {
  HttpResponse r = HttpResponse::Error(401, message);
  r.headers.emplace_back("WWW-Authenticate", challenge);
  return r;
}

std::string Lowercase(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// "GET", "/api/openapi.json" -> "get_api_openapi_json".
std::string OperationId(const std::string& method, const std::string& path) {
  std::string id = Lowercase(method);
  for (char c : path) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alnum) {
      id.push_back(c);
    } else if (id.back() != '_') {
      id.push_back('_');
    }
  }
  while (id.back() == '_') id.pop_back();
  return id;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

// RFC 6265 cookie-octet: printable US-ASCII except space, '"', ',', ';' and '\\'.
bool IsCookieOctet(char c) {
  return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) ||
         (c >= 0x3C && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

// RFC 7230 tchar, for cookie names.
bool IsTokenChar(char c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsSafeMethod(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

bool AcceptsHtml(const HttpRequest& head) {
  for (const auto& [name, value] : head.headers) {
    if (EqualsIgnoreCase(name, "Accept") && value.find("text/html") != std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string SignInLocation(std::string_view path, std::string_view query) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string target(path);
  if (!query.empty()) {
    target += '?';
    target += query;
  }
  std::string out = "/?next=";
  for (unsigned char c : target) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '/' || c == '.' || c == '_' || c == '~' || c == '-';
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string CsrfTokenFor(std::string_view session_token) {
  static constexpr std::string_view kLabel = "tresor csrf v1\n";
  Sha256 hash;
  hash.Update(kLabel.data(), kLabel.size());
  hash.Update(session_token.data(), session_token.size());
  return hash.FinishHex();
}

Result<std::string> CookieValue(const HttpRequest& request, std::string_view name) {
  std::string found;
  bool seen = false;
  for (const auto& [header, value] : request.headers) {
    if (!EqualsIgnoreCase(header, "Cookie")) continue;
    std::string_view rest = value;
    while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t')) rest.remove_suffix(1);
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
    while (true) {
      size_t end = rest.find(';');
      std::string_view pair = rest.substr(0, end);
      size_t eq = pair.find('=');
      if (eq == std::string_view::npos || eq == 0) return InvalidArgument("malformed Cookie header");
      std::string_view key = pair.substr(0, eq);
      std::string_view val = pair.substr(eq + 1);
      if (val.size() >= 2 && val.front() == '"' && val.back() == '"') {
        val = val.substr(1, val.size() - 2);
      }
      for (char c : key) {
        if (!IsTokenChar(c)) return InvalidArgument("malformed Cookie header");
      }
      for (char c : val) {
        if (!IsCookieOctet(c)) return InvalidArgument("malformed Cookie header");
      }
      if (key == name) {
        if (seen) return InvalidArgument("cookie given twice");
        seen = true;
        found = std::string(val);
      }
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
      if (rest.empty() || rest.front() != ' ') return InvalidArgument("malformed Cookie header");
      rest.remove_prefix(1);
    }
  }
  return found;
}

Route Route::Public(std::string method, std::string path, std::string summary,
                    PublicHandler handler) {
  Route r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.summary = std::move(summary);
  r.public_handler = std::move(handler);
  return r;
}

Route Route::Authenticated(std::string method, std::string path, std::string summary,
                           AuthenticatedHandler handler) {
  Route r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.summary = std::move(summary);
  r.handler = std::move(handler);
  return r;
}

Route Route::Streamed(std::string method, std::string path, std::string summary,
                      std::vector<std::string> body_types, uint64_t max_body_bytes,
                      StreamHandler handler) {
  Route r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.summary = std::move(summary);
  r.body_types = std::move(body_types);
  r.max_body_bytes = max_body_bytes;
  r.stream_handler = std::move(handler);
  return r;
}

std::string Router::Decision::user() const {
  if (!principal_) return {};
  if (!principal_->user.empty()) return principal_->user;
  if (!principal_->peer_name.empty()) return "peer:" + principal_->peer_name;
  return principal_->ae_title;
}

Router::Router(Authenticator authenticate, std::string version)
    : authenticate_(std::move(authenticate)), version_(std::move(version)) {}

void Router::Add(Route route) {
  int handlers = static_cast<int>(static_cast<bool>(route.public_handler)) +
                 static_cast<int>(static_cast<bool>(route.handler)) +
                 static_cast<int>(static_cast<bool>(route.stream_handler));
  if (handlers != 1) {
    TRESOR_LOG(kError) << "route " << route.method << " " << route.path
                       << " must have exactly one handler";
    std::abort();
  }
  if (route.path.empty() || route.path.front() != '/') {
    TRESOR_LOG(kError) << "route path must start with '/': " << route.path;
    std::abort();
  }
  if (IsPrefixPattern(route.path) &&
      (route.path.find('{') != std::string::npos ||
       route.path.find('*') != route.path.size() - 1)) {
    TRESOR_LOG(kError) << "prefix route " << route.path << " may hold no other pattern";
    std::abort();
  }
  if (route.sign_in_redirect && route.is_public()) {
    TRESOR_LOG(kError) << "route " << route.path << ": sign_in_redirect needs authentication";
    std::abort();
  }
  for (const Route& r : routes_) {
    bool both_prefix = IsPrefixPattern(r.path) && IsPrefixPattern(route.path);
    if (both_prefix && r.method == route.method && r.path == route.path) {
      TRESOR_LOG(kError) << "route " << route.method << " " << route.path << " added twice";
      std::abort();
    }
    if (IsPrefixPattern(r.path) || IsPrefixPattern(route.path)) continue;
    if (r.method == route.method && Segments(r.path).size() == Segments(route.path).size() &&
        (Match(r.path, route.path, nullptr) || Match(route.path, r.path, nullptr))) {
      TRESOR_LOG(kError) << "route " << route.method << " " << route.path << " added twice";
      std::abort();
    }
  }
  routes_.push_back(std::move(route));
}

namespace {

// RFC 9110 9.3.2: HEAD is answered by the GET route of the same resource (the server
// sends the header only); an explicit HEAD route would win.
bool RunsRoute(const Route& r, std::string_view method, bool has_explicit_head) {
  if (r.method == method) return true;
  return method == "HEAD" && !has_explicit_head && r.method == "GET";
}

// Adds `method` (and HEAD after GET) to an Allow list.
void AddAllowed(std::string* allow, const std::string& method) {
  auto add = [allow](std::string_view m) {
    if (allow->find(m) != std::string::npos) return;
    if (!allow->empty()) *allow += ", ";
    *allow += m;
  };
  add(method);
  if (method == "GET") add("HEAD");
}

}  // namespace

Router::Decision Router::Decide(const HttpRequest& head) const {
  Decision d;
  const Route* route = nullptr;
  std::string allow;
  std::map<std::string, std::string> params;
  const bool is_head = head.method == "HEAD";
  const bool exact_head = is_head && HasRoute("HEAD", head.path, /*prefix=*/false);
  const bool prefix_head = is_head && HasRoute("HEAD", head.path, /*prefix=*/true);
  // Exact routes first; then prefix routes, the longest prefix (with any method) deciding.
  for (const Route& r : routes_) {
    if (IsPrefixPattern(r.path)) continue;
    std::map<std::string, std::string> p;
    if (!Match(r.path, head.path, &p)) continue;
    if (RunsRoute(r, head.method, exact_head)) {
      route = &r;
      params = std::move(p);
      break;
    }
    AddAllowed(&allow, r.method);
  }
  if (route == nullptr && allow.empty()) {
    size_t longest = 0;
    for (const Route& r : routes_) {
      if (IsPrefixPattern(r.path) && r.path.size() > longest && Match(r.path, head.path, nullptr)) {
        longest = r.path.size();
      }
    }
    for (const Route& r : routes_) {
      if (r.path.size() != longest || !IsPrefixPattern(r.path)) continue;
      std::map<std::string, std::string> p;
      if (!Match(r.path, head.path, &p)) continue;
      if (RunsRoute(r, head.method, prefix_head)) {
        route = &r;
        params = std::move(p);
        break;
      }
      AddAllowed(&allow, r.method);
    }
  }
  if (route == nullptr) {
    if (allow.empty()) {
      d.rejection_ = HttpResponse::Error(404, "not found");
    } else {
      d.rejection_ = HttpResponse::Error(405, "method not allowed");
      d.rejection_.headers.emplace_back("Allow", allow);
    }
    return d;
  }

  if (!route->is_public()) {
    Decision checked = Authenticate(head);
    if (!checked.principal_ && route->sign_in_redirect && checked.rejection_.status == 401 &&
        (head.method == "GET" || head.method == "HEAD") && AcceptsHtml(head)) {
      HttpResponse redirect;
      redirect.status = 303;
      redirect.headers.emplace_back("Location", SignInLocation(head.path, head.query));
      checked.rejection_ = std::move(redirect);
    }
    if (!checked.principal_) return checked;
    d = std::move(checked);
  }
  d.route_ = route;
  d.path_params_ = std::move(params);
  return d;
}

Router::Decision Router::Authenticate(const HttpRequest& head) const {
  Decision d;
  {
    std::string_view authorization = head.Header("Authorization");
    std::string cookie;
    std::string_view credential;
    if (authorization.empty()) {
      auto value = CookieValue(head, kSessionCookie);
      if (!value.ok()) {
        d.rejection_ = Unauthorized("invalid credentials", kInvalidTokenChallenge);
        return d;
      }
      if (value->empty()) {
        d.rejection_ = Unauthorized("authentication required", kChallenge);
        return d;
      }
      cookie = std::move(value).value();
      credential = cookie;
      d.by_cookie_ = true;
      if (!IsToken68(credential)) {
        d.rejection_ = Unauthorized("invalid credentials", kInvalidTokenChallenge);
        return d;
      }
    } else {
      size_t space = authorization.find(' ');
      std::string_view scheme = authorization.substr(0, space);
      credential =
          space == std::string_view::npos ? std::string_view() : authorization.substr(space + 1);
      while (!credential.empty() && credential.front() == ' ') credential.remove_prefix(1);
      while (!credential.empty() && credential.back() == ' ') credential.remove_suffix(1);
      if (!EqualsIgnoreCase(scheme, "Bearer") || !IsToken68(credential)) {
        d.rejection_ = Unauthorized("invalid credentials", kInvalidTokenChallenge);
        return d;
      }
    }
    auto principal = authenticate_(std::string(credential), head.client_address);
    if (!principal.ok()) {
      switch (principal.status().code()) {
        case Code::kUnauthenticated:
          d.rejection_ = Unauthorized("invalid or expired credentials", kInvalidTokenChallenge);
          break;
        case Code::kResourceExhausted:  // 429 with Retry-After
          d.rejection_ = ErrorFromStatus(principal.status());
          break;
        default:
          TRESOR_LOG(kError) << "authentication failed: " << principal.status().ToString();
          d.rejection_ = ErrorFromStatus(principal.status());
          break;
      }
      return d;
    }
    if (d.by_cookie_ && !IsSafeMethod(head.method) &&
        !ConstantTimeEquals(head.Header(kCsrfHeader), CsrfTokenFor(credential))) {
      d.rejection_ = HttpResponse::Error(403, "missing or invalid CSRF token");
      return d;
    }
    d.principal_ = std::move(principal).value();
  }
  return d;
}

bool Router::HasRoute(std::string_view method, std::string_view path, bool prefix) const {
  for (const Route& r : routes_) {
    if (r.method == method && IsPrefixPattern(r.path) == prefix && Match(r.path, path, nullptr)) {
      return true;
    }
  }
  return false;
}

std::string Router::AllowedMethods(std::string_view path) const {
  std::string allow;
  for (const Route& r : routes_) {
    if (!Match(r.path, path, nullptr)) continue;
    AddAllowed(&allow, r.method);
  }
  return allow;
}

Result<std::unique_ptr<BodySink>> Router::OpenSink(const Decision& decision,
                                                   HttpRequest head) const {
  if (!decision.accepted() || !decision.route_->is_streamed()) {
    return Internal("OpenSink on a route that does not stream");
  }
  const Route& route = *decision.route_;
  head.path_params = decision.path_params_;
  try {
    return route.stream_handler(head, *decision.principal_);
  } catch (const std::exception& e) {
    TRESOR_LOG(kError) << "handler of " << route.method << " " << route.path
                       << " threw: " << e.what();
  } catch (...) {
    TRESOR_LOG(kError) << "handler of " << route.method << " " << route.path << " threw";
  }
  return Internal("internal error");
}

HttpResponse Router::Invoke(const Decision& decision, HttpRequest request) const {
  if (!decision.accepted()) return decision.rejection();
  const Route& route = *decision.route_;
  request.path_params = decision.path_params_;
  if (route.is_streamed()) {
    std::string body = std::move(request.body);
    request.body.clear();
    auto sink = OpenSink(decision, std::move(request));
    if (!sink.ok()) return ErrorFromBodyStatus(sink.status());
    if (!body.empty()) {
      Status written = (*sink)->Write(body);
      if (!written.ok()) return ErrorFromBodyStatus(written);
    }
    return (*sink)->Finish();
  }
  try {
    if (route.is_public()) return route.public_handler(request);
    return route.handler(request, *decision.principal_);
  } catch (const std::exception& e) {
    TRESOR_LOG(kError) << "handler of " << route.method << " " << route.path
                       << " threw: " << e.what();
  } catch (...) {
    TRESOR_LOG(kError) << "handler of " << route.method << " " << route.path << " threw";
  }
  return HttpResponse::Error(500, "internal error");
}

HttpResponse Router::Handle(HttpRequest request) const {
  Decision decision = Decide(request);
  if (!decision.accepted()) return decision.rejection();
  return Invoke(decision, std::move(request));
}

std::string Router::OpenApi() const {
  using Json = nlohmann::ordered_json;
  Json error_body = {
      {"application/json", {{"schema", {{"$ref", "#/components/schemas/Error"}}}}}};
  Json paths = Json::object();
  for (const Route& r : routes_) {
    Json op = Json::object();
    op["summary"] = r.summary;
    op["operationId"] = OperationId(r.method, IsPrefixPattern(r.path)
                                                  ? r.path.substr(0, r.path.size() - 1) + "any"
                                                  : r.path);
    Json parameters = Json::array();
    // A prefix route is listed once, its rest as a path parameter.
    std::string shown = r.path;
    if (IsPrefixPattern(r.path)) {
      shown = r.path.substr(0, r.path.size() - 1) + "{path}";
      parameters.push_back({{"name", "path"},
                            {"in", "path"},
                            {"required", true},
                            {"description", "any path below the prefix (may hold '/')"},
                            {"schema", {{"type", "string"}}}});
    }
    for (std::string_view segment : Segments(r.path)) {
      if (!IsParam(segment)) continue;
      parameters.push_back({{"name", std::string(segment.substr(1, segment.size() - 2))},
                            {"in", "path"},
                            {"required", true},
                            {"schema", {{"type", "string"}}}});
    }
    if (!parameters.empty()) op["parameters"] = parameters;
    if (!r.body_types.empty()) {
      Json content = Json::object();
      for (const std::string& type : r.body_types) {
        content[type] = {{"schema", {{"type", "string"}, {"format", "binary"}}}};
      }
      op["requestBody"] = {{"required", true}, {"content", content}};
    }
    if (r.is_streamed()) {
      op["x-streamed"] = true;  // the body is consumed as it arrives (chunked accepted)
      if (r.max_body_bytes != 0) op["x-max-body-bytes"] = r.max_body_bytes;
    }
    op["security"] = r.is_public() ? Json::array()
                                   : Json::array({{{"bearerAuth", Json::array()}},
                                                  {{"cookieAuth", Json::array()}}});
    Json responses = Json::object();
    responses["200"] = {{"description", "success"}};
    if (r.sign_in_redirect) {
      responses["303"] = {{"description", "browser navigation without a session: to sign-in"}};
    }
    if (!r.is_public()) {
      responses["401"] = {{"description", "missing, invalid or expired bearer credential"},
                          {"content", error_body}};
      if (r.method != "GET" && r.method != "HEAD") {
        responses["403"] = {
            {"description", "cookie-authenticated without a valid X-CSRF-Token header"},
            {"content", error_body}};
      }
      responses["429"] = {{"description", "try again after Retry-After seconds (back-off)"},
                          {"content", error_body}};
    }
    responses["default"] = {{"description", "error"}, {"content", error_body}};
    op["responses"] = responses;
    paths[shown][Lowercase(r.method)] = op;
  }
  Json doc = {
      {"openapi", "3.0.3"},
      {"info", {{"title", "Tresor"}, {"version", version_}}},
      {"paths", paths},
      {"components",
       {{"securitySchemes",
         {{"bearerAuth", {{"type", "http"}, {"scheme", "bearer"}}},
          {"cookieAuth",
           {{"type", "apiKey"},
            {"in", "cookie"},
            {"name", kSessionCookie},
            {"description",
             "browser session from POST /auth/session; state-changing requests also need "
             "the X-CSRF-Token header"}}}}},
        {"schemas",
         {{"Error",
           {{"type", "object"},
            {"properties", {{"error", {{"type", "string"}}}}},
            {"required", {"error"}}}}}}}},
      {"security",
       Json::array({{{"bearerAuth", Json::array()}}, {{"cookieAuth", Json::array()}}})},
  };
  return doc.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace tresor::web
