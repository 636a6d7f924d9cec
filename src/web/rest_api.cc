#include "web/rest_api.h"

#include <algorithm>

#include "core/log.h"
#include "dicom/uid.h"
#include "web/admin_api.h"
#include "web/audit_api.h"
#include "web/error_mapping.h"
#include "web/json_body.h"

#ifndef TRESOR_VERSION
#define TRESOR_VERSION "unknown"
#endif

namespace tresor::web {
namespace {

constexpr uint64_t kMaxLoginBodyBytes = 8192;
constexpr size_t kMaxUserNameBytes = 256;
constexpr size_t kMaxPasswordBytes = 1024;

struct Credentials {
  std::string user;
  std::string password;
};

// The credentials of a sign-in body, or the response refusing it (400/415).
Result<Credentials> ParseCredentials(const HttpRequest& request, HttpResponse* refusal) {
  std::string type = MediaType(request.Header("Content-Type"));
  Credentials c;
  if (type == "application/json") {
    auto body = ParseJsonBody(request.body, 4);
    if (!body.ok() || !body->is_object()) {
      *refusal = HttpResponse::Error(400, "the body must be a JSON object with username and password");
      return InvalidArgument("malformed body");
    }
    auto user = body->find("username");
    auto password = body->find("password");
    if (user == body->end() || password == body->end() || !user->is_string() ||
        !password->is_string()) {
      *refusal = HttpResponse::Error(400, "username and password (strings) are required");
      return InvalidArgument("malformed body");
    }
    c.user = user->get<std::string>();
    c.password = password->get<std::string>();
  } else if (type == "application/x-www-form-urlencoded") {
    auto form = ParseFormUrlEncoded(request.body);
    if (!form.ok()) {
      *refusal = HttpResponse::Error(400, form.status().message());
      return form.status();
    }
    auto user = form->find("username");
    auto password = form->find("password");
    if (user == form->end() || password == form->end()) {
      *refusal = HttpResponse::Error(400, "username and password are required");
      return InvalidArgument("malformed body");
    }
    c.user = user->second;
    c.password = password->second;
  } else {
    *refusal = HttpResponse::Error(
        415, "use application/json or application/x-www-form-urlencoded");
    return Unsupported("content type");
  }
  if (c.user.empty() || c.password.empty() || c.user.size() > kMaxUserNameBytes ||
      c.password.size() > kMaxPasswordBytes) {
    *refusal = HttpResponse::Error(400, "username and password must be non-empty and not overly long");
    return InvalidArgument("malformed body");
  }
  return c;
}

HttpResponse Health(const HttpRequest&) {
  return HttpResponse::Json(200, DumpJson({{"status", "ok"}, {"version", TresorVersion()}}));
}

HttpResponse Token(archive::ArchiveService& archive, const HttpRequest& request) {
  HttpResponse refusal;
  auto credentials = ParseCredentials(request, &refusal);
  if (!credentials.ok()) return refusal;
  auto token = archive.access().Login(credentials->user, credentials->password, request.client_address);
  if (!token.ok()) {
    switch (token.status().code()) {
      case Code::kUnauthenticated:
        // One message whether the user is unknown, disabled or the password wrong.
        return HttpResponse::Error(401, "invalid username or password");
      case Code::kResourceExhausted:  // back-off: 429 with Retry-After
        return ErrorFromStatus(token.status());
      default:
        TRESOR_LOG(kError) << "sign-in failed: " << token.status().ToString();
        return ErrorFromStatus(token.status());
    }
  }
  nlohmann::json body = {{"access_token", *token},
                         {"token_type", "Bearer"},
                         {"expires_in", int64_t{archive.options().session_max_minutes} * 60},
                         {"idle_timeout", archive.options().session_idle_seconds}};
  return HttpResponse::Json(200, DumpJson(body));
}

// The Set-Cookie value of the browser session cookie; `max_age` 0 clears it.
std::string SessionCookie(const std::string& token, int64_t max_age) {
  return std::string(kSessionCookie) + "=" + token + "; Path=/; Max-Age=" +
         std::to_string(max_age) + "; Secure; HttpOnly; SameSite=Strict";
}

// POST /auth/session: the same sign-in (credentials, back-off) as /auth/token, but the
// token goes into an HttpOnly cookie and the body carries only the CSRF token.
HttpResponse BrowserSession(archive::ArchiveService& archive, const HttpRequest& request) {
  HttpResponse signed_in = Token(archive, request);
  if (signed_in.status != 200) return signed_in;
  auto parsed = ParseJsonBody(signed_in.body);
  if (!parsed.ok() || !parsed->contains("access_token")) return HttpResponse::Error(500, "internal error");
  std::string token = (*parsed)["access_token"].get<std::string>();
  auto who = archive.access().Authenticate(token, request.client_address);
  if (!who.ok()) {
    TRESOR_LOG(kError) << "new session not usable: " << who.status().ToString();
    return ErrorFromStatus(who.status());
  }
  int64_t max_age = int64_t{archive.options().session_max_minutes} * 60;
  nlohmann::json body = {{"user", who->user},
                         {"role", who->role},
                         {"csrf_token", CsrfTokenFor(token)},
                         {"expires_in", max_age},
                         {"idle_timeout", archive.options().session_idle_seconds}};
  HttpResponse r = HttpResponse::Json(200, DumpJson(body));
  r.headers.emplace_back("Set-Cookie", SessionCookie(token, max_age));
  return r;
}

// GET /auth/session: who the caller is, and the CSRF token when the cookie authenticated
// it (a reloaded page recovers it here).
HttpResponse WhoAmI(const HttpRequest& request, const archive::Principal& who) {
  nlohmann::json body = {{"user", who.user}, {"role", who.role}};
  if (request.Header("Authorization").empty()) {
    auto cookie = CookieValue(request, kSessionCookie);
    if (cookie.ok() && !cookie->empty()) body["csrf_token"] = CsrfTokenFor(*cookie);
  }
  return HttpResponse::Json(200, DumpJson(body));
}

HttpResponse Stats(archive::ArchiveService& archive, const archive::Principal& who) {
  auto stats = archive.catalog().Stats(who);
  if (!stats.ok()) {
    if (HttpStatus(stats.status().code()) >= 500) {
      TRESOR_LOG(kError) << "stats failed: " << stats.status().ToString();
    }
    return ErrorFromStatus(stats.status());
  }
  nlohmann::json body = {{"patients", stats->patients},
                         {"studies", stats->studies},
                         {"series", stats->series},
                         {"instances", stats->instances},
                         {"bytes", stats->bytes}};
  return HttpResponse::Json(200, DumpJson(body));
}

// GET /api/studies/{study}: one study within the caller's access scope, from the index.
// Outside the scope, or unknown: the same 404.
HttpResponse Study(archive::ArchiveService& archive, const HttpRequest& request,
                   const archive::Principal& who) {
  auto uid = request.path_params.find("study");
  if (uid == request.path_params.end() || !dicom::IsValidUid(uid->second)) {
    return HttpResponse::Error(400, "not a valid Study Instance UID");
  }
  auto found = archive.catalog().FindStudy(who, uid->second);
  if (!found.ok()) {
    if (found.status().code() == Code::kNotFound) return HttpResponse::Error(404, "no such study");
    if (HttpStatus(found.status().code()) >= 500) {
      TRESOR_LOG(kError) << "study lookup failed: " << found.status().ToString();
    }
    return ErrorFromStatus(found.status());
  }
  nlohmann::json body = {{"StudyInstanceUID", found->study_instance_uid},
                         {"StudyDate", found->study_date},
                         {"StudyTime", found->study_time},
                         {"AccessionNumber", found->accession_number},
                         {"StudyDescription", found->study_description},
                         {"PatientName", found->patient_name},
                         {"PatientID", found->patient_id},
                         {"PatientBirthDate", found->patient_birth_date},
                         {"ModalitiesInStudy", found->modalities},
                         {"NumberOfStudyRelatedSeries", found->series},
                         {"NumberOfStudyRelatedInstances", found->instances}};
  return HttpResponse::Json(200, DumpJson(body));
}

}  // namespace

const char* TresorVersion() { return TRESOR_VERSION; }

std::unique_ptr<Router> MakeRestRouter(archive::ArchiveService& archive) {
  auto router = std::make_unique<Router>(
      [&archive](const std::string& bearer, const std::string& source) {
        return archive.access().Authenticate(bearer, source);
      },
      TresorVersion());
  Router* self = router.get();

  router->Add(Route::Public("GET", "/api/health", "Liveness and version (no patient data)",
                            Health));
  router->Add(Route::Public("GET", "/api/openapi.json", "This API as an OpenAPI 3.0 document",
                            [self](const HttpRequest&) {
                              return HttpResponse::Json(200, self->OpenApi());
                            }));
  Route token = Route::Public(
      "POST", "/auth/token",
      "Sign in with username and password; returns a bearer session token",
      [&archive](const HttpRequest& request) { return Token(archive, request); });
  token.body_types = {"application/json", "application/x-www-form-urlencoded"};
  token.max_body_bytes = kMaxLoginBodyBytes;
  router->Add(std::move(token));
  Route session = Route::Public(
      "POST", "/auth/session",
      "Browser sign-in with username and password: sets the HttpOnly session cookie "
      "tresor_session and returns the csrf_token to send as X-CSRF-Token",
      [&archive](const HttpRequest& request) { return BrowserSession(archive, request); });
  session.body_types = {"application/json", "application/x-www-form-urlencoded"};
  session.max_body_bytes = kMaxLoginBodyBytes;
  router->Add(std::move(session));
  router->Add(Route::Authenticated(
      "GET", "/auth/session",
      "The signed-in user and role, with the csrf_token when authenticated by the cookie",
      WhoAmI));
  router->Add(Route::Authenticated(
      "POST", "/auth/logout",
      "End the session of the bearer token or cookie (with X-CSRF-Token) and clear the "
      "cookie (API tokens are not affected)",
      [&archive](const HttpRequest&, const archive::Principal& who) {
        Status st = archive.access().Logout(who);
        if (!st.ok()) {
          TRESOR_LOG(kError) << "sign-out failed: " << st.ToString();
          return ErrorFromStatus(st);
        }
        HttpResponse r = HttpResponse::Json(200, DumpJson({{"status", "signed out"}}));
        r.headers.emplace_back("Set-Cookie", SessionCookie("", 0));
        return r;
      }));
  router->Add(Route::Authenticated(
      "GET", "/api/studies/{study}",
      "One study within the caller's access scope (404 outside it or when unknown)",
      [&archive](const HttpRequest& request, const archive::Principal& who) {
        return Study(archive, request, who);
      }));
  router->Add(Route::Authenticated(
      "GET", "/api/stats", "Counts of patients, studies, series, instances and stored bytes",
      [&archive](const HttpRequest&, const archive::Principal& who) {
        return Stats(archive, who);
      }));
  AddAdminRoutes(*router, archive);
  AddAuditRoutes(*router, archive);
  return router;
}

}  // namespace tresor::web
