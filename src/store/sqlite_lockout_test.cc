// The lockout counters of store::AccountIndex on SqliteIndex, including two index objects
// on one database file standing in for two processes.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <thread>
#include <vector>

#include "core/testing/temp_dir.h"
#include "store/sqlite_index.h"

namespace tresor::store {
namespace {

using Sync = SqliteIndexOptions::Sync;
using tresor::testing::TempDir;

SqliteIndexOptions Options(const std::string& path) {
  SqliteIndexOptions o{path, Sync::kFilesystem};
  const char* v = std::getenv("TRESOR_TEST_SEALED_INDEX");
  if (v != nullptr && std::string(v) == "1") o.page_key = std::string(32, 'k');
  return o;
}

std::unique_ptr<SqliteIndex> OpenAt(const std::string& path) {
  auto opened = SqliteIndex::Open(Options(path));
  EXPECT_TRUE(opened.ok()) << opened.status().ToString();
  return opened.ok() ? std::move(opened).value() : nullptr;
}

// One more failure, forgotten 1000 ms after `now`.
LockoutUpdate Increment(int64_t now) {
  return [now](const std::optional<LockoutRecord>& current) {
    LockoutRecord next = current.value_or(LockoutRecord{});
    ++next.failures;
    next.forget_at_ms = now + 1000;
    return next;
  };
}

TEST(SqliteIndexLockoutTest, UpdatesReadFindsAndRemoveForgets) {
  TempDir dir;
  auto index = OpenAt(dir.path() + "/index.db");
  ASSERT_TRUE(index);
  EXPECT_FALSE(index->FindLockout("k", 0)->has_value());
  std::optional<LockoutRecord> seen = LockoutRecord{-1, -1, -1};
  auto r = index->UpdateLockout("k", 100, [&](const std::optional<LockoutRecord>& current) {
    seen = current;
    return LockoutRecord{1, 5000, 9000};
  });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(seen.has_value()) << "a new key starts from nothing";
  EXPECT_EQ(r->failures, 1);
  auto found = index->FindLockout("k", 200);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->failures, 1);
  EXPECT_EQ((*found)->not_before_ms, 5000);
  EXPECT_EQ((*found)->forget_at_ms, 9000);
  // The update sees what is stored.
  ASSERT_TRUE(index->UpdateLockout("k", 300, [&](const std::optional<LockoutRecord>& current) {
    seen = current;
    return LockoutRecord{current->failures + 1, 6000, 9500};
  }).ok());
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->failures, 1);
  EXPECT_EQ((*index->FindLockout("k", 300))->failures, 2);
  ASSERT_TRUE(index->RemoveLockout("k").ok());
  EXPECT_FALSE(index->FindLockout("k", 300)->has_value());
  EXPECT_TRUE(index->RemoveLockout("never there").ok());
}

TEST(SqliteIndexLockoutTest, ForgottenRecordsAreAbsentAndPurged) {
  TempDir dir;
  auto index = OpenAt(dir.path() + "/index.db");
  ASSERT_TRUE(index);
  ASSERT_TRUE(index->UpdateLockout("old", 0, Increment(0)).ok());  // forgotten at 1000
  EXPECT_TRUE(index->FindLockout("old", 999)->has_value());
  EXPECT_FALSE(index->FindLockout("old", 1000)->has_value()) << "forgotten from forget_at on";
  // An update at a later time starts the forgotten key afresh and purges the others.
  ASSERT_TRUE(index->UpdateLockout("new", 5000, Increment(5000)).ok());
  auto rows = index->ReadOnlyQuery("SELECT count(*) FROM lockouts");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ((*rows)[0][0], "1") << "the forgotten record was deleted";
  std::optional<LockoutRecord> seen = LockoutRecord{};
  ASSERT_TRUE(index->UpdateLockout("old", 5000, [&](const std::optional<LockoutRecord>& current) {
    seen = current;
    return LockoutRecord{1, 0, 6000};
  }).ok());
  EXPECT_FALSE(seen.has_value());
}

TEST(SqliteIndexLockoutTest, KeysAreBytesAndBounded) {
  TempDir dir;
  auto index = OpenAt(dir.path() + "/index.db");
  ASSERT_TRUE(index);
  const std::string a("user\0a", 6), b("user\0b", 6);
  ASSERT_TRUE(index->UpdateLockout(a, 0, Increment(0)).ok());
  EXPECT_TRUE(index->FindLockout(a, 0)->has_value());
  EXPECT_FALSE(index->FindLockout(b, 0)->has_value()) << "NUL bytes are part of the key";
  EXPECT_EQ(index->UpdateLockout(std::string(5000, 'x'), 0, Increment(0)).status().code(),
            Code::kInvalidArgument);
}

// Two index objects on one file (two processes on one archive), each incrementing one
// key from two threads: every increment counts.
TEST(SqliteIndexLockoutTest, ConcurrentUpdatesFromTwoConnectionsLoseNothing) {
  TempDir dir;
  auto first = OpenAt(dir.path() + "/index.db");
  auto second = OpenAt(dir.path() + "/index.db");
  ASSERT_TRUE(first && second);
  constexpr int kEach = 50;
  std::vector<std::thread> threads;
  for (SqliteIndex* index : {first.get(), second.get(), first.get(), second.get()}) {
    threads.emplace_back([index] {
      for (int i = 0; i < kEach; ++i) {
        auto r = index->UpdateLockout("shared", 0, Increment(1'000'000));
        EXPECT_TRUE(r.ok()) << r.status().ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  auto found = second->FindLockout("shared", 0);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->failures, 4 * kEach);
}

}  // namespace
}  // namespace tresor::store
