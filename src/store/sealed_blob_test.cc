// The sealed blob format through FileBlobStore: round trips, random access across
// segment boundaries, every kind of tampering, wrong keys and key rotation.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/random.h"
#include "core/testing/temp_dir.h"
#include "security/master_key.h"
#include "store/file_blob_store.h"
#include "store/sealed_blob.h"

namespace tresor::store {
namespace {

namespace fs = std::filesystem;

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

std::shared_ptr<const KeyRing> Ring(std::vector<security::MasterKey> keys) {
  auto ring = KeyRing::Make(std::move(keys));
  EXPECT_TRUE(ring.ok());
  return std::make_shared<const KeyRing>(std::move(ring).value());
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

constexpr size_t S = kSegmentBytes;

class SealedBlobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = NewKey();
    Reopen({key_});
  }
  void Reopen(std::vector<security::MasterKey> keys) {
    store_.reset();
    auto made = FileBlobStore::Make({dir_.path() + "/storage", false, Ring(std::move(keys))});
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    store_ = std::move(made).value();
  }
  // Writes `data` in pieces of `piece` bytes; publishes it; returns its name.
  std::string Store(const std::string& data, size_t piece = 4096) {
    auto w = store_->Create();
    EXPECT_TRUE(w.ok());
    for (size_t off = 0; off < data.size(); off += piece) {
      EXPECT_TRUE((*w)->Append(data.data() + off, std::min(piece, data.size() - off)).ok());
    }
    EXPECT_EQ((*w)->size(), data.size());
    auto name = (*w)->Finish();
    EXPECT_TRUE(name.ok());
    EXPECT_TRUE(store_->Publish(*name).ok());
    return *name;
  }
  std::string Path(const std::string& name) const {
    return dir_.path() + "/storage/blobs/" + name.substr(0, 2) + "/" + name;
  }
  // The whole plaintext, or the error of the first failing read.
  Result<std::string> ReadAll(const std::string& name, size_t chunk = 1 << 20) {
    TRESOR_ASSIGN_OR_RETURN(auto r, store_->Open(name));
    std::string out(r->size(), '\0');
    for (uint64_t off = 0; off < out.size();) {
      TRESOR_ASSIGN_OR_RETURN(size_t got, r->ReadAt(out.data() + off, std::min(chunk, out.size() - off), off));
      if (got == 0) return IoError("short");
      off += got;
    }
    return out;
  }
  void ExpectDataLoss(const std::string& name, const std::string& what) {
    auto got = ReadAll(name);
    ASSERT_FALSE(got.ok()) << what << ": tampered blob read back";
    EXPECT_EQ(got.status().code(), Code::kDataLoss) << what << ": " << got.status().ToString();
  }

  testing::TempDir dir_;
  security::MasterKey key_;
  std::unique_ptr<FileBlobStore> store_;
};

TEST_F(SealedBlobTest, RoundTripsEverySizeAroundSegmentBoundaries) {
  for (size_t n : {size_t{0}, size_t{1}, S - 1, S, S + 1, 2 * S, 3 * S + 17, size_t{1} << 20}) {
    for (size_t piece : {size_t{1000}, S, 3 * S + 5}) {
      if (n > 100000 && piece == 1000) continue;
      std::string data = Pattern(n, static_cast<uint32_t>(n + piece));
      std::string name = Store(data, piece);
      EXPECT_EQ(fs::file_size(Path(name)), SealedSize(n)) << n;
      auto back = ReadAll(name);
      ASSERT_TRUE(back.ok()) << n << ": " << back.status().ToString();
      EXPECT_TRUE(*back == data) << "size " << n << " piece " << piece;
    }
  }
}

TEST_F(SealedBlobTest, NothingOfThePlaintextIsOnDisk) {
  std::string data = "PATIENT^NAME^TEST" + std::string(5000, 'x') + "ID-12345678";
  std::string name = Store(data);
  std::string raw = ReadFile(Path(name));
  EXPECT_EQ(raw.find("PATIENT^NAME"), std::string::npos);
  EXPECT_EQ(raw.find("ID-12345678"), std::string::npos);
  EXPECT_EQ(raw.find("xxxxxxxx"), std::string::npos);
}

TEST_F(SealedBlobTest, RandomAccessAcrossSegmentBoundaries) {
  std::string data = Pattern(5 * S + 1234, 7);
  std::string name = Store(data, 100000);
  auto r = store_->Open(name);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->size(), data.size());
  struct Range { uint64_t off; size_t n; };
  for (Range g : std::vector<Range>{{0, 1}, {S - 3, 6}, {S, S}, {2 * S - 1, 2 * S + 2},
                                    {4 * S + 1000, 10000}, {data.size() - 5, 100}, {123, 5 * S},
                                    {S - 1, 1}, {S - 1, 1}, {3, 3}}) {
    std::string out(g.n, '\0');
    auto got = (*r)->ReadAt(out.data(), g.n, g.off);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    size_t want = std::min<size_t>(g.n, data.size() - g.off);
    ASSERT_EQ(*got, want);
    EXPECT_EQ(out.substr(0, want), data.substr(g.off, want)) << g.off << "+" << g.n;
  }
  char c;
  auto end = (*r)->ReadAt(&c, 1, data.size());
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, 0u);
}

// A corrupt segment fails only the reads that cover it.
TEST_F(SealedBlobTest, ReadsNeedOnlyTheSegmentsTheyCover) {
  std::string data = Pattern(4 * S, 9);
  std::string name = Store(data);
  std::string raw = ReadFile(Path(name));
  raw[kSealedHeaderBytes + 2 * (S + kTagBytes) + 10] ^= 1;  // inside segment 2
  WriteFile(Path(name), raw);
  auto r = store_->Open(name);
  ASSERT_TRUE(r.ok());
  std::string out(S, '\0');
  auto first = (*r)->ReadAt(out.data(), S, 0);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(out, data.substr(0, S));
  auto bad = (*r)->ReadAt(out.data(), 100, 2 * S + 50);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kDataLoss);
  auto last = (*r)->ReadAt(out.data(), S, 3 * S);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(out, data.substr(3 * S, S));
}

TEST_F(SealedBlobTest, EveryTamperIsAnIntegrityError) {
  const std::string data = Pattern(3 * S + 500, 11);
  const size_t seg = S + kTagBytes;
  auto tamper = [&](const std::string& what, auto edit) {
    std::string name = Store(data);
    std::string raw = ReadFile(Path(name));
    edit(raw);
    WriteFile(Path(name), raw);
    ExpectDataLoss(name, what);
  };
  tamper("magic byte", [](std::string& b) { b[0] ^= 1; });
  tamper("segment size", [](std::string& b) { b[13] ^= 1; });
  tamper("blob id", [](std::string& b) { b[20] ^= 1; });
  tamper("nonce prefix", [](std::string& b) { b[33] ^= 0x80; });
  tamper("key id", [](std::string& b) { b[kKeySlotOffset] ^= 1; });
  tamper("wrapped key", [](std::string& b) { b[kKeySlotOffset + 30] ^= 1; });
  tamper("wrap tag", [](std::string& b) { b[kKeySlotOffset + kKeySlotBytes - 1] ^= 1; });
  tamper("segment byte", [&](std::string& b) { b[kSealedHeaderBytes + seg + 5] ^= 4; });
  tamper("segment tag", [&](std::string& b) { b[kSealedHeaderBytes + 2 * seg - 1] ^= 1; });
  tamper("last segment byte", [&](std::string& b) { b[b.size() - kTagBytes - 1] ^= 1; });
  tamper("truncated at a segment boundary",
         [&](std::string& b) { b.resize(kSealedHeaderBytes + 3 * seg); });
  tamper("truncated inside a segment", [&](std::string& b) { b.resize(b.size() - 100); });
  tamper("truncated inside the tag", [&](std::string& b) { b.resize(b.size() - 3); });
  tamper("truncated to the header", [&](std::string& b) { b.resize(kSealedHeaderBytes); });
  tamper("truncated inside the header", [&](std::string& b) { b.resize(100); });
  tamper("extended", [&](std::string& b) { b += std::string(kTagBytes + 1, '\0'); });
  tamper("segments swapped", [&](std::string& b) {
    std::string s0 = b.substr(kSealedHeaderBytes, seg), s1 = b.substr(kSealedHeaderBytes + seg, seg);
    b.replace(kSealedHeaderBytes, seg, s1);
    b.replace(kSealedHeaderBytes + seg, seg, s0);
  });
  tamper("segment repeated", [&](std::string& b) {
    b.replace(kSealedHeaderBytes + seg, seg, b.substr(kSealedHeaderBytes, seg));
  });
  tamper("last full segment dropped", [&](std::string& b) {
    b.erase(kSealedHeaderBytes + 2 * seg, seg);
  });
}

TEST_F(SealedBlobTest, SegmentsSplicedFromAnotherBlobOrSwappedFilesFail) {
  const std::string data = Pattern(2 * S + 10, 13);
  std::string a = Store(data), b = Store(data);
  std::string ra = ReadFile(Path(a)), rb = ReadFile(Path(b));
  std::string spliced = ra;
  spliced.replace(kSealedHeaderBytes, S + kTagBytes, rb.substr(kSealedHeaderBytes, S + kTagBytes));
  WriteFile(Path(a), spliced);
  ExpectDataLoss(a, "segment from another blob");
  WriteFile(Path(a), rb);  // another blob's file under this name
  ExpectDataLoss(a, "file of another blob");
}

TEST_F(SealedBlobTest, WrongKeyCannotOpenAndStorageNamesTheRightOne) {
  std::string name = Store(Pattern(1000, 3));
  store_.reset();
  auto other = FileBlobStore::Make({dir_.path() + "/storage", false, Ring({NewKey()})});
  ASSERT_FALSE(other.ok()) << "storage opened under another master key";
  EXPECT_EQ(other.status().code(), Code::kPermissionDenied);
  EXPECT_NE(other.status().message().find(key_.IdHex()), std::string::npos)
      << other.status().message();
  auto plain = FileBlobStore::Make({dir_.path() + "/storage", false, nullptr});
  ASSERT_FALSE(plain.ok()) << "sealed storage opened without a key";
  // Without its marker, storage holding blobs is not taken for a new one.
  const std::string marker = ReadFile(dir_.path() + "/storage/sealed");
  fs::remove(dir_.path() + "/storage/sealed");
  auto wrong = FileBlobStore::Make({dir_.path() + "/storage", false, Ring({NewKey()})});
  ASSERT_FALSE(wrong.ok()) << "storage with blobs but without its marker opened";
  WriteFile(dir_.path() + "/storage/sealed", marker);
  Reopen({key_});
  ASSERT_TRUE(ReadAll(name).ok());
  // A blob sealed under a key not in the ring (the marker aside) is an integrity error.
  std::ofstream(dir_.path() + "/storage/sealed", std::ios::trunc)
      << "tresor sealed storage 1\nkey " << NewKey().IdHex() << "\n";
  security::MasterKey stranger = NewKey();
  std::ofstream(dir_.path() + "/storage/sealed", std::ios::trunc)
      << "tresor sealed storage 1\nkey " << stranger.IdHex() << "\n";
  Reopen({stranger});
  ExpectDataLoss(name, "blob under a key not in the ring");
}

TEST_F(SealedBlobTest, PlainBlobsFromBeforeAreRefused) {
  testing::TempDir other;
  {
    auto plain = FileBlobStore::Make({other.path() + "/storage", false, nullptr});
    ASSERT_TRUE(plain.ok());
    auto w = (*plain)->Create();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append("DICM", 4).ok());
    auto n = (*w)->Finish();
    ASSERT_TRUE(n.ok());
    ASSERT_TRUE((*plain)->Publish(*n).ok());
  }
  auto sealed = FileBlobStore::Make({other.path() + "/storage", false, Ring({NewKey()})});
  ASSERT_FALSE(sealed.ok());
  EXPECT_EQ(sealed.status().code(), Code::kUnsupported);
  EXPECT_NE(sealed.status().message().find("tresor import"), std::string::npos);
}

TEST_F(SealedBlobTest, RotationKeepsEveryBlobReadableAndRetiresTheOldKey) {
  std::vector<std::pair<std::string, std::string>> blobs;
  for (int i = 0; i < 4; ++i) {
    std::string data = Pattern(static_cast<size_t>(i) * S + 77, static_cast<uint32_t>(i));
    blobs.emplace_back(Store(data), data);
  }
  security::MasterKey next = NewKey();
  Reopen({next, key_});
  for (auto& [name, data] : blobs) {
    auto changed = store_->Rewrap(name, RewrapStep::kAddCurrent);
    ASSERT_TRUE(changed.ok()) << changed.status().ToString();
    EXPECT_TRUE(*changed);
    auto again = store_->Rewrap(name, RewrapStep::kAddCurrent);
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(*again) << "rewrapped twice";
  }
  ASSERT_TRUE(store_->RecordSealingKey(next.id).ok());
  // Mid-rotation both keys open everything.
  Reopen({key_, next});
  for (auto& [name, data] : blobs) EXPECT_TRUE(ReadAll(name).ok());
  Reopen({next});
  for (auto& [name, data] : blobs) {
    ASSERT_TRUE(store_->Rewrap(name, RewrapStep::kDropOthers).ok());
    auto back = ReadAll(name);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_TRUE(*back == data);
  }
  // The payload was not rewritten: only the header changed.
  // The old key alone opens nothing any more.
  store_.reset();
  auto old = FileBlobStore::Make({dir_.path() + "/storage", false, Ring({key_})});
  ASSERT_FALSE(old.ok());
  fs::remove(dir_.path() + "/storage/sealed");
  std::ofstream(dir_.path() + "/storage/sealed")
      << "tresor sealed storage 1\nkey " << key_.IdHex() << "\n";
  auto forced = FileBlobStore::Make({dir_.path() + "/storage", false, Ring({key_})});
  ASSERT_TRUE(forced.ok());
  store_ = std::move(forced).value();
  for (auto& [name, data] : blobs) ExpectDataLoss(name, "old key after rotation");
}

TEST_F(SealedBlobTest, CrashRecoveryPublishesAndDiscardsSealedBlobs) {
  std::string data = Pattern(S + 3, 5);
  auto w = store_->Create();
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append(data.data(), data.size()).ok());
  auto kept = (*w)->Finish();
  ASSERT_TRUE(kept.ok());
  auto w2 = store_->Create();
  ASSERT_TRUE(w2.ok());
  ASSERT_TRUE((*w2)->Append(data.data(), 10).ok());
  auto dropped = (*w2)->Finish();
  ASSERT_TRUE(dropped.ok());
  ASSERT_TRUE(store_->Recover([&](const std::string& n) -> Result<bool> { return n == *kept; }).ok());
  auto back = ReadAll(*kept);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(*back == data);
  EXPECT_EQ(store_->Open(*dropped).status().code(), Code::kNotFound);
}

TEST(MasterKeyTest, CreateLoadAndRefuseReadableKeys) {
  testing::TempDir dir;
  std::string path = dir.path() + "/k/master.key";
  auto created = security::CreateMasterKey(path);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  auto loaded = security::LoadMasterKey(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->bytes, created->bytes);
  EXPECT_EQ(loaded->IdHex(), created->IdHex());
  EXPECT_EQ(security::CreateMasterKey(path).status().code(), Code::kAlreadyExists);
  chmod(path.c_str(), 0640);
  EXPECT_EQ(security::LoadMasterKey(path).status().code(), Code::kPermissionDenied);
  chmod(path.c_str(), 0604);
  EXPECT_EQ(security::LoadMasterKey(path).status().code(), Code::kPermissionDenied);
  chmod(path.c_str(), 0600);
  WriteFile(path, "short");
  chmod(path.c_str(), 0600);
  EXPECT_EQ(security::LoadMasterKey(path).status().code(), Code::kInvalidArgument);
  auto missing = security::LoadMasterKey(dir.path() + "/none.key");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("none.key"), std::string::npos);
}

TEST(MasterKeyTest, DeriveKeyIsHkdfSha256PerPurpose) {
  // RFC 5869 does not cover this salt/info; check determinism, independence and length.
  std::string master(32, '\x0b');
  auto a = security::DeriveKey(master, "index-pages");
  auto b = security::DeriveKey(master, "index-pages");
  auto c = security::DeriveKey(master, "blob-key-wrap");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  EXPECT_NE(*a, master);
  EXPECT_EQ(security::DeriveKey("short", "x").status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace tresor::store
