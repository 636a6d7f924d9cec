#include "app/blob_backend.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "core/random.h"
#include "core/testing/temp_dir.h"
#include "security/master_key.h"

namespace tresor::app {
namespace {

std::shared_ptr<const store::KeyRing> Ring() {
  std::string bytes(security::kMasterKeyBytes, '\0');
  RandomBytes(bytes.data(), bytes.size());
  auto key = security::MasterKeyFromBytes(bytes);
  EXPECT_TRUE(key.ok());
  auto ring = store::KeyRing::Make({*key});
  EXPECT_TRUE(ring.ok());
  return std::make_shared<const store::KeyRing>(std::move(ring).value());
}

void WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
}

TEST(BlobBackend, LocalAndSharedOpenAndWrite) {
  testing::TempDir dir;
  auto keys = Ring();
  Config local = *ParseConfig(DefaultConfigText());
  EXPECT_EQ(local.storage_backend, "local");
  auto a = OpenBlobBackend(local, dir.path(), keys, "n1");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  Config shared = local;
  shared.storage_backend = "shared";
  shared.storage_path = dir.path() + "/mount";
  auto b = OpenBlobBackend(shared, dir.path(), keys, "n1");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto w = (*b)->Create();
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append("abc", 3).ok());
  auto name = (*w)->Finish();
  ASSERT_TRUE(name.ok());
  struct stat st {};
  EXPECT_EQ(stat((dir.path() + "/mount/staging/n1/" + *name).c_str(), &st), 0)
      << "staged under the node's name";
}

TEST(BlobBackend, ConfigurationErrorsNameTheSetting) {
  testing::TempDir dir;
  auto keys = Ring();
  Config c = *ParseConfig(DefaultConfigText());
  c.storage_backend = "shared";
  auto r = OpenBlobBackend(c, dir.path(), keys, "n1");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("storage.path"), std::string::npos);
  c.storage_path = dir.path() + "/mount";
  r = OpenBlobBackend(c, dir.path(), keys, "");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("[cluster] node"), std::string::npos);
  r = OpenBlobBackend(c, dir.path(), nullptr, "n1");
  EXPECT_EQ(r.status().code(), Code::kUnsupported);

  c.storage_backend = "s3";
  r = OpenBlobBackend(c, dir.path(), keys, "n1");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("s3_endpoint"), std::string::npos);
  c.s3_endpoint = "https://s3.example.org";
  c.s3_bucket = "tresor";
  c.s3_credentials_file = "s3.credentials";
  WriteFile(dir.path() + "/s3.credentials", "AKID\nSECRET\n", 0644);
  auto o = S3BackendOptions(c, dir.path(), keys, "n1");
  EXPECT_EQ(o.status().code(), Code::kPermissionDenied) << "a credentials file others may read";
  chmod((dir.path() + "/s3.credentials").c_str(), 0600);
  o = S3BackendOptions(c, dir.path(), keys, "n1");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->s3.access_key, "AKID");
  EXPECT_EQ(o->s3.secret_key, "SECRET");
  WriteFile(dir.path() + "/s3.credentials", "AKID\n", 0600);
  EXPECT_EQ(S3BackendOptions(c, dir.path(), keys, "n1").status().code(), Code::kInvalidArgument);

  auto bad = ParseConfig("[storage]\nbackend = \"nfs\"\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("storage.backend"), std::string::npos);
}

// Against a real server when one is configured (ctest unit.blob_backend_s3).
TEST(BlobBackend, S3OpensTheConfiguredBucket) {
  const char* endpoint = std::getenv("TRESOR_TEST_S3_ENDPOINT");
  if (!endpoint) {
    if (const char* req = std::getenv("TRESOR_TEST_S3_REQUIRED"); req && std::string(req) == "1") {
      FAIL() << "no S3 server";
    }
    GTEST_SKIP() << "no S3 server (ctest unit.blob_backend_s3)";
  }
  testing::TempDir dir;
  Config c = *ParseConfig(DefaultConfigText());
  c.storage_backend = "s3";
  c.s3_endpoint = endpoint;
  c.s3_bucket = std::getenv("TRESOR_TEST_S3_BUCKET");
  c.s3_prefix = "backend-" + RandomHex(4);
  c.s3_credentials_file = "s3.credentials";
  WriteFile(dir.path() + "/s3.credentials",
            std::string(std::getenv("TRESOR_TEST_S3_ACCESS_KEY")) + "\ntresor-test-secret-4f9c\n", 0600);
  auto store = OpenBlobBackend(c, dir.path(), Ring(), "n1");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto w = (*store)->Create();
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append("hello", 5).ok());
  auto name = (*w)->Finish();
  ASSERT_TRUE(name.ok()) << name.status().ToString();
  ASSERT_TRUE((*store)->Publish(*name).ok());
  auto r = (*store)->Open(*name);
  ASSERT_TRUE(r.ok());
  char buf[5];
  auto got = (*r)->ReadAt(buf, 5, 0);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(std::string(buf, *got), "hello");
}

}  // namespace
}  // namespace tresor::app
