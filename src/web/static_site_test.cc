#include "web/static_site.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "web/router.h"
#include "web/site_routes.h"

namespace tresor::web {
namespace {

std::string HeaderOf(const HttpResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

std::string Drain(HttpResponse& r) {
  if (!r.stream) return r.body;
  std::string out;
  char buf[4096];
  while (true) {
    auto n = r.stream->Read(buf, sizeof buf);
    EXPECT_TRUE(n.ok());
    if (!n.ok() || *n == 0) break;
    out.append(buf, *n);
  }
  return out;
}

TEST(ResolveSitePath, AcceptsPlainPathsAndDecodes) {
  EXPECT_EQ(*ResolveSitePath(""), "");
  EXPECT_EQ(*ResolveSitePath("index.html"), "index.html");
  EXPECT_EQ(*ResolveSitePath("assets/a%20b.png"), "assets/a b.png");
  EXPECT_EQ(*ResolveSitePath("assets/"), "assets/");
  EXPECT_EQ(*ResolveSitePath("a/..b/c..d"), "a/..b/c..d");  // dots inside names are fine
}

TEST(ResolveSitePath, RefusesTraversalAndOddBytes) {
  for (const char* bad : {"..", "../x", "a/../b", "a/..", ".", "./a", "a/./b", "%2e%2e/x",
                          "%2E%2E%2Fx", "a%2f..%2f..%2fetc", "a/%2e/b", "a//b", "/etc/passwd",
                          "a%00.js", "a%0a", "a\\..\\b", "a%5c..%5cb", "%", "a%2", "a%zz",
                          "%2f%2fetc"}) {
    EXPECT_FALSE(ResolveSitePath(bad).ok()) << bad;
  }
  // Double encoding stays one literal name ("%2e%2e" after one decode), never a parent.
  EXPECT_EQ(*ResolveSitePath("%252e%252e/x"), "%2e%2e/x");
}

TEST(StaticSite, ExtensionsAndMimeTypes) {
  EXPECT_TRUE(HasExtension("a.js"));
  EXPECT_TRUE(HasExtension("d/a.b.wasm"));
  EXPECT_FALSE(HasExtension("viewer"));
  EXPECT_FALSE(HasExtension("a.b/viewer"));
  EXPECT_FALSE(HasExtension(".hidden"));
  EXPECT_EQ(MimeTypeFor("a.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(MimeTypeFor("x/a.WASM"), "application/wasm");
  EXPECT_EQ(MimeTypeFor("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(MimeTypeFor("a.html"), "text/html; charset=utf-8");
  EXPECT_EQ(MimeTypeFor("a.json"), "application/json");
  EXPECT_EQ(MimeTypeFor("a.svg"), "image/svg+xml");
  EXPECT_EQ(MimeTypeFor("a.png"), "image/png");
  EXPECT_EQ(MimeTypeFor("a.ico"), "image/x-icon");
  EXPECT_EQ(MimeTypeFor("a.woff2"), "font/woff2");
  EXPECT_EQ(MimeTypeFor("a.exe"), "application/octet-stream");
  EXPECT_EQ(MimeTypeFor("noext"), "application/octet-stream");
}

HttpRequest Get(std::string path) {
  HttpRequest r;
  r.method = "GET";
  r.path = std::move(path);
  r.client_address = "127.0.0.1";
  return r;
}

TEST(StaticSite, EmbeddedFilesFallbackAndEtag) {
  static const char kIndex[] = "<!doctype html>index";
  static const char kApp[] = "console.log(1)";
  auto files = std::make_shared<EmbeddedFiles>(std::map<std::string, std::string_view>{
      {"index.html", kIndex}, {"js/app.js", kApp}});
  StaticSiteOptions options;
  options.headers = {{"Content-Security-Policy", "default-src 'self'"}};
  StaticSite site(files, options);

  HttpResponse root = site.Serve(Get("/"), "");
  EXPECT_EQ(root.status, 200);
  EXPECT_EQ(root.body, kIndex);
  EXPECT_EQ(root.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(HeaderOf(root, "Content-Security-Policy"), "default-src 'self'");
  EXPECT_EQ(HeaderOf(root, "Cache-Control"), "no-cache");

  HttpResponse app = site.Serve(Get("/js/app.js"), "js/app.js");
  EXPECT_EQ(app.status, 200);
  EXPECT_EQ(app.body, kApp);
  EXPECT_EQ(app.content_type, "text/javascript; charset=utf-8");

  HttpResponse spa = site.Serve(Get("/users/alice"), "users/alice");
  EXPECT_EQ(spa.status, 200);
  EXPECT_EQ(spa.body, kIndex);
  HttpResponse missing = site.Serve(Get("/missing.js"), "missing.js");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(HeaderOf(missing, "Content-Security-Policy"), "default-src 'self'");
  EXPECT_EQ(site.Serve(Get("/../x"), "../x").status, 404);

  HttpRequest again = Get("/js/app.js");
  again.headers.emplace_back("If-None-Match", HeaderOf(app, "ETag"));
  HttpResponse cached = site.Serve(again, "js/app.js");
  EXPECT_EQ(cached.status, 304);
  EXPECT_TRUE(cached.body.empty());
  HttpRequest other = Get("/js/app.js");
  other.headers.emplace_back("If-None-Match", "\"something else\"");
  EXPECT_EQ(site.Serve(other, "js/app.js").status, 200);
}

class DirectoryFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tresor-site-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/root";
    ASSERT_EQ(mkdir(root_.c_str(), 0700), 0);
    ASSERT_EQ(mkdir((root_ + "/assets").c_str(), 0700), 0);
    Write(root_ + "/index.html", "<html>viewer</html>");
    Write(root_ + "/assets/codec.wasm", std::string("\0asm\1\0\0\0", 8));
    Write(dir_ + "/secret.txt", "secret");
    ASSERT_EQ(symlink((dir_ + "/secret.txt").c_str(), (root_ + "/link.txt").c_str()), 0);
    ASSERT_EQ(symlink(dir_.c_str(), (root_ + "/up").c_str()), 0);
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  static void Write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }
  std::string dir_, root_;
};

TEST_F(DirectoryFilesTest, ServesRegularFilesStreamed) {
  StaticSite site(std::make_shared<DirectoryFiles>(root_), {});
  HttpResponse wasm = site.Serve(Get("/assets/codec.wasm"), "assets/codec.wasm");
  ASSERT_EQ(wasm.status, 200);
  EXPECT_EQ(wasm.content_type, "application/wasm");
  ASSERT_TRUE(wasm.stream);
  EXPECT_EQ(wasm.stream_length, 8u);
  EXPECT_EQ(Drain(wasm), std::string("\0asm\1\0\0\0", 8));
  HttpResponse index = site.Serve(Get("/viewer"), "viewer");
  ASSERT_EQ(index.status, 200);
  EXPECT_EQ(Drain(index), "<html>viewer</html>");
}

TEST_F(DirectoryFilesTest, RefusesSymlinksDirectoriesAndMissingFiles) {
  StaticSite site(std::make_shared<DirectoryFiles>(root_), {});
  EXPECT_EQ(site.Serve(Get("/link.txt"), "link.txt").status, 404);
  EXPECT_EQ(site.Serve(Get("/up/secret.txt"), "up/secret.txt").status, 404);
  HttpResponse listing = site.Serve(Get("/assets/"), "assets/");  // assets/index.html: none
  EXPECT_EQ(listing.status, 404);
  EXPECT_EQ(site.Serve(Get("/assets/none.wasm"), "assets/none.wasm").status, 404);
  // Positive control: the same site serves a real file.
  EXPECT_EQ(site.Serve(Get("/index.html"), "index.html").status, 200);
  DirectoryFiles gone(dir_ + "/nowhere");
  EXPECT_EQ(gone.Open("index.html").status().code(), Code::kNotFound);
}

TEST(SiteRoutes, ViewerNeedsSessionAndRedirectsNavigations) {
  Router router(
      [](const std::string& bearer, const std::string& source) -> Result<archive::Principal> {
        if (bearer != "good") return Status(Code::kUnauthenticated, "bad token");
        return archive::Principal::ForUser("alice", "radiologist", source, {});
      },
      "1");
  router.Add(Route::Public("GET", "/api/health", "health",
                           [](const HttpRequest&) { return HttpResponse::Json(200, "{}"); }));
  AddSiteRoutes(router, SiteOptions{"", "/nonexistent-viewer-dir"});

  HttpRequest nav = Get("/viewer/viewer");
  nav.query = "StudyInstanceUIDs=1.2&x=<y>";
  nav.headers.emplace_back("Accept", "text/html,application/xhtml+xml");
  HttpResponse redirect = router.Handle(nav);
  EXPECT_EQ(redirect.status, 303);
  EXPECT_EQ(HeaderOf(redirect, "Location"),
            "/?next=/viewer/viewer%3FStudyInstanceUIDs%3D1.2%26x%3D%3Cy%3E");
  EXPECT_EQ(router.Handle(Get("/viewer/app.js")).status, 401);  // not a navigation

  HttpRequest config = Get("/viewer/app-config.js");
  config.headers.emplace_back("Authorization", "Bearer good");
  HttpResponse js = router.Handle(config);
  EXPECT_EQ(js.status, 200);
  EXPECT_NE(js.body.find("qidoRoot: '/dicom-web'"), std::string::npos);
  EXPECT_EQ(HeaderOf(js, "Cross-Origin-Embedder-Policy"), "require-corp");
  EXPECT_EQ(HeaderOf(js, "Content-Security-Policy"), kViewerCsp);

  HttpRequest missing = Get("/viewer/");
  missing.headers.emplace_back("Authorization", "Bearer good");
  EXPECT_EQ(router.Handle(missing).status, 404);  // not installed here

  // The console takes what no API route takes, but never /api, /auth, /dicom-web.
  EXPECT_EQ(router.Handle(Get("/api/health")).status, 200);
  EXPECT_EQ(router.Handle(Get("/api/nothing")).status, 404);
  EXPECT_EQ(router.Handle(Get("/dicom-web/studies")).status, 404);
  HttpResponse console = router.Handle(Get("/"));
  EXPECT_EQ(HeaderOf(console, "Content-Security-Policy"), kConsoleCsp);
}

}  // namespace
}  // namespace tresor::web
