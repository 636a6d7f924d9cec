#include "web/rest_api.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "core/testing/fake_clock.h"
#include "store/file_blob_store.h"
#include "store/sqlite_index.h"
#include "web/json_body.h"

namespace tresor::web {
namespace {

namespace fs = std::filesystem;

constexpr char kPassword[] = "a long enough passphrase 42!";

// The REST routes over a real archive (SQLite index and file blobs in a temporary
// directory), driven through the router without a network.
class RestApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/tresor_web_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto index = store::SqliteIndex::Open({dir_ + "/index.db", store::SqliteIndexOptions::Sync::kOff});
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    index_ = std::move(index).value();
    auto blobs = store::FileBlobStore::Make({dir_ + "/storage", /*fsync=*/false, nullptr});
    ASSERT_TRUE(blobs.ok()) << blobs.status().ToString();
    blobs_ = std::move(blobs).value();
    archive::ArchiveOptions options;
    options.token_key = std::string(32, 'k');
    options.session_max_minutes = 15;
    options.max_failures = 3;
    options.backoff_seconds = 5;
    archive_ = std::make_unique<archive::ArchiveService>(*index_, *blobs_, options, clock_);
    ASSERT_TRUE(archive_->admin().CreateUser(archive::Principal::LocalAdmin(), "alice", "radiologist",
                                     kPassword, {"all"}).ok());
    router_ = MakeRestRouter(*archive_);
  }
  void TearDown() override {
    router_.reset();
    archive_.reset();
    index_.reset();
    blobs_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  HttpResponse Call(std::string method, std::string path, std::string content_type = "",
                    std::string body = "", std::string authorization = "",
                    std::string source = "127.0.0.1") {
    HttpRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.client_address = std::move(source);
    if (!content_type.empty()) r.headers.emplace_back("Content-Type", content_type);
    if (!authorization.empty()) r.headers.emplace_back("Authorization", authorization);
    r.body = std::move(body);
    return router_->Handle(std::move(r));
  }

  HttpResponse SignIn(const std::string& password, const std::string& source = "127.0.0.1") {
    return Call("POST", "/auth/token", "application/json",
                DumpJson({{"username", "alice"}, {"password", password}}), "", source);
  }

  nlohmann::json Body(const HttpResponse& r) {
    auto body = ParseJsonBody(r.body, 64);
    EXPECT_TRUE(body.ok()) << r.body;
    return body.ok() ? *body : nlohmann::json();
  }

  std::string dir_;
  std::unique_ptr<store::SqliteIndex> index_;
  std::unique_ptr<store::FileBlobStore> blobs_;
  testing::FakeClock clock_;
  std::unique_ptr<archive::ArchiveService> archive_;
  std::unique_ptr<Router> router_;
};

TEST_F(RestApiTest, Health) {
  HttpResponse r = Call("GET", "/api/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  nlohmann::json body = Body(r);
  EXPECT_EQ(body["status"], "ok");
  EXPECT_EQ(body["version"], TresorVersion());
  EXPECT_EQ(body.size(), 2u);
}

TEST_F(RestApiTest, OpenApiMarksPublicRoutes) {
  HttpResponse r = Call("GET", "/api/openapi.json");
  ASSERT_EQ(r.status, 200);
  nlohmann::json paths = Body(r)["paths"];
  EXPECT_TRUE(paths["/api/health"]["get"]["security"].empty());
  EXPECT_TRUE(paths["/api/openapi.json"]["get"]["security"].empty());
  EXPECT_TRUE(paths["/auth/token"]["post"]["security"].empty());
  EXPECT_TRUE(paths["/api/stats"]["get"]["security"][0].contains("bearerAuth"));
  size_t operations = 0;
  for (const auto& [path, ops] : paths.items()) operations += ops.size();
  EXPECT_EQ(operations, router_->routes().size());
  EXPECT_TRUE(paths["/auth/session"]["post"]["security"].empty());
  EXPECT_FALSE(paths["/auth/session"]["get"]["security"].empty());
}

TEST_F(RestApiTest, SignInThenStats) {
  HttpResponse token = SignIn(kPassword);
  ASSERT_EQ(token.status, 200) << token.body;
  nlohmann::json body = Body(token);
  EXPECT_EQ(body["token_type"], "Bearer");
  EXPECT_EQ(body["expires_in"], 900);
  std::string access = body["access_token"];
  EXPECT_FALSE(access.empty());

  HttpResponse stats = Call("GET", "/api/stats", "", "", "Bearer " + access);
  ASSERT_EQ(stats.status, 200) << stats.body;
  nlohmann::json counts = Body(stats);
  for (const char* key : {"patients", "studies", "series", "instances", "bytes"}) {
    ASSERT_TRUE(counts.contains(key)) << key;
    EXPECT_EQ(counts[key], 0) << key;
  }
}

TEST_F(RestApiTest, SignInWithForm) {
  HttpResponse r = Call("POST", "/auth/token", "application/x-www-form-urlencoded; charset=utf-8",
                        "username=alice&password=a+long+enough+passphrase+42%21");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(RestApiTest, WrongPasswordAndUnknownUserLookAlike) {
  HttpResponse wrong = SignIn("not the password at all");
  HttpResponse unknown = Call("POST", "/auth/token", "application/json",
                              R"({"username":"mallory","password":"whatever it is"})");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(wrong.body, unknown.body);
}

TEST_F(RestApiTest, MalformedBodiesAre400AndOtherTypes415) {
  EXPECT_EQ(Call("POST", "/auth/token", "application/json", "{not json").status, 400);
  EXPECT_EQ(Call("POST", "/auth/token", "application/json", R"(["alice"])").status, 400);
  EXPECT_EQ(Call("POST", "/auth/token", "application/json", R"({"username":"alice"})").status, 400);
  EXPECT_EQ(Call("POST", "/auth/token", "application/json",
                 R"({"username":"alice","password":42})").status, 400);
  EXPECT_EQ(Call("POST", "/auth/token", "application/x-www-form-urlencoded", "username=%zz").status,
            400);
  EXPECT_EQ(Call("POST", "/auth/token", "text/plain", "alice:secret").status, 415);
  EXPECT_EQ(Call("POST", "/auth/token", "", "").status, 415);
  // None of these counted as a failed sign-in: two wrong passwords do not reach the
  // back-off (max_failures 3), the right one signs in.
  EXPECT_EQ(SignIn("wrong 1").status, 401);
  EXPECT_EQ(SignIn("wrong 2").status, 401);
  EXPECT_EQ(SignIn(kPassword).status, 200);
}

TEST_F(RestApiTest, StatsNeedsAValidToken) {
  EXPECT_EQ(Call("GET", "/api/stats").status, 401);
  EXPECT_EQ(Call("GET", "/api/stats", "", "", "Bearer garbage").status, 401);
}

std::string RetryAfter(const HttpResponse& r) {
  for (const auto& [name, value] : r.headers) {
    if (EqualsIgnoreCase(name, "Retry-After")) return value;
  }
  return "(none)";
}

TEST_F(RestApiTest, WrongPasswordsBackOffThatUserFromThatSourceWithRetryAfter) {
  const std::string source = "192.0.2.7";
  std::string token = Body(SignIn(kPassword, source))["access_token"];
  for (int i = 0; i < 3; ++i) EXPECT_EQ(SignIn("wrong password " + std::to_string(i), source).status, 401);
  // In back-off (5 s, the first step) the password is not even checked.
  HttpResponse refused = SignIn(kPassword, source);
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(RetryAfter(refused), "5");
  clock_.AdvanceSeconds(2);
  EXPECT_EQ(RetryAfter(SignIn(kPassword, source)), "3");
  // The user from another source, and the token issued before, are not affected.
  EXPECT_EQ(SignIn(kPassword, "192.0.2.8").status, 200);
  EXPECT_EQ(Call("GET", "/api/stats", "", "", "Bearer " + token, source).status, 200);
  // Invalid tokens from that source are 401, never 429, and do not touch sign-ins.
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Call("GET", "/api/stats", "", "", "Bearer garbage", "192.0.2.9").status, 401);
  }
  EXPECT_EQ(SignIn(kPassword, "192.0.2.9").status, 200);
  // After the back-off the right password signs in, and that clears the failures.
  clock_.AdvanceSeconds(3);
  EXPECT_EQ(SignIn(kPassword, source).status, 200);
  EXPECT_EQ(SignIn("wrong again", source).status, 401);
  EXPECT_EQ(SignIn(kPassword, source).status, 200);
}

TEST_F(RestApiTest, StudyRouteAnswersWithinTheScopeAndOtherwise404) {
  ASSERT_TRUE(index_->PutGroupRule({"site-a", store::GroupRule::Kind::kInstitution, "A"}).ok());
  auto record = [](const std::string& study, const std::string& institution) {
    store::InstanceRecord r;
    r.attrs.patient_name = "Doe^Jane";
    r.attrs.patient_id = "P1";
    r.attrs.study_instance_uid = study;
    r.attrs.series_instance_uid = study + ".1";
    r.attrs.sop_instance_uid = study + ".1.1";
    r.attrs.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
    r.attrs.modality = "CT";
    r.attrs.institution_name = institution;
    r.transfer_syntax_uid = "1.2.840.10008.1.2.1";
    r.blob_name = std::string(31, 'a') + study.back();
    r.content_sha256 = std::string(64, 'b');
    return r;
  };
  ASSERT_TRUE(index_->AddInstances({record("1.2.3.1", "A"), record("1.2.3.2", "B")}).ok());
  const archive::Principal admin = archive::Principal::LocalAdmin();
  ASSERT_TRUE(archive_->admin().CreateUser(admin, "bob", "radiologist", kPassword, {"site-a"}).ok());
  ASSERT_TRUE(archive_->admin().CreateUser(admin, "audrey", "auditor", kPassword, {"all"}).ok());
  auto token = [&](const std::string& user) {
    HttpResponse r = Call("POST", "/auth/token", "application/json",
                          DumpJson({{"username", user}, {"password", kPassword}}));
    EXPECT_EQ(r.status, 200) << r.body;
    return "Bearer " + Body(r).value("access_token", "");
  };
  std::string bob = token("bob");

  HttpResponse in_scope = Call("GET", "/api/studies/1.2.3.1", "", "", bob);
  ASSERT_EQ(in_scope.status, 200) << in_scope.body;
  nlohmann::json study = Body(in_scope);
  EXPECT_EQ(study["PatientID"], "P1");
  EXPECT_EQ(study["ModalitiesInStudy"], nlohmann::json::array({"CT"}));
  EXPECT_EQ(study["NumberOfStudyRelatedInstances"], 1);

  HttpResponse hidden = Call("GET", "/api/studies/1.2.3.2", "", "", bob);
  HttpResponse missing = Call("GET", "/api/studies/1.2.3.9", "", "", bob);
  EXPECT_EQ(hidden.status, 404);
  EXPECT_EQ(hidden.body, missing.body) << "no existence oracle";
  EXPECT_EQ(Call("GET", "/api/studies/1.2.3.2", "", "", token("alice")).status, 200)
      << "alice is in 'all'";
  EXPECT_EQ(Call("GET", "/api/studies/not..a.uid", "", "", bob).status, 400);
  EXPECT_EQ(Call("GET", "/api/studies/1.2.3.1").status, 401);
  EXPECT_EQ(Call("GET", "/api/studies/1.2.3.1", "", "", token("audrey")).status, 403)
      << "the auditor role has no query right";

  // Sign-out ends the session: the same token is refused afterwards.
  EXPECT_EQ(Call("POST", "/auth/logout", "", "", bob).status, 200);
  EXPECT_EQ(Call("GET", "/api/studies/1.2.3.1", "", "", bob).status, 401);
}

}  // namespace
}  // namespace tresor::web
