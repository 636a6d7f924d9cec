#include "web/router.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <stdexcept>
#include <string>

#include "web/json_body.h"

namespace tresor::web {
namespace {

constexpr char kGoodToken[] = "good.token-value_1";
constexpr char kBlockedSource[] = "10.9.9.9";

HttpRequest Request(std::string method, std::string path, std::string authorization = "") {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.client_address = "127.0.0.1";
  if (!authorization.empty()) r.headers.emplace_back("Authorization", authorization);
  return r;
}

std::string HeaderOf(const HttpResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest()
      : router_(
            [this](const std::string& bearer, const std::string& source) -> Result<archive::Principal> {
              ++auth_calls_;
              if (source == kBlockedSource) return TryAgainLater("slow down", 7);
              if (bearer != kGoodToken) return Status(Code::kUnauthenticated, "bad token");
              return archive::Principal::ForUser("alice", "radiologist", source, {});
            },
            "9.9.9") {
    router_.Add(Route::Public("GET", "/api/health", "health", [](const HttpRequest&) {
      return HttpResponse::Json(200, R"({"status":"ok"})");
    }));
    router_.Add(Route::Authenticated("GET", "/api/stats", "stats",
                                     [](const HttpRequest&, const archive::Principal& who) {
                                       return HttpResponse::Json(200, DumpJson({{"user", who.user}}));
                                     }));
    router_.Add(Route::Authenticated("DELETE", "/api/stats", "reset",
                                     [](const HttpRequest&, const archive::Principal&) {
                                       return HttpResponse::Json(200, "{}");
                                     }));
    router_.Add(Route::Authenticated(
        "GET", "/studies/{study}/series/{series}", "one series",
        [](const HttpRequest& r, const archive::Principal&) {
          return HttpResponse::Json(
              200, DumpJson({{"study", r.path_params.at("study")},
                             {"series", r.path_params.at("series")}}));
        }));
    Route upload = Route::Public("POST", "/upload", "upload", [](const HttpRequest& r) {
      return HttpResponse::Json(200, DumpJson({{"size", r.body.size()}}));
    });
    upload.body_types = {"application/octet-stream"};
    upload.max_body_bytes = 10;
    router_.Add(std::move(upload));
    router_.Add(Route::Public("GET", "/throws", "throws", [](const HttpRequest&) -> HttpResponse {
      throw std::runtime_error("boom");
    }));
  }

  std::atomic<int> auth_calls_{0};
  Router router_;
};

TEST_F(RouterTest, PublicRouteNeedsNoCredential) {
  HttpResponse r = router_.Handle(Request("GET", "/api/health"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(auth_calls_, 0);
}

TEST_F(RouterTest, UnknownPathIs404Json) {
  for (const char* path : {"/nope", "/api/health/", "/api", "/", "/studies/1/series"}) {
    HttpResponse r = router_.Handle(Request("GET", path, std::string("Bearer ") + kGoodToken));
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_TRUE(ParseJsonBody(r.body).ok());
  }
}

TEST_F(RouterTest, WrongMethodIs405WithAllow) {
  HttpResponse r = router_.Handle(Request("POST", "/api/stats"));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(HeaderOf(r, "Allow"), "GET, HEAD, DELETE");
  EXPECT_EQ(auth_calls_, 0);  // nothing is authenticated for a request that cannot run
}

TEST_F(RouterTest, AuthenticatedRouteWithoutCredentialIs401WithChallenge) {
  HttpResponse r = router_.Handle(Request("GET", "/api/stats"));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(HeaderOf(r, "WWW-Authenticate").rfind("Bearer", 0), 0u);
  EXPECT_EQ(auth_calls_, 0);
}

TEST_F(RouterTest, MalformedOrForeignSchemesAre401) {
  for (const char* authorization :
       {"Basic YWRtaW46cGFzc3dvcmQ=", "Bearer", "Bearer ", "Bearer a b", "Bearer \x01",
        "Bearer ===", "Token abc"}) {
    HttpResponse r = router_.Handle(Request("GET", "/api/stats", authorization));
    EXPECT_EQ(r.status, 401) << authorization;
    EXPECT_NE(HeaderOf(r, "WWW-Authenticate"), "") << authorization;
  }
}

TEST_F(RouterTest, RejectedCredentialIs401) {
  HttpResponse r = router_.Handle(Request("GET", "/api/stats", "Bearer garbage"));
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(HeaderOf(r, "WWW-Authenticate").find("invalid_token"), std::string::npos);
  EXPECT_EQ(auth_calls_, 1);
}

TEST_F(RouterTest, RefusedForNowIs429WithRetryAfter) {
  HttpRequest req = Request("GET", "/api/stats", std::string("Bearer ") + kGoodToken);
  req.client_address = kBlockedSource;
  HttpResponse r = router_.Handle(req);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(HeaderOf(r, "Retry-After"), "7");
}

TEST_F(RouterTest, ValidCredentialReachesHandlerWithPrincipal) {
  HttpRequest req = Request("GET", "/api/stats", std::string("bearer  ") + kGoodToken);
  Router::Decision d = router_.Decide(req);
  ASSERT_TRUE(d.accepted());
  EXPECT_EQ(d.user(), "alice");
  HttpResponse r = router_.Invoke(d, req);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"user":"alice"})");
}

TEST_F(RouterTest, PathParameters) {
  HttpResponse r = router_.Handle(
      Request("GET", "/studies/1.2.3/series/4.5", std::string("Bearer ") + kGoodToken));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"series":"4.5","study":"1.2.3"})");
  EXPECT_EQ(router_.Handle(Request("GET", "/studies//series/4.5",
                                   std::string("Bearer ") + kGoodToken)).status,
            404);
}

TEST_F(RouterTest, DecisionCarriesRouteBodyLimit) {
  Router::Decision d = router_.Decide(Request("POST", "/upload"));
  ASSERT_TRUE(d.accepted());
  EXPECT_EQ(d.max_body_bytes(), 10u);
  EXPECT_EQ(d.user(), "");
}

TEST_F(RouterTest, ThrowingHandlerIs500) {
  HttpResponse r = router_.Handle(Request("GET", "/throws"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.find("boom"), std::string::npos);
}

TEST_F(RouterTest, OpenApiListsEveryRouteWithItsSecurity) {
  auto doc = ParseJsonBody(router_.OpenApi(), 64);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ((*doc)["openapi"], "3.0.3");
  EXPECT_EQ((*doc)["info"]["version"], "9.9.9");
  EXPECT_EQ((*doc)["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
  for (const Route& route : router_.routes()) {
    std::string method = route.method;
    for (char& c : method) c = static_cast<char>(tolower(c));
    const auto& paths = (*doc)["paths"];
    ASSERT_TRUE(paths.contains(route.path)) << route.path;
    ASSERT_TRUE(paths[route.path].contains(method)) << route.method << " " << route.path;
    const auto& op = paths[route.path][method];
    EXPECT_EQ(op["summary"], route.summary);
    ASSERT_TRUE(op.contains("security"));
    if (route.is_public()) {
      EXPECT_TRUE(op["security"].empty()) << route.path;
    } else {
      ASSERT_EQ(op["security"].size(), 2u) << route.path;
      EXPECT_TRUE(op["security"][0].contains("bearerAuth")) << route.path;
      EXPECT_TRUE(op["security"][1].contains("cookieAuth")) << route.path;
    }
  }
  std::set<std::string> ids;
  for (const auto& [path, ops] : (*doc)["paths"].items()) {
    for (const auto& [method, op] : ops.items()) ids.insert(op["operationId"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), router_.routes().size());
  EXPECT_TRUE(ids.count("get_api_health"));
  const auto& series = (*doc)["paths"]["/studies/{study}/series/{series}"]["get"];
  ASSERT_EQ(series["parameters"].size(), 2u);
  EXPECT_EQ(series["parameters"][0]["name"], "study");
  EXPECT_TRUE((*doc)["paths"]["/upload"]["post"]["requestBody"]["content"].contains(
      "application/octet-stream"));
}

TEST(RouterDeathTest, DuplicateRouteAborts) {
  Router router([](const std::string&, const std::string&) -> Result<archive::Principal> {
    return Status(Code::kUnauthenticated, "no");
  }, "1");
  router.Add(Route::Public("GET", "/a/{x}", "a", [](const HttpRequest&) { return HttpResponse{}; }));
  EXPECT_DEATH(router.Add(Route::Public("GET", "/a/{y}", "again",
                                        [](const HttpRequest&) { return HttpResponse{}; })),
               "added twice");
  Route none;
  none.method = "GET";
  none.path = "/b";
  EXPECT_DEATH(router.Add(none), "exactly one handler");
}


HttpRequest WithCookie(std::string method, std::string path, std::string cookie,
                       std::string csrf = "") {
  HttpRequest r = Request(std::move(method), std::move(path));
  r.headers.emplace_back("Cookie", std::move(cookie));
  if (!csrf.empty()) r.headers.emplace_back("X-CSRF-Token", std::move(csrf));
  return r;
}

TEST(CookieTest, ParsesStrictly) {
  HttpRequest r = WithCookie("GET", "/", "a=1; tresor_session=abc.def; b=\"q\"");
  auto v = CookieValue(r, kSessionCookie);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, "abc.def");
  EXPECT_EQ(*CookieValue(r, "b"), "q");
  EXPECT_EQ(*CookieValue(r, "missing"), "");
  EXPECT_EQ(*CookieValue(Request("GET", "/"), kSessionCookie), "");
  for (const char* bad : {"a", "=1", "a=1;b=2", "a=1; b", "a=x y", "a=1; a=\"x;", "a=1;; b=2",
                          "tresor_session=1; tresor_session=2"}) {
    EXPECT_FALSE(CookieValue(WithCookie("GET", "/", bad), kSessionCookie).ok()) << bad;
  }
}

TEST(CookieTest, CsrfTokenIsStableHexAndPerSession) {
  std::string a = CsrfTokenFor("token-a");
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a, CsrfTokenFor("token-a"));
  EXPECT_NE(a, CsrfTokenFor("token-b"));
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST_F(RouterTest, SessionCookieAuthenticatesAndNeedsCsrfToChange) {
  std::string cookie = std::string(kSessionCookie) + "=" + kGoodToken;
  auto read = router_.Decide(WithCookie("GET", "/api/stats", cookie));
  EXPECT_TRUE(read.accepted());
  EXPECT_TRUE(read.by_cookie());
  EXPECT_EQ(read.user(), "alice");

  auto no_csrf = router_.Decide(WithCookie("DELETE", "/api/stats", cookie));
  ASSERT_FALSE(no_csrf.accepted());
  EXPECT_EQ(no_csrf.rejection().status, 403);
  auto wrong = router_.Decide(WithCookie("DELETE", "/api/stats", cookie, CsrfTokenFor("x")));
  EXPECT_EQ(wrong.rejection().status, 403);
  auto ok = router_.Decide(WithCookie("DELETE", "/api/stats", cookie, CsrfTokenFor(kGoodToken)));
  EXPECT_TRUE(ok.accepted());

  auto bad = router_.Decide(
      WithCookie("GET", "/api/stats", std::string(kSessionCookie) + "=forged"));
  EXPECT_EQ(bad.rejection().status, 401);
  auto malformed = router_.Decide(WithCookie("GET", "/api/stats", "tresor_session"));
  EXPECT_EQ(malformed.rejection().status, 401);
  // An Authorization header wins over the cookie, and needs no CSRF token.
  HttpRequest both = WithCookie("DELETE", "/api/stats", cookie);
  both.headers.emplace_back("Authorization", std::string("Bearer ") + kGoodToken);
  auto bearer = router_.Decide(both);
  EXPECT_TRUE(bearer.accepted());
  EXPECT_FALSE(bearer.by_cookie());
}

TEST_F(RouterTest, AllowedMethods) {
  EXPECT_EQ(router_.AllowedMethods("/api/stats"), "GET, HEAD, DELETE");
  EXPECT_EQ(router_.AllowedMethods("/studies/1/series/2"), "GET, HEAD");
  EXPECT_EQ(router_.AllowedMethods("/nope"), "");
}

TEST(RouterPrefix, ExactRoutesWinThenLongestPrefix) {
  Router router(
      [](const std::string& bearer, const std::string& source) -> Result<archive::Principal> {
        if (bearer != "good") return Status(Code::kUnauthenticated, "bad token");
        return archive::Principal::ForUser("alice", "radiologist", source, {});
      },
      "1");
  auto echo = [](std::string tag) {
    return [tag](const HttpRequest& r) {
      auto it = r.path_params.find(kRestParam);
      return HttpResponse::Json(200, DumpJson({{"tag", tag},
                                               {"rest", it == r.path_params.end() ? "-" : it->second}}));
    };
  };
  router.Add(Route::Public("GET", "/*", "all", echo("all")));
  router.Add(Route::Public("GET", "/api/health", "health", echo("health")));
  Route viewer = Route::Authenticated("GET", "/viewer/*", "viewer",
                                      [](const HttpRequest& r, const archive::Principal&) {
                                        return HttpResponse::Json(
                                            200, DumpJson({{"rest", r.path_params.at(kRestParam)}}));
                                      });
  viewer.sign_in_redirect = true;
  router.Add(std::move(viewer));

  EXPECT_NE(router.Handle(Request("GET", "/api/health")).body.find("\"health\""), std::string::npos);
  EXPECT_NE(router.Handle(Request("GET", "/")).body.find("\"rest\":\"\""), std::string::npos);
  EXPECT_NE(router.Handle(Request("GET", "/a/b.js")).body.find("\"rest\":\"a/b.js\""),
            std::string::npos);
  // The longer prefix decides, with its own authentication.
  EXPECT_EQ(router.Handle(Request("GET", "/viewer/x.js")).status, 401);
  HttpResponse ok = router.Handle(Request("GET", "/viewer/a/b", "Bearer good"));
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find("\"rest\":\"a/b\""), std::string::npos);
  // An exact route's other method is a 405, not the catch-all.
  EXPECT_EQ(router.Handle(Request("POST", "/api/health")).status, 405);
  HttpResponse post = router.Handle(Request("POST", "/anything"));
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(HeaderOf(post, "Allow"), "GET, HEAD");
  // Only GET navigations accepting HTML are redirected; a bad cookie too.
  HttpRequest nav = Request("GET", "/viewer/");
  nav.headers.emplace_back("Accept", "text/html");
  HttpResponse redirect = router.Handle(nav);
  EXPECT_EQ(redirect.status, 303);
  EXPECT_EQ(HeaderOf(redirect, "Location"), "/?next=/viewer/");
  nav.headers.emplace_back("Cookie", std::string(kSessionCookie) + "=expired");
  EXPECT_EQ(router.Handle(nav).status, 303);
  // The OpenAPI document lists each prefix route once, its rest as a parameter.
  std::string api = router.OpenApi();
  EXPECT_NE(api.find("\"/viewer/{path}\""), std::string::npos);
  EXPECT_NE(api.find("\"/{path}\""), std::string::npos);
}

TEST(RouterPrefix, SignInLocationEncodesEverythingButPathCharacters) {
  EXPECT_EQ(SignInLocation("/viewer/", ""), "/?next=/viewer/");
  EXPECT_EQ(SignInLocation("/viewer/v", "a=1&b=//evil"), "/?next=/viewer/v%3Fa%3D1%26b%3D//evil");
  EXPECT_EQ(SignInLocation("/viewer/\r\n", ""), "/?next=/viewer/%0D%0A");
}

TEST_F(RouterTest, HeadRunsTheGetRouteWithItsAuthentication) {
  HttpResponse anonymous = router_.Handle(Request("HEAD", "/api/stats"));
  EXPECT_EQ(anonymous.status, 401) << "HEAD is authenticated like GET";
  HttpResponse ok = router_.Handle(Request("HEAD", "/api/stats", std::string("Bearer ") + kGoodToken));
  EXPECT_EQ(ok.status, 200);
  EXPECT_FALSE(ok.body.empty()) << "the handler ran; the transport drops the body";
  EXPECT_EQ(router_.Handle(Request("HEAD", "/upload")).status, 405) << "no GET, no HEAD";
}

TEST(RouterHead, AnExplicitHeadRouteWins) {
  Router router(
      [](const std::string&, const std::string&) -> Result<archive::Principal> {
        return Status(Code::kUnauthenticated, "no");
      },
      "1");
  router.Add(Route::Public("GET", "/r", "get", [](const HttpRequest&) {
    return HttpResponse::Json(200, "{\"by\":\"get\"}");
  }));
  router.Add(Route::Public("HEAD", "/r", "head", [](const HttpRequest&) {
    return HttpResponse::Json(200, "{\"by\":\"head\"}");
  }));
  EXPECT_EQ(router.Handle(Request("HEAD", "/r")).body, "{\"by\":\"head\"}");
  EXPECT_EQ(router.Handle(Request("GET", "/r")).body, "{\"by\":\"get\"}");
}

}  // namespace
}  // namespace tresor::web
