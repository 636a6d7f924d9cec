// The migration entry points of SqliteIndex: ExportInstances (everything AddInstances
// needs to index an instance again elsewhere), ListStudyGroupMembers,
// ListAuditForwardCursors, and ImportAuditTrail (a trail stored unchanged, only into an
// empty trail, only an intact chain, all or nothing).
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

std::vector<AuditEntry> Entries(int n) {
  std::vector<AuditEntry> out;
  for (int i = 0; i < n; ++i) {
    AuditEntry e;
    e.time = 1700000000 + i;
    e.event_id = "110112";
    e.actors = "\nreader\n";
    e.body = "{\"n\":" + std::to_string(i) + "}";
    out.push_back(e);
  }
  return out;
}

// The whole chain of `index`, in pages (as the migration reads it).
std::vector<AuditRow> Chain(SqliteIndex& index) {
  std::vector<AuditRow> all;
  for (int64_t after = 0;;) {
    auto rows = index.ReadAuditChain(after, 3);
    EXPECT_TRUE(rows.ok());
    if (!rows.ok() || rows->empty()) break;
    after = rows->back().seq;
    all.insert(all.end(), rows->begin(), rows->end());
  }
  return all;
}

// A puller over `rows` in pages of 3, as ImportAuditTrail wants it.
std::function<Result<std::vector<AuditRow>>()> Pages(const std::vector<AuditRow>& rows) {
  auto at = std::make_shared<size_t>(0);
  return [rows, at]() -> Result<std::vector<AuditRow>> {
    std::vector<AuditRow> page;
    while (*at < rows.size() && page.size() < 3) page.push_back(rows[(*at)++]);
    return page;
  };
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

TEST(SqliteMigration, ImportAuditTrailStoresTheChainUnchanged) {
  tresor::testing::TempDir dir;
  auto from = OpenIndex(dir.path() + "/a.db");
  auto to = OpenIndex(dir.path() + "/b.db");
  ASSERT_TRUE(from && to);
  ASSERT_TRUE(from->AppendAudit(Entries(7)).ok());
  auto head = from->AuditHead();
  ASSERT_TRUE(head.ok() && head->has_value());
  std::vector<AuditCheckpointRecord> checkpoints = {
      {(*head)->seq, (*head)->hash, 1700000100, std::string(64, 'e'), std::string(128, 'f')}};
  ASSERT_TRUE(from->SetAuditForwardCursor("collector:6514", 4).ok());
  auto cursors = from->ListAuditForwardCursors();
  ASSERT_TRUE(cursors.ok());
  ASSERT_EQ(cursors->size(), 1u);
  EXPECT_EQ((*cursors)[0].first, "collector:6514");
  EXPECT_EQ((*cursors)[0].second, 4);

  const std::vector<AuditRow> chain = Chain(*from);
  ASSERT_EQ(chain.size(), 7u);
  ASSERT_TRUE(to->ImportAuditTrail(Pages(chain), checkpoints).ok());
  const std::vector<AuditRow> copied = Chain(*to);
  ASSERT_EQ(copied.size(), chain.size());
  for (size_t i = 0; i < chain.size(); ++i) {
    EXPECT_EQ(copied[i].seq, chain[i].seq);
    EXPECT_EQ(copied[i].hash, chain[i].hash);
    EXPECT_EQ(copied[i].prev_hash, chain[i].prev_hash);
    EXPECT_EQ(copied[i].entry.body, chain[i].entry.body);
    EXPECT_EQ(copied[i].entry.time, chain[i].entry.time);
    EXPECT_EQ(copied[i].entry.actors, chain[i].entry.actors);
  }
  auto stored = to->ListAuditCheckpoints();
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].signature, checkpoints[0].signature);
  // Appends continue the imported chain.
  ASSERT_TRUE(to->AppendAudit(Entries(1)).ok());
  auto extended = Chain(*to);
  ASSERT_EQ(extended.size(), 8u);
  EXPECT_EQ(extended[7].prev_hash, chain[6].hash);

  // Not into a trail that has records (the positive control is the import above).
  Status again = to->ImportAuditTrail(Pages(chain), {});
  EXPECT_EQ(again.code(), Code::kConflict) << again.ToString();
}

TEST(SqliteMigration, ImportAuditTrailRefusesABrokenChainAndStoresNothing) {
  tresor::testing::TempDir dir;
  auto from = OpenIndex(dir.path() + "/a.db");
  ASSERT_TRUE(from);
  ASSERT_TRUE(from->AppendAudit(Entries(6)).ok());
  const std::vector<AuditRow> chain = Chain(*from);
  auto head = from->AuditHead();
  ASSERT_TRUE(head.ok() && head->has_value());

  struct Case {
    const char* what;
    std::vector<AuditRow> rows;
    std::vector<AuditCheckpointRecord> checkpoints;
  };
  std::vector<Case> cases;
  {
    auto rows = chain;
    rows[4].entry.body = "{\"n\":99}";  // edited (hash no longer matches)
    cases.push_back({"edited", rows, {}});
  }
  {
    auto rows = chain;
    rows.erase(rows.begin() + 2);  // a gap
    cases.push_back({"gap", rows, {}});
  }
  {
    auto rows = chain;
    std::swap(rows[1], rows[2]);  // reordered
    cases.push_back({"reordered", rows, {}});
  }
  cases.push_back({"checkpoint past the end", chain,
                   {{(*head)->seq + 1, (*head)->hash, 1, std::string(64, 'e'), "00"}}});
  cases.push_back({"checkpoint of another hash", chain,
                   {{3, std::string(64, '0'), 1, std::string(64, 'e'), "00"}}});
  for (const Case& c : cases) {
    auto to = OpenIndex(dir.path() + "/" + c.what + ".db");
    ASSERT_TRUE(to);
    Status s = to->ImportAuditTrail(Pages(c.rows), c.checkpoints);
    EXPECT_EQ(s.code(), Code::kDataLoss) << c.what << ": " << s.ToString();
    auto left = to->AuditHead();
    ASSERT_TRUE(left.ok());
    EXPECT_FALSE(left->has_value()) << c.what << ": nothing may be stored";
    // Positive control: the same index takes the intact chain.
    EXPECT_TRUE(to->ImportAuditTrail(Pages(chain), {}).ok()) << c.what;
  }
  // A failing source is passed through, nothing stored.
  auto to = OpenIndex(dir.path() + "/failing.db");
  ASSERT_TRUE(to);
  bool first = true;
  Status s = to->ImportAuditTrail(
      [&]() -> Result<std::vector<AuditRow>> {
        if (first) {
          first = false;
          return std::vector<AuditRow>(chain.begin(), chain.begin() + 3);
        }
        return IoError("source went away");
      },
      {});
  EXPECT_EQ(s.code(), Code::kIoError);
  auto left = to->AuditHead();
  ASSERT_TRUE(left.ok());
  EXPECT_FALSE(left->has_value());
}

}  // namespace
}  // namespace tresor::store
