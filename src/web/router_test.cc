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
  EXPECT_EQ(HeaderOf(r, "Allow"), "GET, DELETE");
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

}  // namespace
}  // namespace tresor::web
