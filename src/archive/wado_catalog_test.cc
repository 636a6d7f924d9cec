// CatalogService's WADO-RS reads (Frames, Metadata, bulk data) over a real SqliteIndex and
// FileBlobStore: what store time records, and the grants and scope in front of it.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "archive/archive_service.h"
#include "core/testing/fake_clock.h"
#include "core/testing/temp_dir.h"
#include "dicom/testing/data_set_builder.h"
#include "dicom/transfer_syntax.h"
#include "store/file_blob_store.h"
#include "store/sqlite_index.h"

namespace tresor::archive {
namespace {

using dicom::MakeTag;
using dicom::testing::DataSetBuilder;

constexpr char kCtImageStorage[] = "1.2.840.10008.5.1.4.1.1.2";
constexpr char kStudyUid[] = "1.2.826.0.1.3680043.8.498.7";
constexpr char kSeriesUid[] = "1.2.826.0.1.3680043.8.498.7.1";
constexpr char kSopPrefix[] = "1.2.826.0.1.3680043.8.498.7.1.";

std::string U16(uint16_t v) {
  return std::string{static_cast<char>(v & 0xFF), static_cast<char>(v >> 8)};
}

// A CT data set with `frames` native frames of 2 x 3 16-bit pixels (frame i filled with
// 'a' + i), or none.
std::string CtDataSet(const std::string& sop_uid, int frames, const std::string& study = kStudyUid,
                      const std::string& series = kSeriesUid) {
  DataSetBuilder b(dicom::Encoding::kExplicitLittle);
  b.Element(MakeTag(0x0008, 0x0005), "CS", "ISO_IR 100")
      .Element(MakeTag(0x0008, 0x0016), "UI", kCtImageStorage)
      .Element(MakeTag(0x0008, 0x0018), "UI", sop_uid)
      .Element(MakeTag(0x0008, 0x0060), "CS", "CT")
      .Element(MakeTag(0x0010, 0x0010), "PN", "M\xFCller^J\xFCrgen")
      .Element(MakeTag(0x0010, 0x0020), "LO", "PID7")
      .Element(MakeTag(0x0020, 0x000D), "UI", study)
      .Element(MakeTag(0x0020, 0x000E), "UI", series)
      .Element(MakeTag(0x0028, 0x0002), "US", U16(1))
      .Element(MakeTag(0x0028, 0x0008), "IS", std::to_string(std::max(frames, 1)))
      .Element(MakeTag(0x0028, 0x0010), "US", U16(2))
      .Element(MakeTag(0x0028, 0x0011), "US", U16(3))
      .Element(MakeTag(0x0028, 0x0100), "US", U16(16));
  if (frames > 0) {
    std::string pixels;
    for (int i = 0; i < frames; ++i) pixels += std::string(12, static_cast<char>('a' + i));
    b.Element(MakeTag(0x7FE0, 0x0010), "OW", pixels);
  }
  return b.bytes();
}

class WadoCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto index = store::SqliteIndex::Open({dir_.path() + "/index.db",
                                           store::SqliteIndexOptions::Sync::kOff});
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    index_ = std::move(index).value();
    auto blobs = store::FileBlobStore::Make({dir_.path() + "/storage", /*fsync=*/false, nullptr});
    ASSERT_TRUE(blobs.ok()) << blobs.status().ToString();
    blobs_ = std::move(blobs).value();
    archive_ = std::make_unique<ArchiveService>(*index_, *blobs_, ArchiveOptions{}, clock_);
    ASSERT_TRUE(archive_->ingest().Recover().ok());
  }
  void TearDown() override {
    archive_.reset();
    index_.reset();
    blobs_.reset();
  }

  Status Store(const std::string& sop_uid, const std::string& data,
               const std::string& ts = dicom::kExplicitVRLittleEndian) {
    UploadInfo info;
    info.sop_class_uid = kCtImageStorage;
    info.sop_instance_uid = sop_uid;
    info.transfer_syntax_uid = ts;
    TRESOR_ASSIGN_OR_RETURN(auto upload, archive_->ingest().BeginStore(Principal::LocalAdmin(), info));
    TRESOR_RETURN_IF_ERROR(upload->Write(data.data(), data.size()));
    return upload->Commit().status();
  }

  // The bytes of `object` in `ranges`, concatenated.
  std::string Read(const std::shared_ptr<StoredObject>& object,
                   const std::vector<ByteRange>& ranges) {
    EXPECT_TRUE(object != nullptr);
    if (!object) return "";
    std::string out;
    for (const ByteRange& r : ranges) {
      std::string part(r.length, '\0');
      auto got = object->ReadAt(part.data(), part.size(), r.offset);
      EXPECT_TRUE(got.ok() && *got == r.length);
      out += part;
    }
    return out;
  }

  static Principal Viewer(security::AccessScope scope = security::AccessScope::Everything()) {
    Principal p;
    p.peer_name = "viewer";
    p.ae_title = "VIEWER";
    p.address = "127.0.0.1";
    p.services = security::kFind | security::kGet;
    p.scope = std::move(scope);
    return p;
  }

  ::tresor::testing::TempDir dir_;
  ::tresor::testing::FakeClock clock_;
  std::unique_ptr<store::SqliteIndex> index_;
  std::unique_ptr<store::FileBlobStore> blobs_;
  std::unique_ptr<ArchiveService> archive_;
};

TEST_F(WadoCatalogTest, FramesOfANativeMultiFrameObjectAddressTheBlob) {
  const std::string sop = std::string(kSopPrefix) + "1";
  ASSERT_TRUE(Store(sop, CtDataSet(sop, 3)).ok());
  auto table = archive_->catalog().Frames(Viewer(), kStudyUid, kSeriesUid, sop);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_EQ(table->transfer_syntax_uid, dicom::kExplicitVRLittleEndian);
  EXPECT_FALSE(table->encapsulated);
  EXPECT_EQ(table->rows, 2);
  EXPECT_EQ(table->columns, 3);
  EXPECT_EQ(table->samples_per_pixel, 1);
  EXPECT_EQ(table->bits_allocated, 16);
  ASSERT_EQ(table->frames.size(), 3u);
  EXPECT_EQ(Read(table->object, table->frames[0]), std::string(12, 'a'));
  EXPECT_EQ(Read(table->object, table->frames[2]), std::string(12, 'c'));
}

TEST_F(WadoCatalogTest, FramesRecordOneAccessAndOpenTheObjectOnce) {
  const std::string sop = std::string(kSopPrefix) + "1";
  ASSERT_TRUE(Store(sop, CtDataSet(sop, 2)).ok());
  auto before = index_->ReadAuditChain(0, 1000);
  ASSERT_TRUE(before.ok());
  auto table = archive_->catalog().Frames(Viewer(), kStudyUid, kSeriesUid, sop);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  ASSERT_NE(table->object, nullptr);
  EXPECT_EQ(table->object->info().sop_instance_uid, sop);
  EXPECT_EQ(Read(table->object, table->frames[1]), std::string(12, 'b'));
  auto after = index_->ReadAuditChain(0, 1000);
  ASSERT_TRUE(after.ok());
  // One record, an access by the viewer: no second one, and no export.
  ASSERT_EQ(after->size(), before->size() + 1);
  const store::AuditEntry& e = after->back().entry;
  EXPECT_NE(e.actors.find("viewer"), std::string::npos) << e.actors;
  EXPECT_NE(e.body.find("frames of instance " + sop), std::string::npos) << e.body;
  EXPECT_EQ(e.body.find("Export"), std::string::npos) << e.body;
}

TEST_F(WadoCatalogTest, FramesAreNotFoundElsewhereAndDeniedWithoutGet) {
  const std::string sop = std::string(kSopPrefix) + "1";
  const std::string bare = std::string(kSopPrefix) + "2";
  ASSERT_TRUE(Store(sop, CtDataSet(sop, 1)).ok());
  ASSERT_TRUE(Store(bare, CtDataSet(bare, 0)).ok());
  auto& catalog = archive_->catalog();
  EXPECT_TRUE(catalog.Frames(Viewer(), kStudyUid, kSeriesUid, sop).ok());
  // Wrong series or study, unknown instance, no pixel data, out of scope: all not found.
  EXPECT_EQ(catalog.Frames(Viewer(), kStudyUid, "1.2.3", sop).status().code(), Code::kNotFound);
  EXPECT_EQ(catalog.Frames(Viewer(), "1.2.3", kSeriesUid, sop).status().code(), Code::kNotFound);
  EXPECT_EQ(catalog.Frames(Viewer(), kStudyUid, kSeriesUid, "1.2.3").status().code(),
            Code::kNotFound);
  EXPECT_EQ(catalog.Frames(Viewer(), kStudyUid, kSeriesUid, bare).status().code(),
            Code::kNotFound);
  auto hidden = catalog.Frames(Viewer(security::AccessScope::Of({"other"})), kStudyUid,
                               kSeriesUid, sop);
  auto missing = catalog.Frames(Viewer(security::AccessScope::Of({"other"})), kStudyUid,
                                kSeriesUid, "1.2.3");
  EXPECT_EQ(hidden.status().code(), Code::kNotFound);
  EXPECT_EQ(hidden.status().ToString(), missing.status().ToString());
  Principal no_get = Viewer();
  no_get.services = security::kFind;
  EXPECT_EQ(catalog.Frames(no_get, kStudyUid, kSeriesUid, sop).status().code(),
            Code::kPermissionDenied);
  EXPECT_EQ(catalog.Frames(Viewer(), kStudyUid, kSeriesUid, "not a uid").status().code(),
            Code::kInvalidArgument);
}

TEST_F(WadoCatalogTest, FramesOfEncapsulatedDataFollowTheOffsetTable) {
  const std::string sop = std::string(kSopPrefix) + "3";
  std::string bot = std::string("\0\0\0\0", 4) + std::string("\x16\0\0\0", 4);  // 0, 22
  DataSetBuilder b(dicom::Encoding::kExplicitLittle);
  b.Element(MakeTag(0x0008, 0x0016), "UI", kCtImageStorage)
      .Element(MakeTag(0x0008, 0x0018), "UI", sop)
      .Element(MakeTag(0x0020, 0x000D), "UI", kStudyUid)
      .Element(MakeTag(0x0020, 0x000E), "UI", kSeriesUid)
      .Element(MakeTag(0x0028, 0x0008), "IS", "2")
      .Header(MakeTag(0x7FE0, 0x0010), "OB", dicom::kUndefinedLength)
      .Item(8).Raw(bot)
      .Item(4).Raw("AAAA")
      .Item(2).Raw("BB")
      .Item(4).Raw("CCCC")
      .SequenceEnd();
  ASSERT_TRUE(Store(sop, b.bytes(), "1.2.840.10008.1.2.5").ok());
  auto table = archive_->catalog().Frames(Viewer(), kStudyUid, kSeriesUid, sop);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_EQ(table->transfer_syntax_uid, "1.2.840.10008.1.2.5");
  EXPECT_TRUE(table->encapsulated);
  ASSERT_EQ(table->frames.size(), 2u);
  EXPECT_EQ(table->frames[0].size(), 2u);
  EXPECT_EQ(Read(table->object, table->frames[0]), "AAAABB");
  EXPECT_EQ(Read(table->object, table->frames[1]), "CCCC");
}

TEST_F(WadoCatalogTest, MetadataComesFromTheStoredDocumentsOrFromTheBlob) {
  const std::string a = std::string(kSopPrefix) + "1", b = std::string(kSopPrefix) + "2";
  ASSERT_TRUE(Store(a, CtDataSet(a, 2)).ok());
  ASSERT_TRUE(Store(b, CtDataSet(b, 1)).ok());
  auto& catalog = archive_->catalog();
  auto check = [&](const std::vector<InstanceMetadata>& docs) {
    ASSERT_EQ(docs.size(), 2u);
    EXPECT_EQ(docs[0].sop_instance_uid, a);
    EXPECT_EQ(docs[0].series_instance_uid, kSeriesUid);
    auto j = nlohmann::json::parse(docs[0].json);
    EXPECT_EQ(j["00080018"]["Value"][0], a);
    EXPECT_EQ(j["00100010"]["Value"][0]["Alphabetic"], "M\u00fcller^J\u00fcrgen");
    EXPECT_EQ(j["00280008"]["Value"][0], 2);
    EXPECT_EQ(j["7FE00010"]["BulkDataURI"], "instances/" + a + "/bulk/7FE00010");
  };
  auto series = catalog.Metadata(Viewer(), kStudyUid, kSeriesUid, "");
  ASSERT_TRUE(series.ok()) << series.status().ToString();
  check(*series);
  auto study = catalog.Metadata(Viewer(), kStudyUid, "", "");
  ASSERT_TRUE(study.ok());
  EXPECT_EQ(study->size(), 2u);
  auto one = catalog.Metadata(Viewer(), kStudyUid, kSeriesUid, b);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].sop_instance_uid, b);

  // Scope, grant, unknown.
  auto hidden = catalog.Metadata(Viewer(security::AccessScope::Of({"other"})), kStudyUid,
                                 kSeriesUid, "");
  auto missing = catalog.Metadata(Viewer(), kStudyUid, "1.2.3", "");
  EXPECT_EQ(hidden.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  Principal no_get = Viewer();
  no_get.services = security::kFind;
  EXPECT_EQ(catalog.Metadata(no_get, kStudyUid, "", "").status().code(), Code::kPermissionDenied);

  // Instances indexed before documents and layouts were stored get them from the blob.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() + "/index.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DELETE FROM instance_metadata; DELETE FROM instance_frames;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto rebuilt = catalog.Metadata(Viewer(), kStudyUid, kSeriesUid, "");
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
  check(*rebuilt);
  EXPECT_EQ((*rebuilt)[0].json, (*series)[0].json);
  auto table = catalog.Frames(Viewer(), kStudyUid, kSeriesUid, a);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  ASSERT_EQ(table->frames.size(), 2u);
  EXPECT_EQ(Read(table->object, table->frames[1]), std::string(12, 'b'));
}

TEST_F(WadoCatalogTest, BulkDataOfPlainAndNestedValues) {
  const std::string sop = std::string(kSopPrefix) + "4";
  DataSetBuilder b(dicom::Encoding::kExplicitLittle);
  b.Element(MakeTag(0x0008, 0x0016), "UI", kCtImageStorage)
      .Element(MakeTag(0x0008, 0x0018), "UI", sop)
      .Header(MakeTag(0x0008, 0x1115), "SQ", dicom::kUndefinedLength)
      .Item()
      .Element(MakeTag(0x0028, 0x1201), "OW", "first-lut")
      .ItemEnd()
      .Item()
      .Element(MakeTag(0x0028, 0x1201), "OW", "second-lut")
      .ItemEnd()
      .SequenceEnd()
      .Element(MakeTag(0x0020, 0x000D), "UI", kStudyUid)
      .Element(MakeTag(0x0020, 0x000E), "UI", kSeriesUid)
      .Element(MakeTag(0x7FE0, 0x0010), "OW", "pixels");
  ASSERT_TRUE(Store(sop, b.bytes()).ok());
  auto& catalog = archive_->catalog();
  auto read = [&](const std::string& path) -> std::string {
    auto bulk = catalog.OpenBulkData(Viewer(), kStudyUid, kSeriesUid, sop, path);
    if (!bulk.ok()) return bulk.status().ToString();
    EXPECT_EQ(bulk->parts.size(), 1u);
    auto object = catalog.OpenInstance(Principal::LocalAdmin(), sop);
    if (!object.ok()) return object.status().ToString();
    return Read(std::move(object).value(), bulk->parts[0]);
  };
  EXPECT_EQ(read("7FE00010"), "pixels");
  EXPECT_EQ(read("00081115.1.00281201"), "second-lut");
  EXPECT_EQ(read("00081115.0.00281201"), "first-lut ");  // as padded by the builder
  EXPECT_EQ(catalog.OpenBulkData(Viewer(), kStudyUid, kSeriesUid, sop, "00100010").status().code(),
            Code::kNotFound);
  EXPECT_EQ(catalog.OpenBulkData(Viewer(), kStudyUid, kSeriesUid, sop, "../x").status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(catalog.OpenBulkData(Viewer(security::AccessScope::Of({"other"})), kStudyUid,
                                 kSeriesUid, sop, "7FE00010").status().code(),
            Code::kNotFound);
}

}  // namespace
}  // namespace tresor::archive
