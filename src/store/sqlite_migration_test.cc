// The migration source entry points of SqliteIndex: ExportInstances (everything
// AddInstances needs to index an instance again elsewhere), ListStudyGroupMembers and
// ListAuditForwardCursors. (ImportAuditTrail is a conformance case:
// audit_import_conformance_test.cc.)
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/testing/temp_dir.h"
#include "security/audit_chain.h"
#include "store/sqlite_index.h"

namespace tresor::store {
namespace {

using Sync = SqliteIndexOptions::Sync;

std::unique_ptr<SqliteIndex> OpenIndex(const std::string& path) {
  auto index = SqliteIndex::Open({path, Sync::kOff, std::string(32, 'k')});
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  return index.ok() ? std::move(index).value() : nullptr;
}

InstanceRecord Record(const std::string& sop, const std::string& study, const std::string& series,
                      const std::string& blob, const std::string& peer) {
  InstanceRecord r;
  r.attrs.patient_name = "Doe^Jane";
  r.attrs.patient_id = "P1";
  r.attrs.issuer_of_patient_id = "HOSP";
  r.attrs.patient_birth_date = "19700101";
  r.attrs.patient_sex = "F";
  r.attrs.study_instance_uid = study;
  r.attrs.study_date = "20240102";
  r.attrs.study_time = "101500";
  r.attrs.accession_number = "ACC1";
  r.attrs.study_id = "S1";
  r.attrs.study_description = "Chest";
  r.attrs.referring_physician_name = "Who^Dr";
  r.attrs.institution_name = "General";
  r.attrs.series_instance_uid = series;
  r.attrs.modality = "CT";
  r.attrs.series_number = "3";
  r.attrs.series_description = "Axial";
  r.attrs.body_part_examined = "CHEST";
  r.attrs.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
  r.attrs.sop_instance_uid = sop;
  r.attrs.instance_number = "7";
  r.transfer_syntax_uid = "1.2.840.10008.1.2.1";
  r.blob_name = blob;
  r.blob_size = 1234;
  r.content_sha256 = std::string(64, 'a');
  r.source_ae = peer.empty() ? "import" : "MODALITY";
  r.source_peer = peer;
  r.received_at = 1700000000;
  r.metadata_document = "{\"00100020\":{}}";
  r.frame_layout = std::string("\x01\x02\x00\x03", 4);
  return r;
}

TEST(SqliteMigration, ExportedInstancesIndexTheSameElsewhere) {
  tresor::testing::TempDir dir;
  auto from = OpenIndex(dir.path() + "/a.db");
  auto to = OpenIndex(dir.path() + "/b.db");
  ASSERT_TRUE(from && to);
  ASSERT_TRUE(from->PutGroupRule({"wards", GroupRule::Kind::kPeer, "CT1"}).ok());
  ASSERT_TRUE(from->AddInstances({Record("1.1", "9.1", "9.1.1", std::string(32, 'b'), "CT1"),
                                  Record("1.2", "9.1", "9.1.1", std::string(32, 'c'), ""),
                                  Record("1.3", "9.2", "9.2.1", std::string(32, 'd'), "")})
                  .ok());
  ASSERT_TRUE(*from->SetStudyGroup("manual", "9.2", true));

  std::vector<InstanceRecord> exported;
  int64_t next = 0;
  for (int64_t after = 0;;) {
    auto page = from->ExportInstances(after, 2, &next);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    if (page->empty()) break;
    after = next;
    exported.insert(exported.end(), page->begin(), page->end());
  }
  ASSERT_EQ(exported.size(), 3u);
  const InstanceRecord want = Record("1.1", "9.1", "9.1.1", std::string(32, 'b'), "CT1");
  const InstanceRecord& got = exported[0];
  EXPECT_EQ(got.attrs.patient_name, want.attrs.patient_name);
  EXPECT_EQ(got.attrs.issuer_of_patient_id, want.attrs.issuer_of_patient_id);
  EXPECT_EQ(got.attrs.referring_physician_name, want.attrs.referring_physician_name);
  EXPECT_EQ(got.attrs.institution_name, want.attrs.institution_name);
  EXPECT_EQ(got.attrs.body_part_examined, want.attrs.body_part_examined);
  EXPECT_EQ(got.attrs.instance_number, want.attrs.instance_number);
  EXPECT_EQ(got.blob_name, want.blob_name);
  EXPECT_EQ(got.blob_size, want.blob_size);
  EXPECT_EQ(got.source_ae, "MODALITY");
  EXPECT_EQ(got.source_peer, "CT1");
  EXPECT_EQ(got.received_at, want.received_at);
  EXPECT_EQ(got.metadata_document, want.metadata_document);
  EXPECT_EQ(got.frame_layout, want.frame_layout);
  EXPECT_EQ(exported[2].attrs.sop_instance_uid, "1.3");

  auto members = from->ListStudyGroupMembers();
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 2u);
  EXPECT_EQ((*members)[0].study_uid, "9.1");
  EXPECT_EQ((*members)[0].group, "wards");
  EXPECT_EQ((*members)[1].study_uid, "9.2");
  EXPECT_EQ((*members)[1].group, "manual");

  ASSERT_TRUE(from->SetAuditForwardCursor("collector:6514", 4).ok());
  auto cursors = from->ListAuditForwardCursors();
  ASSERT_TRUE(cursors.ok());
  ASSERT_EQ(cursors->size(), 1u);
  EXPECT_EQ((*cursors)[0].first, "collector:6514");
  EXPECT_EQ((*cursors)[0].second, 4);

  auto outcomes = to->AddInstances(exported);
  ASSERT_TRUE(outcomes.ok());
  for (AddOutcome o : *outcomes) EXPECT_EQ(o, AddOutcome::kAdded);
  auto a = from->Stats(AccessScope::Everything());
  auto b = to->Stats(AccessScope::Everything());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->patients, b->patients);
  EXPECT_EQ(a->studies, b->studies);
  EXPECT_EQ(a->series, b->series);
  EXPECT_EQ(a->instances, b->instances);
  EXPECT_EQ(a->bytes, b->bytes);
  auto details = to->FindFrameLayout("9.1", "9.1.1", "1.1", AccessScope::Everything());
  ASSERT_TRUE(details.ok() && details->has_value());
  EXPECT_EQ((*details)->frame_layout, want.frame_layout);
}

}  // namespace
}  // namespace tresor::store
