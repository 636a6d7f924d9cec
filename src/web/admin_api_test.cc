// The administration routes over a real archive (SQLite index and file blobs in a
// temporary directory), driven through the router without a network: who may call them,
// strict bodies, CSRF on cookie sessions, token revocation, the last-admin guard.
#include "web/admin_api.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/testing/fake_clock.h"
#include "store/file_blob_store.h"
#include "store/sqlite_index.h"
#include "web/json_body.h"
#include "web/rest_api.h"

namespace tresor::web {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kPassword[] = "a long enough passphrase 42!";

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/tresor_admin_test.XXXXXX";
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
    archive_ = std::make_unique<archive::ArchiveService>(*index_, *blobs_, options, clock_);
    auto local = archive::Principal::LocalAdmin();
    ASSERT_TRUE(archive_->admin().CreateUser(local, "root", "admin", kPassword, {"all"}).ok());
    for (const char* role : {"radiologist", "technologist", "auditor"}) {
      ASSERT_TRUE(archive_->admin().CreateUser(local, role, role, kPassword, {"all"}).ok());
    }
    router_ = MakeRestRouter(*archive_);
    admin_ = Bearer("root");
  }
  void TearDown() override {
    router_.reset();
    archive_.reset();
    index_.reset();
    blobs_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // "Bearer <session token>" of `user`.
  std::string Bearer(const std::string& user) {
    auto token = archive_->access().Login(user, kPassword, "127.0.0.1");
    EXPECT_TRUE(token.ok()) << token.status().ToString();
    return token.ok() ? "Bearer " + *token : "";
  }

  HttpResponse Call(std::string method, std::string path, std::string authorization,
                    std::string body = "", std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.client_address = "127.0.0.1";
    if (!body.empty()) r.headers.emplace_back("Content-Type", "application/json");
    if (!authorization.empty()) r.headers.emplace_back("Authorization", authorization);
    for (auto& h : headers) r.headers.push_back(std::move(h));
    r.body = std::move(body);
    return router_->Handle(std::move(r));
  }

  json Body(const HttpResponse& r) {
    auto body = ParseJsonBody(r.body, 64);
    EXPECT_TRUE(body.ok()) << r.body;
    return body.ok() ? *body : json();
  }

  std::string dir_;
  std::unique_ptr<store::SqliteIndex> index_;
  std::unique_ptr<store::FileBlobStore> blobs_;
  testing::FakeClock clock_;
  std::unique_ptr<archive::ArchiveService> archive_;
  std::unique_ptr<Router> router_;
  std::string admin_;
};

struct AdminCall {
  const char* method;
  const char* path;
  const char* body;
  int admin_status;  // what the admin gets
};
const AdminCall kCalls[] = {
    {"GET", "/api/users", "", 200},
    {"POST", "/api/users",
     R"({"name":"newbie","role":"auditor","password":"a long enough passphrase 42!"})", 201},
    {"PATCH", "/api/users/auditor", R"({"groups":["site-a"]})", 200},
    {"GET", "/api/peers", "", 200},
    {"POST", "/api/peers", R"({"name":"ct1","ae_title":"CT1","host":"127.0.0.1"})", 201},
    {"DELETE", "/api/peers/ct1", "", 204},
    {"GET", "/api/groups", "", 200},
    {"GET", "/api/rules", "", 200},
    {"POST", "/api/rules", R"({"group":"site-a","kind":"institution","value":"North"})", 201},
    {"POST", "/api/rules/remove", R"({"group":"site-a","kind":"institution","value":"North"})", 200},
    {"GET", "/api/tokens", "", 200},
    {"POST", "/api/tokens", R"({"name":"ci","user":"auditor","days":5})", 201},
    {"DELETE", "/api/tokens/ci", "", 204},
};

TEST_F(AdminApiTest, OtherRolesGet403OnEveryRouteAndTheAdminSucceeds) {
  std::vector<std::string> others = {Bearer("radiologist"), Bearer("technologist"), Bearer("auditor")};
  for (const AdminCall& c : kCalls) {
    for (const std::string& other : others) {
      HttpResponse r = Call(c.method, c.path, other, c.body);
      EXPECT_EQ(r.status, 403) << c.method << " " << c.path;
    }
    // Positive control, in order: each admin call succeeds (and sets up the next).
    HttpResponse r = Call(c.method, c.path, admin_, c.body);
    EXPECT_EQ(r.status, c.admin_status) << c.method << " " << c.path << ": " << r.body;
  }
  // Nothing the other roles sent changed anything: the one peer and token are gone, the
  // admin's user exists once.
  EXPECT_EQ(Body(Call("GET", "/api/peers", admin_)).size(), 0u);
  EXPECT_EQ(Body(Call("GET", "/api/tokens", admin_)).size(), 0u);
  EXPECT_EQ(Body(Call("GET", "/api/users", admin_)).size(), 5u);
}

TEST_F(AdminApiTest, TheOpenApiDocumentListsTheRoutesWithSummaries) {
  json paths = Body(Call("GET", "/api/openapi.json", ""))["paths"];
  for (const AdminCall& c : kCalls) {
    std::string path = c.path;
    if (path == "/api/users/auditor") path = "/api/users/{name}";
    if (path == "/api/peers/ct1") path = "/api/peers/{name}";
    if (path == "/api/tokens/ci") path = "/api/tokens/{name}";
    std::string method = c.method;
    for (char& ch : method) ch = static_cast<char>(std::tolower(ch));
    ASSERT_TRUE(paths.contains(path)) << path;
    ASSERT_TRUE(paths[path].contains(method)) << method << " " << path;
    EXPECT_EQ(paths[path][method]["summary"].get<std::string>().rfind("Admin: ", 0), 0u);
    EXPECT_FALSE(paths[path][method]["security"].empty());
  }
}

TEST_F(AdminApiTest, BodiesAreStrict) {
  auto error = [&](const std::string& method, const std::string& path, const std::string& body) {
    HttpResponse r = Call(method, path, admin_, body);
    EXPECT_EQ(r.status, 400) << method << " " << path << " " << body << ": " << r.body;
    return Body(r).value("error", "");
  };
  EXPECT_EQ(error("POST", "/api/peers", R"({"name":"x","ae_title":"X","host":"h","colour":1})"),
            "unknown field 'colour'");
  EXPECT_EQ(error("POST", "/api/peers", R"({"name":"x","ae_title":"X","host":"h","port":"104"})"),
            "field 'port' must be an integer");
  EXPECT_EQ(error("POST", "/api/peers", R"({"name":"x","host":"h"})"), "missing field 'ae_title'");
  EXPECT_NE(error("POST", "/api/peers", R"({"name":"x","ae_title":"A_TITLE_LONGER_THAN_16","host":"h"})")
                .find("AE title"),
            std::string::npos);
  EXPECT_NE(error("POST", "/api/peers", R"({"name":"x","ae_title":"X","host":"h;rm -rf"})").find("host"),
            std::string::npos);
  EXPECT_NE(error("POST", "/api/peers", R"({"name":"x","ae_title":"X","host":"h","port":70000})").find("port"),
            std::string::npos);
  EXPECT_NE(error("POST", "/api/peers", R"({"name":"x","ae_title":"X","host":"h","services":["fly"]})")
                .find("fly"),
            std::string::npos);
  EXPECT_NE(error("POST", "/api/peers",
                  R"({"name":"x","ae_title":"X","host":"h","certificate_sha256":"abc"})")
                .find("certificate_sha256"),
            std::string::npos);
  EXPECT_EQ(error("POST", "/api/users", R"({"name":"u","role":"admin","password":5})"),
            "field 'password' must be a string");
  EXPECT_EQ(error("POST", "/api/users", R"(["name"])"), "the body must be a JSON object");
  EXPECT_EQ(error("PATCH", "/api/users/auditor", R"({"disabled":"yes"})"),
            "field 'disabled' must be true or false");
  EXPECT_EQ(error("PATCH", "/api/users/auditor", R"({})"),
            "nothing to change: give disabled, password, groups or role");
  EXPECT_EQ(error("POST", "/api/rules", R"({"group":"g","kind":"weather","value":"v"})"),
            "field 'kind' must be peer, institution or issuer");
  EXPECT_EQ(error("POST", "/api/tokens", R"({"name":"t","user":"auditor","days":0})"),
            "days must be 1-3650");
  // Nothing was created by the refused requests.
  EXPECT_EQ(Body(Call("GET", "/api/peers", admin_)).size(), 0u);
}

TEST_F(AdminApiTest, PasswordsAreNeverEchoedAndPolicyChecked) {
  HttpResponse weak = Call("POST", "/api/users", admin_,
                           R"({"name":"weak","role":"auditor","password":"short"})");
  EXPECT_EQ(weak.status, 400);
  EXPECT_EQ(weak.body.find("short\""), std::string::npos);
  HttpResponse r = Call("POST", "/api/users", admin_,
                        R"({"name":"bob","role":"radiologist","password":"another long passphrase 7","groups":["site-a"]})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.body.find("another long passphrase"), std::string::npos);
  json bob = Body(r);
  EXPECT_EQ(bob, json({{"name", "bob"}, {"role", "radiologist"}, {"disabled", false}, {"groups", {"site-a"}}}));
  // A PATCH that fails part-way changes nothing: the weak password is refused first.
  r = Call("PATCH", "/api/users/bob", admin_, R"({"groups":["site-b"],"password":"short"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Body(Call("GET", "/api/users", admin_))[1]["groups"], json({"site-a"}));
  r = Call("PATCH", "/api/users/bob", admin_, R"({"password":"a new long passphrase 8"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.find("a new long passphrase"), std::string::npos);
  EXPECT_TRUE(archive_->access().Login("bob", "a new long passphrase 8", "127.0.0.1").ok());
  EXPECT_EQ(Call("PATCH", "/api/users/nobody", admin_, R"({"disabled":true})").status, 404);
  EXPECT_EQ(Call("POST", "/api/users", admin_,
                 R"({"name":"bob","role":"auditor","password":"another long passphrase 7"})")
                .status,
            409);
}

TEST_F(AdminApiTest, CookieSessionsNeedTheCsrfTokenForChanges) {
  HttpRequest signin;
  signin.method = "POST";
  signin.path = "/auth/session";
  signin.client_address = "127.0.0.1";
  signin.headers.emplace_back("Content-Type", "application/json");
  signin.body = DumpJson({{"username", "root"}, {"password", kPassword}});
  HttpResponse session = router_->Handle(std::move(signin));
  ASSERT_EQ(session.status, 200);
  std::string csrf = Body(session)["csrf_token"];
  std::string cookie;
  for (const auto& [name, value] : session.headers) {
    if (name == "Set-Cookie") cookie = value.substr(0, value.find(';'));
  }
  ASSERT_FALSE(cookie.empty());
  const std::string peer = R"({"name":"ws","ae_title":"WS","host":"10.0.0.2","port":104})";
  EXPECT_EQ(Call("GET", "/api/peers", "", "", {{"Cookie", cookie}}).status, 200);
  HttpResponse refused = Call("POST", "/api/peers", "", peer, {{"Cookie", cookie}});
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(Call("POST", "/api/peers", "", peer, {{"Cookie", cookie}, {"X-CSRF-Token", "0000"}}).status, 403);
  EXPECT_EQ(Body(Call("GET", "/api/peers", admin_)).size(), 0u);
  EXPECT_EQ(Call("POST", "/api/peers", "", peer, {{"Cookie", cookie}, {"X-CSRF-Token", csrf}}).status, 201);
  EXPECT_EQ(Call("DELETE", "/api/peers/ws", "", "", {{"Cookie", cookie}}).status, 403);
  EXPECT_EQ(Call("DELETE", "/api/peers/ws", "", "", {{"Cookie", cookie}, {"X-CSRF-Token", csrf}}).status, 204);
  EXPECT_EQ(Call("DELETE", "/api/peers/ws", admin_).status, 404);
}

TEST_F(AdminApiTest, ARevokedTokenStopsAuthenticatingAtOnce) {
  HttpResponse created = Call("POST", "/api/tokens", admin_, R"({"name":"ci","user":"radiologist"})");
  ASSERT_EQ(created.status, 201) << created.body;
  json body = Body(created);
  std::string token = body["token"];
  EXPECT_EQ(body["user"], "radiologist");
  EXPECT_EQ(body["expires_at"].get<std::string>().size(), 20u);  // 2026-..T..:..:..Z
  // Listed without the token.
  HttpResponse listed = Call("GET", "/api/tokens", admin_);
  EXPECT_EQ(listed.body.find(token), std::string::npos);
  EXPECT_EQ(Body(listed)[0]["name"], "ci");
  // Positive control: the token works; revoked, it no longer does.
  EXPECT_EQ(Call("GET", "/api/stats", "Bearer " + token).status, 200);
  EXPECT_EQ(Call("DELETE", "/api/tokens/ci", admin_).status, 204);
  EXPECT_EQ(Call("GET", "/api/stats", "Bearer " + token).status, 401);
  EXPECT_EQ(Call("DELETE", "/api/tokens/ci", admin_).status, 404);
  // An admin's API token administers like the admin's session.
  created = Call("POST", "/api/tokens", admin_, R"({"name":"ops","user":"root","days":1})");
  ASSERT_EQ(created.status, 201);
  std::string ops = "Bearer " + Body(created)["token"].get<std::string>();
  EXPECT_EQ(Call("GET", "/api/users", ops).status, 200);
  EXPECT_EQ(Call("POST", "/api/tokens", admin_, R"({"name":"ops","user":"root"})").status, 409);
  EXPECT_EQ(Call("POST", "/api/tokens", admin_, R"({"name":"x","user":"nobody"})").status, 404);
}

TEST_F(AdminApiTest, TheLastEnabledAdminCannotBeLockedOut) {
  // Self: refused.
  HttpResponse self = Call("PATCH", "/api/users/root", admin_, R"({"disabled":true})");
  EXPECT_EQ(self.status, 409);
  EXPECT_EQ(Call("PATCH", "/api/users/root", admin_, R"({"role":"auditor"})").status, 409);
  // A second admin may not disable or demote the last other enabled admin either once it
  // is the only one: first it can (two admins), then the remaining one is protected.
  ASSERT_EQ(Call("POST", "/api/users", admin_,
                 R"({"name":"deputy","role":"admin","password":"a long enough passphrase 42!"})")
                .status,
            201);
  std::string deputy = Bearer("deputy");
  HttpResponse demoted = Call("PATCH", "/api/users/root", deputy, R"({"role":"radiologist"})");
  ASSERT_EQ(demoted.status, 200) << demoted.body;
  EXPECT_EQ(Body(demoted)["role"], "radiologist");
  // root is no admin any more: refused at once (the role is read at authentication).
  EXPECT_EQ(Call("GET", "/api/users", admin_).status, 403);
  // deputy is now the last enabled admin; the local administrator cannot disable it either.
  Status last = archive_->admin().SetUserDisabled(archive::Principal::LocalAdmin(), "deputy", true);
  EXPECT_EQ(last.code(), Code::kConflict);
  EXPECT_EQ(archive_->admin().SetUserRole(archive::Principal::LocalAdmin(), "deputy", "auditor").code(),
            Code::kConflict);
  // Re-promoted, root can disable deputy again.
  EXPECT_EQ(Call("PATCH", "/api/users/root", deputy, R"({"role":"admin"})").status, 200);
  HttpResponse disabled = Call("PATCH", "/api/users/deputy", admin_, R"({"disabled":true})");
  EXPECT_EQ(disabled.status, 200) << disabled.body;
  EXPECT_EQ(Call("GET", "/api/users", deputy).status, 401);  // disabled: sessions end
}

TEST_F(AdminApiTest, PeersCreatedOverHttpsAreListedAsTheContractSays) {
  HttpResponse r = Call("POST", "/api/peers", admin_,
                        R"({"name":"mr1","ae_title":"MR1","host":"10.1.2.3","port":11112,)"
                        R"("services":["echo","find","move"],"require_identity":true,"groups":["site-a"],)"
                        R"("certificate_sha256":"AB:)" + std::string(62, 'C') + R"("})");
  ASSERT_EQ(r.status, 201) << r.body;
  json listed = Body(Call("GET", "/api/peers", admin_));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0], json({{"name", "mr1"},
                             {"ae_title", "MR1"},
                             {"host", "10.1.2.3"},
                             {"port", 11112},
                             {"services", {"echo", "find", "move"}},
                             {"certificate_sha256", "ab" + std::string(62, 'c')},
                             {"tls", "certificate pinned"},
                             {"require_identity", true},
                             {"groups", {"site-a"}}}));
  EXPECT_EQ(Body(r), listed[0]);
  EXPECT_EQ(Call("POST", "/api/peers", admin_, R"({"name":"mr1","ae_title":"MR2","host":"10.1.2.4"})").status,
            409);
}

}  // namespace
}  // namespace tresor::web
