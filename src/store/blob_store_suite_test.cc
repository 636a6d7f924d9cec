// The BlobStore contract (store/blob_store.h) checked against every backend: the local
// file store, the shared-directory file store and S3BlobStore on a real S3-compatible
// server. The S3 cases need TRESOR_TEST_S3_ENDPOINT/_BUCKET/_ACCESS_KEY/_REGION (set by
// tests/tools/with_s3.sh, which starts s3rver: ctest unit.blob_store_s3); without them
// they are skipped, unless TRESOR_TEST_S3_REQUIRED=1, where they fail.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/log.h"
#include "core/random.h"
#include "core/testing/temp_dir.h"
#include "security/master_key.h"
#include "store/file_blob_store.h"
#include "store/s3_blob_store.h"
#include "store/s3_client.h"
#include "store/sealed_blob.h"

namespace tresor::store {
namespace {

namespace fs = std::filesystem;
using ::tresor::testing::TempDir;

// The secret every S3 store of this suite signs with (s3rver does not check it); the
// wrapper fails the run if it appears anywhere in the output.
constexpr char kTestSecret[] = "tresor-test-secret-4f9c";
constexpr size_t kPart = 5 << 20;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool S3Required() { return Env("TRESOR_TEST_S3_REQUIRED") == "1"; }
bool S3Available() { return !Env("TRESOR_TEST_S3_ENDPOINT").empty(); }

std::string Pattern(size_t n, uint32_t seed) {
  std::string out(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    out[i] = static_cast<char>(x >> 24);
  }
  return out;
}

security::MasterKey NewKey() {
  std::string bytes(security::kMasterKeyBytes, '\0');
  RandomBytes(bytes.data(), bytes.size());
  auto key = security::MasterKeyFromBytes(bytes);
  EXPECT_TRUE(key.ok());
  return *key;
}

std::shared_ptr<const KeyRing> Ring(const security::MasterKey& key) {
  auto ring = KeyRing::Make({key});
  EXPECT_TRUE(ring.ok());
  return std::make_shared<const KeyRing>(std::move(ring).value());
}

S3Options EnvS3Options() {
  S3Options o;
  o.endpoint = Env("TRESOR_TEST_S3_ENDPOINT");
  o.bucket = Env("TRESOR_TEST_S3_BUCKET");
  o.region = Env("TRESOR_TEST_S3_REGION").empty() ? "us-east-1" : Env("TRESOR_TEST_S3_REGION");
  o.access_key = Env("TRESOR_TEST_S3_ACCESS_KEY");
  o.secret_key = kTestSecret;
  o.first_backoff = std::chrono::milliseconds(100);
  o.sleep = [](std::chrono::milliseconds) {};  // never waits on real time
  return o;
}

// Runs a shell command with tests/tools/s3_server.sh sourced (TRESOR_TEST_S3_TOOL); its
// output is printed when it fails.
int S3Tool(const std::string& command) {
  const std::string out = Env("TRESOR_TEST_S3_DIR") + ".tool.out";
  std::string script = ". '" + Env("TRESOR_TEST_S3_TOOL") + "' && " + command;
  std::string line = "bash -c \"" + script + "\" >'" + out + "' 2>&1 </dev/null";
  int rc = std::system(line.c_str());
  if (rc != 0) {
    std::ifstream in(out);
    std::stringstream ss;
    ss << in.rdbuf();
    ADD_FAILURE() << command << " failed:\n" << ss.str();
  }
  return rc;
}

// One backend of the suite, with raw access to what it stores (the attacker's view).
class Backend {
 public:
  explicit Backend(std::string kind) : kind_(std::move(kind)), key_(NewKey()), keys_(Ring(key_)) {
    prefix_ = "suite-" + RandomHex(6) + "/";
  }
  const std::string& kind() const { return kind_; }
  bool s3() const { return kind_ == "s3"; }
  bool per_node() const { return kind_ != "local"; }

  Result<std::unique_ptr<BlobStore>> Open(const std::string& node = "node-a",
                                          std::shared_ptr<const KeyRing> keys = nullptr,
                                          S3Options* s3_options = nullptr) {
    if (!keys) keys = keys_;
    if (s3()) {
      S3BlobStoreOptions o;
      o.s3 = s3_options ? *s3_options : EnvS3Options();
      o.prefix = prefix_;
      o.node = node;
      o.keys = keys;
      o.part_bytes = kPart;
      TRESOR_ASSIGN_OR_RETURN(auto store, S3BlobStore::Make(std::move(o)));
      return std::unique_ptr<BlobStore>(std::move(store));
    }
    FileBlobStoreOptions o;
    o.root = dir_.path() + "/storage";
    o.fsync = true;
    o.keys = keys;
    TRESOR_ASSIGN_OR_RETURN(auto store,
                            FileBlobStore::MakeShared(o, kind_ == "shared" ? node : ""));
    return std::unique_ptr<BlobStore>(std::move(store));
  }

  // The stored (sealed) bytes of blob `name`, wherever it is.
  std::string ReadRaw(const std::string& name) {
    if (s3()) {
      auto client = S3Client::Make(EnvS3Options());
      std::string out;
      Status s = (*client)->Get(
          prefix_ + "blobs/" + name, 0, 0,
          [&](const char* p, size_t n) {
            out.append(p, n);
            return Status::Ok();
          },
          [&] { out.clear(); });
      EXPECT_TRUE(s.ok()) << s.ToString();
      return out;
    }
    std::ifstream in(FilePath(name), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // Replaces the stored bytes of blob `name` (as someone with write access to the
  // bucket or the directory could).
  void WriteRaw(const std::string& name, const std::string& bytes) {
    if (s3()) {
      auto client = S3Client::Make(EnvS3Options());
      Status s = (*client)->Put(prefix_ + "blobs/" + name, bytes.data(), bytes.size());
      ASSERT_TRUE(s.ok()) << s.ToString();
      return;
    }
    std::string path = FilePath(name);
    ASSERT_FALSE(path.empty());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  // Where the server (or the directory) keeps its files.
  std::string ServerFiles() const {
    return s3() ? Env("TRESOR_TEST_S3_DIR") + "/objects" : dir_.path();
  }

 private:
  std::string FilePath(const std::string& name) const {
    for (const auto& e : fs::recursive_directory_iterator(dir_.path())) {
      if (e.is_regular_file() && e.path().filename() == name) return e.path().string();
    }
    return "";
  }

  std::string kind_;
  TempDir dir_;
  security::MasterKey key_;
  std::shared_ptr<const KeyRing> keys_;
  std::string prefix_;
};

// Writes `data` in chunks of `chunk` bytes; returns the name ("" after a failure).
std::string Write(BlobStore& store, const std::string& data, size_t chunk = 10007) {
  auto writer = store.Create();
  EXPECT_TRUE(writer.ok()) << writer.status().ToString();
  if (!writer.ok()) return "";
  for (size_t at = 0; at < data.size(); at += chunk) {
    Status s = (*writer)->Append(data.data() + at, std::min(chunk, data.size() - at));
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return "";
  }
  EXPECT_EQ((*writer)->size(), data.size());
  auto name = (*writer)->Finish();
  EXPECT_TRUE(name.ok()) << name.status().ToString();
  return name.ok() ? *name : "";
}

// Reads [offset, offset + n) through ReadAt (looping until the end or n bytes).
Result<std::string> Read(BlobStore& store, const std::string& name, uint64_t offset, size_t n) {
  TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<BlobReader> reader, store.Open(name));
  std::string out(n, '\0');
  size_t done = 0;
  while (done < n) {
    TRESOR_ASSIGN_OR_RETURN(size_t got, reader->ReadAt(out.data() + done, n - done, offset + done));
    if (got == 0) break;
    done += got;
  }
  out.resize(done);
  return out;
}

std::map<std::string, bool> Listing(BlobStore& store) {
  std::map<std::string, bool> out;
  Status s = store.List([&](const std::string& name, bool staged) {
    out[name] = staged;
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

class BlobStoreSuite : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "s3" && !S3Available()) {
      if (S3Required()) FAIL() << "TRESOR_TEST_S3_REQUIRED=1 but no S3 server is configured";
      GTEST_SKIP() << "no S3 server (run via ctest unit.blob_store_s3)";
    }
    backend_ = std::make_unique<Backend>(GetParam());
    auto store = backend_->Open();
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<BlobStore> store_;
};

TEST_P(BlobStoreSuite, StoresAndLoadsEverySizeAndRange) {
  const uint64_t seg = kSegmentBytes;
  for (size_t size : {size_t{0}, size_t{1}, size_t{seg - 1}, size_t{seg}, size_t{seg + 1},
                      size_t{3 * seg + 7}, size_t{(1 << 20) + 3}, size_t{17 * seg + 5}}) {
    SCOPED_TRACE("size " + std::to_string(size));
    std::string data = Pattern(size, static_cast<uint32_t>(size));
    std::string name = Write(*store_, data);
    ASSERT_FALSE(name.empty());
    ASSERT_TRUE(store_->Persist({name}).ok());
    ASSERT_TRUE(store_->Publish(name).ok());
    auto all = Read(*store_, name, 0, size + 10);
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    EXPECT_TRUE(*all == data) << "whole blob differs";
    auto reader = store_->Open(name);
    ASSERT_TRUE(reader.ok());
    EXPECT_EQ((*reader)->size(), size);
    // Ranges inside one segment, across segments, across read windows, at the end.
    for (uint64_t offset : {uint64_t{0}, uint64_t{1}, seg - 1, seg, 16 * seg - 3, uint64_t(size / 2),
                            uint64_t(size ? size - 1 : 0)}) {
      for (size_t n : {size_t{1}, size_t{100}, size_t{seg + 50}, size_t{2 << 20}}) {
        if (offset >= size) continue;
        auto part = Read(*store_, name, offset, n);
        ASSERT_TRUE(part.ok()) << part.status().ToString();
        EXPECT_TRUE(*part == data.substr(offset, n)) << "range " << offset << "+" << n;
      }
    }
    // Past the end: nothing, not an error.
    char c;
    auto past = (*reader)->ReadAt(&c, 1, size + 5);
    ASSERT_TRUE(past.ok());
    EXPECT_EQ(*past, 0u);
  }
}

TEST_P(BlobStoreSuite, MultipartSizes) {
  // Around one part (5 MiB of sealed bytes) and over two: a single PUT, then multipart
  // uploads ending in a full or a short last part.
  for (size_t size : {kPart - 4096, kPart + 1, 2 * kPart + 12345}) {
    SCOPED_TRACE("size " + std::to_string(size));
    std::string data = Pattern(size, static_cast<uint32_t>(size + 1));
    // Large appends (several segments at once) and small ones both.
    std::string name = Write(*store_, data, size % 2 ? 1 << 20 : 4099);
    ASSERT_FALSE(name.empty());
    ASSERT_TRUE(store_->Publish(name).ok());
    auto all = Read(*store_, name, 0, size);
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    EXPECT_TRUE(*all == data);
    auto tail = Read(*store_, name, size - 70000, 70000);
    ASSERT_TRUE(tail.ok());
    EXPECT_TRUE(*tail == data.substr(size - 70000));
    EXPECT_EQ(backend_->ReadRaw(name).size(), SealedSize(size));
  }
}

TEST_P(BlobStoreSuite, StagePublishDiscardRemove) {
  std::string a = Write(*store_, Pattern(1000, 1));
  std::string b = Write(*store_, Pattern(2000, 2));
  std::string c = Write(*store_, Pattern(3000, 3));
  ASSERT_FALSE(a.empty() || b.empty() || c.empty());
  EXPECT_EQ(a.size(), 32u);
  auto listed = Listing(*store_);
  EXPECT_EQ(listed, (std::map<std::string, bool>{{a, true}, {b, true}, {c, true}}));
  ASSERT_TRUE(store_->Persist({a, b, c}).ok());
  ASSERT_TRUE(store_->Publish(a).ok());
  ASSERT_TRUE(store_->Discard(b).ok());
  ASSERT_TRUE(store_->Discard(b).ok()) << "discarding twice is fine";
  // A committed blob is readable before it is published.
  auto staged_read = Read(*store_, c, 0, 3000);
  ASSERT_TRUE(staged_read.ok());
  EXPECT_TRUE(*staged_read == Pattern(3000, 3));
  listed = Listing(*store_);
  EXPECT_EQ(listed, (std::map<std::string, bool>{{a, false}, {c, true}}));
  EXPECT_EQ(store_->Open(b).status().code(), Code::kNotFound);
  ASSERT_TRUE(store_->Remove(a).ok());
  ASSERT_TRUE(store_->Remove(c).ok());
  ASSERT_TRUE(store_->Remove(c).ok()) << "removing twice is fine";
  EXPECT_TRUE(Listing(*store_).empty());
  EXPECT_EQ(store_->Open(a).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Open("../../etc/passwd").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->Publish("nothex").code(), Code::kInvalidArgument);
}

TEST_P(BlobStoreSuite, UnfinishedWriterLeavesNothing) {
  {
    auto writer = store_->Create();
    ASSERT_TRUE(writer.ok());
    std::string data = Pattern(kPart + 300000, 9);  // a multipart upload is under way
    ASSERT_TRUE((*writer)->Append(data.data(), data.size()).ok());
  }
  {
    auto writer = store_->Create();
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append("abc", 3).ok());
  }
  EXPECT_TRUE(Listing(*store_).empty());
}

TEST_P(BlobStoreSuite, RecoverPublishesReferencedAndDeletesTheRest) {
  std::string published = Write(*store_, Pattern(500, 1));
  ASSERT_TRUE(store_->Publish(published).ok());
  std::string committed = Write(*store_, Pattern(70000, 2));
  std::string abandoned = Write(*store_, Pattern(80000, 3));
  ASSERT_FALSE(committed.empty() || abandoned.empty());
  std::set<std::string> asked;
  Status s = store_->Recover([&](const std::string& name) -> Result<bool> {
    asked.insert(name);
    return name == committed;
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(asked, (std::set<std::string>{committed, abandoned})) << "only staged blobs are asked";
  EXPECT_EQ(Listing(*store_),
            (std::map<std::string, bool>{{published, false}, {committed, false}}));
  auto read = Read(*store_, committed, 0, 70000);
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(*read == Pattern(70000, 2));
  EXPECT_EQ(store_->Open(abandoned).status().code(), Code::kNotFound);
  // An index that cannot answer stops recovery with its error; nothing is deleted.
  std::string pending = Write(*store_, Pattern(10, 4));
  s = store_->Recover([](const std::string&) -> Result<bool> { return IoError("index down"); });
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_TRUE(store_->Open(pending).ok());
}

TEST_P(BlobStoreSuite, RecoverOfOneNodeNeverTouchesAnothersStagedBlobs) {
  if (!backend_->per_node()) GTEST_SKIP() << "the local store has one node";
  auto other = backend_->Open("node-b");
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  std::string mine = Write(*store_, Pattern(90000, 5));     // node-a, in flight
  std::string theirs = Write(**other, Pattern(90000, 6));   // node-b, abandoned
  std::string theirs_committed = Write(**other, Pattern(1234, 7));
  ASSERT_FALSE(mine.empty() || theirs.empty() || theirs_committed.empty());
  std::set<std::string> asked;
  Status s = (*other)->Recover([&](const std::string& name) -> Result<bool> {
    asked.insert(name);
    return name == theirs_committed;
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(asked, (std::set<std::string>{theirs, theirs_committed}));
  // node-b's recovery did its work (positive control) ...
  EXPECT_EQ((*other)->Open(theirs).status().code(), Code::kNotFound);
  // ... and left node-a's in-flight blob staged and intact.
  auto listed = Listing(*store_);
  EXPECT_EQ(listed.count(mine), 1u);
  EXPECT_TRUE(listed[mine]) << "still staged";
  EXPECT_FALSE(listed[theirs_committed]);
  auto read = Read(**other, mine, 0, 90000);
  ASSERT_TRUE(read.ok()) << "a node reads another's committed, unpublished blob";
  EXPECT_TRUE(*read == Pattern(90000, 5));
  // node-a's own recovery then publishes it.
  s = store_->Recover([&](const std::string& name) -> Result<bool> { return name == mine; });
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(Listing(*store_)[mine]);
}

TEST_P(BlobStoreSuite, AnyTamperingIsDataLoss) {
  const size_t size = 5 * kSegmentBytes + 1000;
  std::string data = Pattern(size, 11);
  std::string victim = Write(*store_, data);
  std::string other = Write(*store_, Pattern(size, 12));
  ASSERT_FALSE(victim.empty() || other.empty());
  ASSERT_TRUE(store_->Publish(victim).ok());
  ASSERT_TRUE(store_->Publish(other).ok());
  const std::string original = backend_->ReadRaw(victim);
  ASSERT_EQ(original.size(), SealedSize(size));
  // Positive control: untouched, it reads back.
  ASSERT_TRUE(Read(*store_, victim, 0, size).ok());

  // A flipped bit in segment 2: reads covering it fail; segment 0 still reads.
  std::string flipped = original;
  flipped[kSealedHeaderBytes + 2 * (kSegmentBytes + kTagBytes) + 100] ^= 0x01;
  backend_->WriteRaw(victim, flipped);
  EXPECT_EQ(Read(*store_, victim, 2 * kSegmentBytes + 5, 10).status().code(), Code::kDataLoss);
  EXPECT_EQ(Read(*store_, victim, 0, size).status().code(), Code::kDataLoss);

  // A flipped header byte (the wrapped key): the blob does not open.
  std::string header = original;
  header[60] ^= 0x80;
  backend_->WriteRaw(victim, header);
  EXPECT_EQ(Read(*store_, victim, 0, 10).status().code(), Code::kDataLoss);

  // Truncated by a whole segment, and inside one; extended.
  backend_->WriteRaw(victim, original.substr(0, original.size() - (1000 + kTagBytes)));
  EXPECT_EQ(Read(*store_, victim, 0, size).status().code(), Code::kDataLoss);
  backend_->WriteRaw(victim, original.substr(0, original.size() - 7));
  EXPECT_EQ(Read(*store_, victim, 0, size).status().code(), Code::kDataLoss);
  backend_->WriteRaw(victim, original + "x");
  EXPECT_EQ(Read(*store_, victim, 0, size).status().code(), Code::kDataLoss);

  // Another blob's bytes in its place.
  backend_->WriteRaw(victim, backend_->ReadRaw(other));
  EXPECT_EQ(Read(*store_, victim, 0, 10).status().code(), Code::kDataLoss);

  // Restored, it reads again (the failures were the tampering).
  backend_->WriteRaw(victim, original);
  auto back = Read(*store_, victim, 0, size);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == data);
}

// True if `needle` occurs in any regular file under `dir`.
bool AnyFileContains(const std::string& dir, const std::string& needle, int* files) {
  bool found = false;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    ++*files;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (ss.str().find(needle) != std::string::npos) found = true;
  }
  return found;
}

TEST_P(BlobStoreSuite, TheServerNeverSeesPlaintext) {
  const std::string marker = "DOE^JANE^SECRET-PATIENT-1234567";
  std::string plain;
  while (plain.size() < kPart + 200000) plain += marker + Pattern(97, plain.size());
  std::string small = Write(*store_, marker + "small");
  std::string big = Write(*store_, plain, 65536 * 3);  // multipart on S3
  ASSERT_FALSE(small.empty() || big.empty());
  ASSERT_TRUE(store_->Publish(big).ok());
  int files = 0;
  EXPECT_FALSE(AnyFileContains(backend_->ServerFiles(), marker, &files));
  EXPECT_FALSE(AnyFileContains(backend_->ServerFiles(), plain.substr(kPart, 64), &files));
  // Positive control: the scan reads the stored blobs (their sealed headers are there).
  EXPECT_TRUE(AnyFileContains(backend_->ServerFiles(), kSealedMagic, &files));
  EXPECT_GT(files, 0);
}

TEST_P(BlobStoreSuite, AnotherMasterKeyIsRefused) {
  std::string name = Write(*store_, "x");
  ASSERT_FALSE(name.empty());
  auto stranger = backend_->Open("node-a", Ring(NewKey()));
  ASSERT_FALSE(stranger.ok());
  EXPECT_EQ(stranger.status().code(), Code::kPermissionDenied) << stranger.status().ToString();
  EXPECT_NE(stranger.status().message().find("master key"), std::string::npos);
  // Positive control: with the right key it opens.
  EXPECT_TRUE(backend_->Open("node-a").ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, BlobStoreSuite, ::testing::Values("local", "shared", "s3"),
                         [](const auto& info) { return info.param == "s3" ? std::string("S3")
                                                                          : info.param; });

// S3-only behaviour: the network.
class S3BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!S3Available()) {
      if (S3Required()) FAIL() << "TRESOR_TEST_S3_REQUIRED=1 but no S3 server is configured";
      GTEST_SKIP() << "no S3 server (run via ctest unit.blob_store_s3)";
    }
  }
};

TEST_F(S3BlobStoreTest, RetriesUntilTheServerComesBack) {
  if (Env("TRESOR_TEST_S3_TOOL").empty() || Env("TRESOR_TEST_S3_DIR").empty()) {
    FAIL() << "needs TRESOR_TEST_S3_TOOL and TRESOR_TEST_S3_DIR (tests/tools/with_s3.sh)";
  }
  Backend backend("s3");
  const std::string port = Env("TRESOR_TEST_S3_ENDPOINT").substr(Env("TRESOR_TEST_S3_ENDPOINT").rfind(':') + 1);
  const std::string dir = Env("TRESOR_TEST_S3_DIR");
  // One store that gives up at once, one that retries; the retrying one's wait brings
  // the server back (instead of sleeping).
  S3Options once = EnvS3Options();
  once.max_attempts = 1;
  std::vector<std::chrono::milliseconds> waits;
  bool restarted = false;
  S3Options patient = EnvS3Options();
  patient.max_attempts = 6;
  patient.sleep = [&](std::chrono::milliseconds wait) {
    waits.push_back(wait);
    if (waits.size() == 2 && !restarted) {
      restarted = true;
      EXPECT_EQ(S3Tool("s3_start '" + dir + "' " + port), 0) << "s3rver did not come back";
    }
  };
  auto quick = backend.Open("node-a", nullptr, &once);
  auto slow = backend.Open("node-a", nullptr, &patient);
  ASSERT_TRUE(quick.ok() && slow.ok());
  std::string before = Write(**quick, Pattern(100000, 21));
  ASSERT_FALSE(before.empty());
  ASSERT_TRUE((*quick)->Publish(before).ok());

  ASSERT_EQ(S3Tool("s3_stop '" + dir + "'"), 0);
  // Server down: the store without retries fails clearly ...
  auto writer = (*quick)->Create();
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("abc", 3).ok());
  auto failed = (*writer)->Finish();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), Code::kUnavailable) << failed.status().ToString();
  EXPECT_NE(failed.status().message().find(Env("TRESOR_TEST_S3_ENDPOINT")), std::string::npos)
      << failed.status().ToString();
  EXPECT_EQ(failed.status().message().find(kTestSecret), std::string::npos);
  auto unreadable = (*quick)->Open(before);
  EXPECT_EQ(unreadable.status().code(), Code::kUnavailable);
  // ... and the retrying one succeeds once the server is back.
  std::string data = Pattern(kPart + 5000, 22);
  std::string after = Write(**slow, data, 1 << 20);
  ASSERT_FALSE(after.empty());
  EXPECT_TRUE(restarted);
  ASSERT_GE(waits.size(), 2u);
  EXPECT_EQ(waits[0], std::chrono::milliseconds(100));
  EXPECT_EQ(waits[1], std::chrono::milliseconds(200)) << "exponential backoff";
  ASSERT_TRUE((*slow)->Publish(after).ok());
  auto read = Read(**slow, after, 0, data.size());
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_TRUE(*read == data);
  auto old = Read(**quick, before, 0, 100000);
  ASSERT_TRUE(old.ok()) << "what was stored before the outage is still there";
  EXPECT_TRUE(*old == Pattern(100000, 21));
}

// Two nodes on one bucket, several threads each, staging (marker PUT), publishing (marker
// DELETE) and reading at once in their staging/<node>/ prefixes: s3rver 3.7.1 removed a
// key's directory after a DELETE while a concurrent PUT into it had not opened its file
// yet, and crashed on the unhandled ENOENT (see tests/tools/s3rver_fixes.js).
TEST_F(S3BlobStoreTest, TwoNodesWithSeveralThreadsEachStoreConcurrently) {
  auto keys = Ring(NewKey());
  const std::string prefix = "concurrent-" + RandomHex(6) + "/";
  std::vector<std::unique_ptr<S3BlobStore>> stores;
  for (const char* node : {"node-a", "node-b"}) {
    S3BlobStoreOptions o;
    o.s3 = EnvS3Options();
    o.prefix = prefix;
    o.node = node;
    o.keys = keys;
    o.part_bytes = kPart;
    auto store = S3BlobStore::Make(std::move(o));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    stores.push_back(std::move(store).value());
  }
  constexpr int kThreadsPerNode = 4;
  constexpr int kPerThread = 40;  // 320 objects in all
  struct Stored {
    std::string name;
    size_t size = 0;
    uint32_t seed = 0;
  };
  std::vector<std::vector<Stored>> done(stores.size() * kThreadsPerNode);
  std::vector<std::thread> threads;
  for (size_t s = 0; s < stores.size(); ++s) {
    for (int t = 0; t < kThreadsPerNode; ++t) {
      const size_t slot = s * kThreadsPerNode + t;
      threads.emplace_back([&, s, slot] {
        BlobStore& store = *stores[s];
        for (int i = 0; i < kPerThread; ++i) {
          const uint32_t seed = static_cast<uint32_t>(slot * 1000 + i);
          // Mixed sizes: empty, one byte, around a segment, up to ~200 KB, and in the
          // first thread of each node one blob above the part size (multipart).
          size_t size = (i == 0 && slot % kThreadsPerNode == 0) ? kPart + 300000
                        : i % 7 == 1                            ? 0
                        : i % 7 == 2                            ? 1
                                                                : (seed * 7919u) % 200000;
          const std::string data = Pattern(size, seed);
          std::string name = Write(store, data, 65536);
          if (name.empty()) return;
          Status s1 = store.Persist({name});
          EXPECT_TRUE(s1.ok()) << s1.ToString();
          Status s2 = store.Publish(name);
          EXPECT_TRUE(s2.ok()) << s2.ToString();
          auto back = Read(store, name, 0, size);
          EXPECT_TRUE(back.ok()) << back.status().ToString();
          if (back.ok()) {
            EXPECT_TRUE(*back == data) << "blob " << name << " differs at once";
          }
          done[slot].push_back({name, size, seed});
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  size_t total = 0;
  for (size_t slot = 0; slot < done.size(); ++slot) {
    EXPECT_EQ(done[slot].size(), static_cast<size_t>(kPerThread)) << "thread " << slot;
    for (const Stored& b : done[slot]) {
      ++total;
      // Read through the other node's store: every blob is shared once published.
      BlobStore& other = *stores[1 - slot / kThreadsPerNode];
      auto back = Read(other, b.name, 0, b.size);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      EXPECT_TRUE(*back == Pattern(b.size, b.seed)) << "blob " << b.name << " differs";
    }
  }
  EXPECT_EQ(total, stores.size() * kThreadsPerNode * kPerThread);
  // Nothing is left staged, and both see every blob.
  auto listed = Listing(*stores[0]);
  EXPECT_EQ(listed.size(), total);
  for (const auto& [name, staged] : listed) EXPECT_FALSE(staged) << name;
  // The server is still up: a fresh store opens and round-trips.
  S3BlobStoreOptions o;
  o.s3 = EnvS3Options();
  o.s3.max_attempts = 1;
  o.prefix = prefix;
  o.node = "node-c";
  o.keys = keys;
  auto fresh = S3BlobStore::Make(std::move(o));
  ASSERT_TRUE(fresh.ok()) << "s3rver is down: " << fresh.status().ToString();
  const std::string after = Write(**fresh, Pattern(1000, 7));
  auto back = Read(**fresh, after, 0, 1000);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == Pattern(1000, 7));
}

TEST_F(S3BlobStoreTest, AnUnreachableServerIsAClearError) {
  S3BlobStoreOptions o;
  o.s3 = EnvS3Options();
  o.s3.endpoint = "http://127.0.0.1:9";  // discard port: nothing listens
  int waits = 0;
  o.s3.sleep = [&](std::chrono::milliseconds) { ++waits; };
  o.s3.max_attempts = 3;
  o.node = "n1";
  o.keys = Ring(NewKey());
  auto store = S3BlobStore::Make(o);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kUnavailable) << store.status().ToString();
  EXPECT_NE(store.status().message().find("127.0.0.1:9"), std::string::npos);
  EXPECT_NE(store.status().message().find("3 attempt"), std::string::npos);
  EXPECT_EQ(waits, 2);
  // Positive control: the configured server opens.
  o.s3 = EnvS3Options();
  o.prefix = "unreachable-control-" + RandomHex(4);
  EXPECT_TRUE(S3BlobStore::Make(o).ok());
}

TEST_F(S3BlobStoreTest, HttpsEndpointsAreVerified) {
  if (Env("TRESOR_TEST_S3_TOOL").empty() || Env("TRESOR_TEST_S3_DIR").empty()) {
    FAIL() << "needs TRESOR_TEST_S3_TOOL and TRESOR_TEST_S3_DIR (tests/tools/with_s3.sh)";
  }
  // A second server, over TLS with a certificate of its own (not in the system store).
  const std::string dir = Env("TRESOR_TEST_S3_DIR") + "-tls";
  ASSERT_EQ(std::system(("mkdir -p '" + dir + "' && openssl req -x509 -newkey ec -pkeyopt "
                         "ec_paramgen_curve:P-256 -nodes -keyout '" + dir + "/key.pem' -out '" +
                         dir + "/cert.pem' -days 2 -subj /CN=s3-test -addext "
                         "subjectAltName=IP:127.0.0.1 >/dev/null 2>&1").c_str()),
            0);
  const std::string vars = "S3_TLS_CERT='" + dir + "/cert.pem' S3_TLS_KEY='" + dir + "/key.pem' ";
  ASSERT_EQ(S3Tool(vars + "s3_start '" + dir + "/server' && echo \\$TRESOR_TEST_S3_ENDPOINT > '" +
                   dir + "/endpoint'"), 0);
  std::string endpoint;
  std::ifstream(dir + "/endpoint") >> endpoint;
  ASSERT_EQ(endpoint.rfind("https://127.0.0.1:", 0), 0u) << endpoint;
  S3BlobStoreOptions o;
  o.s3 = EnvS3Options();
  o.s3.endpoint = endpoint;
  o.node = "n1";
  o.keys = Ring(NewKey());
  // Not trusted: refused at once (no retries), saying why.
  auto untrusted = S3BlobStore::Make(o);
  ASSERT_FALSE(untrusted.ok());
  EXPECT_EQ(untrusted.status().code(), Code::kIoError) << untrusted.status().ToString();
  EXPECT_NE(untrusted.status().message().find("certificate"), std::string::npos)
      << untrusted.status().ToString();
  // Trusted through s3_ca_file: it works end to end.
  o.s3.ca_file = dir + "/cert.pem";
  auto trusted = S3BlobStore::Make(o);
  ASSERT_TRUE(trusted.ok()) << trusted.status().ToString();
  std::string name = Write(**trusted, Pattern(200000, 31));
  ASSERT_FALSE(name.empty());
  auto read = Read(**trusted, name, 1000, 150000);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_TRUE(*read == Pattern(200000, 31).substr(1000, 150000));
  EXPECT_EQ(S3Tool("s3_stop '" + dir + "/server'"), 0);
}

TEST(S3ClientTest, RefusesUnsafeOrMalformedOptions) {
  S3Options o;
  o.bucket = "tresor";
  o.access_key = "AK";
  o.secret_key = "SK";
  o.endpoint = "http://s3.example.org";
  auto made = S3Client::Make(o);
  EXPECT_EQ(made.status().code(), Code::kInvalidArgument);
  EXPECT_NE(made.status().message().find("https"), std::string::npos);
  o.allow_http = true;
  EXPECT_TRUE(S3Client::Make(o).ok()) << "allowed explicitly";
  o.allow_http = false;
  o.endpoint = "https://s3.example.org";
  EXPECT_TRUE(S3Client::Make(o).ok());
  o.endpoint = "http://127.0.0.1:9000";
  EXPECT_TRUE(S3Client::Make(o).ok()) << "loopback";
  o.endpoint = "ftp://s3.example.org";
  EXPECT_FALSE(S3Client::Make(o).ok());
  o.endpoint = "https://user:pw@s3.example.org";
  EXPECT_FALSE(S3Client::Make(o).ok());
  o.endpoint = "https://s3.example.org/path";
  EXPECT_FALSE(S3Client::Make(o).ok());
  o.endpoint = "https://s3.example.org";
  o.bucket = "Bad_Bucket";
  EXPECT_FALSE(S3Client::Make(o).ok());
  o.bucket = "tresor";
  o.secret_key = "";
  EXPECT_FALSE(S3Client::Make(o).ok());
  o.secret_key = "SK";
  auto client = S3Client::Make(o);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->Put("../x", "", 0).code(), Code::kInvalidArgument);
  EXPECT_EQ((*client)->Put("a b", "", 0).code(), Code::kInvalidArgument);
}

TEST(S3ClientTest, RetriesOnlyTransientFailuresWithExponentialBackoff) {
  EXPECT_TRUE(S3Client::Retryable(7 /*CURLE_COULDNT_CONNECT*/, 0));
  EXPECT_TRUE(S3Client::Retryable(28 /*CURLE_OPERATION_TIMEDOUT*/, 0));
  EXPECT_TRUE(S3Client::Retryable(52 /*CURLE_GOT_NOTHING*/, 0));
  EXPECT_TRUE(S3Client::Retryable(0, 500));
  EXPECT_TRUE(S3Client::Retryable(0, 503));
  EXPECT_FALSE(S3Client::Retryable(0, 403));
  EXPECT_FALSE(S3Client::Retryable(0, 404));
  EXPECT_FALSE(S3Client::Retryable(0, 400));
  EXPECT_FALSE(S3Client::Retryable(60 /*CURLE_PEER_FAILED_VERIFICATION*/, 0));
  S3Options o;
  o.endpoint = "https://s3.example.org";
  o.bucket = "tresor";
  o.access_key = "AK";
  o.secret_key = "SK";
  o.first_backoff = std::chrono::milliseconds(200);
  o.max_backoff = std::chrono::milliseconds(1000);
  auto client = S3Client::Make(o);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->Backoff(1).count(), 200);
  EXPECT_EQ((*client)->Backoff(2).count(), 400);
  EXPECT_EQ((*client)->Backoff(3).count(), 800);
  EXPECT_EQ((*client)->Backoff(4).count(), 1000);
  EXPECT_EQ((*client)->Backoff(30).count(), 1000);
}

}  // namespace
}  // namespace tresor::store

namespace tresor::store {
namespace {

// Not a test: write and read figures per backend (run with
// --gtest_also_run_disabled_tests --gtest_filter=*Throughput*; S3 through with_s3.sh).
TEST_P(BlobStoreSuite, DISABLED_Throughput) {
  struct Case {
    size_t size;
    int count;
  };
  for (Case c : {Case{512 << 10, 40}, Case{32 << 20, 2}}) {
    std::string data = Pattern(c.size, 77);
    std::vector<std::string> names;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < c.count; ++i) names.push_back(Write(*store_, data, 1 << 16));
    ASSERT_TRUE(store_->Persist(names).ok());
    for (const auto& n : names) ASSERT_TRUE(store_->Publish(n).ok());
    auto t1 = std::chrono::steady_clock::now();
    for (const auto& n : names) {
      auto r = Read(*store_, n, 0, c.size);
      ASSERT_TRUE(r.ok());
    }
    auto t2 = std::chrono::steady_clock::now();
    double mib = static_cast<double>(c.size) * c.count / (1 << 20);
    auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
    std::printf("THROUGHPUT %s %zu KiB x %d: write %.1f MiB/s, read %.1f MiB/s\n",
                GetParam().c_str(), c.size >> 10, c.count, mib / secs(t1 - t0),
                mib / secs(t2 - t1));
  }
}

}  // namespace
}  // namespace tresor::store
