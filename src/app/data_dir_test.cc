#include "app/data_dir.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/testing/temp_dir.h"
#include "security/jwt.h"
#include "store/file_blob_store.h"

namespace tresor::app {
namespace {

class DataDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto password = InitDataDir(dir());
    ASSERT_TRUE(password.ok()) << password.status().ToString();
  }
  std::string dir() const { return tmp_.path() + "/data"; }
  std::string key_path() const { return dir() + "/keys/token.key"; }

  testing::TempDir tmp_;
};

TEST_F(DataDirTest, OpensWithTheKeyInitCreated) {
  auto opened = OpenDataDir(dir());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto key = ReadTextFile(key_path());
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->size(), security::kMinTokenKeyBytes);
  EXPECT_EQ((*opened)->archive->options().token_key, *key);
}

// The shipped wiring always seals: blobs under the key ring, the index page-sealed (only
// the separate benchmark binary tresor-plaintext, built with TRESOR_BENCH_PLAINTEXT,
// does otherwise; this library is never compiled with it).
TEST_F(DataDirTest, BlobsAndIndexAreAlwaysSealed) {
  auto opened = OpenDataDir(dir());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto* files = dynamic_cast<store::FileBlobStore*>((*opened)->blobs.get());
  ASSERT_NE(files, nullptr) << "the default storage is local files";
  EXPECT_TRUE(files->sealed());
  // A plain SQLite file shows its schema in page 1; a sealed one only its first 24 bytes.
  auto index = ReadTextFile(dir() + "/index.db");
  ASSERT_TRUE(index.ok());
  ASSERT_EQ(index->compare(0, 15, "SQLite format 3"), 0) << "index.db is a database";
  EXPECT_EQ(index->find("CREATE TABLE"), std::string::npos) << "index.db is not sealed";
}

TEST_F(DataDirTest, MissingKeyIsCreatedAndKept) {
  ASSERT_TRUE(std::filesystem::remove(key_path()));
  auto opened = OpenDataDir(dir());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto key = ReadTextFile(key_path());
  ASSERT_TRUE(key.ok()) << "the new key is on disk";
  EXPECT_EQ((*opened)->archive->options().token_key, *key);
}

// A key that cannot be written would mean tokens that never verify after a restart:
// the archive refuses to start instead. (`keys` replaced by a file: works as root too.)
TEST_F(DataDirTest, KeyThatCannotBeWrittenRefusesToStart) {
  std::filesystem::remove_all(dir() + "/keys");
  std::ofstream(dir() + "/keys") << "not a directory";
  auto opened = OpenDataDir(dir());
  ASSERT_FALSE(opened.ok()) << "started without a durable token key";
  // Without `keys` the index key (sealed in keys/index.key) is gone too, and it is
  // missed first.
  const std::string& m = opened.status().message();
  EXPECT_TRUE(m.find("token key") != std::string::npos || m.find("index key") != std::string::npos)
      << opened.status().ToString();
}

TEST_F(DataDirTest, ShortOrEmptyKeyRefusesToStart) {
  for (std::string content : {std::string(), std::string("short")}) {
    std::filesystem::remove(key_path());
    std::ofstream(key_path(), std::ios::binary) << content;
    auto opened = OpenDataDir(dir());
    EXPECT_FALSE(opened.ok()) << "key of " << content.size() << " bytes accepted";
  }
}

TEST_F(DataDirTest, MasterKeyLivesOutsideTheDataDirectory) {
  EXPECT_TRUE(std::filesystem::exists(dir() + ".keys/master.key"));
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir())) {
    EXPECT_EQ(e.path().filename().string().find("master"), std::string::npos) << e.path();
  }
  auto config = LoadConfig(dir() + "/tresor.conf");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(MasterKeyPath(dir() + "/", *config, ""), MasterKeyPath(dir(), *config, ""));
}

TEST_F(DataDirTest, WithoutItsMasterKeyTheArchiveDoesNotOpen) {
  std::filesystem::rename(dir() + ".keys", tmp_.path() + "/elsewhere");
  auto opened = OpenDataDir(dir());
  ASSERT_FALSE(opened.ok()) << "opened without its master key";
  EXPECT_EQ(opened.status().code(), Code::kNotFound);
  EXPECT_NE(opened.status().message().find("master key"), std::string::npos)
      << opened.status().message();
  auto given = OpenDataDir(dir(), tmp_.path() + "/elsewhere/master.key");
  EXPECT_TRUE(given.ok()) << given.status().ToString();
}

TEST(DataDirInitTest, KeyFileGivenAtInitIsRecordedAndNeverOverwritten) {
  testing::TempDir tmp;
  std::string key = tmp.path() + "/vault/archive.key";
  auto password = InitDataDir(tmp.path() + "/data", key);
  ASSERT_TRUE(password.ok()) << password.status().ToString();
  auto config = LoadConfig(tmp.path() + "/data/tresor.conf");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->master_key_file, key);
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/data.keys"));
  EXPECT_TRUE(OpenDataDir(tmp.path() + "/data").ok());
  auto again = InitDataDir(tmp.path() + "/other", key);
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists) << "an existing key was reused";
}

// --config: the given tresor.conf is checked before anything is created, and written.
TEST(DataDirInit, UsesTheGivenConfigurationAndRefusesABadOne) {
  testing::TempDir tmp;
  const std::string bad = tmp.path() + "/bad";
  auto refused = InitDataDir(bad, "", "[server]\nae_title = 12\n");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--config"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(bad)) << "nothing is created for a bad configuration";
  const std::string dir = tmp.path() + "/given";
  std::string text = SetConfigValue(DefaultConfigText(), "server", "ae_title", "\"GIVEN\"");
  text = SetConfigValue(text, "cluster", "node", "\"n1\"");
  auto made = InitDataDir(dir, "", text);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  auto opened = OpenDataDir(dir);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ((*opened)->config.ae_title, "GIVEN");
  EXPECT_EQ((*opened)->node, "n1");
  EXPECT_NE((*opened)->sqlite, nullptr);
  // A PostgreSQL index that cannot be reached: a clear error, and no directory.
  const std::string pg = tmp.path() + "/pg";
  std::string pg_text = SetConfigValue(DefaultConfigText(), "index", "backend", "\"postgresql\"");
  auto no_conn = InitDataDir(pg, "", pg_text);
  ASSERT_FALSE(no_conn.ok());
  EXPECT_NE(no_conn.status().message().find("index.postgresql"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(pg));
}

// --join only makes sense for an archive whose index and blobs live outside its data
// directory.
TEST_F(DataDirTest, JoinRefusesASingleNodeArchive) {
  Status joined = JoinDataDir(dir(), tmp_.path() + "/second", "b");
  ASSERT_FALSE(joined.ok());
  EXPECT_EQ(joined.code(), Code::kInvalidArgument);
  EXPECT_NE(joined.message().find("postgresql"), std::string::npos) << joined.message();
  EXPECT_FALSE(std::filesystem::exists(tmp_.path() + "/second"));
  EXPECT_FALSE(JoinDataDir(tmp_.path() + "/none", tmp_.path() + "/third", "b").ok());
}

}  // namespace
}  // namespace tresor::app
