#include "web/admin_api.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "core/log.h"
#include "security/access_scope.h"
#include "security/password.h"
#include "security/peer_policy.h"
#include "web/error_mapping.h"
#include "web/json_body.h"

namespace tresor::web {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxAdminBodyBytes = 64 * 1024;

HttpResponse BadRequest(const std::string& message) { return HttpResponse::Error(400, message); }

// The response for a failed archive call; server-side failures are logged.
HttpResponse Failure(const Status& status, const char* what) {
  if (HttpStatus(status.code()) >= 500) {
    TRESOR_LOG(kError) << what << " failed: " << status.ToString();
  }
  return ErrorFromStatus(status);
}

// The JSON object of the request body, with only `allowed` fields; else the 400/415.
std::optional<json> ObjectBody(const HttpRequest& request,
                               std::initializer_list<const char*> allowed, HttpResponse* refusal) {
  if (MediaType(request.Header("Content-Type")) != "application/json") {
    *refusal = HttpResponse::Error(415, "the body must be application/json");
    return std::nullopt;
  }
  auto body = ParseJsonBody(request.body, 8);
  if (!body.ok() || !body->is_object()) {
    *refusal = BadRequest("the body must be a JSON object");
    return std::nullopt;
  }
  for (const auto& [key, value] : body->items()) {
    (void)value;
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; })) {
      // The field name may be anything: only plain names are echoed.
      bool plain = !key.empty() && key.size() <= 64 &&
                   std::all_of(key.begin(), key.end(), [](char c) {
                     return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
                   });
      *refusal = BadRequest("unknown field " + (plain ? "'" + key + "'" : std::string("(unprintable)")));
      return std::nullopt;
    }
  }
  return std::move(body).value();
}

// Typed fields of a validated object. Each returns false (and sets the 400) when the
// field is present with another type, or absent although required.
class Fields {
 public:
  Fields(const json& object, HttpResponse* refusal) : object_(object), refusal_(refusal) {}

  bool String(const char* name, std::string* out, bool required, size_t max_bytes = 1024) {
    auto it = object_.find(name);
    if (it == object_.end()) return !required || Missing(name);
    if (!it->is_string()) return Wrong(name, "a string");
    *out = it->get<std::string>();
    if (out->size() > max_bytes) return Refuse(std::string(name) + " is too long");
    return true;
  }
  bool Bool(const char* name, std::optional<bool>* out, bool required) {
    auto it = object_.find(name);
    if (it == object_.end()) return !required || Missing(name);
    if (!it->is_boolean()) return Wrong(name, "true or false");
    *out = it->get<bool>();
    return true;
  }
  bool Int(const char* name, std::optional<int64_t>* out, bool required) {
    auto it = object_.find(name);
    if (it == object_.end()) return !required || Missing(name);
    if (!it->is_number_integer()) return Wrong(name, "an integer");
    *out = it->get<int64_t>();
    return true;
  }
  bool Strings(const char* name, std::optional<std::vector<std::string>>* out, bool required) {
    auto it = object_.find(name);
    if (it == object_.end()) return !required || Missing(name);
    if (!it->is_array() || it->size() > 256) return Wrong(name, "an array of strings");
    std::vector<std::string> values;
    for (const json& v : *it) {
      if (!v.is_string() || v.get_ref<const std::string&>().size() > 256) {
        return Wrong(name, "an array of strings");
      }
      values.push_back(v.get<std::string>());
    }
    *out = std::move(values);
    return true;
  }

 private:
  bool Refuse(const std::string& message) {
    *refusal_ = BadRequest(message);
    return false;
  }
  bool Missing(const char* name) { return Refuse(std::string("missing field '") + name + "'"); }
  bool Wrong(const char* name, const char* type) {
    return Refuse(std::string("field '") + name + "' must be " + type);
  }

  const json& object_;
  HttpResponse* refusal_;
};

std::string IsoTime(int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "";
  char text[32];
  if (std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return "";
  return text;
}

const std::string& PathParam(const HttpRequest& request, const char* name) {
  static const std::string kEmpty;
  auto it = request.path_params.find(name);
  return it == request.path_params.end() ? kEmpty : it->second;
}

// ---- users ----

json UserJson(const archive::UserInfo& u) {
  return {{"name", u.name}, {"role", u.role}, {"disabled", u.disabled}, {"groups", u.groups}};
}

HttpResponse ListUsers(archive::ArchiveService& archive, const archive::Principal& who) {
  auto users = archive.admin().ListUsers(who);
  if (!users.ok()) return Failure(users.status(), "list users");
  json out = json::array();
  for (const archive::UserInfo& u : *users) out.push_back(UserJson(u));
  return HttpResponse::Json(200, DumpJson(out));
}

HttpResponse CreateUser(archive::ArchiveService& archive, const HttpRequest& request,
                        const archive::Principal& who) {
  HttpResponse refusal;
  auto body = ObjectBody(request, {"name", "role", "password", "groups"}, &refusal);
  if (!body) return refusal;
  Fields f(*body, &refusal);
  std::string name, role, password;
  std::optional<std::vector<std::string>> groups;
  if (!f.String("name", &name, true) || !f.String("role", &role, true) ||
      !f.String("password", &password, true) || !f.Strings("groups", &groups, false)) {
    return refusal;
  }
  Status st = archive.admin().CreateUser(who, name, role, password, groups.value_or(std::vector<std::string>{}));
  if (!st.ok()) return Failure(st, "create user");
  auto user = archive.admin().GetUser(who, name);
  if (!user.ok()) return Failure(user.status(), "read user");
  return HttpResponse::Json(201, DumpJson(UserJson(*user)));
}

HttpResponse PatchUser(archive::ArchiveService& archive, const HttpRequest& request,
                       const archive::Principal& who) {
  const std::string& name = PathParam(request, "name");
  HttpResponse refusal;
  auto body = ObjectBody(request, {"disabled", "password", "groups", "role"}, &refusal);
  if (!body) return refusal;
  Fields f(*body, &refusal);
  std::optional<bool> disabled;
  std::optional<std::vector<std::string>> groups;
  std::string password, role;
  if (!f.Bool("disabled", &disabled, false) || !f.String("password", &password, false) ||
      !f.Strings("groups", &groups, false) || !f.String("role", &role, false, 64)) {
    return refusal;
  }
  bool has_password = body->contains("password");
  bool has_role = body->contains("role");
  if (!disabled && !groups && !has_password && !has_role) {
    return BadRequest("nothing to change: give disabled, password, groups or role");
  }
  // Everything that can be checked up front is, so that a refused request changes nothing.
  auto user = archive.admin().GetUser(who, name);
  if (!user.ok()) return Failure(user.status(), "read user");
  if (has_password) {
    Status policy = security::CheckPasswordPolicy(password);
    if (!policy.ok()) return ErrorFromStatus(policy);
  }
  if (groups) {
    Status valid = security::ValidateGroupNames(*groups);
    if (!valid.ok()) return ErrorFromStatus(valid);
  }
  // The changes that may be refused for the last admin (409) come first.
  if (has_role) {
    Status st = archive.admin().SetUserRole(who, name, role);
    if (!st.ok()) return Failure(st, "set role");
  }
  if (disabled) {
    Status st = archive.admin().SetUserDisabled(who, name, *disabled);
    if (!st.ok()) return Failure(st, "disable user");
  }
  if (groups) {
    Status st = archive.admin().SetUserGroups(who, name, *groups);
    if (!st.ok()) return Failure(st, "set groups");
  }
  if (has_password) {
    Status st = archive.admin().SetUserPassword(who, name, password);
    if (!st.ok()) return Failure(st, "set password");
  }
  user = archive.admin().GetUser(who, name);
  if (!user.ok()) return Failure(user.status(), "read user");
  return HttpResponse::Json(200, DumpJson(UserJson(*user)));
}

// ---- peers ----

std::vector<std::string> ServiceNames(uint32_t services) {
  std::vector<std::string> out;
  for (auto [bit, name] : {std::pair{security::kEcho, "echo"}, std::pair{security::kStore, "store"},
                           std::pair{security::kFind, "find"}, std::pair{security::kMove, "move"},
                           std::pair{security::kGet, "get"}}) {
    if (services & bit) out.emplace_back(name);
  }
  return out;
}

json PeerJson(const security::Peer& p) {
  return {{"name", p.name},
          {"ae_title", p.ae_title},
          {"host", p.host},
          {"port", p.port},
          {"services", ServiceNames(p.services)},
          {"certificate_sha256", p.certificate_sha256},
          {"tls", p.certificate_sha256.empty() ? "not required" : "certificate pinned"},
          {"require_identity", p.require_identity},
          {"groups", p.groups}};
}

HttpResponse ListPeers(archive::ArchiveService& archive, const archive::Principal& who) {
  auto peers = archive.admin().ListPeers(who);
  if (!peers.ok()) return Failure(peers.status(), "list peers");
  json out = json::array();
  for (const security::Peer& p : *peers) out.push_back(PeerJson(p));
  return HttpResponse::Json(200, DumpJson(out));
}

HttpResponse CreatePeer(archive::ArchiveService& archive, const HttpRequest& request,
                        const archive::Principal& who) {
  HttpResponse refusal;
  auto body = ObjectBody(request,
                         {"name", "ae_title", "host", "port", "services", "certificate_sha256",
                          "require_identity", "groups"},
                         &refusal);
  if (!body) return refusal;
  Fields f(*body, &refusal);
  security::Peer peer;
  std::optional<int64_t> port;
  std::optional<std::vector<std::string>> services, groups;
  std::optional<bool> require_identity;
  std::string fingerprint;
  if (!f.String("name", &peer.name, true) || !f.String("ae_title", &peer.ae_title, true) ||
      !f.String("host", &peer.host, true) || !f.Int("port", &port, false) ||
      !f.Strings("services", &services, false) ||
      !f.String("certificate_sha256", &fingerprint, false) ||
      !f.Bool("require_identity", &require_identity, false) || !f.Strings("groups", &groups, false)) {
    return refusal;
  }
  // The CLI's defaults: port 104, echo and store.
  int64_t p = port.value_or(104);
  if (p < 1 || p > 65535) return BadRequest("peer port must be 1-65535");
  peer.port = static_cast<int>(p);
  std::string service_list;
  for (const std::string& s : services.value_or(std::vector<std::string>{"echo", "store"})) {
    if (s.empty() || s.find(',') != std::string::npos) {
      return BadRequest("services must be names: echo, store, find, move, get");
    }
    service_list += (service_list.empty() ? "" : ",") + s;
  }
  if (!service_list.empty()) {
    auto parsed = security::ParseServices(service_list);
    if (!parsed.ok()) return ErrorFromStatus(parsed.status());
    peer.services = *parsed;
  }
  // A fingerprint as tools print it ("AB:CD:..." or hex): stored as lower-case hex.
  for (char c : fingerprint) {
    if (c == ':') continue;
    peer.certificate_sha256.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  peer.require_identity = require_identity.value_or(false);
  peer.groups = groups.value_or(std::vector<std::string>{});
  Status st = archive.admin().AddPeer(who, peer, /*replace=*/false);
  if (!st.ok()) return Failure(st, "add peer");
  return HttpResponse::Json(201, DumpJson(PeerJson(peer)));
}

HttpResponse NoContent() {
  HttpResponse r;
  r.status = 204;
  return r;
}

HttpResponse RemovePeer(archive::ArchiveService& archive, const HttpRequest& request,
                        const archive::Principal& who) {
  const std::string& name = PathParam(request, "name");
  auto removed = archive.admin().RemovePeer(who, name);
  if (!removed.ok()) return Failure(removed.status(), "remove peer");
  if (!*removed) return HttpResponse::Error(404, "no such peer");
  return NoContent();
}

// ---- groups and rules ----

HttpResponse ListGroups(archive::ArchiveService& archive, const archive::Principal& who) {
  auto groups = archive.admin().ListGroups(who);
  if (!groups.ok()) return Failure(groups.status(), "list groups");
  json out = json::array();
  for (const archive::GroupSummary& g : *groups) out.push_back({{"name", g.name}, {"studies", g.studies}});
  return HttpResponse::Json(200, DumpJson(out));
}

json RuleJson(const archive::GroupRule& r) {
  return {{"group", r.group}, {"kind", archive::GroupRuleKindName(r.kind)}, {"value", r.value}};
}

HttpResponse ListRules(archive::ArchiveService& archive, const archive::Principal& who) {
  auto rules = archive.admin().ListGroupRules(who);
  if (!rules.ok()) return Failure(rules.status(), "list rules");
  json out = json::array();
  for (const archive::GroupRule& r : *rules) out.push_back(RuleJson(r));
  return HttpResponse::Json(200, DumpJson(out));
}

// The rule of a request body, or nullopt with the refusal set.
std::optional<archive::GroupRule> RuleBody(const HttpRequest& request, HttpResponse* refusal) {
  auto body = ObjectBody(request, {"group", "kind", "value"}, refusal);
  if (!body) return std::nullopt;
  Fields f(*body, refusal);
  archive::GroupRule rule;
  std::string kind;
  if (!f.String("group", &rule.group, true) || !f.String("kind", &kind, true, 64) ||
      !f.String("value", &rule.value, true)) {
    return std::nullopt;
  }
  if (kind == "peer") rule.kind = archive::GroupRule::Kind::kPeer;
  else if (kind == "institution") rule.kind = archive::GroupRule::Kind::kInstitution;
  else if (kind == "issuer") rule.kind = archive::GroupRule::Kind::kIssuer;
  else {
    *refusal = BadRequest("field 'kind' must be peer, institution or issuer");
    return std::nullopt;
  }
  return rule;
}

HttpResponse AddRule(archive::ArchiveService& archive, const HttpRequest& request,
                     const archive::Principal& who) {
  HttpResponse refusal;
  auto rule = RuleBody(request, &refusal);
  if (!rule) return refusal;
  auto added = archive.admin().AddGroupRule(who, *rule);
  if (!added.ok()) return Failure(added.status(), "add rule");
  return HttpResponse::Json(201, DumpJson({{"rule", RuleJson(*rule)}, {"studies_added", *added}}));
}

HttpResponse RemoveRule(archive::ArchiveService& archive, const HttpRequest& request,
                        const archive::Principal& who) {
  HttpResponse refusal;
  auto rule = RuleBody(request, &refusal);
  if (!rule) return refusal;
  auto removed = archive.admin().RemoveGroupRule(who, *rule);
  if (!removed.ok()) return Failure(removed.status(), "remove rule");
  if (!*removed) return HttpResponse::Error(404, "no such rule");
  return HttpResponse::Json(200, DumpJson({{"rule", RuleJson(*rule)}}));
}

// ---- API tokens ----

HttpResponse ListTokens(archive::ArchiveService& archive, const archive::Principal& who) {
  auto tokens = archive.access().ListApiTokens(who);
  if (!tokens.ok()) return Failure(tokens.status(), "list tokens");
  json out = json::array();
  for (const archive::ApiTokenInfo& t : *tokens) {
    out.push_back({{"name", t.name}, {"user", t.user}, {"expires_at", IsoTime(t.expires_at)}});
  }
  return HttpResponse::Json(200, DumpJson(out));
}

HttpResponse CreateToken(archive::ArchiveService& archive, const HttpRequest& request,
                         const archive::Principal& who) {
  HttpResponse refusal;
  auto body = ObjectBody(request, {"name", "user", "days"}, &refusal);
  if (!body) return refusal;
  Fields f(*body, &refusal);
  std::string name, user;
  std::optional<int64_t> days;
  if (!f.String("name", &name, true, 256) || !f.String("user", &user, true, 256) ||
      !f.Int("days", &days, false)) {
    return refusal;
  }
  int64_t d = days.value_or(90);  // the CLI's default
  if (d < 1 || d > 3650) return BadRequest("days must be 1-3650");
  auto token = archive.access().CreateApiToken(who, name, user, static_cast<int>(d));
  if (!token.ok()) return Failure(token.status(), "create token");
  std::string expires_at;
  auto tokens = archive.access().ListApiTokens(who);
  if (tokens.ok()) {
    for (const archive::ApiTokenInfo& t : *tokens) {
      if (t.name == name) expires_at = IsoTime(t.expires_at);
    }
  }
  return HttpResponse::Json(201, DumpJson({{"name", name},
                                           {"user", user},
                                           {"expires_at", expires_at},
                                           {"token", *token}}));
}

HttpResponse RevokeToken(archive::ArchiveService& archive, const HttpRequest& request,
                         const archive::Principal& who) {
  auto removed = archive.access().RevokeApiToken(who, PathParam(request, "name"));
  if (!removed.ok()) return Failure(removed.status(), "revoke token");
  if (!*removed) return HttpResponse::Error(404, "no such token");
  return NoContent();
}

// ---- registration ----

using AdminHandler = HttpResponse (*)(archive::ArchiveService&, const HttpRequest&,
                                      const archive::Principal&);

// An authenticated route whose every request is first decided by archive::RequireAdmin
// (403 for anyone else, before the body is looked at).
Route AdminRoute(archive::ArchiveService& archive, std::string method, std::string path,
                 std::string summary, AdminHandler handler, bool has_body) {
  Route r = Route::Authenticated(
      std::move(method), std::move(path), std::move(summary),
      [&archive, handler](const HttpRequest& request, const archive::Principal& who) {
        Status admin = archive::RequireAdmin(who);
        if (!admin.ok()) return HttpResponse::Error(403, "administration needs the admin role");
        return handler(archive, request, who);
      });
  if (has_body) {
    r.body_types = {"application/json"};
    r.max_body_bytes = kMaxAdminBodyBytes;
  }
  return r;
}

}  // namespace

void AddAdminRoutes(Router& router, archive::ArchiveService& archive) {
  struct Entry {
    const char* method;
    const char* path;
    const char* summary;
    AdminHandler handler;
    bool body;
  };
  static const Entry kRoutes[] = {
      {"GET", "/api/users", "Admin: every user account with role, state and access groups",
       [](archive::ArchiveService& a, const HttpRequest&, const archive::Principal& w) {
         return ListUsers(a, w);
       },
       false},
      {"POST", "/api/users", "Admin: create a user {name, role, password, groups}", CreateUser,
       true},
      {"PATCH", "/api/users/{name}",
       "Admin: change a user's disabled state, password, access groups or role", PatchUser, true},
      {"GET", "/api/peers", "Admin: every registered DICOM peer",
       [](archive::ArchiveService& a, const HttpRequest&, const archive::Principal& w) {
         return ListPeers(a, w);
       },
       false},
      {"POST", "/api/peers",
       "Admin: register a DICOM peer {name, ae_title, host, port, services, certificate_sha256, "
       "require_identity, groups}",
       CreatePeer, true},
      {"DELETE", "/api/peers/{name}", "Admin: remove a registered DICOM peer", RemovePeer, false},
      {"GET", "/api/groups", "Admin: every access group with its number of studies",
       [](archive::ArchiveService& a, const HttpRequest&, const archive::Principal& w) {
         return ListGroups(a, w);
       },
       false},
      {"GET", "/api/rules", "Admin: every access group rule",
       [](archive::ArchiveService& a, const HttpRequest&, const archive::Principal& w) {
         return ListRules(a, w);
       },
       false},
      {"POST", "/api/rules",
       "Admin: add an access group rule {group, kind, value}; applies to archived studies too",
       AddRule, true},
      {"POST", "/api/rules/remove", "Admin: remove an access group rule {group, kind, value}",
       RemoveRule, true},
      {"GET", "/api/tokens", "Admin: every API token (name, user, expiry; never the token)",
       [](archive::ArchiveService& a, const HttpRequest&, const archive::Principal& w) {
         return ListTokens(a, w);
       },
       false},
      {"POST", "/api/tokens",
       "Admin: create an API token {name, user, days}; the token is shown only in this response",
       CreateToken, true},
      {"DELETE", "/api/tokens/{name}", "Admin: revoke an API token at once", RevokeToken, false},
  };
  for (const Entry& e : kRoutes) {
    router.Add(AdminRoute(archive, e.method, e.path, e.summary, e.handler, e.body));
  }
}

}  // namespace tresor::web
