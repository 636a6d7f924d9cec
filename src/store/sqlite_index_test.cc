#include "core/testing/temp_dir.h"
#include "store/sealed_vfs.h"
#include "store/sqlite_index.h"
#include "store/testing/sqlite_index_peer.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tresor::store {
namespace {

using Sync = SqliteIndexOptions::Sync;

// What only SqliteIndex does (sync modes, unconfirmed rows, page sealing, its schema);
// everything every backend must do is the conformance suite (src/store/testing/
// index_conformance.h), run for SqliteIndex by sqlite_index_conformance_test.cc.
//
// The whole suite runs twice (see CMakeLists.txt): with plaintext pages, and with
// TRESOR_TEST_SEALED_INDEX=1 through the page-sealing VFS, whose behaviour must not differ.
bool Sealed() {
  const char* v = std::getenv("TRESOR_TEST_SEALED_INDEX");
  return v != nullptr && std::string(v) == "1";
}
const std::string kTestKey(32, 'k');

SqliteIndexOptions Options(const std::string& path, Sync sync) {
  SqliteIndexOptions o{path, sync};
  if (Sealed()) o.page_key = kTestKey;
  return o;
}

constexpr char kCtImageStorage[] = "1.2.840.10008.5.1.4.1.1.2";
constexpr char kExplicitLittle[] = "1.2.840.10008.1.2.1";
constexpr char kStudyA[] = "1.2.826.0.1.3680043.8.498.10";
constexpr char kSeriesA1[] = "1.2.826.0.1.3680043.8.498.10.1";
constexpr char kStudyB[] = "1.2.826.0.1.3680043.8.498.20";
constexpr char kSeriesB1[] = "1.2.826.0.1.3680043.8.498.20.1";

// A 64-hex-digit "content hash" derived from `seed` (the index only compares them).
std::string Sha(char seed) { return std::string(64, seed); }

// A 32-hex-digit blob name unique per `n`.
std::string BlobName(int n) {
  std::string s = std::to_string(n);
  return std::string(32 - s.size(), 'a') + s;
}

// An instance of a CT series with the given identity; `n` picks the blob name and size.
InstanceRecord Record(const std::string& sop_uid, int n, const std::string& study = kStudyA,
                      const std::string& series = kSeriesA1, const std::string& patient_id = "P1",
                      char sha_seed = 'a') {
  InstanceRecord r;
  r.attrs.patient_name = "Doe^Jane";
  r.attrs.patient_id = patient_id;
  r.attrs.study_instance_uid = study;
  r.attrs.series_instance_uid = series;
  r.attrs.modality = "CT";
  r.attrs.sop_class_uid = kCtImageStorage;
  r.attrs.sop_instance_uid = sop_uid;
  r.transfer_syntax_uid = kExplicitLittle;
  r.blob_name = BlobName(n);
  r.blob_size = 1000 + static_cast<uint64_t>(n);
  r.content_sha256 = Sha(sha_seed);
  r.source_ae = "CT1";
  r.received_at = 1700000000;
  return r;
}


std::vector<std::string> Uids(const std::vector<StoredInstance>& instances) {
  std::vector<std::string> out;
  for (const auto& i : instances) out.push_back(i.sop_instance_uid);
  std::sort(out.begin(), out.end());
  return out;
}

// A fresh temporary directory, removed with everything in it at the end of the test.
using TempDir = ::tresor::testing::TempDir;

class SqliteIndexTest : public ::testing::Test {
 protected:
  void SetUp() override { ReOpen(); }

  void ReOpen(Sync sync = Sync::kFull) {
    index_.reset();
    auto opened = SqliteIndex::Open(Options(dir_.path() + "/index.db", sync));
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    index_ = std::move(opened).value();
  }

  std::vector<AddOutcome> Add(const std::vector<InstanceRecord>& records) {
    auto outcomes = index_->AddInstances(records);
    EXPECT_TRUE(outcomes.ok()) << outcomes.status().ToString();
    return outcomes.ok() ? *outcomes : std::vector<AddOutcome>{};
  }

  std::optional<StoredInstance> Find(const std::string& uid) {
    auto found = index_->FindInstance(uid, AccessScope::Everything());
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    return found.ok() ? *found : std::nullopt;
  }

  IndexStats Stats() {
    auto stats = index_->Stats(AccessScope::Everything());
    EXPECT_TRUE(stats.ok()) << stats.status().ToString();
    return stats.ok() ? *stats : IndexStats{};
  }

  std::vector<std::string> Unconfirmed() {
    auto list = index_->ListUnconfirmed();
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    return list.ok() ? Uids(*list) : std::vector<std::string>{};
  }

  // Closes the index and runs `sql` on its database directly, as an older release (or a
  // damaged file) would have left it; the test then reopens it.
  void ExecClosed(const char* sql) {
    index_.reset();
    std::unique_ptr<SealedVfs> vfs;
    if (Sealed()) {
      auto made = SealedVfs::Make(kTestKey);
      ASSERT_TRUE(made.ok());
      vfs = std::move(made).value();
    }
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open_v2((dir_.path() + "/index.db").c_str(), &raw,
                              SQLITE_OPEN_READWRITE, vfs ? vfs->name() : nullptr),
              SQLITE_OK);
    std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw, sqlite3_close);
    char* err = nullptr;
    const int rc = sqlite3_exec(db.get(), sql, nullptr, nullptr, &err);
    const std::string message = err ? err : "";
    sqlite3_free(err);
    ASSERT_EQ(rc, SQLITE_OK) << message;
  }

  TempDir dir_;
  std::unique_ptr<SqliteIndex> index_;
};

// (Fuzzy matching itself is in the conformance suite, src/store/testing/.)
TEST_F(SqliteIndexTest, FuzzyNamesFoldLatinExtendedAndOlderArchivesAreRefolded) {
  InstanceRecord r = Record("1.2.3.1", 1);
  r.attrs.patient_name = "Ōtsuka^Thị Hương";
  ASSERT_EQ(Add({r}), std::vector<AddOutcome>{AddOutcome::kAdded});
  auto fuzzy_matches = [&]() -> size_t {
    dicom::Query q;
    q.level = dicom::QueryLevel::kStudy;
    q.fuzzy_person_names = true;
    auto key = dicom::ParseMatchingKey(*dicom::FindQueryAttribute(dicom::MakeTag(0x0010, 0x0010)),
                                       "otsuka^thi*");
    EXPECT_TRUE(key.ok());
    if (key.ok()) q.conditions.push_back(key->condition);
    auto found = index_->Find(q, AccessScope::Everything());
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    return found.ok() ? found->size() : 0;
  };
  EXPECT_EQ(fuzzy_matches(), 1u);

  // An archive folded by an earlier mapping (or never: an added column starts empty) is
  // refolded when it is opened.
  ExecClosed("UPDATE patients SET name_folded=''; PRAGMA user_version=1;");
  ReOpen();
  EXPECT_EQ(fuzzy_matches(), 1u);
}

// "<NumberOfStudyRelatedInstances> <NumberOfStudyRelatedSeries> <ModalitiesInStudy>" of
// every study, in row order.
std::vector<std::string> StudyAggregates(SqliteIndex& index) {
  dicom::Query q;
  q.level = dicom::QueryLevel::kStudy;
  const dicom::TagKey instances = dicom::MakeTag(0x0020, 0x1208);
  const dicom::TagKey series = dicom::MakeTag(0x0020, 0x1206);
  const dicom::TagKey modalities = dicom::MakeTag(0x0008, 0x0061);
  q.return_tags = {modalities, instances, series};
  auto found = index.Find(q, AccessScope::Everything());
  EXPECT_TRUE(found.ok()) << found.status().ToString();
  std::vector<std::string> out;
  if (!found.ok()) return out;
  for (auto& m : *found) {
    out.push_back(m.values[instances] + " " + m.values[series] + " " + m.values[modalities]);
  }
  return out;
}

// Two studies: A with a CT series of two instances and an MR series of one, B with one
// CT instance.
std::vector<InstanceRecord> AggregateRecords() {
  InstanceRecord mr = Record("1.2.3.3", 3, kStudyA, std::string(kSeriesA1) + ".2");
  mr.attrs.modality = "MR";
  return {Record("1.2.3.1", 1), Record("1.2.3.2", 2), mr, Record("1.2.3.4", 4, kStudyB, kSeriesB1)};
}

// The counts and modalities SQLite stores with each study (kept by triggers) follow
// removals: an instance, then the last instance of a series (its modality goes).
TEST_F(SqliteIndexTest, StoredStudyAggregatesFollowRemovals) {
  ReOpen(Sync::kFilesystem);
  ASSERT_EQ(Add(AggregateRecords()).size(), 4u);
  EXPECT_EQ(StudyAggregates(*index_), (std::vector<std::string>{"3 2 CT\\MR", "1 1 CT"}));
  ASSERT_TRUE(index_->RemoveUnconfirmed("1.2.3.2").ok());
  EXPECT_EQ(StudyAggregates(*index_), (std::vector<std::string>{"2 2 CT\\MR", "1 1 CT"}));
  ASSERT_TRUE(index_->RemoveUnconfirmed("1.2.3.1").ok());
  EXPECT_EQ(StudyAggregates(*index_), (std::vector<std::string>{"1 1 MR", "1 1 CT"}));
  ASSERT_TRUE(index_->RemoveUnconfirmed("1.2.3.4").ok());  // study B goes with it
  EXPECT_EQ(StudyAggregates(*index_), (std::vector<std::string>{"1 1 MR"}));
  // A later CT series of study A counts again.
  ASSERT_EQ(Add({Record("1.2.3.5", 5)}).size(), 1u);
  EXPECT_EQ(StudyAggregates(*index_), (std::vector<std::string>{"2 2 CT\\MR"}));
}

// An index written before the aggregates were stored gets them, computed from its rows,
// when it is opened; later instances keep them up to date.
TEST_F(SqliteIndexTest, OlderIndexesGetTheirStudyAggregatesWhenOpened) {
  ASSERT_EQ(Add(AggregateRecords()).size(), 4u);
  ExecClosed(
      "DROP TRIGGER instances_count_in; DROP TRIGGER instances_count_out; "
      "DROP TRIGGER instances_count_move; DROP TRIGGER series_count_in; "
      "DROP TRIGGER series_count_out; DROP TRIGGER series_count_change; "
      "ALTER TABLE studies DROP COLUMN num_series; ALTER TABLE studies DROP COLUMN num_instances; "
      "ALTER TABLE studies DROP COLUMN modalities;");
  ReOpen();
  EXPECT_EQ(StudyAggregates(*index_), (std::vector<std::string>{"3 2 CT\\MR", "1 1 CT"}));
  InstanceRecord us = Record("1.2.3.6", 6, kStudyB, std::string(kSeriesB1) + ".2");
  us.attrs.modality = "US";
  ASSERT_EQ(Add({us, Record("1.2.3.7", 7, kStudyB, kSeriesB1)}).size(), 2u);
  EXPECT_EQ(StudyAggregates(*index_), (std::vector<std::string>{"3 2 CT\\MR", "3 2 CT\\US"}));
}

TEST(SqliteIndexSortTest, ComputedAttributesAreNotSortable) {
  const dicom::QueryAttribute* count = dicom::FindQueryAttribute("NumberOfStudyRelatedSeries");
  const dicom::QueryAttribute* modalities = dicom::FindQueryAttribute("ModalitiesInStudy");
  const dicom::QueryAttribute* date = dicom::FindQueryAttribute("StudyDate");
  const dicom::QueryAttribute* sop = dicom::FindQueryAttribute("SOPInstanceUID");
  ASSERT_TRUE(count && modalities && date && sop);
  EXPECT_FALSE(dicom::IsSortable(*count, dicom::QueryLevel::kStudy));
  EXPECT_FALSE(dicom::IsSortable(*modalities, dicom::QueryLevel::kStudy));
  EXPECT_TRUE(dicom::IsSortable(*date, dicom::QueryLevel::kStudy));
  EXPECT_TRUE(dicom::IsSortable(*date, dicom::QueryLevel::kImage));  // a higher level's value
  EXPECT_FALSE(dicom::IsSortable(*sop, dicom::QueryLevel::kStudy));  // below the level
}

TEST_F(SqliteIndexTest, FullSyncIsDurableOnCommitAndTracksNothing) {
  ReOpen(Sync::kFull);
  EXPECT_EQ(index_->durability(), Durability::kOnCommit);
  ASSERT_EQ(Add({Record("1.2.3.1", 1)}).size(), 1u);
  EXPECT_TRUE(Unconfirmed().empty());
}

TEST_F(SqliteIndexTest, FilesystemSyncListsRowsOfTheLastBatchAsUnconfirmed) {
  ReOpen(Sync::kFilesystem);
  EXPECT_EQ(index_->durability(), Durability::kOnFilesystemSync);
  EXPECT_TRUE(Unconfirmed().empty());

  ASSERT_EQ(Add({Record("1.2.3.1", 1), Record("1.2.3.2", 2)}).size(), 2u);
  EXPECT_EQ(Unconfirmed(), (std::vector<std::string>{"1.2.3.1", "1.2.3.2"}));

  auto list = index_->ListUnconfirmed();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  for (const StoredInstance& i : *list) {
    std::optional<StoredInstance> found = Find(i.sop_instance_uid);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(i.blob_name, found->blob_name);
    EXPECT_EQ(i.blob_size, found->blob_size);
    EXPECT_EQ(i.content_sha256, found->content_sha256);
    EXPECT_EQ(i.transfer_syntax_uid, kExplicitLittle);
  }

  // The next batch confirms the previous one; only its own new rows are unconfirmed.
  ASSERT_EQ(Add({Record("1.2.3.3", 3)}).size(), 1u);
  EXPECT_EQ(Unconfirmed(), std::vector<std::string>{"1.2.3.3"});

  // A batch that adds nothing new still confirms the previous one.
  ASSERT_EQ(Add({Record("1.2.3.3", 4)}), std::vector<AddOutcome>{AddOutcome::kIdentical});
  EXPECT_TRUE(Unconfirmed().empty());
}

TEST_F(SqliteIndexTest, FilesystemSyncDuplicatesAndConflictsAreNotUnconfirmed) {
  ReOpen(Sync::kFilesystem);
  ASSERT_EQ(Add({Record("1.2.3.1", 1)}).size(), 1u);
  std::vector<InstanceRecord> batch = {
      Record("1.2.3.1", 2),                                 // identical
      Record("1.2.3.1", 3, kStudyA, kSeriesA1, "P1", 'b'),  // conflict
      Record("1.2.3.2", 4)};
  ASSERT_EQ(Add(batch), (std::vector<AddOutcome>{AddOutcome::kIdentical, AddOutcome::kConflict,
                                                 AddOutcome::kAdded}));
  EXPECT_EQ(Unconfirmed(), std::vector<std::string>{"1.2.3.2"});
}

TEST_F(SqliteIndexTest, RemoveUnconfirmedRemovesOnlyUnconfirmedInstances) {
  ReOpen(Sync::kFilesystem);
  ASSERT_EQ(Add({Record("1.2.3.1", 1)}).size(), 1u);
  ASSERT_EQ(Add({Record("1.2.3.2", 2), Record("1.2.3.3", 3)}).size(), 2u);
  ASSERT_EQ(Unconfirmed(), (std::vector<std::string>{"1.2.3.2", "1.2.3.3"}));

  // 1.2.3.1 was confirmed by the second batch: it must survive.
  ASSERT_TRUE(index_->RemoveUnconfirmed("1.2.3.1").ok());
  EXPECT_TRUE(Find("1.2.3.1").has_value());

  ASSERT_TRUE(index_->RemoveUnconfirmed("1.2.3.2").ok());
  EXPECT_FALSE(Find("1.2.3.2").has_value());
  EXPECT_TRUE(Find("1.2.3.3").has_value());
  EXPECT_EQ(Unconfirmed(), std::vector<std::string>{"1.2.3.3"});
  EXPECT_EQ(Stats().instances, 2);
  auto referenced = index_->IsBlobReferenced(BlobName(2));
  ASSERT_TRUE(referenced.ok());
  EXPECT_FALSE(*referenced);

  // Removing an unknown UID is harmless.
  EXPECT_TRUE(index_->RemoveUnconfirmed("9.9.9").ok());
  EXPECT_EQ(Stats().instances, 2);

  // A removed instance can be stored again later.
  EXPECT_EQ(Add({Record("1.2.3.2", 5)}), std::vector<AddOutcome>{AddOutcome::kAdded});
}

// An instance removed by recovery was never acknowledged, so the patient, study and
// series rows that only it created must go too (else Stats, and queries at patient or
// study level, show a study with no instances, and its patient's name and ID stay).
TEST_F(SqliteIndexTest, RemoveUnconfirmedDropsRowsOnlyItsInstanceCreated) {
  ReOpen(Sync::kFilesystem);
  ASSERT_EQ(Add({Record("1.2.3.1", 1, kStudyA, kSeriesA1, "P1")}).size(), 1u);
  ASSERT_EQ(Add({Record("1.2.3.2", 2, kStudyB, kSeriesB1, "P2")}).size(), 1u);
  ASSERT_TRUE(index_->RemoveUnconfirmed("1.2.3.2").ok());
  IndexStats st = Stats();
  EXPECT_EQ(st.instances, 1);
  EXPECT_EQ(st.series, 1);
  EXPECT_EQ(st.studies, 1);
  EXPECT_EQ(st.patients, 1);
}

TEST_F(SqliteIndexTest, ConfirmAllEmptiesTheUnconfirmedList) {
  ReOpen(Sync::kFilesystem);
  ASSERT_EQ(Add({Record("1.2.3.1", 1), Record("1.2.3.2", 2)}).size(), 2u);
  ASSERT_EQ(Unconfirmed().size(), 2u);
  ASSERT_TRUE(index_->ConfirmAll().ok());
  EXPECT_TRUE(Unconfirmed().empty());
  // Confirmed instances stay and can no longer be removed as unconfirmed.
  ASSERT_TRUE(index_->RemoveUnconfirmed("1.2.3.1").ok());
  EXPECT_TRUE(Find("1.2.3.1").has_value());
  EXPECT_EQ(Stats().instances, 2);
}

TEST_F(SqliteIndexTest, UnconfirmedRowsSurviveReopening) {
  // What crash recovery relies on: after a restart the last batch is still listed.
  ReOpen(Sync::kFilesystem);
  ASSERT_EQ(Add({Record("1.2.3.1", 1)}).size(), 1u);
  ASSERT_EQ(Add({Record("1.2.3.2", 2)}).size(), 1u);
  ReOpen(Sync::kFilesystem);
  EXPECT_EQ(Unconfirmed(), std::vector<std::string>{"1.2.3.2"});
  EXPECT_TRUE(Find("1.2.3.1").has_value());
  EXPECT_TRUE(Find("1.2.3.2").has_value());

  ASSERT_TRUE(index_->ConfirmAll().ok());
  ReOpen(Sync::kFilesystem);
  EXPECT_TRUE(Unconfirmed().empty());
}

TEST_F(SqliteIndexTest, ManyBatchesUnderFilesystemSyncStayConsistent) {
  // 20,000 instances write about 5,000 WAL frames, past the threshold at which
  // AddInstances runs its own checkpoint (autocheckpointing is off in this mode).
  ReOpen(Sync::kFilesystem);
  int n = 0;
  for (int batch = 0; batch < 80; ++batch) {
    std::vector<InstanceRecord> records;
    for (int i = 0; i < 250; ++i, ++n) {
      // A new patient, study and series every few instances: rows in every table.
      std::string group = std::to_string(n / 4);
      InstanceRecord r = Record("1.2.3." + std::to_string(n + 1), n + 1, "1.2.4." + group,
                                "1.2.5." + group, "P" + group);
      r.attrs.study_description = std::string(64, 'd');
      records.push_back(std::move(r));
    }
    ASSERT_EQ(Add(records).size(), records.size());
  }
  IndexStats st = Stats();
  EXPECT_EQ(st.instances, n);
  EXPECT_EQ(st.series, n / 4);
  EXPECT_EQ(st.studies, n / 4);
  EXPECT_EQ(st.patients, n / 4);
  EXPECT_EQ(Unconfirmed().size(), 250u);
  ReOpen(Sync::kFilesystem);
  EXPECT_EQ(Stats().instances, n);
  EXPECT_EQ(Unconfirmed().size(), 250u);
  EXPECT_TRUE(Find("1.2.3.1").has_value());
  EXPECT_TRUE(Find("1.2.3." + std::to_string(n)).has_value());
}

}  // namespace
}  // namespace tresor::store

namespace tresor::store {
namespace {

// Durability settings that cannot be applied make Open fail: an in-memory database has
// no write-ahead log, which the group commit and recovery rely on.
TEST(SqliteIndexOpenTest, RefusesADatabaseWithoutWriteAheadLogging) {
  auto opened = SqliteIndex::Open(Options(":memory:", SqliteIndexOptions::Sync::kFull));
  ASSERT_FALSE(opened.ok()) << "opened without WAL";
  EXPECT_EQ(opened.status().code(), Code::kIoError);
  EXPECT_NE(opened.status().message().find("write-ahead"), std::string::npos);
}

// Admin writes are promised a full sync even when the index commits unsynced (the
// filesystem-sync mode): when full sync cannot be switched on, the write fails and
// changes nothing.
TEST(SqliteIndexFullSyncTest, AdminWriteFailsWhenFullSyncCannotBeApplied) {
  ::tresor::testing::TempDir dir;
  auto opened =
      SqliteIndex::Open(Options(dir.path() + "/index.db", SqliteIndexOptions::Sync::kFilesystem));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  SqliteIndex& index = **opened;
  PeerRecord peer{"ct1", "CT1", "10.0.0.1", 104, "echo,store", "", false, {}};
  {
    testing::SqliteIndexPeer fault(index);
    fault.DenyPragma("synchronous");
    Status put = index.PutPeer(peer);
    EXPECT_FALSE(put.ok()) << "peer written without full sync";
    UserRecord user;
    user.name = "alice";
    user.password_hash = "x";
    user.role = "admin";
    EXPECT_FALSE(index.PutUser(user).ok());
    EXPECT_FALSE(index.PutSession({"s1", "alice", 100, 1}).ok());
  }
  auto peers = index.ListPeers();
  ASSERT_TRUE(peers.ok());
  EXPECT_TRUE(peers->empty()) << "the refused write changed nothing";
  EXPECT_TRUE(index.PutPeer(peer).ok()) << "works again once full sync can be applied";
}

}  // namespace
}  // namespace tresor::store
