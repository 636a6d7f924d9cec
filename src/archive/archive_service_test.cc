#include "archive/archive_service.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/testing/fake_clock.h"
#include "core/testing/temp_dir.h"
#include "dicom/byte_reader.h"
#include "dicom/part10.h"
#include "dicom/transfer_syntax.h"
#include "security/peer_policy.h"
#include "store/file_blob_store.h"
#include "store/sqlite_index.h"
#include "store/testing/faulty_blob_store.h"

namespace tresor::archive {
namespace {

namespace fs = std::filesystem;
using Sync = store::SqliteIndexOptions::Sync;

constexpr char kCtImageStorage[] = "1.2.840.10008.5.1.4.1.1.2";
constexpr char kMrImageStorage[] = "1.2.840.10008.5.1.4.1.1.4";
constexpr char kStudyUid[] = "1.2.826.0.1.3680043.8.498.1";
constexpr char kSeriesUid[] = "1.2.826.0.1.3680043.8.498.1.1";
constexpr char kSopPrefix[] = "1.2.826.0.1.3680043.8.498.1.1.";

// A fresh temporary directory, removed with everything in it at the end of the test.
using TempDir = ::tresor::testing::TempDir;

void PutU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v & 0xFF));
  out.push_back(static_cast<char>(v >> 8));
}

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// Appends one explicit VR little endian element, padded to even length (UI and OB with
// NUL, text with a space).
void PutElement(std::string& out, uint16_t group, uint16_t element, const std::string& vr,
                std::string value) {
  if (value.size() % 2) value.push_back(vr == "UI" || vr == "OB" ? '\0' : ' ');
  PutU16(out, group);
  PutU16(out, element);
  out += vr;
  if (vr == "OB" || vr == "OW" || vr == "SQ" || vr == "UN" || vr == "UT") {
    PutU16(out, 0);
    PutU32(out, static_cast<uint32_t>(value.size()));
  } else {
    PutU16(out, static_cast<uint16_t>(value.size()));
  }
  out += value;
}

// What varies between the test objects.
struct TestObject {
  std::string sop_instance_uid;
  std::string sop_class_uid = kCtImageStorage;
  std::string patient_name = "Doe^Jane";
  std::string patient_id = "PID001";
  std::string study_uid = kStudyUid;
  std::string series_uid = kSeriesUid;
  std::string institution;  // (0008,0080), left out when empty
  size_t pixel_bytes = 0;  // > 0 adds (7FE0,0010) OB of this many bytes
};

// A small valid CT data set in explicit VR little endian, elements in ascending order.
std::string DataSet(const TestObject& o) {
  std::string out;
  PutElement(out, 0x0008, 0x0016, "UI", o.sop_class_uid);
  PutElement(out, 0x0008, 0x0018, "UI", o.sop_instance_uid);
  PutElement(out, 0x0008, 0x0060, "CS", "CT");
  if (!o.institution.empty()) PutElement(out, 0x0008, 0x0080, "LO", o.institution);
  PutElement(out, 0x0010, 0x0010, "PN", o.patient_name);
  PutElement(out, 0x0010, 0x0020, "LO", o.patient_id);
  PutElement(out, 0x0020, 0x000D, "UI", o.study_uid);
  PutElement(out, 0x0020, 0x000E, "UI", o.series_uid);
  if (o.pixel_bytes > 0) {
    std::string pixels(o.pixel_bytes, '\0');
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<char>(i * 7 + (i >> 11));
    PutElement(out, 0x7FE0, 0x0010, "OB", std::move(pixels));
  }
  return out;
}

std::string SopUid(int n) { return kSopPrefix + std::to_string(n); }

TestObject Object(int n) {
  TestObject o;
  o.sop_instance_uid = SopUid(n);
  return o;
}

// Structs are built field by field, so that fields added later keep their defaults.
UploadInfo Info(const std::string& sop_uid, const std::string& sop_class = kCtImageStorage) {
  UploadInfo info;
  info.sop_class_uid = sop_class;
  info.sop_instance_uid = sop_uid;
  info.transfer_syntax_uid = dicom::kExplicitVRLittleEndian;
  return info;
}

// A registered peer acting from 127.0.0.1 with `services` granted.
Principal PeerPrincipal(const std::string& name, const std::string& ae_title, uint32_t services) {
  Principal p;
  p.peer_name = name;
  p.ae_title = ae_title;
  p.address = "127.0.0.1";
  p.services = services;
  return p;
}

// A registered peer that may only query, not store.
Principal QueryOnlyPeer() {
  return PeerPrincipal("viewer", "VIEWER", security::kEcho | security::kFind);
}

// A registered peer with every DICOM service, but not the local administrator.
Principal FullPeer() { return PeerPrincipal("ct1", "CT1", security::kAllServices); }

security::Peer MakePeer(const std::string& name, const std::string& ae_title,
                        const std::string& host, int port, uint32_t services) {
  security::Peer p;
  p.name = name;
  p.ae_title = ae_title;
  p.host = host;
  p.port = port;
  p.services = services;
  return p;
}

// Reads a whole stored object.
std::string ReadAll(StoredObject& object) {
  std::string out;
  std::vector<char> buf(64 * 1024);
  while (true) {
    auto got = object.ReadAt(buf.data(), buf.size(), out.size());
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    if (!got.ok() || *got == 0) break;
    out.append(buf.data(), *got);
  }
  return out;
}

// Paths of the regular files under `dir` (recursively), or none if it does not exist.
std::vector<fs::path> FilesUnder(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path());
  }
  return out;
}

// An archive over a real SqliteIndex and FileBlobStore in a temporary data directory.
class ArchiveFixture {
 protected:
  // Opens (or reopens) index, blob store and archive over the same directory.
  void OpenArchive(Sync sync, ArchiveOptions options = {}) {
    CloseArchive();
    auto index = store::SqliteIndex::Open({dir_.path() + "/index.db", sync});
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    index_ = std::move(index).value();
    auto blobs = store::FileBlobStore::Make({StorageRoot(), /*fsync=*/true, nullptr});
    ASSERT_TRUE(blobs.ok()) << blobs.status().ToString();
    blobs_ = std::move(blobs).value();
    archive_ = std::make_unique<ArchiveService>(*index_, *blobs_, options, clock_);
  }

  // Destroys everything in dependency order, as a shutdown (or crash) would leave it.
  void CloseArchive() {
    archive_.reset();
    index_.reset();
    blobs_.reset();
  }

  std::string StorageRoot() const { return dir_.path() + "/storage"; }
  std::vector<fs::path> StagedFiles() const { return FilesUnder(StorageRoot() + "/staging"); }
  std::vector<fs::path> PublishedFiles() const { return FilesUnder(StorageRoot() + "/blobs"); }
  size_t StoredFileCount() const { return StagedFiles().size() + PublishedFiles().size(); }

  // BeginStore + Write in `chunk`-sized pieces + Commit.
  Result<StoreOutcome> Store(const Principal& who, const UploadInfo& info, const std::string& data,
                             size_t chunk = 1000) {
    TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<Upload> upload, archive_->ingest().BeginStore(who, info));
    for (size_t off = 0; off < data.size(); off += chunk) {
      TRESOR_RETURN_IF_ERROR(upload->Write(data.data() + off, std::min(chunk, data.size() - off)));
    }
    return upload->Commit();
  }

  Result<StoreOutcome> Store(const TestObject& o) {
    return Store(Principal::LocalAdmin(), Info(o.sop_instance_uid, o.sop_class_uid), DataSet(o));
  }

  // The data set bytes of a stored instance (after its file meta information).
  std::string StoredDataSet(const std::string& sop_uid) {
    auto object = archive_->catalog().OpenInstance(Principal::LocalAdmin(), sop_uid);
    EXPECT_TRUE(object.ok()) << object.status().ToString();
    if (!object.ok()) return "<not found>";
    std::string bytes = ReadAll(**object);
    dicom::MemoryReader reader(bytes.data(), bytes.size());
    auto meta = dicom::ReadFileMeta(reader);
    EXPECT_TRUE(meta.ok()) << meta.status().ToString();
    if (!meta.ok()) return "<no file meta>";
    return bytes.substr(meta->dataset_offset);
  }

  int64_t InstanceCount() {
    auto stats = archive_->catalog().Stats(Principal::LocalAdmin());
    EXPECT_TRUE(stats.ok()) << stats.status().ToString();
    return stats.ok() ? stats->instances : -1;
  }

  TempDir dir_;
  ::tresor::testing::FakeClock clock_;  // sessions, tokens and the back-off run on it
  std::unique_ptr<store::SqliteIndex> index_;
  std::unique_ptr<store::FileBlobStore> blobs_;
  std::unique_ptr<ArchiveService> archive_;
};

// Everything here must hold whichever way the index reaches durability.
class ArchiveServiceTest : public ArchiveFixture, public ::testing::TestWithParam<Sync> {
 protected:
  void SetUp() override {
    OpenArchive(GetParam());
    ASSERT_TRUE(archive_->ingest().Recover().ok());
  }
  void TearDown() override { CloseArchive(); }
};

TEST_P(ArchiveServiceTest, BeforeCommitSeesTheUidsAndCanRefuse) {
  TestObject o = Object(1);
  UploadInfo info = Info(o.sop_instance_uid);
  std::string seen_study, seen_series;
  info.before_commit = [&](const std::string& study, const std::string& series) {
    seen_study = study;
    seen_series = series;
    return InvalidArgument("not this study");
  };
  auto refused = Store(Principal::LocalAdmin(), info, DataSet(o));
  EXPECT_EQ(refused.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(seen_study, kStudyUid);
  EXPECT_EQ(seen_series, kSeriesUid);
  EXPECT_EQ(StoredFileCount(), 0u);  // the staged blob was discarded
  auto stats = archive_->catalog().Stats(Principal::LocalAdmin());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->instances, 0);

  info.before_commit = [](const std::string&, const std::string&) { return Status::Ok(); };
  auto stored = Store(Principal::LocalAdmin(), info, DataSet(o));
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(*stored, StoreOutcome::kStored);
}

TEST_P(ArchiveServiceTest, StoreThenOpenReturnsThePart10Object) {
  TestObject o = Object(1);
  std::string data = DataSet(o);
  auto outcome = Store(o);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(*outcome, StoreOutcome::kStored);

  auto stats = archive_->catalog().Stats(Principal::LocalAdmin());
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->instances, 1);
  EXPECT_EQ(stats->series, 1);
  EXPECT_EQ(stats->studies, 1);
  EXPECT_EQ(stats->patients, 1);

  auto object = archive_->catalog().OpenInstance(Principal::LocalAdmin(), o.sop_instance_uid);
  ASSERT_TRUE(object.ok()) << object.status().ToString();
  EXPECT_EQ((*object)->info().sop_instance_uid, o.sop_instance_uid);
  EXPECT_EQ((*object)->info().sop_class_uid, kCtImageStorage);
  EXPECT_EQ((*object)->info().study_instance_uid, kStudyUid);
  EXPECT_EQ((*object)->info().transfer_syntax_uid, dicom::kExplicitVRLittleEndian);
  std::string bytes = ReadAll(**object);
  EXPECT_EQ((*object)->size(), bytes.size());
  EXPECT_EQ((*object)->info().blob_size, bytes.size());

  ASSERT_GT(bytes.size(), 132u);
  EXPECT_EQ(bytes.substr(0, 128), std::string(128, '\0'));
  EXPECT_EQ(bytes.substr(128, 4), "DICM");
  dicom::MemoryReader reader(bytes.data(), bytes.size());
  auto meta = dicom::ReadFileMeta(reader);
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  EXPECT_EQ(meta->sop_class_uid, kCtImageStorage);
  EXPECT_EQ(meta->sop_instance_uid, o.sop_instance_uid);
  EXPECT_EQ(meta->transfer_syntax_uid, dicom::kExplicitVRLittleEndian);
  EXPECT_EQ(meta->source_ae, "LOCAL");
  EXPECT_EQ(bytes.substr(meta->dataset_offset), data);

  // Exactly one file, in its final place.
  EXPECT_TRUE(StagedFiles().empty());
  EXPECT_EQ(PublishedFiles().size(), 1u);
}

TEST_P(ArchiveServiceTest, WriteChunkingDoesNotMatter) {
  TestObject o = Object(1);
  std::string data = DataSet(o);
  auto outcome = Store(Principal::LocalAdmin(), Info(o.sop_instance_uid), data, /*chunk=*/1);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(*outcome, StoreOutcome::kStored);
  EXPECT_EQ(StoredDataSet(o.sop_instance_uid), data);
}

TEST_P(ArchiveServiceTest, LargeObjectIsScannedAndStored) {
  // Larger than what is scanned from memory, so the scan reads the staged blob.
  TestObject o = Object(1);
  o.pixel_bytes = 3 << 20;
  std::string data = DataSet(o);
  auto outcome = Store(Principal::LocalAdmin(), Info(o.sop_instance_uid), data, 64 * 1024);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(*outcome, StoreOutcome::kStored);
  std::string stored = StoredDataSet(o.sop_instance_uid);
  EXPECT_EQ(stored.size(), data.size());
  EXPECT_TRUE(stored == data) << "stored data set differs from what was written";
}

TEST_P(ArchiveServiceTest, IdenticalObjectAgainIsDuplicate) {
  TestObject o = Object(1);
  auto first = Store(o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(*first, StoreOutcome::kStored);

  auto second = Store(o);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, StoreOutcome::kDuplicate);
  EXPECT_EQ(InstanceCount(), 1);
  // The second copy's blob was dropped.
  EXPECT_EQ(StoredFileCount(), 1u);
}

TEST_P(ArchiveServiceTest, SameUidDifferentContentIsConflictAndKeepsTheFirst) {
  TestObject o = Object(1);
  std::string first_data = DataSet(o);
  ASSERT_TRUE(Store(o).ok());

  TestObject changed = o;
  changed.patient_name = "Roe^Richard";
  auto second = Store(changed);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kConflict);

  EXPECT_EQ(StoredDataSet(o.sop_instance_uid), first_data);
  EXPECT_EQ(InstanceCount(), 1);
  EXPECT_EQ(StoredFileCount(), 1u);
}

TEST_P(ArchiveServiceTest, PrincipalWithoutStoreGrantIsDenied) {
  TestObject o = Object(1);
  auto upload = archive_->ingest().BeginStore(QueryOnlyPeer(), Info(o.sop_instance_uid));
  ASSERT_FALSE(upload.ok());
  EXPECT_EQ(upload.status().code(), Code::kPermissionDenied);

  Principal nothing = PeerPrincipal("ct1", "CT1", 0);
  auto denied = Store(nothing, Info(o.sop_instance_uid), DataSet(o));
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), Code::kPermissionDenied);

  EXPECT_EQ(InstanceCount(), 0);
  EXPECT_EQ(StoredFileCount(), 0u);
}

TEST_P(ArchiveServiceTest, PeerWithStoreGrantMayStore) {
  Principal ct = PeerPrincipal("ct1", "CT1", security::kEcho | security::kStore);
  TestObject o = Object(1);
  auto outcome = Store(ct, Info(o.sop_instance_uid), DataSet(o));
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(*outcome, StoreOutcome::kStored);
}

TEST_P(ArchiveServiceTest, InvalidUidsAreInvalidArgument) {
  for (const std::string& bad :
       {std::string("../x"), std::string(""), std::string("1.2.3."), std::string("1..2"),
        std::string("1.02"), std::string("abc"), std::string(65, '1')}) {
    auto upload = archive_->ingest().BeginStore(Principal::LocalAdmin(), Info(bad));
    ASSERT_FALSE(upload.ok()) << bad;
    EXPECT_EQ(upload.status().code(), Code::kInvalidArgument) << bad;

    auto bad_class = archive_->ingest().BeginStore(Principal::LocalAdmin(), Info(SopUid(1), bad));
    ASSERT_FALSE(bad_class.ok()) << bad;
    EXPECT_EQ(bad_class.status().code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_EQ(StoredFileCount(), 0u);
}

TEST_P(ArchiveServiceTest, UnacceptedTransferSyntaxIsRefused) {
  UploadInfo info = Info(SopUid(1));
  info.transfer_syntax_uid = "1.2.3.4.5";
  auto upload = archive_->ingest().BeginStore(Principal::LocalAdmin(), info);
  ASSERT_FALSE(upload.ok());
  EXPECT_EQ(upload.status().code(), Code::kUnsupported);
  EXPECT_EQ(StoredFileCount(), 0u);
}

TEST_P(ArchiveServiceTest, DataSetUidDifferentFromDeclaredIsInvalidAndLeavesNothing) {
  TestObject o = Object(1);
  auto outcome = Store(Principal::LocalAdmin(), Info(SopUid(2)), DataSet(o));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(StagedFiles().empty());
  EXPECT_TRUE(PublishedFiles().empty());
  EXPECT_EQ(InstanceCount(), 0);
  for (const std::string& uid : {SopUid(1), SopUid(2)}) {
    auto object = archive_->catalog().OpenInstance(Principal::LocalAdmin(), uid);
    ASSERT_FALSE(object.ok());
    EXPECT_EQ(object.status().code(), Code::kNotFound);
  }
}

TEST_P(ArchiveServiceTest, LargeDataSetUidDifferentFromDeclaredLeavesNothing) {
  // The same check on the path that scans from the staged blob.
  TestObject o = Object(1);
  o.pixel_bytes = 2 << 20;
  auto outcome = Store(Principal::LocalAdmin(), Info(SopUid(2)), DataSet(o), 64 * 1024);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(StoredFileCount(), 0u);
  EXPECT_EQ(InstanceCount(), 0);
}

TEST_P(ArchiveServiceTest, DataSetSopClassDifferentFromDeclaredIsInvalid) {
  TestObject o = Object(1);
  auto outcome =
      Store(Principal::LocalAdmin(), Info(o.sop_instance_uid, kMrImageStorage), DataSet(o));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(StoredFileCount(), 0u);
}

TEST_P(ArchiveServiceTest, TruncatedDataSetIsInvalidAndLeavesNothing) {
  TestObject o = Object(1);
  std::string data = DataSet(o);
  // Cut inside the value of the last element (the Series Instance UID).
  std::string truncated = data.substr(0, data.size() - 5);
  auto outcome = Store(Principal::LocalAdmin(), Info(o.sop_instance_uid), truncated);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(StoredFileCount(), 0u);
  EXPECT_EQ(InstanceCount(), 0);
}

TEST_P(ArchiveServiceTest, DataSetWithoutStudyIsInvalid) {
  // A CT image must name its study and series.
  TestObject o = Object(1);
  std::string data;
  PutElement(data, 0x0008, 0x0016, "UI", kCtImageStorage);
  PutElement(data, 0x0008, 0x0018, "UI", o.sop_instance_uid);
  PutElement(data, 0x0010, 0x0020, "LO", "PID001");
  auto outcome = Store(Principal::LocalAdmin(), Info(o.sop_instance_uid), data);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(StoredFileCount(), 0u);
}

TEST_P(ArchiveServiceTest, WriteBeyondMaxObjectBytesIsResourceExhausted) {
  TestObject o = Object(1);
  std::string data = DataSet(o);
  ArchiveOptions options;
  options.max_object_bytes = data.size() - 1;
  OpenArchive(GetParam(), options);

  auto upload = archive_->ingest().BeginStore(Principal::LocalAdmin(), Info(o.sop_instance_uid));
  ASSERT_TRUE(upload.ok()) << upload.status().ToString();
  Status first = (*upload)->Write(data.data(), data.size() - 1);
  EXPECT_TRUE(first.ok()) << first.ToString();
  Status over = (*upload)->Write(data.data() + data.size() - 1, 1);
  EXPECT_EQ(over.code(), Code::kResourceExhausted);
  auto committed = (*upload)->Commit();
  ASSERT_FALSE(committed.ok());
  EXPECT_EQ(committed.status().code(), Code::kResourceExhausted);
  upload->reset();

  EXPECT_EQ(StoredFileCount(), 0u);
  EXPECT_EQ(InstanceCount(), 0);
}

TEST_P(ArchiveServiceTest, ObjectOfExactlyMaxObjectBytesIsStored) {
  TestObject o = Object(1);
  std::string data = DataSet(o);
  ArchiveOptions options;
  options.max_object_bytes = data.size();
  OpenArchive(GetParam(), options);
  auto outcome = Store(o);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(*outcome, StoreOutcome::kStored);
}

TEST_P(ArchiveServiceTest, UploadDestroyedWithoutCommitLeavesNothing) {
  TestObject o = Object(1);
  o.pixel_bytes = 600 * 1024;  // part of it reaches the file before the upload is dropped
  std::string data = DataSet(o);
  {
    auto upload = archive_->ingest().BeginStore(Principal::LocalAdmin(), Info(o.sop_instance_uid));
    ASSERT_TRUE(upload.ok()) << upload.status().ToString();
    ASSERT_TRUE((*upload)->Write(data.data(), data.size()).ok());
    EXPECT_EQ(StagedFiles().size(), 1u);
  }
  EXPECT_EQ(StoredFileCount(), 0u);
  EXPECT_EQ(InstanceCount(), 0);
  auto object = archive_->catalog().OpenInstance(Principal::LocalAdmin(), o.sop_instance_uid);
  ASSERT_FALSE(object.ok());
  EXPECT_EQ(object.status().code(), Code::kNotFound);
}

TEST_P(ArchiveServiceTest, OpenInstanceOfUnknownOrInvalidUid) {
  auto unknown = archive_->catalog().OpenInstance(Principal::LocalAdmin(), SopUid(99));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), Code::kNotFound);
  auto invalid = archive_->catalog().OpenInstance(Principal::LocalAdmin(), "../../etc/passwd");
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.status().code(), Code::kInvalidArgument);
}

TEST_P(ArchiveServiceTest, ConcurrentStoresAreAllCommitted) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10;
  std::atomic<int> stored{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto outcome = Store(Object(t * kPerThread + i + 1));
        if (outcome.ok() && *outcome == StoreOutcome::kStored) ++stored;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(stored.load(), kThreads * kPerThread);
  auto stats = archive_->catalog().Stats(Principal::LocalAdmin());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->instances, kThreads * kPerThread);
  EXPECT_EQ(stats->series, 1);
  EXPECT_TRUE(StagedFiles().empty());
  EXPECT_EQ(PublishedFiles().size(), static_cast<size_t>(kThreads * kPerThread));
  for (int n = 1; n <= kThreads * kPerThread; ++n) {
    EXPECT_EQ(StoredDataSet(SopUid(n)), DataSet(Object(n))) << n;
  }
}

TEST_P(ArchiveServiceTest, ReopeningKeepsStoredInstances) {
  TestObject o = Object(1);
  ASSERT_TRUE(Store(o).ok());
  OpenArchive(GetParam());
  ASSERT_TRUE(archive_->ingest().Recover().ok());
  EXPECT_EQ(StoredDataSet(o.sop_instance_uid), DataSet(o));
  EXPECT_EQ(InstanceCount(), 1);
  auto again = Store(o);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, StoreOutcome::kDuplicate);
}

TEST_P(ArchiveServiceTest, LocalAdminManagesPeers) {
  Principal admin = Principal::LocalAdmin();
  ASSERT_TRUE(archive_->admin()
                  .AddPeer(admin, MakePeer("ct1", "CT1", "127.0.0.1", 104,
                                            security::kEcho | security::kStore))
                  .ok());
  ASSERT_TRUE(
      archive_->admin().AddPeer(admin, MakePeer("ws", "WS", "10.0.0.2", 11112, security::kFind)).ok());

  auto peers = archive_->admin().ListPeers(admin);
  ASSERT_TRUE(peers.ok()) << peers.status().ToString();
  ASSERT_EQ(peers->size(), 2u);
  EXPECT_EQ((*peers)[0].name, "ct1");
  EXPECT_EQ((*peers)[0].ae_title, "CT1");
  EXPECT_EQ((*peers)[0].host, "127.0.0.1");
  EXPECT_EQ((*peers)[0].port, 104);
  EXPECT_EQ((*peers)[0].services, security::kEcho | security::kStore);
  EXPECT_EQ((*peers)[1].name, "ws");
  EXPECT_EQ((*peers)[1].services, static_cast<uint32_t>(security::kFind));

  auto removed = archive_->admin().RemovePeer(admin, "ct1");
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_TRUE(*removed);
  removed = archive_->admin().RemovePeer(admin, "ct1");
  ASSERT_TRUE(removed.ok());
  EXPECT_FALSE(*removed);
  peers = archive_->admin().ListPeers(admin);
  ASSERT_TRUE(peers.ok());
  ASSERT_EQ(peers->size(), 1u);
  EXPECT_EQ((*peers)[0].name, "ws");
}

TEST_P(ArchiveServiceTest, PeerWithoutServicesIsListedWithNone) {
  Principal admin = Principal::LocalAdmin();
  ASSERT_TRUE(archive_->admin().AddPeer(admin, MakePeer("idle", "IDLE", "10.0.0.3", 104, 0)).ok());
  auto peers = archive_->admin().ListPeers(admin);
  ASSERT_TRUE(peers.ok());
  ASSERT_EQ(peers->size(), 1u);
  EXPECT_EQ((*peers)[0].services, 0u);
}

TEST_P(ArchiveServiceTest, InvalidPeersAreRefused) {
  Principal admin = Principal::LocalAdmin();
  EXPECT_EQ(
      archive_->admin().AddPeer(admin, MakePeer("", "CT1", "127.0.0.1", 104, security::kStore)).code(),
      Code::kInvalidArgument);
  EXPECT_EQ(
      archive_->admin().AddPeer(admin, MakePeer("ct1", "", "127.0.0.1", 104, security::kStore)).code(),
      Code::kInvalidArgument);
  EXPECT_EQ(archive_->admin()
                .AddPeer(admin, MakePeer("ct1", "A_TITLE_LONGER_THAN_16", "127.0.0.1", 104,
                                          security::kStore))
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ(archive_->admin().AddPeer(admin, MakePeer("ct1", "CT1", "", 104, security::kStore)).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(
      archive_->admin().AddPeer(admin, MakePeer("ct1", "CT1", "127.0.0.1", 0, security::kStore)).code(),
      Code::kInvalidArgument);
  EXPECT_EQ(
      archive_->admin().AddPeer(admin, MakePeer("ct1", "CT1", "127.0.0.1", 65536, security::kStore)).code(),
      Code::kInvalidArgument);
  auto peers = archive_->admin().ListPeers(admin);
  ASSERT_TRUE(peers.ok());
  EXPECT_TRUE(peers->empty());
}

TEST_P(ArchiveServiceTest, PeersCannotAdministerOrSeeStats) {
  Principal admin = Principal::LocalAdmin();
  ASSERT_TRUE(
      archive_->admin().AddPeer(admin, MakePeer("ws", "WS", "10.0.0.2", 104, security::kFind)).ok());

  for (const Principal& peer : {FullPeer(), QueryOnlyPeer()}) {
    EXPECT_EQ(
        archive_->admin().AddPeer(peer, MakePeer("evil", "EVIL", "10.6.6.6", 104, security::kAllServices))
            .code(),
        Code::kPermissionDenied);
    auto listed = archive_->admin().ListPeers(peer);
    ASSERT_FALSE(listed.ok());
    EXPECT_EQ(listed.status().code(), Code::kPermissionDenied);
    auto removed = archive_->admin().RemovePeer(peer, "ws");
    ASSERT_FALSE(removed.ok());
    EXPECT_EQ(removed.status().code(), Code::kPermissionDenied);
    auto stats = archive_->catalog().Stats(peer);
    ASSERT_FALSE(stats.ok());
    EXPECT_EQ(stats.status().code(), Code::kPermissionDenied);
    EXPECT_EQ(archive_->admin().CreateUser(peer, "mallory", "admin", "a long enough passphrase 42!", {}).code(),
              Code::kPermissionDenied);
    auto users = archive_->admin().ListUsers(peer);
    ASSERT_FALSE(users.ok());
    EXPECT_EQ(users.status().code(), Code::kPermissionDenied);
  }

  auto peers = archive_->admin().ListPeers(admin);
  ASSERT_TRUE(peers.ok());
  ASSERT_EQ(peers->size(), 1u);
  EXPECT_EQ((*peers)[0].name, "ws");
}

TEST_P(ArchiveServiceTest, AdmitAssociationAcceptsRegisteredPeersOnly) {
  ASSERT_TRUE(archive_->admin()
                  .AddPeer(Principal::LocalAdmin(), MakePeer("ct1", "CT1", "127.0.0.1", 104,
                                                              security::kEcho | security::kStore))
                  .ok());

  auto admitted = archive_->access().AdmitAssociation("CT1", "TRESOR", "127.0.0.1");
  ASSERT_TRUE(admitted.ok()) << admitted.status().ToString();
  EXPECT_EQ(admitted->verdict, security::Verdict::kAccept);
  EXPECT_EQ(admitted->principal.peer_name, "ct1");
  EXPECT_EQ(admitted->principal.ae_title, "CT1");
  EXPECT_EQ(admitted->principal.address, "127.0.0.1");
  EXPECT_TRUE(admitted->principal.May(security::kStore));
  EXPECT_FALSE(admitted->principal.May(security::kFind));

  auto unknown = archive_->access().AdmitAssociation("NOBODY", "TRESOR", "127.0.0.1");
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->verdict, security::Verdict::kUnknownCallingAe);
  EXPECT_EQ(unknown->principal.services, 0u);
  EXPECT_FALSE(unknown->principal.May(security::kStore));

  auto wrong_called = archive_->access().AdmitAssociation("CT1", "SOMEONE_ELSE", "127.0.0.1");
  ASSERT_TRUE(wrong_called.ok());
  EXPECT_EQ(wrong_called->verdict, security::Verdict::kWrongCalledAe);

  auto wrong_host = archive_->access().AdmitAssociation("CT1", "TRESOR", "10.9.9.9");
  ASSERT_TRUE(wrong_host.ok());
  EXPECT_EQ(wrong_host->verdict, security::Verdict::kWrongHost);

  // The admitted principal stores as itself: its AE title is recorded in the file meta.
  TestObject o = Object(1);
  auto outcome = Store(admitted->principal, Info(o.sop_instance_uid), DataSet(o));
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  // The peer is in no access group: what it stored is not visible to it.
  EXPECT_EQ(archive_->catalog().OpenInstance(admitted->principal, o.sop_instance_uid).status().code(),
            Code::kNotFound);
  auto object = archive_->catalog().OpenInstance(Principal::LocalAdmin(), o.sop_instance_uid);
  ASSERT_TRUE(object.ok());
  std::string bytes = ReadAll(**object);
  dicom::MemoryReader reader(bytes.data(), bytes.size());
  auto meta = dicom::ReadFileMeta(reader);
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->source_ae, "CT1");
}

// A study-level query for every study, returning Study Instance UIDs (sorted), or the
// patient-level count of related studies.
std::vector<std::string> VisibleStudies(ArchiveService& archive, const Principal& who) {
  dicom::Query q;
  q.level = dicom::QueryLevel::kStudy;
  q.return_tags = {dicom::MakeTag(0x0020, 0x000D)};
  auto found = archive.catalog().Find(who, q);
  EXPECT_TRUE(found.ok()) << found.status().ToString();
  std::vector<std::string> out;
  if (!found.ok()) return out;
  for (const auto& m : found->matches) out.push_back(m.values.at(dicom::MakeTag(0x0020, 0x000D)));
  std::sort(out.begin(), out.end());
  return out;
}

std::string PatientStudyCount(ArchiveService& archive, const Principal& who) {
  dicom::Query q;
  q.level = dicom::QueryLevel::kPatient;
  q.return_tags = {dicom::MakeTag(0x0020, 0x1200)};
  auto found = archive.catalog().Find(who, q);
  if (!found.ok() || found->matches.empty()) return "none";
  return found->matches[0].values.at(dicom::MakeTag(0x0020, 0x1200));
}

size_t RetrievableInstances(ArchiveService& archive, const Principal& who,
                            const std::string& study_uid) {
  dicom::Query q;
  dicom::Condition c;
  c.attribute = dicom::FindQueryAttribute(dicom::MakeTag(0x0020, 0x000D));
  c.value = study_uid;
  q.conditions.push_back(c);
  auto found = archive.catalog().ResolveRetrieve(who, q, security::kGet);
  EXPECT_TRUE(found.ok()) << found.status().ToString();
  return found.ok() ? found->size() : 0;
}

TEST_P(ArchiveServiceTest, AccessScopeDecidesWhatQueriesAndRetrievalsSee) {
  const Principal admin = Principal::LocalAdmin();
  const std::string kA = "1.2.826.0.1.3680043.8.498.10", kB = "1.2.826.0.1.3680043.8.498.20",
                    kC = "1.2.826.0.1.3680043.8.498.30";
  ASSERT_TRUE(archive_->admin().AddGroupRule(admin, {"cardio", GroupRule::Kind::kPeer, "ct1"}).ok());
  ASSERT_TRUE(
      archive_->admin().AddGroupRule(admin, {"site-b", GroupRule::Kind::kInstitution, "Site B"}).ok());
  EXPECT_EQ(archive_->admin().AddGroupRule(admin, {"all", GroupRule::Kind::kPeer, "x"}).status().code(),
            Code::kInvalidArgument);

  // Study A arrives from peer ct1, study B is from "Site B", study C matches no rule.
  auto make = [](int n, const std::string& study, const std::string& institution) {
    TestObject o = Object(n);
    o.study_uid = study;
    o.series_uid = study + ".1";
    o.institution = institution;
    return o;
  };
  TestObject a = make(1, kA, "Site A"), b = make(2, kB, "Site B"), c = make(3, kC, "");
  ASSERT_TRUE(Store(PeerPrincipal("ct1", "CT1", security::kStore), Info(a.sop_instance_uid),
                    DataSet(a)).ok());
  ASSERT_TRUE(Store(b).ok());
  ASSERT_TRUE(Store(c).ok());

  Principal cardio = PeerPrincipal("ws", "WS", security::kFind | security::kGet);
  cardio.scope = security::AccessScope::Of({"cardio"});
  Principal none = PeerPrincipal("ws2", "WS2", security::kFind | security::kGet);
  Principal both = cardio;
  both.scope = security::AccessScope::Of({"site-b", "cardio"});
  Principal everything = cardio;
  everything.scope = security::AccessScope::Of({"all"});

  EXPECT_EQ(VisibleStudies(*archive_, cardio), std::vector<std::string>({kA}));
  EXPECT_EQ(VisibleStudies(*archive_, both), std::vector<std::string>({kA, kB}));
  EXPECT_EQ(VisibleStudies(*archive_, everything), std::vector<std::string>({kA, kB, kC}));
  EXPECT_TRUE(VisibleStudies(*archive_, none).empty());
  // Computed counts count only visible studies; a patient without any is not matched.
  EXPECT_EQ(PatientStudyCount(*archive_, cardio), "1");
  EXPECT_EQ(PatientStudyCount(*archive_, everything), "3");
  EXPECT_EQ(PatientStudyCount(*archive_, none), "none");

  // Out of scope looks exactly like missing.
  EXPECT_EQ(RetrievableInstances(*archive_, cardio, kA), 1u);
  EXPECT_EQ(RetrievableInstances(*archive_, cardio, kB), 0u);
  EXPECT_EQ(RetrievableInstances(*archive_, both, kB), 1u);
  auto hidden = archive_->catalog().OpenInstance(cardio, b.sop_instance_uid);
  auto missing = archive_->catalog().OpenInstance(cardio, SopUid(99));
  EXPECT_EQ(hidden.status().code(), Code::kNotFound);
  EXPECT_EQ(hidden.status().ToString(), missing.status().ToString());
  EXPECT_TRUE(archive_->catalog().OpenInstance(cardio, a.sop_instance_uid).ok());

  // A user through a peer sees what both may see.
  Principal user_via_peer = both;
  user_via_peer.scope = both.scope.Intersect(security::AccessScope::Of({"site-b"}));
  EXPECT_EQ(VisibleStudies(*archive_, user_via_peer), std::vector<std::string>({kB}));

  // Manual assignment, and rules applied to what is already archived.
  ASSERT_TRUE(archive_->admin().AssignStudy(admin, "cardio", kC, true).ok());
  EXPECT_EQ(VisibleStudies(*archive_, cardio), std::vector<std::string>({kA, kC}));
  ASSERT_TRUE(archive_->admin().AssignStudy(admin, "cardio", kC, false).ok());
  EXPECT_EQ(VisibleStudies(*archive_, cardio), std::vector<std::string>({kA}));
  EXPECT_EQ(archive_->admin().AssignStudy(admin, "cardio", "1.2.3.4", true).code(), Code::kNotFound);
  auto applied = archive_->admin().AddGroupRule(admin, {"site-a", GroupRule::Kind::kInstitution,
                                                "Site A"});
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(*applied, 1);
  auto groups = archive_->admin().ListGroups(admin);
  ASSERT_TRUE(groups.ok());
  ASSERT_EQ(groups->size(), 3u);
  EXPECT_EQ((*groups)[0].name, "cardio");
  EXPECT_EQ((*groups)[0].studies, 1);

  // Only the local administrator manages groups.
  EXPECT_EQ(archive_->admin().AssignStudy(cardio, "cardio", kB, true).code(), Code::kPermissionDenied);
  EXPECT_EQ(archive_->admin().AddGroupRule(cardio, {"cardio", GroupRule::Kind::kPeer, "ws"})
                .status().code(),
            Code::kPermissionDenied);
}

TEST_P(ArchiveServiceTest, UserIdentityNarrowsThePeersScope) {
  const Principal admin = Principal::LocalAdmin();
  ASSERT_TRUE(archive_->admin().CreateUser(admin, "reader", "radiologist", "correct horse battery",
                                   {"b", "c"}).ok());
  Principal ws = PeerPrincipal("ws", "WS", security::kFind | security::kGet);
  ws.scope = security::AccessScope::Of({"a", "b"});
  auto as_user = archive_->access().AuthenticateIdentity(ws, AccessService::IdentityType::kUserPassword,
                                                "reader", "correct horse battery");
  ASSERT_TRUE(as_user.ok()) << as_user.status().ToString();
  EXPECT_EQ(as_user->scope.groups, std::vector<std::string>({"b"}));
  ws.scope = security::AccessScope::Everything();
  as_user = archive_->access().AuthenticateIdentity(ws, AccessService::IdentityType::kUserPassword,
                                           "reader", "correct horse battery");
  ASSERT_TRUE(as_user.ok());
  EXPECT_EQ(as_user->scope.groups, std::vector<std::string>({"b", "c"}));
  ASSERT_TRUE(archive_->admin().SetUserGroups(admin, "reader", {}).ok());
  as_user = archive_->access().AuthenticateIdentity(ws, AccessService::IdentityType::kUserPassword,
                                           "reader", "correct horse battery");
  ASSERT_TRUE(as_user.ok());
  EXPECT_TRUE(as_user->scope.Empty());
  EXPECT_EQ(archive_->admin().SetUserGroups(admin, "nobody", {"a"}).code(), Code::kNotFound);
  EXPECT_EQ(archive_->admin().SetUserGroups(admin, "reader", {"bad name"}).code(), Code::kInvalidArgument);
}

TEST_P(ArchiveServiceTest, AdmitAssociationUsesTheConfiguredAeTitle) {
  ArchiveOptions options;
  options.ae_title = "ARCHIVE2";
  OpenArchive(GetParam(), options);
  ASSERT_TRUE(archive_->admin()
                  .AddPeer(Principal::LocalAdmin(),
                            MakePeer("ct1", "CT1", "127.0.0.1", 104, security::kStore))
                  .ok());
  auto ours = archive_->access().AdmitAssociation("CT1", "ARCHIVE2", "127.0.0.1");
  ASSERT_TRUE(ours.ok());
  EXPECT_EQ(ours->verdict, security::Verdict::kAccept);
  auto default_title = archive_->access().AdmitAssociation("CT1", "TRESOR", "127.0.0.1");
  ASSERT_TRUE(default_title.ok());
  EXPECT_EQ(default_title->verdict, security::Verdict::kWrongCalledAe);
}

// --- Sessions, tokens and the failure back-off, on the fake clock ------------------------

constexpr char kPassword[] = "correct horse battery";

ArchiveOptions SignInOptions() {
  ArchiveOptions o;
  o.token_key = std::string(32, 'k');
  o.max_failures = 3;
  o.backoff_seconds = 2;
  o.max_backoff_seconds = 8;
  o.failure_window_seconds = 300;
  return o;
}

TEST_P(ArchiveServiceTest, SessionEndsWhenUnusedForIdleSecondsNotWhileUsed) {
  ArchiveOptions o = SignInOptions();
  o.session_idle_seconds = 3;
  OpenArchive(GetParam(), o);
  ASSERT_TRUE(archive_->admin().CreateUser(Principal::LocalAdmin(), "u1", "radiologist", kPassword, {"all"}).ok());
  auto token = archive_->access().Login("u1", kPassword, "10.0.0.1");
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  // Used every 2 s, it lives past the 3 s idle limit ...
  for (int i = 0; i < 4; ++i) {
    clock_.AdvanceSeconds(2);
    auto who = archive_->access().Authenticate(*token, "10.0.0.1");
    ASSERT_TRUE(who.ok()) << "use " << i << ": " << who.status().ToString();
    EXPECT_EQ(who->user, "u1");
  }
  // ... exactly 3 s unused is still within the limit, more is not.
  clock_.AdvanceSeconds(3);
  EXPECT_TRUE(archive_->access().Authenticate(*token, "10.0.0.1").ok());
  clock_.AdvanceSeconds(4);
  EXPECT_EQ(archive_->access().Authenticate(*token, "10.0.0.1").status().code(), Code::kUnauthenticated);
  clock_.AdvanceSeconds(1);
  EXPECT_EQ(archive_->access().Authenticate(*token, "10.0.0.1").status().code(), Code::kUnauthenticated)
      << "an ended session stays ended";
}

TEST_P(ArchiveServiceTest, SessionEndsAfterMaxMinutesEvenWhenUsed) {
  ArchiveOptions o = SignInOptions();
  o.session_max_minutes = 2;
  o.session_idle_seconds = 100;
  OpenArchive(GetParam(), o);
  ASSERT_TRUE(archive_->admin().CreateUser(Principal::LocalAdmin(), "u1", "radiologist", kPassword, {"all"}).ok());
  auto token = archive_->access().Login("u1", kPassword, "10.0.0.1");
  ASSERT_TRUE(token.ok());
  clock_.AdvanceSeconds(60);
  EXPECT_TRUE(archive_->access().Authenticate(*token, "10.0.0.1").ok());
  clock_.AdvanceSeconds(59);
  EXPECT_TRUE(archive_->access().Authenticate(*token, "10.0.0.1").ok());
  clock_.AdvanceSeconds(1);
  EXPECT_EQ(archive_->access().Authenticate(*token, "10.0.0.1").status().code(), Code::kUnauthenticated);
}

TEST_P(ArchiveServiceTest, ApiTokenWorksUntilItsLastDay) {
  OpenArchive(GetParam(), SignInOptions());
  ASSERT_TRUE(archive_->admin().CreateUser(Principal::LocalAdmin(), "bot", "technologist", kPassword, {"all"}).ok());
  auto token = archive_->access().CreateApiToken(Principal::LocalAdmin(), "ci", "bot", 2);
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  clock_.AdvanceSeconds(2 * 86400 - 1);
  auto who = archive_->access().Authenticate(*token, "10.0.0.1");
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  EXPECT_EQ(who->user, "bot");
  clock_.AdvanceSeconds(1);
  EXPECT_EQ(archive_->access().Authenticate(*token, "10.0.0.1").status().code(), Code::kUnauthenticated);
}

TEST_P(ArchiveServiceTest, RejectedAssociationsNeverStopASignInOrAValidToken) {
  OpenArchive(GetParam(), SignInOptions());
  ASSERT_TRUE(archive_->admin().CreateUser(Principal::LocalAdmin(), "admin", "admin", kPassword, {"all"}).ok());
  auto session = archive_->access().Login("admin", kPassword, "127.0.0.1");
  ASSERT_TRUE(session.ok());
  auto api = archive_->access().CreateApiToken(Principal::LocalAdmin(), "ci", "admin", 1);
  ASSERT_TRUE(api.ok());
  int blocked = 0;
  for (int i = 0; i < 20; ++i) {
    auto a = archive_->access().AdmitAssociation("GUESS" + std::to_string(i), "TRESOR", "127.0.0.1");
    ASSERT_TRUE(a.ok());
    blocked += a->verdict == security::Verdict::kBlocked;
  }
  EXPECT_GT(blocked, 0) << "the burst itself is slowed";
  EXPECT_TRUE(archive_->access().Authenticate(*session, "127.0.0.1").ok());
  EXPECT_TRUE(archive_->access().Authenticate(*api, "127.0.0.1").ok());
  auto again = archive_->access().Login("admin", kPassword, "127.0.0.1");
  EXPECT_TRUE(again.ok()) << again.status().ToString();
  // Invalid bearer tokens from the address do not stop valid ones either.
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(archive_->access().Authenticate("garbage", "127.0.0.1").status().code(), Code::kUnauthenticated);
  }
  EXPECT_TRUE(archive_->access().Authenticate(*session, "127.0.0.1").ok());
  EXPECT_TRUE(archive_->access().Login("admin", kPassword, "127.0.0.1").ok());
}

TEST_P(ArchiveServiceTest, WrongPasswordsBackOffTheUserFromThatSourceUncheckedAndGrowing) {
  OpenArchive(GetParam(), SignInOptions());
  ASSERT_TRUE(archive_->admin().CreateUser(Principal::LocalAdmin(), "admin", "admin", kPassword, {"all"}).ok());
  ASSERT_TRUE(archive_->admin().CreateUser(Principal::LocalAdmin(), "bob", "radiologist", kPassword, {"all"}).ok());
  const std::string attacker = "192.0.2.66";
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(archive_->access().Login("admin", "guess " + std::to_string(i), attacker).status().code(),
              Code::kUnauthenticated);
  }
  // The third failure started a 2 s back-off: even the right password is not checked.
  auto refused = archive_->access().Login("admin", kPassword, attacker);
  ASSERT_EQ(refused.status().code(), Code::kResourceExhausted);
  EXPECT_EQ(refused.status().retry_after_seconds(), 2);
  // Another user from that source, and that user from another source, are not affected.
  EXPECT_TRUE(archive_->access().Login("bob", kPassword, attacker).ok());
  EXPECT_TRUE(archive_->access().Login("admin", kPassword, "192.0.2.1").ok());
  // DICOM user identity checks the same password: the same back-off.
  Principal ws = PeerPrincipal("ws", "WS", security::kFind);
  ws.address = attacker;
  EXPECT_EQ(archive_->access().AuthenticateIdentity(ws, AccessService::IdentityType::kUserPassword, "admin",
                                           kPassword).status().code(),
            Code::kResourceExhausted);
  // Each further failure doubles the back-off, up to the cap (8 s).
  const std::pair<int, int> steps[] = {{2, 4}, {4, 8}, {8, 8}};  // wait out, next back-off
  for (auto [wait, want] : steps) {
    clock_.AdvanceSeconds(wait);
    EXPECT_EQ(archive_->access().Login("admin", "guess again", attacker).status().code(), Code::kUnauthenticated);
    EXPECT_EQ(archive_->access().Login("admin", kPassword, attacker).status().retry_after_seconds(), want);
  }
  // After the back-off, the right password signs in and clears the failures.
  clock_.AdvanceSeconds(8);
  EXPECT_TRUE(archive_->access().Login("admin", kPassword, attacker).ok());
  EXPECT_EQ(archive_->access().Login("admin", "one more guess", attacker).status().code(), Code::kUnauthenticated);
  EXPECT_TRUE(archive_->access().Login("admin", kPassword, attacker).ok());
}

TEST_P(ArchiveServiceTest, AeTitleGuessesAreSlowedEvenFromAPeersHostButNotThePeer) {
  OpenArchive(GetParam(), SignInOptions());
  const Principal admin = Principal::LocalAdmin();
  ASSERT_TRUE(archive_->admin().AddPeer(admin, MakePeer("ct1", "CT1", "10.1.1.1", 104, security::kEcho)).ok());
  ASSERT_TRUE(archive_->admin().AddPeer(admin, MakePeer("ct2", "CT2", "10.1.1.1", 104, security::kEcho)).ok());
  ASSERT_EQ(archive_->access().AdmitAssociation("CT1", "TRESOR", "10.1.1.1")->verdict, security::Verdict::kAccept);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(archive_->access().AdmitAssociation("GUESS" + std::to_string(i), "TRESOR", "10.1.1.1")->verdict,
              security::Verdict::kUnknownCallingAe);
  }
  // In back-off, a calling AE not admitted from this host before is refused unevaluated
  // (transient), even the right one: a guess learns nothing.
  EXPECT_EQ(archive_->access().AdmitAssociation("GUESS9", "TRESOR", "10.1.1.1")->verdict, security::Verdict::kBlocked);
  EXPECT_EQ(archive_->access().AdmitAssociation("CT2", "TRESOR", "10.1.1.1")->verdict, security::Verdict::kBlocked);
  // The peer admitted before is not slowed; other hosts are not affected.
  EXPECT_EQ(archive_->access().AdmitAssociation("CT1", "TRESOR", "10.1.1.1")->verdict, security::Verdict::kAccept);
  EXPECT_EQ(archive_->access().AdmitAssociation("NOBODY", "TRESOR", "10.1.1.2")->verdict,
            security::Verdict::kUnknownCallingAe);
  clock_.AdvanceSeconds(2);
  EXPECT_EQ(archive_->access().AdmitAssociation("CT2", "TRESOR", "10.1.1.1")->verdict, security::Verdict::kAccept);
  // Failures are forgotten after the quiet window.
  clock_.AdvanceSeconds(300);
  EXPECT_EQ(archive_->access().AdmitAssociation("GUESS10", "TRESOR", "10.1.1.1")->verdict,
            security::Verdict::kUnknownCallingAe);
  EXPECT_EQ(archive_->access().AdmitAssociation("GUESS11", "TRESOR", "10.1.1.1")->verdict,
            security::Verdict::kUnknownCallingAe);
}

// Two nodes on one index (a second index connection and archive on the same database
// file, as a second process would open it): back-offs, admitted peers and sessions are
// the index's, so they hold on both.
TEST_P(ArchiveServiceTest, LockoutsAdmissionsAndSessionsHoldAcrossTwoNodesOnOneIndex) {
  OpenArchive(GetParam(), SignInOptions());
  auto other_index = store::SqliteIndex::Open({dir_.path() + "/index.db", GetParam()});
  ASSERT_TRUE(other_index.ok()) << other_index.status().ToString();
  ArchiveService other(**other_index, *blobs_, SignInOptions(), clock_);
  const Principal admin = Principal::LocalAdmin();
  ASSERT_TRUE(archive_->admin().CreateUser(admin, "admin", "admin", kPassword, {"all"}).ok());
  ASSERT_TRUE(archive_->admin().AddPeer(admin, MakePeer("ct1", "CT1", "10.1.1.1", 104, security::kEcho)).ok());

  // Wrong passwords split over the two nodes add up; the back-off holds on both.
  const std::string attacker = "192.0.2.66";
  EXPECT_EQ(archive_->access().Login("admin", "guess 1", attacker).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(other.access().Login("admin", "guess 2", attacker).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(archive_->access().Login("admin", "guess 3", attacker).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(other.access().Login("admin", kPassword, attacker).status().code(), Code::kResourceExhausted);
  EXPECT_EQ(archive_->access().Login("admin", kPassword, attacker).status().code(), Code::kResourceExhausted);
  // Positive control: the same password from elsewhere signs in on both.
  EXPECT_TRUE(other.access().Login("admin", kPassword, "192.0.2.1").ok());
  clock_.AdvanceSeconds(2);
  EXPECT_TRUE(other.access().Login("admin", kPassword, attacker).ok()) << "after the back-off";

  // A peer admitted by one node is exempt on the other from its host's back-off, which
  // guesses on the first node started.
  ASSERT_EQ(other.access().AdmitAssociation("CT1", "TRESOR", "10.1.1.1")->verdict, security::Verdict::kAccept);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(archive_->access().AdmitAssociation("GUESS" + std::to_string(i), "TRESOR", "10.1.1.1")->verdict,
              security::Verdict::kUnknownCallingAe);
  }
  EXPECT_EQ(other.access().AdmitAssociation("GUESS9", "TRESOR", "10.1.1.1")->verdict, security::Verdict::kBlocked);
  EXPECT_EQ(archive_->access().AdmitAssociation("CT1", "TRESOR", "10.1.1.1")->verdict, security::Verdict::kAccept);

  // A session from one node works on the other, until it signs out there.
  auto token = archive_->access().Login("admin", kPassword, "10.0.0.1");
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  auto who = other.access().Authenticate(*token, "10.0.0.2");
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  ASSERT_TRUE(other.access().Logout(*who).ok());
  EXPECT_EQ(archive_->access().Authenticate(*token, "10.0.0.1").status().code(), Code::kUnauthenticated);
}

std::string SyncName(const ::testing::TestParamInfo<Sync>& info) {
  return info.param == Sync::kFull ? "Full" : "Filesystem";
}

INSTANTIATE_TEST_SUITE_P(BothDurabilities, ArchiveServiceTest,
                         ::testing::Values(Sync::kFilesystem, Sync::kFull), SyncName);

// A FileBlobStore whose Persist (the durability sync) can be made to fail, as a disk
// that reports a write-back error would.
class FailingPersistBlobStore : public store::BlobStore {
 public:
  explicit FailingPersistBlobStore(store::BlobStore& inner) : inner_(inner) {}
  std::atomic<bool> fail_persist{false};

  Result<std::unique_ptr<store::BlobWriter>> Create() override { return inner_.Create(); }
  Status Persist(const std::vector<std::string>& staged) override {
    if (fail_persist) return IoError("injected sync failure");
    return inner_.Persist(staged);
  }
  Status Publish(const std::string& name) override { return inner_.Publish(name); }
  Status Discard(const std::string& name) override { return inner_.Discard(name); }
  Status Remove(const std::string& name) override { return inner_.Remove(name); }
  Result<std::unique_ptr<store::BlobReader>> Open(const std::string& name) override {
    return inner_.Open(name);
  }
  Status Recover(const std::function<Result<bool>(const std::string&)>& is_referenced) override {
    return inner_.Recover(is_referenced);
  }
  Status List(const std::function<Status(const std::string&, bool staged)>& visit) override {
    return inner_.List(visit);
  }

 private:
  store::BlobStore& inner_;
};

class FailedSyncTest : public ArchiveFixture, public ::testing::TestWithParam<Sync> {
 protected:
  void SetUp() override {
    OpenArchive(GetParam());
    // Rebuild the archive over the failing wrapper.
    archive_.reset();
    faulty_ = std::make_unique<FailingPersistBlobStore>(*blobs_);
    archive_ = std::make_unique<ArchiveService>(*index_, *faulty_, ArchiveOptions{}, clock_);
  }
  void TearDown() override {
    archive_.reset();
    faulty_.reset();
    CloseArchive();
  }

  std::unique_ptr<FailingPersistBlobStore> faulty_;
};

// GroupCommitter::Commit promises: "On any error the record's blob has been discarded
// and nothing of it is in the index." So a store refused because the sync failed must
// not be visible, and when the sender retries it must be stored afresh, not answered
// "duplicate" on the strength of bytes whose write-back failed.
TEST_P(FailedSyncTest, RefusedStoreLeavesNothingAndRetryStoresAfresh) {
  TestObject a = Object(1);
  faulty_->fail_persist = true;
  auto refused = Store(a);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kIoError);
  faulty_->fail_persist = false;

  auto object = archive_->catalog().OpenInstance(Principal::LocalAdmin(), a.sop_instance_uid);
  ASSERT_FALSE(object.ok()) << "a store answered with an error is served";
  EXPECT_EQ(object.status().code(), Code::kNotFound);

  auto retried = Store(a);
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(*retried, StoreOutcome::kStored);
}

INSTANTIATE_TEST_SUITE_P(FullSync, FailedSyncTest, ::testing::Values(Sync::kFull), SyncName);
INSTANTIATE_TEST_SUITE_P(FilesystemSync, FailedSyncTest,
                         ::testing::Values(Sync::kFilesystem), SyncName);

// Crash recovery under Sync::kFilesystem: the rows of the last batch stay unconfirmed
// until a later batch (or Recover) confirms them, so a restart must check their blobs.
enum class Damage { kGarbage, kTruncated, kDataSetByteFlipped, kMissing };

class ArchiveRecoveryTest : public ArchiveFixture, public ::testing::Test {
 protected:
  void SetUp() override {
    OpenArchive(Sync::kFilesystem);
    ASSERT_TRUE(archive_->ingest().Recover().ok());
  }
  void TearDown() override { CloseArchive(); }

  // Stores `o` and returns the path of its published blob file. Nothing is stored
  // afterwards, so its index row stays unconfirmed.
  // Stops everything as a crash would: the index files are put back as they were before
  // the stop (a clean stop confirms the last batch; a crash never gets to).
  void CrashArchive() {
    const std::string db = dir_.path() + "/index.db";
    auto read = [](const std::string& path, std::string* out) {
      std::ifstream in(path, std::ios::binary);
      if (!in) return false;
      out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      return true;
    };
    std::string main_file, wal;
    ASSERT_TRUE(read(db, &main_file));
    const bool had_wal = read(db + "-wal", &wal);
    CloseArchive();
    std::ofstream(db, std::ios::binary | std::ios::trunc) << main_file;
    if (had_wal) {
      std::ofstream(db + "-wal", std::ios::binary | std::ios::trunc) << wal;
    } else {
      fs::remove(db + "-wal");
    }
    fs::remove(db + "-shm");
  }

  fs::path StoreUnconfirmed(const TestObject& o) {
    auto outcome = Store(o);
    EXPECT_TRUE(outcome.ok()) << outcome.status().ToString();
    auto unconfirmed = index_->ListUnconfirmed();
    EXPECT_TRUE(unconfirmed.ok());
    if (unconfirmed.ok()) {
      EXPECT_EQ(unconfirmed->size(), 1u);
      if (unconfirmed->size() == 1) {
        EXPECT_EQ((*unconfirmed)[0].sop_instance_uid, o.sop_instance_uid);
      }
    }
    std::vector<fs::path> published = PublishedFiles();
    EXPECT_EQ(published.size(), 1u);
    return published.empty() ? fs::path() : published[0];
  }

  // Stops everything, damages the blob at `path` as a crash might have, restarts and
  // recovers.
  void CrashDamageAndRecover(const fs::path& path, Damage damage) {
    CrashArchive();
    uintmax_t size = fs::file_size(path);
    switch (damage) {
      case Damage::kGarbage:
        std::ofstream(path, std::ios::binary | std::ios::trunc) << std::string(size, '\xA5');
        break;
      case Damage::kTruncated:
        fs::resize_file(path, size / 2);
        break;
      case Damage::kDataSetByteFlipped: {
        std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
        f.seekp(static_cast<std::streamoff>(size - 3));
        f.put('\x7F');
        break;
      }
      case Damage::kMissing:
        fs::remove(path);
        break;
    }
    OpenArchive(Sync::kFilesystem);
    Status recovered = archive_->ingest().Recover();
    ASSERT_TRUE(recovered.ok()) << recovered.ToString();
  }
};

class DamagedBlobTest : public ArchiveRecoveryTest, public ::testing::WithParamInterface<Damage> {};

TEST_P(DamagedBlobTest, UnconfirmedInstanceWithDamagedBlobIsRemoved) {
  TestObject o = Object(1);
  fs::path blob = StoreUnconfirmed(o);
  ASSERT_FALSE(blob.empty());
  CrashDamageAndRecover(blob, GetParam());

  auto object = archive_->catalog().OpenInstance(Principal::LocalAdmin(), o.sop_instance_uid);
  ASSERT_FALSE(object.ok());
  EXPECT_EQ(object.status().code(), Code::kNotFound);
  EXPECT_EQ(InstanceCount(), 0);
  auto unconfirmed = index_->ListUnconfirmed();
  ASSERT_TRUE(unconfirmed.ok());
  EXPECT_TRUE(unconfirmed->empty());

  // The sender was never acknowledged and sends the object again: it is accepted.
  auto again = Store(o);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, StoreOutcome::kStored);
  EXPECT_EQ(StoredDataSet(o.sop_instance_uid), DataSet(o));
}

std::string DamageName(const ::testing::TestParamInfo<Damage>& info) {
  switch (info.param) {
    case Damage::kGarbage:
      return "Garbage";
    case Damage::kTruncated:
      return "Truncated";
    case Damage::kDataSetByteFlipped:
      return "DataSetByteFlipped";
    case Damage::kMissing:
      return "Missing";
  }
  return "Unknown";
}

INSTANTIATE_TEST_SUITE_P(AllDamages, DamagedBlobTest,
                         ::testing::Values(Damage::kGarbage, Damage::kTruncated,
                                           Damage::kDataSetByteFlipped, Damage::kMissing),
                         DamageName);

// An unacknowledged instance must leave nothing behind after restart: the damaged blob
// file itself must go too, not only the index row.
TEST_F(ArchiveRecoveryTest, DamagedBlobFileIsDeletedByRecover) {
  TestObject o = Object(1);
  fs::path blob = StoreUnconfirmed(o);
  ASSERT_FALSE(blob.empty());
  CrashDamageAndRecover(blob, Damage::kGarbage);

  auto object = archive_->catalog().OpenInstance(Principal::LocalAdmin(), o.sop_instance_uid);
  ASSERT_FALSE(object.ok());
  EXPECT_EQ(object.status().code(), Code::kNotFound);
  EXPECT_FALSE(fs::exists(blob)) << blob << " survived recovery";
  EXPECT_TRUE(StagedFiles().empty());
  EXPECT_TRUE(PublishedFiles().empty());
}

TEST_F(ArchiveRecoveryTest, UnconfirmedInstanceWithIntactBlobIsKept) {
  TestObject o = Object(1);
  fs::path blob = StoreUnconfirmed(o);
  ASSERT_FALSE(blob.empty());
  CloseArchive();
  OpenArchive(Sync::kFilesystem);
  Status recovered = archive_->ingest().Recover();
  ASSERT_TRUE(recovered.ok()) << recovered.ToString();

  EXPECT_EQ(StoredDataSet(o.sop_instance_uid), DataSet(o));
  EXPECT_EQ(InstanceCount(), 1);
  EXPECT_TRUE(fs::exists(blob));
  // Recovery confirmed it: the next restart does not check it again.
  auto unconfirmed = index_->ListUnconfirmed();
  ASSERT_TRUE(unconfirmed.ok());
  EXPECT_TRUE(unconfirmed->empty());
}

TEST_F(ArchiveRecoveryTest, ConfirmedInstanceIsNotCheckedAgain) {
  // Recover judges only the last batch, whose sync may not have completed. An instance
  // that a later batch confirmed was acknowledged as durable and is kept as it is.
  TestObject first = Object(1);
  fs::path first_blob = StoreUnconfirmed(first);
  ASSERT_TRUE(Store(Object(2)).ok());
  CrashDamageAndRecover(first_blob, Damage::kDataSetByteFlipped);
  auto object = archive_->catalog().OpenInstance(Principal::LocalAdmin(), first.sop_instance_uid);
  EXPECT_TRUE(object.ok()) << object.status().ToString();
  EXPECT_EQ(InstanceCount(), 2);
}

TEST_F(ArchiveRecoveryTest, CommittedBlobLeftInStagingIsPublished) {
  // A crash between the index commit and the rename leaves the blob in staging.
  TestObject o = Object(1);
  fs::path blob = StoreUnconfirmed(o);
  ASSERT_FALSE(blob.empty());
  CloseArchive();
  fs::path staged = fs::path(StorageRoot()) / "staging" / blob.filename();
  fs::rename(blob, staged);

  OpenArchive(Sync::kFilesystem);
  Status recovered = archive_->ingest().Recover();
  ASSERT_TRUE(recovered.ok()) << recovered.ToString();
  EXPECT_TRUE(StagedFiles().empty());
  EXPECT_TRUE(fs::exists(blob));
  EXPECT_EQ(StoredDataSet(o.sop_instance_uid), DataSet(o));
}

TEST_F(ArchiveRecoveryTest, UncommittedStagedBlobIsDeleted) {
  // A crash while receiving leaves a staged blob that no index row refers to.
  TestObject o = Object(1);
  ASSERT_TRUE(Store(o).ok());
  {
    auto upload = archive_->ingest().BeginStore(Principal::LocalAdmin(), Info(SopUid(2)));
    ASSERT_TRUE(upload.ok());
    std::string data = DataSet(Object(2));
    ASSERT_TRUE((*upload)->Write(data.data(), data.size()).ok());
    // Simulate the crash: keep a copy of the partial staged file beyond the upload's life.
    std::vector<fs::path> staged = StagedFiles();
    ASSERT_EQ(staged.size(), 1u);
    fs::copy_file(staged[0], dir_.path() + "/partial");
  }
  CloseArchive();
  fs::rename(dir_.path() + "/partial", StorageRoot() + "/staging/" + std::string(32, 'e'));

  OpenArchive(Sync::kFilesystem);
  Status recovered = archive_->ingest().Recover();
  ASSERT_TRUE(recovered.ok()) << recovered.ToString();
  EXPECT_TRUE(StagedFiles().empty());
  EXPECT_EQ(PublishedFiles().size(), 1u);
  EXPECT_EQ(StoredDataSet(o.sop_instance_uid), DataSet(o));
}

TEST_F(ArchiveRecoveryTest, RecoverUnderFullSyncKeepsStoredInstances) {
  TestObject o = Object(1);
  CloseArchive();
  OpenArchive(Sync::kFull);
  ASSERT_TRUE(Store(o).ok());
  CloseArchive();
  OpenArchive(Sync::kFull);
  Status recovered = archive_->ingest().Recover();
  ASSERT_TRUE(recovered.ok()) << recovered.ToString();
  EXPECT_EQ(StoredDataSet(o.sop_instance_uid), DataSet(o));
  EXPECT_EQ(PublishedFiles().size(), 1u);
}

// A damaged blob of an unconfirmed row whose first removal fails: the row is removed,
// the failure logged, and the removal retried, so nothing of the object remains.
TEST_F(ArchiveRecoveryTest, BlobRemovalThatFailsIsRetried) {
  TestObject o = Object(1);
  fs::path blob = StoreUnconfirmed(o);
  ASSERT_FALSE(blob.empty());
  CrashArchive();
  fs::resize_file(blob, fs::file_size(blob) / 2);
  OpenArchive(Sync::kFilesystem);
  archive_.reset();
  store::testing::FaultyBlobStore faulty(*blobs_);
  faulty.fail_remove = 1;
  archive_ = std::make_unique<ArchiveService>(*index_, faulty, ArchiveOptions{}, clock_);
  Status recovered = archive_->ingest().Recover();
  ASSERT_TRUE(recovered.ok()) << recovered.ToString();
  EXPECT_EQ(faulty.remove_calls, 2) << "one failure, one retry";
  EXPECT_FALSE(fs::exists(blob)) << "the damaged blob was left behind";
  EXPECT_EQ(InstanceCount(), 0);
  auto unconfirmed = index_->ListUnconfirmed();
  ASSERT_TRUE(unconfirmed.ok());
  EXPECT_TRUE(unconfirmed->empty());
  archive_.reset();
}

// A refused object whose staged blob cannot be discarded is still refused; the blob
// stays staged and the next recovery deletes it.
TEST_F(ArchiveRecoveryTest, RefusedObjectThatCannotBeDiscardedIsCleanedByRecovery) {
  archive_.reset();
  store::testing::FaultyBlobStore faulty(*blobs_);
  faulty.fail_discard = 1;
  archive_ = std::make_unique<ArchiveService>(*index_, faulty, ArchiveOptions{}, clock_);
  TestObject o = Object(1);
  // Declared under another SOP Instance UID than the data set carries: refused.
  auto refused = Store(Principal::LocalAdmin(), Info(kSopPrefix + std::string("999")), DataSet(o));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(faulty.discard_calls, 1);
  EXPECT_EQ(StagedFiles().size(), 1u) << "the failed discard left the blob staged";
  archive_.reset();
  CloseArchive();
  OpenArchive(Sync::kFilesystem);
  Status recovered = archive_->ingest().Recover();
  ASSERT_TRUE(recovered.ok()) << recovered.ToString();
  EXPECT_TRUE(StagedFiles().empty());
  EXPECT_EQ(InstanceCount(), 0);
}

class StoredPeerTest : public ArchiveFixture, public ::testing::Test {
 protected:
  void SetUp() override { OpenArchive(Sync::kFull); }
  void TearDown() override { CloseArchive(); }
};

// A peer row whose services do not parse (damaged or written by a newer version) is an
// error, not a peer with no grants that would still be admitted.
TEST_F(StoredPeerTest, UnreadableStoredServicesAreAnError) {
  store::PeerRecord damaged{"ct1", "CT1", "127.0.0.1", 104, "echo,teleport", "", false, {"all"}};
  ASSERT_TRUE(index_->PutPeer(damaged).ok());
  auto peers = archive_->admin().ListPeers(Principal::LocalAdmin());
  ASSERT_FALSE(peers.ok()) << "decoded with zero grants";
  EXPECT_EQ(peers.status().code(), Code::kInternal);
  EXPECT_FALSE(archive_->access().AdmitAssociation("CT1", "TRESOR", "127.0.0.1").ok());
  damaged.services = "echo";
  ASSERT_TRUE(index_->PutPeer(damaged).ok());
  auto admitted = archive_->access().AdmitAssociation("CT1", archive_->options().ae_title, "127.0.0.1");
  ASSERT_TRUE(admitted.ok()) << admitted.status().ToString();
  EXPECT_EQ(admitted->verdict, security::Verdict::kAccept);
}

}  // namespace
}  // namespace tresor::archive
