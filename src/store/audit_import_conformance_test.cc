// ImportAuditTrail (store/audit_index.h) as a case of the index conformance suite, so it
// runs against every backend that instantiates it (SQLite, PostgreSQL): a trail read from
// another index is stored unchanged, verifies as one chain that appends continue, only
// into an empty trail, and a broken chain stores nothing.
#include <gtest/gtest.h>

#include <memory>
#include <tuple>
#include <string>
#include <vector>

#include "core/testing/temp_dir.h"
#include "store/sqlite_index.h"
#include "store/testing/index_conformance.h"

namespace tresor::store::testing {
namespace {

std::vector<AuditEntry> Entries(int n, int from = 0) {
  std::vector<AuditEntry> out;
  for (int i = from; i < from + n; ++i) {
    AuditEntry e;
    e.time = 1700000000 + i;
    e.event_id = "110112";
    e.actors = "\nreader\n";
    e.patient_ids = "\nP" + std::to_string(i) + "\n";
    e.body = "{\"n\":" + std::to_string(i) + "}";
    out.push_back(e);
  }
  return out;
}

std::vector<AuditRow> Chain(Index& index) {
  std::vector<AuditRow> all;
  for (int64_t after = 0;;) {
    auto rows = index.ReadAuditChain(after, 4);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    if (!rows.ok() || rows->empty()) break;
    after = rows->back().seq;
    all.insert(all.end(), rows->begin(), rows->end());
  }
  return all;
}

// Hands out `rows` in pages of 4, as ImportAuditTrail pulls them.
std::function<Result<std::vector<AuditRow>>()> Pages(std::vector<AuditRow> rows) {
  auto at = std::make_shared<size_t>(0);
  return [rows = std::move(rows), at]() -> Result<std::vector<AuditRow>> {
    std::vector<AuditRow> page;
    while (*at < rows.size() && page.size() < 4) page.push_back(rows[(*at)++]);
    return page;
  };
}

// A source trail of 9 records with a checkpoint at seq 6, in a SQLite index of its own.
struct SourceTrail {
  tresor::testing::TempDir dir;
  std::vector<AuditRow> rows;
  std::vector<AuditCheckpointRecord> checkpoints;
  SourceTrail() {
    auto index = SqliteIndex::Open({dir.path() + "/source.db", SqliteIndexOptions::Sync::kOff});
    EXPECT_TRUE(index.ok());
    if (!index.ok()) return;
    EXPECT_TRUE((*index)->AppendAudit(Entries(9)).ok());
    rows = Chain(**index);
    if (rows.size() == 9) {
      checkpoints.push_back({6, rows[5].hash, 1700000100, std::string(64, 'e'), std::string(128, 'f')});
    }
  }
};

TEST_P(IndexConformanceTest, ImportAuditTrailStoresAnotherTrailUnchanged) {
  SourceTrail source;
  ASSERT_EQ(source.rows.size(), 9u);
  ASSERT_TRUE(index_->ImportAuditTrail(Pages(source.rows), source.checkpoints).ok());
  std::vector<AuditRow> copied = Chain(*index_);
  ASSERT_EQ(copied.size(), source.rows.size());
  for (size_t i = 0; i < copied.size(); ++i) {
    const AuditRow& a = source.rows[i];
    const AuditRow& b = copied[i];
    EXPECT_EQ(b.seq, a.seq);
    EXPECT_EQ(b.hash, a.hash);
    EXPECT_EQ(b.prev_hash, a.prev_hash);
    EXPECT_EQ(b.entry.time, a.entry.time);
    EXPECT_EQ(b.entry.body, a.entry.body);
    EXPECT_EQ(b.entry.event_id, a.entry.event_id);
    EXPECT_EQ(b.entry.actors, a.entry.actors);
    EXPECT_EQ(b.entry.patient_ids, a.entry.patient_ids);
  }
  auto checkpoints = index_->ListAuditCheckpoints();
  ASSERT_TRUE(checkpoints.ok());
  ASSERT_EQ(checkpoints->size(), 1u);
  EXPECT_EQ((*checkpoints)[0].seq, 6);
  EXPECT_EQ((*checkpoints)[0].hash, source.rows[5].hash);
  EXPECT_EQ((*checkpoints)[0].signature, source.checkpoints[0].signature);
  // The trail goes on from the imported head (also after a restart).
  ReOpen();
  ASSERT_TRUE(index_->AppendAudit(Entries(1, 100)).ok());
  auto head = index_->AuditHead();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->seq, 10);
  EXPECT_EQ((*head)->prev_hash, source.rows[8].hash);
  // Only into an empty trail.
  Status again = index_->ImportAuditTrail(Pages(source.rows), {});
  EXPECT_EQ(again.code(), Code::kConflict) << again.ToString();
  EXPECT_EQ(Chain(*index_).size(), 10u);
}

TEST_P(IndexConformanceTest, ImportAuditTrailRefusesABrokenChainAndStoresNothing) {
  SourceTrail source;
  ASSERT_EQ(source.rows.size(), 9u);
  std::vector<AuditRow> edited = source.rows;
  edited[6].entry.body = "{\"n\":99}";
  std::vector<AuditRow> gap = source.rows;
  gap.erase(gap.begin() + 3);
  AuditCheckpointRecord wrong = source.checkpoints[0];
  wrong.hash = source.rows[2].hash;
  for (const auto& [what, rows, checkpoints] :
       std::vector<std::tuple<const char*, std::vector<AuditRow>, std::vector<AuditCheckpointRecord>>>{
           {"edited", edited, {}}, {"gap", gap, {}}, {"checkpoint of another hash", source.rows, {wrong}}}) {
    Status s = index_->ImportAuditTrail(Pages(rows), checkpoints);
    EXPECT_EQ(s.code(), Code::kDataLoss) << what << ": " << s.ToString();
    auto head = index_->AuditHead();
    ASSERT_TRUE(head.ok());
    EXPECT_FALSE(head->has_value()) << what << ": nothing may be stored";
    auto stored = index_->ListAuditCheckpoints();
    ASSERT_TRUE(stored.ok());
    EXPECT_TRUE(stored->empty()) << what;
  }
  // A source failing midway: its error, nothing stored.
  bool first = true;
  Status failing = index_->ImportAuditTrail(
      [&]() -> Result<std::vector<AuditRow>> {
        if (!first) return IoError("the source went away");
        first = false;
        return std::vector<AuditRow>(source.rows.begin(), source.rows.begin() + 4);
      },
      {});
  EXPECT_EQ(failing.code(), Code::kIoError) << failing.ToString();
  auto head = index_->AuditHead();
  ASSERT_TRUE(head.ok());
  EXPECT_FALSE(head->has_value());
  // Positive control: the same index takes the intact trail.
  EXPECT_TRUE(index_->ImportAuditTrail(Pages(source.rows), source.checkpoints).ok());
  EXPECT_EQ(Chain(*index_).size(), 9u);
}

}  // namespace
}  // namespace tresor::store::testing
