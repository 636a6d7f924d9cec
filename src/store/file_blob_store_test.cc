#include "core/testing/temp_dir.h"
#include "store/file_blob_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace tresor::store {
namespace {

namespace fs = std::filesystem;

// A fresh temporary directory, removed with everything in it at the end of the test.
using TempDir = ::tresor::testing::TempDir;

// Deterministic, position-dependent bytes, so misplaced chunks are detected.
std::string Pattern(size_t n, uint32_t seed) {
  std::string out(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    out[i] = static_cast<char>(x >> 24);
  }
  return out;
}

// Names of the regular files under `dir` (recursively).
std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path().filename().string());
  }
  return out;
}

class FileBlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() + "/storage";
    auto made = FileBlobStore::Make({root_, /*fsync=*/true, nullptr});
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    store_ = std::move(made).value();
  }

  std::string Staging() const { return root_ + "/staging"; }
  std::string Blobs() const { return root_ + "/blobs"; }
  std::string FinalPath(const std::string& name) const {
    return Blobs() + "/" + name.substr(0, 2) + "/" + name;
  }

  // Writes `chunks` as one blob and returns its name ("" after a failure).
  std::string Write(const std::vector<std::string>& chunks) {
    auto writer = store_->Create();
    EXPECT_TRUE(writer.ok()) << writer.status().ToString();
    if (!writer.ok()) return "";
    uint64_t total = 0;
    for (const std::string& c : chunks) {
      Status s = (*writer)->Append(c.data(), c.size());
      EXPECT_TRUE(s.ok()) << s.ToString();
      total += c.size();
    }
    EXPECT_EQ((*writer)->size(), total);
    auto name = (*writer)->Finish();
    EXPECT_TRUE(name.ok()) << name.status().ToString();
    return name.ok() ? *name : "";
  }

  // Reads a whole blob through Open + ReadAt in `step`-sized requests.
  std::string ReadAll(const std::string& name, size_t step = 100000) {
    auto reader = store_->Open(name);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    if (!reader.ok()) return "<open failed>";
    std::string out;
    std::vector<char> buf(step);
    while (true) {
      auto got = (*reader)->ReadAt(buf.data(), buf.size(), out.size());
      EXPECT_TRUE(got.ok()) << got.status().ToString();
      if (!got.ok() || *got == 0) break;
      out.append(buf.data(), *got);
    }
    EXPECT_EQ((*reader)->size(), out.size());
    return out;
  }

  TempDir dir_;
  std::string root_;
  std::unique_ptr<FileBlobStore> store_;
};

TEST_F(FileBlobStoreTest, MakeCreatesLayout) {
  EXPECT_TRUE(fs::is_directory(Staging()));
  EXPECT_TRUE(fs::is_directory(Blobs() + "/00"));
  EXPECT_TRUE(fs::is_directory(Blobs() + "/ff"));
  // Making it again over an existing layout works.
  auto again = FileBlobStore::Make({root_, true, nullptr});
  EXPECT_TRUE(again.ok()) << again.status().ToString();
}

TEST_F(FileBlobStoreTest, SmallBlobRoundTrips) {
  std::string name = Write({"hello, ", "blob"});
  ASSERT_FALSE(name.empty());
  EXPECT_EQ(ReadAll(name), "hello, blob");
}

TEST_F(FileBlobStoreTest, EmptyBlobRoundTrips) {
  std::string name = Write({});
  ASSERT_FALSE(name.empty());
  EXPECT_EQ(ReadAll(name), "");
}

TEST_F(FileBlobStoreTest, LargeAppendsRoundTrip) {
  // Appends larger than the writer's 256 KiB buffer, mixed with small ones so that both
  // the buffered and the direct write paths run, in every order.
  std::vector<std::string> chunks = {
      Pattern(10, 1),         Pattern(300 * 1024, 2),     Pattern(7, 3),
      Pattern(256 * 1024, 4), Pattern(256 * 1024 + 1, 5), Pattern(1 << 20, 6),
      Pattern(100, 7),        Pattern(200 * 1024, 8),     Pattern(100 * 1024, 9)};
  std::string expected;
  for (const auto& c : chunks) expected += c;
  std::string name = Write(chunks);
  ASSERT_FALSE(name.empty());
  std::string got = ReadAll(name, 65536);
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "blob content differs from what was appended";
}

TEST_F(FileBlobStoreTest, ManySmallAppendsRoundTrip) {
  std::vector<std::string> chunks;
  std::string expected;
  for (uint32_t i = 0; i < 20000; ++i) {
    chunks.push_back(Pattern(1 + i % 61, i));
    expected += chunks.back();
  }
  ASSERT_GT(expected.size(), 256u * 1024u);  // passes the buffer several times
  std::string name = Write(chunks);
  ASSERT_FALSE(name.empty());
  std::string got = ReadAll(name);
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "blob content differs from what was appended";
}

TEST_F(FileBlobStoreTest, ReadAtReadsFromAnyOffset) {
  std::string data = Pattern(5000, 42);
  std::string name = Write({data});
  auto reader = store_->Open(name);
  ASSERT_TRUE(reader.ok());
  char buf[100];
  auto got = (*reader)->ReadAt(buf, sizeof buf, 1234);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(*got, sizeof buf);
  EXPECT_EQ(std::string(buf, sizeof buf), data.substr(1234, 100));
  // Near the end: a short read, then 0 at the end.
  got = (*reader)->ReadAt(buf, sizeof buf, 4950);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 50u);
  got = (*reader)->ReadAt(buf, sizeof buf, 5000);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 0u);
}

TEST_F(FileBlobStoreTest, NamesAre32LowercaseHexAndDiffer) {
  std::set<std::string> names;
  for (int i = 0; i < 20; ++i) {
    std::string name = Write({"x"});
    ASSERT_EQ(name.size(), 32u) << name;
    for (char c : name) {
      EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << name;
    }
    names.insert(name);
  }
  EXPECT_EQ(names.size(), 20u);
}

TEST_F(FileBlobStoreTest, FinishedBlobIsStagedUntilPublished) {
  std::string name = Write({"data"});
  EXPECT_EQ(FilesUnder(Staging()), std::vector<std::string>{name});
  EXPECT_TRUE(FilesUnder(Blobs()).empty());
  // Open finds a committed but not yet published blob in staging.
  EXPECT_EQ(ReadAll(name), "data");
}

TEST_F(FileBlobStoreTest, WriterDestroyedWithoutFinishLeavesNothing) {
  {
    auto writer = store_->Create();
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append("abc", 3).ok());
  }
  {
    // Enough data that part of it reached the file before the writer was dropped.
    auto writer = store_->Create();
    ASSERT_TRUE(writer.ok());
    std::string big = Pattern(600 * 1024, 1);
    ASSERT_TRUE((*writer)->Append(big.data(), big.size()).ok());
    ASSERT_TRUE((*writer)->Append(big.data(), big.size()).ok());
  }
  EXPECT_TRUE(FilesUnder(Staging()).empty());
  EXPECT_TRUE(FilesUnder(Blobs()).empty());
}

// Staged files come from files prepared ahead (and, when none is ready, are created on
// the spot): many more blobs than are kept ready, created from several threads at once,
// each get a file of their own under their own name, private to the server, and nothing
// else is ever visible in staging.
TEST_F(FileBlobStoreTest, ManyBlobsAtOnceEachGetTheirOwnStagedFile) {
  constexpr int kThreads = 4;
  constexpr int kEach = 25;
  std::vector<std::vector<std::string>> names(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto writer = store_->Create();
        if (!writer.ok()) continue;
        const std::string bytes = Pattern(1000 + i, static_cast<uint32_t>(t * 100 + i));
        if (!(*writer)->Append(bytes.data(), bytes.size()).ok()) continue;
        auto name = (*writer)->Finish();
        if (name.ok()) names[t].push_back(*name);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(names[t].size(), static_cast<size_t>(kEach)) << "thread " << t;
    for (int i = 0; i < kEach; ++i) {
      all.insert(names[t][i]);
      EXPECT_EQ(ReadAll(names[t][i]), Pattern(1000 + i, static_cast<uint32_t>(t * 100 + i)));
      EXPECT_EQ(fs::status(Staging() + "/" + names[t][i]).permissions() & fs::perms::all,
                fs::perms::owner_read | fs::perms::owner_write);
    }
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
  std::vector<std::string> staged = FilesUnder(Staging());
  EXPECT_EQ(std::set<std::string>(staged.begin(), staged.end()), all);
  for (const std::string& n : all) ASSERT_TRUE(store_->Discard(n).ok());
  store_.reset();  // the files prepared and not taken go with the store
  EXPECT_TRUE(FilesUnder(Staging()).empty());
  EXPECT_TRUE(FilesUnder(Blobs()).empty());
}

TEST_F(FileBlobStoreTest, PublishMovesTheBlobToItsFinalPlace) {
  std::string name = Write({"published bytes"});
  ASSERT_TRUE(store_->Persist({name}).ok());
  ASSERT_TRUE(store_->Publish(name).ok());
  EXPECT_TRUE(FilesUnder(Staging()).empty());
  EXPECT_TRUE(fs::is_regular_file(FinalPath(name)));
  EXPECT_EQ(ReadAll(name), "published bytes");
}

TEST_F(FileBlobStoreTest, PublishRefusesBadNamesAndMissingBlobs) {
  EXPECT_EQ(store_->Publish("../x").code(), Code::kInvalidArgument);
  Status missing = store_->Publish(std::string(32, 'a'));
  EXPECT_FALSE(missing.ok());
  EXPECT_EQ(missing.code(), Code::kIoError);
}

TEST_F(FileBlobStoreTest, PersistOfNothingIsOk) { EXPECT_TRUE(store_->Persist({}).ok()); }

TEST_F(FileBlobStoreTest, DiscardRemovesAStagedBlob) {
  std::string keep = Write({"keep"});
  std::string drop = Write({"drop"});
  EXPECT_TRUE(store_->Discard(drop).ok());
  EXPECT_EQ(FilesUnder(Staging()), std::vector<std::string>{keep});
  EXPECT_TRUE(store_->Discard(drop).ok()) << "already gone is done";
  auto opened = store_->Open(drop);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Code::kNotFound);
  EXPECT_EQ(ReadAll(keep), "keep");
}

TEST_F(FileBlobStoreTest, DiscardRefusesMalformedNames) {
  std::string name = Write({"x"});
  // A file outside staging that a path-traversing name would reach.
  std::ofstream(root_ + "/victim") << "precious";
  EXPECT_EQ(store_->Discard("../victim").code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->Discard("").code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->Remove("../victim").code(), Code::kInvalidArgument);
  EXPECT_TRUE(fs::exists(root_ + "/victim"));
  EXPECT_EQ(FilesUnder(Staging()), std::vector<std::string>{name});
}

// A blob that cannot be deleted is reported, not silently kept. (A directory in its
// place makes unlink fail with EISDIR, also for root.)
TEST_F(FileBlobStoreTest, DiscardAndRemoveReportFailures) {
  const std::string name(32, 'a');
  fs::create_directory(Staging() + "/" + name);
  Status discarded = store_->Discard(name);
  EXPECT_EQ(discarded.code(), Code::kIoError) << discarded.ToString();
  EXPECT_EQ(store_->Remove(name).code(), Code::kIoError);
  fs::remove(Staging() + "/" + name);
  fs::create_directory(FinalPath(name));
  EXPECT_EQ(store_->Remove(name).code(), Code::kIoError) << "published copy not removable";
  fs::remove(FinalPath(name));
  EXPECT_TRUE(store_->Remove(name).ok()) << "nothing left is success";
}

TEST_F(FileBlobStoreTest, RemoveDeletesStagedAndPublishedBlobs) {
  std::string staged = Write({"s"});
  std::string published = Write({"p"});
  ASSERT_TRUE(store_->Publish(published).ok());
  EXPECT_TRUE(store_->Remove(staged).ok());
  EXPECT_TRUE(store_->Remove(published).ok());
  EXPECT_TRUE(FilesUnder(Staging()).empty());
  EXPECT_TRUE(FilesUnder(Blobs()).empty());
}

// Recovery keeps going past a staged entry it cannot delete (it is unreferenced, and the
// next recovery tries again) and still publishes what the index references.
TEST_F(FileBlobStoreTest, RecoverLeavesUndeletableEntriesAndPublishesTheRest) {
  std::string committed = Write({"c"});
  const std::string stuck(32, 'b');
  fs::create_directory(Staging() + "/" + stuck);
  Status recovered = store_->Recover([&](const std::string& n) -> Result<bool> { return n == committed; });
  ASSERT_TRUE(recovered.ok()) << recovered.ToString();
  EXPECT_TRUE(fs::exists(FinalPath(committed)));
  EXPECT_TRUE(fs::exists(Staging() + "/" + stuck));
  fs::remove(Staging() + "/" + stuck);
}

TEST_F(FileBlobStoreTest, OpenOfUnknownNameIsNotFound) {
  auto opened = store_->Open("0123456789abcdef0123456789abcdef");
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Code::kNotFound);
}

TEST_F(FileBlobStoreTest, OpenOfMalformedNameIsInvalidArgument) {
  // A real file that "../" names would reach must stay unreachable.
  std::ofstream(root_ + "/x") << "outside";
  for (const std::string& bad :
       {std::string("../x"), std::string(""), std::string("/etc/passwd"),
        std::string(32, 'A'),                        // uppercase hex
        std::string(31, 'a'), std::string(33, 'a'),  // wrong length
        std::string(30, 'a') + "/x", std::string(31, 'a') + std::string(1, '\0')}) {
    auto opened = store_->Open(bad);
    ASSERT_FALSE(opened.ok()) << bad;
    EXPECT_EQ(opened.status().code(), Code::kInvalidArgument) << bad;
  }
}

TEST_F(FileBlobStoreTest, RecoverPublishesReferencedAndDeletesTheRest) {
  std::string referenced = Write({"committed"});
  std::string orphan1 = Write({"unacknowledged 1"});
  std::string orphan2 = Write({Pattern(300 * 1024, 3)});
  std::string already_published = Write({"published"});
  ASSERT_TRUE(store_->Publish(already_published).ok());
  // Stray files a crash or a person may leave in staging.
  std::ofstream(Staging() + "/not-a-blob.tmp") << "junk";

  std::set<std::string> asked;
  Status s = store_->Recover([&](const std::string& name) -> Result<bool> {
    asked.insert(name);
    return name == referenced;
  });
  ASSERT_TRUE(s.ok()) << s.ToString();

  EXPECT_TRUE(FilesUnder(Staging()).empty());
  EXPECT_TRUE(fs::is_regular_file(FinalPath(referenced)));
  EXPECT_EQ(ReadAll(referenced), "committed");
  EXPECT_EQ(ReadAll(already_published), "published");
  for (const std::string& gone : {orphan1, orphan2}) {
    auto opened = store_->Open(gone);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.status().code(), Code::kNotFound);
  }
  // Only staged blobs are judged; published ones are not in question.
  EXPECT_EQ(asked, (std::set<std::string>{referenced, orphan1, orphan2}));
}

TEST_F(FileBlobStoreTest, RecoverOfEmptyStagingIsOk) {
  int calls = 0;
  Status s = store_->Recover([&](const std::string&) -> Result<bool> {
    ++calls;
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(calls, 0);
}

TEST_F(FileBlobStoreTest, RecoverReturnsTheCallbackError) {
  std::string name = Write({"data"});
  Status s = store_->Recover(
      [](const std::string&) -> Result<bool> { return IoError("index unavailable"); });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kIoError);
  // Nothing was decided for the blob: it must not have been deleted.
  EXPECT_EQ(FilesUnder(Staging()), std::vector<std::string>{name});
}

TEST_F(FileBlobStoreTest, StagedBlobsSurviveReopeningTheStore) {
  std::string staged = Write({"staged"});
  std::string published = Write({"published"});
  ASSERT_TRUE(store_->Publish(published).ok());
  store_.reset();
  auto made = FileBlobStore::Make({root_, true, nullptr});
  ASSERT_TRUE(made.ok());
  store_ = std::move(made).value();
  EXPECT_EQ(ReadAll(staged), "staged");
  EXPECT_EQ(ReadAll(published), "published");
}

}  // namespace
}  // namespace tresor::store
