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
constexpr char kColorPaletteStorage[] = "1.2.840.10008.5.1.4.39.1";
constexpr char kExplicitLittle[] = "1.2.840.10008.1.2.1";
constexpr char kStudyA[] = "1.2.826.0.1.3680043.8.498.10";
constexpr char kSeriesA1[] = "1.2.826.0.1.3680043.8.498.10.1";
constexpr char kSeriesA2[] = "1.2.826.0.1.3680043.8.498.10.2";
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

// A non-patient object (color palette): no patient, study or series.
InstanceRecord NonPatientRecord(const std::string& sop_uid, int n) {
  InstanceRecord r;
  r.attrs.sop_class_uid = kColorPaletteStorage;
  r.attrs.sop_instance_uid = sop_uid;
  r.transfer_syntax_uid = kExplicitLittle;
  r.blob_name = BlobName(n);
  r.blob_size = 500;
  r.content_sha256 = Sha('c');
  r.source_ae = "import";
  r.received_at = 1700000000;
  return r;
}

// Records built field by field, so that fields added later keep their defaults.
PeerRecord Peer(const std::string& name, const std::string& ae_title, const std::string& host,
                int port, const std::string& services) {
  PeerRecord p;
  p.name = name;
  p.ae_title = ae_title;
  p.host = host;
  p.port = port;
  p.services = services;
  return p;
}

UserRecord User(const std::string& name, const std::string& password_hash, const std::string& role,
                bool disabled) {
  UserRecord u;
  u.name = name;
  u.password_hash = password_hash;
  u.role = role;
  u.disabled = disabled;
  return u;
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

  TempDir dir_;
  std::unique_ptr<SqliteIndex> index_;
};

// The behaviour that must not depend on the sync mode runs under all three.
class SqliteIndexAnySyncTest : public SqliteIndexTest, public ::testing::WithParamInterface<Sync> {
 protected:
  void SetUp() override { ReOpen(GetParam()); }
};

TEST_P(SqliteIndexAnySyncTest, EmptyIndexHasZeroStats) {
  IndexStats st = Stats();
  EXPECT_EQ(st.patients, 0);
  EXPECT_EQ(st.studies, 0);
  EXPECT_EQ(st.series, 0);
  EXPECT_EQ(st.instances, 0);
  EXPECT_EQ(st.bytes, 0u);
  EXPECT_FALSE(Find("1.2.3").has_value());
}

TEST_P(SqliteIndexAnySyncTest, AddThenFindRoundTripsFields) {
  InstanceRecord r = Record("1.2.3.1", 1);
  EXPECT_EQ(Add({r}), std::vector<AddOutcome>{AddOutcome::kAdded});

  std::optional<StoredInstance> found = Find("1.2.3.1");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->sop_instance_uid, "1.2.3.1");
  EXPECT_EQ(found->sop_class_uid, kCtImageStorage);
  EXPECT_EQ(found->study_instance_uid, kStudyA);
  EXPECT_EQ(found->transfer_syntax_uid, kExplicitLittle);
  EXPECT_EQ(found->blob_name, r.blob_name);
  EXPECT_EQ(found->blob_size, r.blob_size);
  EXPECT_EQ(found->content_sha256, r.content_sha256);

  EXPECT_FALSE(Find("1.2.3.2").has_value());
}

TEST_P(SqliteIndexAnySyncTest, SameUidSameContentIsIdentical) {
  ASSERT_EQ(Add({Record("1.2.3.1", 1)}), std::vector<AddOutcome>{AddOutcome::kAdded});
  // A second copy arrives in a new blob with the same content hash.
  EXPECT_EQ(Add({Record("1.2.3.1", 2)}), std::vector<AddOutcome>{AddOutcome::kIdentical});

  std::optional<StoredInstance> found = Find("1.2.3.1");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->blob_name, BlobName(1));
  EXPECT_EQ(Stats().instances, 1);
  auto referenced = index_->IsBlobReferenced(BlobName(2));
  ASSERT_TRUE(referenced.ok());
  EXPECT_FALSE(*referenced);
}

TEST_P(SqliteIndexAnySyncTest, SameUidDifferentContentIsConflictAndChangesNothing) {
  InstanceRecord first = Record("1.2.3.1", 1, kStudyA, kSeriesA1, "P1", 'a');
  ASSERT_EQ(Add({first}), std::vector<AddOutcome>{AddOutcome::kAdded});
  IndexStats before = Stats();

  // Different content, and attributes that would move it to another patient and study.
  InstanceRecord other = Record("1.2.3.1", 2, kStudyB, kSeriesB1, "P2", 'b');
  EXPECT_EQ(Add({other}), std::vector<AddOutcome>{AddOutcome::kConflict});

  std::optional<StoredInstance> found = Find("1.2.3.1");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->blob_name, first.blob_name);
  EXPECT_EQ(found->blob_size, first.blob_size);
  EXPECT_EQ(found->content_sha256, first.content_sha256);
  EXPECT_EQ(found->study_instance_uid, kStudyA);
  IndexStats after = Stats();
  EXPECT_EQ(after.patients, before.patients);
  EXPECT_EQ(after.studies, before.studies);
  EXPECT_EQ(after.series, before.series);
  EXPECT_EQ(after.instances, before.instances);
  EXPECT_EQ(after.bytes, before.bytes);
}

TEST_P(SqliteIndexAnySyncTest, DuplicatesWithinOneBatchAreResolvedInOrder) {
  std::vector<InstanceRecord> batch = {
      Record("1.2.3.1", 1, kStudyA, kSeriesA1, "P1", 'a'),
      Record("1.2.3.1", 2, kStudyA, kSeriesA1, "P1", 'a'),  // same content as the first
      Record("1.2.3.1", 3, kStudyA, kSeriesA1, "P1", 'b'),  // different content
      Record("1.2.3.2", 4),
  };
  EXPECT_EQ(Add(batch), (std::vector<AddOutcome>{AddOutcome::kAdded, AddOutcome::kIdentical,
                                                 AddOutcome::kConflict, AddOutcome::kAdded}));
  std::optional<StoredInstance> found = Find("1.2.3.1");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->blob_name, BlobName(1));
  EXPECT_EQ(Stats().instances, 2);
}

TEST_P(SqliteIndexAnySyncTest, EmptyBatchReturnsNoOutcomes) {
  EXPECT_TRUE(Add({}).empty());
  EXPECT_EQ(Stats().instances, 0);
}

TEST_P(SqliteIndexAnySyncTest, StatsCountsEachLevelOnce) {
  // Patient P1: study A with two series (two instances in A1); patient P2: study B.
  std::vector<InstanceRecord> batch = {
      Record("1.2.3.1", 1, kStudyA, kSeriesA1, "P1"),
      Record("1.2.3.2", 2, kStudyA, kSeriesA1, "P1"),
      Record("1.2.3.3", 3, kStudyA, kSeriesA2, "P1"),
  };
  ASSERT_EQ(Add(batch).size(), 3u);
  ASSERT_EQ(Add({Record("1.2.3.4", 4, kStudyB, kSeriesB1, "P2")}).size(), 1u);

  IndexStats st = Stats();
  EXPECT_EQ(st.patients, 2);
  EXPECT_EQ(st.studies, 2);
  EXPECT_EQ(st.series, 3);
  EXPECT_EQ(st.instances, 4);
  EXPECT_EQ(st.bytes, 1001u + 1002u + 1003u + 1004u);
}

TEST_P(SqliteIndexAnySyncTest, TwoInstancesOfOneSeriesCountOneSeries) {
  ASSERT_EQ(Add({Record("1.2.3.1", 1)}).size(), 1u);
  ASSERT_EQ(Add({Record("1.2.3.2", 2)}).size(), 1u);
  IndexStats st = Stats();
  EXPECT_EQ(st.patients, 1);
  EXPECT_EQ(st.studies, 1);
  EXPECT_EQ(st.series, 1);
  EXPECT_EQ(st.instances, 2);
}

TEST_P(SqliteIndexAnySyncTest, NonPatientObjectsAreIndexedAndFindable) {
  EXPECT_EQ(Add({NonPatientRecord("1.2.3.9", 9)}), std::vector<AddOutcome>{AddOutcome::kAdded});
  std::optional<StoredInstance> found = Find("1.2.3.9");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->sop_class_uid, kColorPaletteStorage);
  EXPECT_EQ(found->study_instance_uid, "");
  EXPECT_EQ(found->blob_name, BlobName(9));

  IndexStats st = Stats();
  EXPECT_EQ(st.instances, 1);
  EXPECT_EQ(st.bytes, 500u);
  EXPECT_EQ(st.patients, 0);
  EXPECT_EQ(st.studies, 0);
  EXPECT_EQ(st.series, 0);

  // A second non-patient object: both sit outside any series without clashing.
  EXPECT_EQ(Add({NonPatientRecord("1.2.3.10", 10)}), std::vector<AddOutcome>{AddOutcome::kAdded});
  EXPECT_EQ(Stats().instances, 2);
}

TEST_P(SqliteIndexAnySyncTest, IsBlobReferenced) {
  ASSERT_EQ(Add({Record("1.2.3.1", 1)}).size(), 1u);
  auto yes = index_->IsBlobReferenced(BlobName(1));
  ASSERT_TRUE(yes.ok()) << yes.status().ToString();
  EXPECT_TRUE(*yes);
  auto no = index_->IsBlobReferenced(BlobName(2));
  ASSERT_TRUE(no.ok()) << no.status().ToString();
  EXPECT_FALSE(*no);
}

TEST_P(SqliteIndexAnySyncTest, PeersPutListRemove) {
  ASSERT_TRUE(index_->PutPeer(Peer("ws", "WORKSTATION", "10.0.0.2", 11112, "find,move")).ok());
  ASSERT_TRUE(index_->PutPeer(Peer("ct1", "CT_SCANNER", "10.0.0.1", 104, "echo,store")).ok());

  auto peers = index_->ListPeers();
  ASSERT_TRUE(peers.ok()) << peers.status().ToString();
  ASSERT_EQ(peers->size(), 2u);
  // Listed by name.
  EXPECT_EQ((*peers)[0].name, "ct1");
  EXPECT_EQ((*peers)[0].ae_title, "CT_SCANNER");
  EXPECT_EQ((*peers)[0].host, "10.0.0.1");
  EXPECT_EQ((*peers)[0].port, 104);
  EXPECT_EQ((*peers)[0].services, "echo,store");
  EXPECT_EQ((*peers)[1].name, "ws");
  EXPECT_EQ((*peers)[1].port, 11112);

  // Put with an existing name replaces that peer.
  ASSERT_TRUE(index_->PutPeer(Peer("ct1", "CT_NEW", "10.0.0.9", 4242, "echo")).ok());
  peers = index_->ListPeers();
  ASSERT_TRUE(peers.ok());
  ASSERT_EQ(peers->size(), 2u);
  EXPECT_EQ((*peers)[0].name, "ct1");
  EXPECT_EQ((*peers)[0].ae_title, "CT_NEW");
  EXPECT_EQ((*peers)[0].host, "10.0.0.9");
  EXPECT_EQ((*peers)[0].port, 4242);
  EXPECT_EQ((*peers)[0].services, "echo");

  auto removed = index_->RemovePeer("ct1");
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_TRUE(*removed);
  removed = index_->RemovePeer("ct1");
  ASSERT_TRUE(removed.ok());
  EXPECT_FALSE(*removed);
  removed = index_->RemovePeer("never-there");
  ASSERT_TRUE(removed.ok());
  EXPECT_FALSE(*removed);

  peers = index_->ListPeers();
  ASSERT_TRUE(peers.ok());
  ASSERT_EQ(peers->size(), 1u);
  EXPECT_EQ((*peers)[0].name, "ws");
}

TEST_P(SqliteIndexAnySyncTest, UsersPutFindList) {
  auto none = index_->FindUser("alice");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());

  ASSERT_TRUE(index_->PutUser(User("bob", "$argon2id$bob", "viewer", true)).ok());
  ASSERT_TRUE(index_->PutUser(User("alice", "$argon2id$alice", "admin", false)).ok());

  auto alice = index_->FindUser("alice");
  ASSERT_TRUE(alice.ok());
  ASSERT_TRUE(alice->has_value());
  EXPECT_EQ((*alice)->name, "alice");
  EXPECT_EQ((*alice)->password_hash, "$argon2id$alice");
  EXPECT_EQ((*alice)->role, "admin");
  EXPECT_FALSE((*alice)->disabled);
  auto bob = index_->FindUser("bob");
  ASSERT_TRUE(bob.ok());
  ASSERT_TRUE(bob->has_value());
  EXPECT_TRUE((*bob)->disabled);

  // Put replaces by name.
  ASSERT_TRUE(index_->PutUser(User("alice", "$argon2id$new", "viewer", true)).ok());
  alice = index_->FindUser("alice");
  ASSERT_TRUE(alice.ok());
  ASSERT_TRUE(alice->has_value());
  EXPECT_EQ((*alice)->password_hash, "$argon2id$new");
  EXPECT_EQ((*alice)->role, "viewer");
  EXPECT_TRUE((*alice)->disabled);

  auto users = index_->ListUsers();
  ASSERT_TRUE(users.ok()) << users.status().ToString();
  ASSERT_EQ(users->size(), 2u);
  EXPECT_EQ((*users)[0].name, "alice");
  EXPECT_EQ((*users)[1].name, "bob");
}

TEST_P(SqliteIndexAnySyncTest, ReopeningKeepsTheData) {
  ASSERT_EQ(Add({Record("1.2.3.1", 1), Record("1.2.3.2", 2, kStudyB, kSeriesB1, "P2")}).size(), 2u);
  ASSERT_TRUE(index_->PutPeer(Peer("ct1", "CT_SCANNER", "10.0.0.1", 104, "store")).ok());
  ASSERT_TRUE(index_->PutUser(User("alice", "$argon2id$alice", "admin", false)).ok());

  ReOpen(GetParam());

  std::optional<StoredInstance> found = Find("1.2.3.2");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->blob_name, BlobName(2));
  EXPECT_EQ(found->study_instance_uid, kStudyB);
  IndexStats st = Stats();
  EXPECT_EQ(st.patients, 2);
  EXPECT_EQ(st.studies, 2);
  EXPECT_EQ(st.series, 2);
  EXPECT_EQ(st.instances, 2);
  EXPECT_EQ(st.bytes, 1001u + 1002u);
  auto peers = index_->ListPeers();
  ASSERT_TRUE(peers.ok());
  ASSERT_EQ(peers->size(), 1u);
  EXPECT_EQ((*peers)[0].ae_title, "CT_SCANNER");
  auto alice = index_->FindUser("alice");
  ASSERT_TRUE(alice.ok());
  EXPECT_TRUE(alice->has_value());

  // The reopened index still detects duplicates of what it held before.
  EXPECT_EQ(Add({Record("1.2.3.1", 3)}), std::vector<AddOutcome>{AddOutcome::kIdentical});
}

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
  index_.reset();
  {
    sqlite3* raw = nullptr;
    std::unique_ptr<SealedVfs> vfs;
    if (Sealed()) {
      auto made = SealedVfs::Make(kTestKey);
      ASSERT_TRUE(made.ok());
      vfs = std::move(made).value();
    }
    ASSERT_EQ(sqlite3_open_v2((dir_.path() + "/index.db").c_str(), &raw,
                              SQLITE_OPEN_READWRITE, vfs ? vfs->name() : nullptr),
              SQLITE_OK);
    std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw, sqlite3_close);
    ASSERT_EQ(sqlite3_exec(db.get(), "UPDATE patients SET name_folded=''; PRAGMA user_version=1;",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  ReOpen();
  EXPECT_EQ(fuzzy_matches(), 1u);
}

TEST_F(SqliteIndexTest, ApiTokensAreListedAndRemoved) {
  ASSERT_TRUE(index_->PutApiToken({"ci", "alice", Sha('1'), 1800000000}).ok());
  ASSERT_TRUE(index_->PutApiToken({"backup", "bob", Sha('2'), 1900000000}).ok());
  auto listed = index_->ListApiTokens();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].name, "backup");  // by name
  EXPECT_EQ((*listed)[0].user, "bob");
  EXPECT_EQ((*listed)[0].expires_at, 1900000000);
  EXPECT_EQ((*listed)[1].name, "ci");

  auto removed = index_->RemoveApiToken("ci");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  auto found = index_->FindApiToken(Sha('1'));
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());  // a removed token is no longer found
  found = index_->FindApiToken(Sha('2'));
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(found->has_value());
  removed = index_->RemoveApiToken("ci");
  ASSERT_TRUE(removed.ok());
  EXPECT_FALSE(*removed);
  listed = index_->ListApiTokens();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u);
}

// Studies with these dates, names and accession numbers, one instance each, stored in
// this order (their row ids follow it).
struct SortStudy {
  const char* date;
  const char* name;
  const char* accession;
};
constexpr SortStudy kSortStudies[] = {
    {"20240105", "bravo^b", "A3"}, {"20230101", "Alpha^A", "A1"},  {"20240105", "\xC3\x89mile^E", "A5"},
    {"", "charlie^C", "A2"},       {"20250301", "alpha^z", "A4"},  {"20230101", "Delta^D", "A6"},
};

class SqliteIndexOrderTest : public SqliteIndexTest {
 protected:
  void SetUp() override {
    SqliteIndexTest::SetUp();
    std::vector<InstanceRecord> records;
    int n = 0;
    for (const SortStudy& s : kSortStudies) {
      std::string k = std::to_string(++n);
      InstanceRecord r = Record("1.2.3.9." + k, 100 + n, "1.2.3.8." + k, "1.2.3.7." + k, "P" + k);
      r.attrs.study_date = s.date;
      r.attrs.patient_name = s.name;
      r.attrs.accession_number = s.accession;
      records.push_back(r);
    }
    ASSERT_EQ(Add(records).size(), records.size());
  }

  // The accession numbers of the studies found with `keys` ("-StudyDate", ...), `limit`
  // and `offset`.
  std::vector<std::string> Order(const std::vector<std::string>& keys, size_t limit = 100,
                                 size_t offset = 0) {
    dicom::Query q;
    q.level = dicom::QueryLevel::kStudy;
    q.return_tags = {dicom::MakeTag(0x0008, 0x0050)};
    q.limit = limit;
    q.offset = offset;
    for (const std::string& k : keys) {
      bool descending = k[0] == '-';
      const dicom::QueryAttribute* a = dicom::FindQueryAttribute(descending ? k.substr(1) : k);
      EXPECT_NE(a, nullptr) << k;
      if (a) q.order_by.push_back({a, descending});
    }
    auto found = index_->Find(q, AccessScope::Everything());
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    std::vector<std::string> out;
    if (!found.ok()) return out;
    for (size_t i = 0; i < found->size() && i < limit; ++i) {
      out.push_back((*found)[i].values[dicom::MakeTag(0x0008, 0x0050)]);
    }
    return out;
  }
};

TEST_F(SqliteIndexOrderTest, WithoutSortKeysTheOrderIsTheStableRowOrder) {
  EXPECT_EQ(Order({}), (std::vector<std::string>{"A3", "A1", "A5", "A2", "A4", "A6"}));
}

TEST_F(SqliteIndexOrderTest, StudyDateAscendingAndDescendingWithTheRowIdBreakingTies) {
  // Empty dates first ascending; equal dates in row order.
  EXPECT_EQ(Order({"StudyDate"}), (std::vector<std::string>{"A2", "A1", "A6", "A3", "A5", "A4"}));
  // Descending: the tie-breaker runs descending too; empty dates last.
  EXPECT_EQ(Order({"-StudyDate"}), (std::vector<std::string>{"A4", "A5", "A3", "A6", "A1", "A2"}));
}

TEST_F(SqliteIndexOrderTest, TheOrderIsAppliedBeforeLimitAndOffset) {
  std::vector<std::string> all = Order({"-StudyDate"});
  std::vector<std::string> paged;
  for (size_t offset = 0; offset < all.size(); offset += 4) {
    for (const std::string& a : Order({"-StudyDate"}, 4, offset)) paged.push_back(a);
  }
  EXPECT_EQ(paged, all);  // the pages concatenate to the whole sorted list
  EXPECT_EQ(Order({"-StudyDate"}, 2, 1), (std::vector<std::string>{"A5", "A3"}));
}

TEST_F(SqliteIndexOrderTest, PatientNamesSortIgnoringCaseAndAccents) {
  // alpha^a < alpha^z < bravo < charlie < delta < emile (folded)
  EXPECT_EQ(Order({"PatientName"}), (std::vector<std::string>{"A1", "A4", "A3", "A2", "A6", "A5"}));
  EXPECT_EQ(Order({"-PatientName"}), (std::vector<std::string>{"A5", "A6", "A2", "A3", "A4", "A1"}));
}

TEST_F(SqliteIndexOrderTest, SeveralKeysSortInTurn) {
  // By date, then by name descending within a date.
  EXPECT_EQ(Order({"StudyDate", "-PatientName"}),
            (std::vector<std::string>{"A2", "A6", "A1", "A5", "A3", "A4"}));
  EXPECT_EQ(Order({"-AccessionNumber"}), (std::vector<std::string>{"A6", "A5", "A4", "A3", "A2", "A1"}));
}

TEST_F(SqliteIndexTest, SeriesNumbersSortAsIntegers) {
  std::vector<InstanceRecord> records;
  int n = 0;
  for (const char* number : {"10", "9", "2"}) {
    std::string k = std::to_string(++n);
    InstanceRecord r = Record("1.2.3.6." + k, 200 + n, kStudyA, "1.2.3.5." + k);
    r.attrs.series_number = number;
    records.push_back(r);
  }
  ASSERT_EQ(Add(records).size(), 3u);
  dicom::Query q;
  q.level = dicom::QueryLevel::kSeries;
  q.return_tags = {dicom::MakeTag(0x0020, 0x0011)};
  q.order_by.push_back({dicom::FindQueryAttribute("SeriesNumber"), false});
  auto found = index_->Find(q, AccessScope::Everything());
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  std::vector<std::string> numbers;
  for (auto& m : *found) numbers.push_back(m.values[dicom::MakeTag(0x0020, 0x0011)]);
  EXPECT_EQ(numbers, (std::vector<std::string>{"2", "9", "10"}));
}

TEST_F(SqliteIndexOrderTest, ComputedAttributesAreNotSortable) {
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

std::string SyncName(const ::testing::TestParamInfo<Sync>& info) {
  switch (info.param) {
    case Sync::kFull:
      return "Full";
    case Sync::kFilesystem:
      return "Filesystem";
    case Sync::kOff:
      return "Off";
  }
  return "Unknown";
}

INSTANTIATE_TEST_SUITE_P(AllSyncModes, SqliteIndexAnySyncTest,
                         ::testing::Values(Sync::kFull, Sync::kFilesystem, Sync::kOff), SyncName);

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

TEST_F(SqliteIndexTest, GroupRulesAssignStudiesAtStoreTimeAndScopeFiltersFinds) {
  auto rule = index_->PutGroupRule({"cardio", GroupRule::Kind::kPeer, "ct1"});
  ASSERT_TRUE(rule.ok()) << rule.status().ToString();
  EXPECT_EQ(*rule, 0);
  ASSERT_TRUE(index_->PutGroupRule({"ext", GroupRule::Kind::kIssuer, "EXT"}).ok());
  InstanceRecord a = Record("1.2.3.1", 1);
  a.source_peer = "ct1";
  InstanceRecord b = Record("1.2.3.2", 2, kStudyB, kSeriesB1, "P2", 'b');
  b.attrs.issuer_of_patient_id = "EXT";
  b.attrs.institution_name = "Klinik B";
  ASSERT_EQ(Add({a, b}), std::vector<AddOutcome>({AddOutcome::kAdded, AddOutcome::kAdded}));

  dicom::Query q;
  q.level = dicom::QueryLevel::kStudy;
  q.return_tags = {dicom::MakeTag(0x0020, 0x000D)};
  auto studies = [&](const AccessScope& scope) {
    auto found = index_->Find(q, scope);
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    std::vector<std::string> out;
    if (found.ok()) {
      for (const auto& m : *found) out.push_back(m.values.at(dicom::MakeTag(0x0020, 0x000D)));
    }
    return out;
  };
  EXPECT_EQ(studies(AccessScope::Of({"cardio"})), std::vector<std::string>({kStudyA}));
  EXPECT_EQ(studies(AccessScope::Of({"ext"})), std::vector<std::string>({kStudyB}));
  // A later instance never widens who sees a study: ct1 adding to study B does not put it
  // into cardio.
  InstanceRecord later = Record("1.2.3.3", 3, kStudyB, kSeriesB1, "P2", 'c');
  later.source_peer = "ct1";
  ASSERT_EQ(Add({later}), std::vector<AddOutcome>({AddOutcome::kAdded}));
  EXPECT_EQ(studies(AccessScope::Of({"cardio"})), std::vector<std::string>({kStudyA}));
  auto cardio2 = index_->PutGroupRule({"cardio2", GroupRule::Kind::kPeer, "ct1"});
  ASSERT_TRUE(cardio2.ok()) << cardio2.status().ToString();
  EXPECT_EQ(*cardio2, 1) << "applied to what is archived, also by first instance only";
  EXPECT_EQ(studies(AccessScope::Of({"cardio", "ext"})).size(), 2u);
  EXPECT_EQ(studies(AccessScope::Everything()).size(), 2u);
  EXPECT_TRUE(studies(AccessScope{}).empty());
  auto scoped = index_->Stats(AccessScope::Of({"cardio"}));
  ASSERT_TRUE(scoped.ok()) << scoped.status().ToString();
  EXPECT_EQ(scoped->patients, 1);
  EXPECT_EQ(scoped->studies, 1);
  EXPECT_EQ(scoped->series, 1);
  EXPECT_EQ(scoped->instances, 1);
  EXPECT_EQ(scoped->bytes, a.blob_size);
  EXPECT_EQ(index_->Stats(AccessScope{})->instances, 0);
  EXPECT_EQ(index_->Stats(AccessScope::Everything())->instances, 3);
  EXPECT_TRUE(index_->FindInstance("1.2.3.1", AccessScope::Of({"cardio"}))->has_value());
  EXPECT_FALSE(index_->FindInstance("1.2.3.1", AccessScope::Of({"ext"}))->has_value());

  // A rule added later applies to what is archived; removing it keeps assignments.
  auto late = index_->PutGroupRule({"site-b", GroupRule::Kind::kInstitution, "Klinik B"});
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(*late, 1);
  EXPECT_EQ(studies(AccessScope::Of({"site-b"})), std::vector<std::string>({kStudyB}));
  EXPECT_TRUE(*index_->RemoveGroupRule({"site-b", GroupRule::Kind::kInstitution, "Klinik B"}));
  EXPECT_FALSE(*index_->RemoveGroupRule({"site-b", GroupRule::Kind::kInstitution, "Klinik B"}));
  EXPECT_EQ(studies(AccessScope::Of({"site-b"})), std::vector<std::string>({kStudyB}));
  EXPECT_TRUE(*index_->SetStudyGroup("site-b", kStudyB, false));
  EXPECT_TRUE(studies(AccessScope::Of({"site-b"})).empty());
  EXPECT_FALSE(*index_->SetStudyGroup("site-b", "1.2.3.4.5", true));

  auto rules = index_->ListGroupRules();
  ASSERT_TRUE(rules.ok());
  ASSERT_EQ(rules->size(), 3u);
  EXPECT_EQ((*rules)[0].group, "cardio");
  EXPECT_EQ((*rules)[2].kind, GroupRule::Kind::kIssuer);
}

TEST_F(SqliteIndexTest, PeerAndUserGroupsRoundTrip) {
  PeerRecord p = Peer("ws", "WS", "127.0.0.1", 104, "find");
  p.groups = {"a", "b"};
  ASSERT_TRUE(index_->PutPeer(p).ok());
  UserRecord u = User("alice", "hash", "radiologist", false);
  u.groups = {"all"};
  ASSERT_TRUE(index_->PutUser(u).ok());
  EXPECT_EQ((*index_->ListPeers())[0].groups, std::vector<std::string>({"a", "b"}));
  EXPECT_EQ((*index_->FindUser("alice"))->groups, std::vector<std::string>({"all"}));
  auto groups = index_->ListGroups();
  ASSERT_TRUE(groups.ok());
  ASSERT_EQ(groups->size(), 2u) << "'all' is not listed as a group of its own";
  EXPECT_EQ((*groups)[0].name, "a");
}

TEST_F(SqliteIndexTest, SessionsAreStoredTouchedAndRemoved) {
  ASSERT_TRUE(index_->PutSession({"s1", "alice", 2000, 1000}).ok());
  auto s = index_->FindSession("s1");
  ASSERT_TRUE(s.ok() && s->has_value());
  EXPECT_EQ((*s)->user, "alice");
  EXPECT_EQ((*s)->last_seen, 1000);
  ASSERT_TRUE(index_->TouchSession("s1", 1500).ok());
  EXPECT_EQ((*index_->FindSession("s1"))->last_seen, 1500);
  // A new session purges the ones past their absolute end.
  ASSERT_TRUE(index_->PutSession({"s2", "bob", 5000, 3000}).ok());
  EXPECT_FALSE(index_->FindSession("s1")->has_value());
  EXPECT_TRUE(*index_->RemoveSession("s2"));
  EXPECT_FALSE(*index_->RemoveSession("s2"));
  EXPECT_FALSE(index_->FindSession("s2")->has_value());
}

TEST_F(SqliteIndexTest, ScopedBroadQueriesAnswerTheSameForLargeAndSmallScopes) {
  // "big" holds most studies (each candidate is probed), "small" a few (its studies are
  // collected first): both plans must return exactly the visible studies.
  ASSERT_TRUE(index_->PutGroupRule({"big", GroupRule::Kind::kInstitution, "Big"}).ok());
  ASSERT_TRUE(index_->PutGroupRule({"small", GroupRule::Kind::kInstitution, "Small"}).ok());
  std::vector<InstanceRecord> batch;
  for (int n = 1; n <= 600; ++n) {
    std::string study = "1.2.826.0.1.3680043.8.498.77." + std::to_string(n);
    InstanceRecord r = Record(study + ".1.1", n, study, study + ".1", "P" + std::to_string(n));
    r.attrs.institution_name = n % 100 == 0 ? "Small" : "Big";
    batch.push_back(r);
  }
  ASSERT_EQ(Add(batch).size(), 600u);
  dicom::Query q;
  q.level = dicom::QueryLevel::kStudy;
  q.return_tags = {dicom::MakeTag(0x0008, 0x0080)};
  q.limit = 10;
  for (const char* group : {"big", "small"}) {
    auto found = index_->Find(q, AccessScope::Of({group}));
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    EXPECT_EQ(found->size(), std::string(group) == "big" ? 11u : 6u) << group;
    for (const auto& m : *found) {
      EXPECT_EQ(m.values.at(dicom::MakeTag(0x0008, 0x0080)), std::string(group) == "big" ? "Big" : "Small");
    }
    dicom::Query patients = q;
    patients.level = dicom::QueryLevel::kPatient;
    patients.return_tags = {dicom::MakeTag(0x0020, 0x1200)};
    found = index_->Find(patients, AccessScope::Of({group}));
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    EXPECT_EQ(found->size(), std::string(group) == "big" ? 11u : 6u) << group;
  }
}

TEST_F(SqliteIndexTest, OffsetPagesThroughAStableOrderAndModalityListsMatchAny) {
  std::vector<InstanceRecord> batch;
  for (int n = 1; n <= 25; ++n) {
    std::string study = "1.2.826.0.1.3680043.8.498.78." + std::to_string(n);
    InstanceRecord r = Record(study + ".1.1", n, study, study + ".1", "P" + std::to_string(n));
    r.attrs.modality = n % 3 == 0 ? "MR" : n % 3 == 1 ? "CT" : "US";
    batch.push_back(r);
  }
  ASSERT_EQ(Add(batch).size(), 25u);
  const dicom::TagKey kStudyUid = dicom::MakeTag(0x0020, 0x000D);
  dicom::Query q;
  q.level = dicom::QueryLevel::kStudy;
  q.return_tags = {kStudyUid};
  auto all = index_->Find(q, AccessScope::Everything());  // kNoLimit: everything
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 25u);
  std::vector<std::string> paged;
  q.limit = 7;
  for (q.offset = 0; q.offset < 30; q.offset += 7) {
    auto page = index_->Find(q, AccessScope::Everything());
    ASSERT_TRUE(page.ok());
    // One row beyond the limit says more exist, except on the last page.
    EXPECT_EQ(page->size(), q.offset + 8 <= 25 ? 8u : 25 - std::min<size_t>(q.offset, 25));
    for (size_t i = 0; i < std::min<size_t>(page->size(), 7); ++i) {
      paged.push_back((*page)[i].values.at(kStudyUid));
    }
  }
  ASSERT_EQ(paged.size(), 25u);
  for (size_t i = 0; i < 25; ++i) EXPECT_EQ(paged[i], (*all)[i].values.at(kStudyUid));

  // ModalitiesInStudy "CT\MR" (C-FIND) or "CT,MR" (QIDO) match studies with either.
  const dicom::QueryAttribute* modalities = dicom::FindQueryAttribute(dicom::MakeTag(0x0008, 0x0061));
  auto parsed = dicom::ParseMatchingKey(*modalities, "CT\\MR");
  ASSERT_TRUE(parsed.ok() && parsed->matches);
  EXPECT_EQ(parsed->condition.kind, dicom::Condition::Kind::kList);
  dicom::Query m;
  m.level = dicom::QueryLevel::kStudy;
  m.return_tags = {kStudyUid};
  m.conditions = {parsed->condition};
  auto found = index_->Find(m, AccessScope::Everything());
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->size(), 17u);  // 8 MR + 9 CT of 25
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
