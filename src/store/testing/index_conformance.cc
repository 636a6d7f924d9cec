#include "store/testing/index_conformance.h"

#include <algorithm>
#include <latch>
#include <map>
#include <set>
#include <thread>

#include "dicom/query.h"
#include "security/audit_chain.h"

namespace tresor::store::testing {

void IndexConformanceTest::SetUp() {
  auto made = GetParam().make();
  ASSERT_TRUE(made.ok()) << GetParam().name << ": " << made.status().ToString();
  factory_ = std::move(made).value();
  ReOpen();
}

void IndexConformanceTest::TearDown() {
  index_.reset();
  factory_.reset();
}

void IndexConformanceTest::ReOpen() {
  index_.reset();
  auto opened = factory_->Open();
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  index_ = std::move(opened).value();
}

std::unique_ptr<Index> IndexConformanceTest::OpenSecond() {
  auto opened = factory_->Open();
  EXPECT_TRUE(opened.ok()) << opened.status().ToString();
  return opened.ok() ? std::move(opened).value() : nullptr;
}

std::vector<AddOutcome> IndexConformanceTest::Add(const std::vector<InstanceRecord>& records) {
  auto outcomes = index_->AddInstances(records);
  EXPECT_TRUE(outcomes.ok()) << outcomes.status().ToString();
  return outcomes.ok() ? *outcomes : std::vector<AddOutcome>{};
}

std::optional<StoredInstance> IndexConformanceTest::Find(const std::string& uid) {
  auto found = index_->FindInstance(uid, AccessScope::Everything());
  EXPECT_TRUE(found.ok()) << found.status().ToString();
  return found.ok() ? *found : std::nullopt;
}

IndexStats IndexConformanceTest::Stats() {
  auto stats = index_->Stats(AccessScope::Everything());
  EXPECT_TRUE(stats.ok()) << stats.status().ToString();
  return stats.ok() ? *stats : IndexStats{};
}

namespace {

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

void AddSortStudies(Index& index) {
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
  auto added = index.AddInstances(records);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  ASSERT_EQ(added->size(), records.size());
}

// The accession numbers of the studies found with `keys` ("-StudyDate", ...), `limit`
// and `offset`.
std::vector<std::string> Order(Index& index, const std::vector<std::string>& keys,
                               size_t limit = 100, size_t offset = 0) {
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
  auto found = index.Find(q, AccessScope::Everything());
  EXPECT_TRUE(found.ok()) << found.status().ToString();
  std::vector<std::string> out;
  if (!found.ok()) return out;
  for (size_t i = 0; i < found->size() && i < limit; ++i) {
    out.push_back((*found)[i].values[dicom::MakeTag(0x0008, 0x0050)]);
  }
  return out;
}

TEST_P(IndexConformanceTest, EmptyIndexHasZeroStats) {
  IndexStats st = Stats();
  EXPECT_EQ(st.patients, 0);
  EXPECT_EQ(st.studies, 0);
  EXPECT_EQ(st.series, 0);
  EXPECT_EQ(st.instances, 0);
  EXPECT_EQ(st.bytes, 0u);
  EXPECT_FALSE(Find("1.2.3").has_value());
}

TEST_P(IndexConformanceTest, AddThenFindRoundTripsFields) {
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

TEST_P(IndexConformanceTest, SameUidSameContentIsIdentical) {
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

TEST_P(IndexConformanceTest, SameUidDifferentContentIsConflictAndChangesNothing) {
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

TEST_P(IndexConformanceTest, DuplicatesWithinOneBatchAreResolvedInOrder) {
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

TEST_P(IndexConformanceTest, EmptyBatchReturnsNoOutcomes) {
  EXPECT_TRUE(Add({}).empty());
  EXPECT_EQ(Stats().instances, 0);
}

TEST_P(IndexConformanceTest, StatsCountsEachLevelOnce) {
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

TEST_P(IndexConformanceTest, TwoInstancesOfOneSeriesCountOneSeries) {
  ASSERT_EQ(Add({Record("1.2.3.1", 1)}).size(), 1u);
  ASSERT_EQ(Add({Record("1.2.3.2", 2)}).size(), 1u);
  IndexStats st = Stats();
  EXPECT_EQ(st.patients, 1);
  EXPECT_EQ(st.studies, 1);
  EXPECT_EQ(st.series, 1);
  EXPECT_EQ(st.instances, 2);
}

TEST_P(IndexConformanceTest, NonPatientObjectsAreIndexedAndFindable) {
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

TEST_P(IndexConformanceTest, IsBlobReferenced) {
  ASSERT_EQ(Add({Record("1.2.3.1", 1)}).size(), 1u);
  auto yes = index_->IsBlobReferenced(BlobName(1));
  ASSERT_TRUE(yes.ok()) << yes.status().ToString();
  EXPECT_TRUE(*yes);
  auto no = index_->IsBlobReferenced(BlobName(2));
  ASSERT_TRUE(no.ok()) << no.status().ToString();
  EXPECT_FALSE(*no);
}

TEST_P(IndexConformanceTest, PeersPutListRemove) {
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

TEST_P(IndexConformanceTest, UsersPutFindList) {
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

TEST_P(IndexConformanceTest, ReopeningKeepsTheData) {
  ASSERT_EQ(Add({Record("1.2.3.1", 1), Record("1.2.3.2", 2, kStudyB, kSeriesB1, "P2")}).size(), 2u);
  ASSERT_TRUE(index_->PutPeer(Peer("ct1", "CT_SCANNER", "10.0.0.1", 104, "store")).ok());
  ASSERT_TRUE(index_->PutUser(User("alice", "$argon2id$alice", "admin", false)).ok());

  ReOpen();

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

TEST_P(IndexConformanceTest, ApiTokensAreListedAndRemoved) {
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

TEST_P(IndexConformanceTest, WithoutSortKeysTheOrderIsTheStableRowOrder) {
  AddSortStudies(*index_);
  EXPECT_EQ(Order(*index_, {}), (std::vector<std::string>{"A3", "A1", "A5", "A2", "A4", "A6"}));
}

TEST_P(IndexConformanceTest, StudyDateAscendingAndDescendingWithTheRowIdBreakingTies) {
  AddSortStudies(*index_);
  // Empty dates first ascending; equal dates in row order.
  EXPECT_EQ(Order(*index_, {"StudyDate"}), (std::vector<std::string>{"A2", "A1", "A6", "A3", "A5", "A4"}));
  // Descending: the tie-breaker runs descending too; empty dates last.
  EXPECT_EQ(Order(*index_, {"-StudyDate"}), (std::vector<std::string>{"A4", "A5", "A3", "A6", "A1", "A2"}));
}

TEST_P(IndexConformanceTest, TheOrderIsAppliedBeforeLimitAndOffset) {
  AddSortStudies(*index_);
  std::vector<std::string> all = Order(*index_, {"-StudyDate"});
  std::vector<std::string> paged;
  for (size_t offset = 0; offset < all.size(); offset += 4) {
    for (const std::string& a : Order(*index_, {"-StudyDate"}, 4, offset)) paged.push_back(a);
  }
  EXPECT_EQ(paged, all);  // the pages concatenate to the whole sorted list
  EXPECT_EQ(Order(*index_, {"-StudyDate"}, 2, 1), (std::vector<std::string>{"A5", "A3"}));
}

TEST_P(IndexConformanceTest, ComputedColumnsOnASortedPageBelongToThePagesOwnStudies) {
  // Study k (1..6) has k instances: even k in one CT series, odd k alternating MR and CT
  // series (study 1: one MR instance). Computed columns (counts, ModalitiesInStudy) are
  // evaluated for the page's rows only; each page must still carry its own studies'
  // values, in the requested order.
  std::vector<InstanceRecord> records;
  for (int k = 1; k <= 6; ++k) {
    std::string study = "1.2.3.6." + std::to_string(k);
    for (int i = 1; i <= k; ++i) {
      int series = i % (k % 2 + 1);  // 0, or alternating 1/0
      InstanceRecord r = Record(study + "." + std::to_string(i), 10 * k + i, study,
                                study + ".s" + std::to_string(series), "P" + std::to_string(k));
      r.attrs.modality = series == 0 ? "CT" : "MR";
      r.attrs.study_date = "2024010" + std::to_string(7 - k);  // later studies are older
      r.attrs.accession_number = "A" + std::to_string(k);
      records.push_back(r);
    }
  }
  auto added = index_->AddInstances(records);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  const dicom::TagKey kAccession = dicom::MakeTag(0x0008, 0x0050);
  const dicom::TagKey kInstances = dicom::MakeTag(0x0020, 0x1208);
  const dicom::TagKey kSeries = dicom::MakeTag(0x0020, 0x1206);
  const dicom::TagKey kModalities = dicom::MakeTag(0x0008, 0x0061);
  dicom::Query q;
  q.level = dicom::QueryLevel::kStudy;
  q.return_tags = {kAccession, kInstances, kSeries, kModalities};
  q.order_by.push_back({dicom::FindQueryAttribute("StudyDate"), false});  // oldest first: A6..A1
  std::vector<std::string> rows;
  q.limit = 4;
  for (q.offset = 0; q.offset < 6; q.offset += 4) {
    auto page = index_->Find(q, AccessScope::Everything());
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    ASSERT_EQ(page->size(), q.offset == 0 ? 5u : 2u);  // one beyond the limit on the first
    for (size_t i = 0; i < std::min<size_t>(page->size(), 4); ++i) {
      auto& v = (*page)[i].values;
      rows.push_back(v[kAccession] + " " + v[kInstances] + " " + v[kSeries] + " " + v[kModalities]);
    }
  }
  EXPECT_EQ(rows, (std::vector<std::string>{"A6 6 1 CT", "A5 5 2 CT\\MR", "A4 4 1 CT",
                                            "A3 3 2 CT\\MR", "A2 2 1 CT", "A1 1 1 MR"}));
}

TEST_P(IndexConformanceTest, PatientNamesSortIgnoringCaseAndAccents) {
  AddSortStudies(*index_);
  // alpha^a < alpha^z < bravo < charlie < delta < emile (folded)
  EXPECT_EQ(Order(*index_, {"PatientName"}), (std::vector<std::string>{"A1", "A4", "A3", "A2", "A6", "A5"}));
  EXPECT_EQ(Order(*index_, {"-PatientName"}), (std::vector<std::string>{"A5", "A6", "A2", "A3", "A4", "A1"}));
}

TEST_P(IndexConformanceTest, SeveralKeysSortInTurn) {
  AddSortStudies(*index_);
  // By date, then by name descending within a date.
  EXPECT_EQ(Order(*index_, {"StudyDate", "-PatientName"}),
            (std::vector<std::string>{"A2", "A6", "A1", "A5", "A3", "A4"}));
  EXPECT_EQ(Order(*index_, {"-AccessionNumber"}), (std::vector<std::string>{"A6", "A5", "A4", "A3", "A2", "A1"}));
}

TEST_P(IndexConformanceTest, SeriesNumbersSortAsIntegers) {
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

TEST_P(IndexConformanceTest, GroupRulesAssignStudiesAtStoreTimeAndScopeFiltersFinds) {
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

TEST_P(IndexConformanceTest, PeerAndUserGroupsRoundTrip) {
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

TEST_P(IndexConformanceTest, SessionsAreStoredTouchedAndRemoved) {
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

TEST_P(IndexConformanceTest, ScopedBroadQueriesAnswerTheSameForLargeAndSmallScopes) {
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

TEST_P(IndexConformanceTest, OffsetPagesThroughAStableOrderAndModalityListsMatchAny) {
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

// ---- every matching kind (PS3.4 C.2.2.2), at every level ----

// Five studies of four patients:
//   Q.1  P1 Doe^Jane     19800101 F  20230115 083000 ACC1    Nord  CT (2 instances) + MR
//   Q.5  P1 Doe^Jane                 20230116 120000 ACC5          CT
//   Q.2  P2 Smith^John   19751231 M  20240301 141500 ACC2    Sued  MR
//   Q.3  P3 Müller^Jörg  19900615 M  20241231 235959 100%_A        US
//   Q.4  P4 Doe^John     (no date, time, birth date or sex)  100xxA  CT
constexpr char kQ[] = "1.2.826.0.1.3680043.8.498.90.";
std::string QStudy(int n) { return kQ + std::to_string(n); }

void AddQuerySet(Index& index) {
  struct Row {
    int study;
    int series;
    const char* modality;
    const char* patient_id;
    const char* name;
    const char* birth;
    const char* sex;
    const char* date;
    const char* time;
    const char* accession;
    const char* institution;
  };
  const Row rows[] = {
      {1, 1, "CT", "P1", "Doe^Jane", "19800101", "F", "20230115", "083000", "ACC1", "Nord"},
      {1, 1, "CT", "P1", "Doe^Jane", "19800101", "F", "20230115", "083000", "ACC1", "Nord"},
      {1, 2, "MR", "P1", "Doe^Jane", "19800101", "F", "20230115", "083000", "ACC1", "Nord"},
      {5, 1, "CT", "P1", "Doe^Jane", "19800101", "F", "20230116", "120000", "ACC5", ""},
      {2, 1, "MR", "P2", "Smith^John", "19751231", "M", "20240301", "141500", "ACC2", "Sued"},
      {3, 1, "US", "P3", "M\xC3\xBCller^J\xC3\xB6rg", "19900615", "M", "20241231", "235959", "100%_A", ""},
      {4, 1, "CT", "P4", "Doe^John", "", "", "", "", "100xxA", ""},
  };
  std::vector<InstanceRecord> records;
  int n = 0;
  for (const Row& row : rows) {
    ++n;
    std::string study = QStudy(row.study);
    InstanceRecord r = Record(study + "." + std::to_string(row.series) + "." + std::to_string(n),
                              500 + n, study, study + "." + std::to_string(row.series),
                              row.patient_id);
    r.attrs.modality = row.modality;
    r.attrs.patient_name = row.name;
    r.attrs.patient_birth_date = row.birth;
    r.attrs.patient_sex = row.sex;
    r.attrs.study_date = row.date;
    r.attrs.study_time = row.time;
    r.attrs.accession_number = row.accession;
    r.attrs.institution_name = row.institution;
    r.attrs.instance_number = std::to_string(n);
    r.attrs.series_number = std::to_string(row.series);
    records.push_back(r);
  }
  auto added = index.AddInstances(records);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  ASSERT_EQ(added->size(), records.size());
}

// One matching key: an attribute keyword and its value as a client sends it.
struct Key {
  const char* keyword;
  std::string value;
};

// The values of `returned` of every match of `keys` at `level`, sorted.
std::vector<std::string> Matches(Index& index, dicom::QueryLevel level, const std::vector<Key>& keys,
                                 const char* returned, bool fuzzy = false) {
  dicom::Query q;
  q.level = level;
  q.fuzzy_person_names = fuzzy;
  const dicom::QueryAttribute* ret = dicom::FindQueryAttribute(std::string_view(returned));
  EXPECT_NE(ret, nullptr) << returned;
  if (ret == nullptr) return {};
  q.return_tags = {ret->tag};
  for (const Key& k : keys) {
    const dicom::QueryAttribute* a = dicom::FindQueryAttribute(std::string_view(k.keyword));
    EXPECT_NE(a, nullptr) << k.keyword;
    if (a == nullptr) return {};
    auto parsed = dicom::ParseMatchingKey(*a, k.value);
    EXPECT_TRUE(parsed.ok() && parsed->matches) << k.keyword << "=" << k.value;
    if (!parsed.ok() || !parsed->matches) return {};
    q.conditions.push_back(parsed->condition);
  }
  auto found = index.Find(q, AccessScope::Everything());
  EXPECT_TRUE(found.ok()) << found.status().ToString();
  std::vector<std::string> out;
  if (!found.ok()) return out;
  for (const auto& m : *found) {
    auto v = m.values.find(ret->tag);
    out.push_back(v == m.values.end() ? "<absent>" : v->second);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Studies(std::initializer_list<int> ns) {
  std::vector<std::string> out;
  for (int n : ns) out.push_back(QStudy(n));
  std::sort(out.begin(), out.end());
  return out;
}

using dicom::QueryLevel;

TEST_P(IndexConformanceTest, SingleValueMatchingIsExactAndCaseSensitive) {
  AddQuerySet(*index_);
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"PatientID", "P1"}}, "StudyInstanceUID"),
            Studies({1, 5}));
  EXPECT_TRUE(Matches(*index_, QueryLevel::kStudy, {{"PatientID", "p1"}}, "StudyInstanceUID").empty());
  EXPECT_TRUE(Matches(*index_, QueryLevel::kStudy, {{"PatientID", "P"}}, "StudyInstanceUID").empty());
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"AccessionNumber", "100%_A"}}, "StudyInstanceUID"),
            Studies({3}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"PatientName", "M\xC3\xBCller^J\xC3\xB6rg"}},
                    "StudyInstanceUID"),
            Studies({3}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"PatientSex", "M"}}, "StudyInstanceUID"),
            Studies({2, 3}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"StudyDate", "20230115"}}, "StudyInstanceUID"),
            Studies({1}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"InstitutionName", "Sued"}}, "StudyInstanceUID"),
            Studies({2}));
}

TEST_P(IndexConformanceTest, WildcardsMatchAnyRunAndOneCharacterAndNothingElse) {
  AddQuerySet(*index_);
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"PatientName", "Doe*"}}, "StudyInstanceUID"),
            Studies({1, 4, 5}));
  EXPECT_TRUE(Matches(*index_, QueryLevel::kStudy, {{"PatientName", "doe*"}}, "StudyInstanceUID").empty());
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"PatientName", "*John"}}, "StudyInstanceUID"),
            Studies({2, 4}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"PatientName", "D?e^J*"}}, "StudyInstanceUID"),
            Studies({1, 4, 5}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"PatientName", "M?ller*"}}, "StudyInstanceUID"),
            Studies({3}))
      << "? is one character, not one byte";
  // SQL's own wildcard characters are literals in DICOM values.
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"AccessionNumber", "100%*"}}, "StudyInstanceUID"),
            Studies({3}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"AccessionNumber", "100?xA"}}, "StudyInstanceUID"),
            Studies({4}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"AccessionNumber", "*_*"}}, "StudyInstanceUID"),
            Studies({3}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"AccessionNumber", "ACC*"}}, "StudyInstanceUID"),
            Studies({1, 2, 5}));
}

TEST_P(IndexConformanceTest, FuzzyPersonNamesIgnoreCaseAndAccents) {
  AddQuerySet(*index_);
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"PatientName", "doe^j*"}}, "StudyInstanceUID", true),
            Studies({1, 4, 5}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"PatientName", "muller*"}}, "StudyInstanceUID", true),
            Studies({3}));
  EXPECT_TRUE(
      Matches(*index_, QueryLevel::kStudy, {{"PatientName", "muller*"}}, "StudyInstanceUID").empty());
}

TEST_P(IndexConformanceTest, DateAndTimeRangesIncludeTheirBounds) {
  AddQuerySet(*index_);
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"StudyDate", "20230101-20231231"}}, "StudyInstanceUID"),
            Studies({1, 5}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"StudyDate", "20230116-20240301"}}, "StudyInstanceUID"),
            Studies({2, 5}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"StudyDate", "20240101-"}}, "StudyInstanceUID"),
            Studies({2, 3}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"StudyDate", "-20230115"}}, "StudyInstanceUID"),
            Studies({1}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"StudyTime", "080000-141500"}}, "StudyInstanceUID"),
            Studies({1, 2, 5}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"PatientBirthDate", "19800101-19901231"}},
                    "StudyInstanceUID"),
            Studies({1, 3, 5}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy,
                    {{"StudyDate", "20230101-20241231"}, {"PatientSex", "M"}}, "StudyInstanceUID"),
            Studies({2, 3}));
}

TEST_P(IndexConformanceTest, UidListsAndValueListsMatchAnyMember) {
  AddQuerySet(*index_);
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"StudyInstanceUID", QStudy(1) + "\\" + QStudy(3)}},
                    "StudyInstanceUID"),
            Studies({1, 3}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"StudyInstanceUID", QStudy(1) + "\\1.2.3.404"}},
                    "StudyInstanceUID"),
            Studies({1}));
  // Several values of one key (QIDO-RS a,b) are one list condition.
  dicom::Query q;
  q.level = QueryLevel::kStudy;
  q.return_tags = {dicom::MakeTag(0x0020, 0x000D)};
  auto ids = dicom::ParseMatchingValues(*dicom::FindQueryAttribute("PatientID"), {"P2", "P3", "P9"});
  ASSERT_TRUE(ids.ok() && ids->matches);
  q.conditions = {ids->condition};
  auto found = index_->Find(q, AccessScope::Everything());
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  std::vector<std::string> got;
  for (const auto& m : *found) got.push_back(m.values.at(dicom::MakeTag(0x0020, 0x000D)));
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, Studies({2, 3}));
}

TEST_P(IndexConformanceTest, ModalitiesInStudyMatchesAnyOfTheStudysModalities) {
  AddQuerySet(*index_);
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"ModalitiesInStudy", "MR"}}, "StudyInstanceUID"),
            Studies({1, 2}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"ModalitiesInStudy", "C*"}}, "StudyInstanceUID"),
            Studies({1, 4, 5}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"ModalitiesInStudy", "CT\\US"}}, "StudyInstanceUID"),
            Studies({1, 3, 4, 5}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy,
                    {{"ModalitiesInStudy", "CT"}, {"PatientName", "Doe^J*"}}, "StudyInstanceUID"),
            Studies({1, 4, 5}));
  // Returned: every modality of the study once.
  auto modalities = Matches(*index_, QueryLevel::kStudy, {{"StudyInstanceUID", QStudy(1)}},
                            "ModalitiesInStudy");
  ASSERT_EQ(modalities.size(), 1u);
  EXPECT_TRUE(modalities[0] == "CT\\MR" || modalities[0] == "MR\\CT") << modalities[0];
}

TEST_P(IndexConformanceTest, ComputedCountsAtPatientStudyAndSeriesLevel) {
  AddQuerySet(*index_);
  std::vector<Key> jane = {{"PatientID", "P1"}};
  EXPECT_EQ(Matches(*index_, QueryLevel::kPatient, jane, "NumberOfPatientRelatedStudies"),
            std::vector<std::string>{"2"});
  EXPECT_EQ(Matches(*index_, QueryLevel::kPatient, jane, "NumberOfPatientRelatedSeries"),
            std::vector<std::string>{"3"});
  EXPECT_EQ(Matches(*index_, QueryLevel::kPatient, jane, "NumberOfPatientRelatedInstances"),
            std::vector<std::string>{"4"});
  std::vector<Key> q1 = {{"StudyInstanceUID", QStudy(1)}};
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, q1, "NumberOfStudyRelatedSeries"),
            std::vector<std::string>{"2"});
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, q1, "NumberOfStudyRelatedInstances"),
            std::vector<std::string>{"3"});
  EXPECT_EQ(Matches(*index_, QueryLevel::kSeries, {{"SeriesInstanceUID", QStudy(1) + ".1"}},
                    "NumberOfSeriesRelatedInstances"),
            std::vector<std::string>{"2"});
  // Patient level: one match per patient, however many studies.
  EXPECT_EQ(Matches(*index_, QueryLevel::kPatient, {{"PatientName", "Doe*"}}, "PatientID"),
            (std::vector<std::string>{"P1", "P4"}));
}

TEST_P(IndexConformanceTest, SeriesAndImageLevelsCombineConditionsOfHigherLevels) {
  AddQuerySet(*index_);
  EXPECT_EQ(Matches(*index_, QueryLevel::kSeries, {{"Modality", "MR"}}, "SeriesInstanceUID"),
            (std::vector<std::string>{QStudy(1) + ".2", QStudy(2) + ".1"}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kSeries, {{"Modality", "MR"}, {"PatientID", "P1"}},
                    "SeriesInstanceUID"),
            (std::vector<std::string>{QStudy(1) + ".2"}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kImage, {{"StudyInstanceUID", QStudy(1)}}, "InstanceNumber"),
            (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kImage,
                    {{"SOPInstanceUID", QStudy(1) + ".1.1\\" + QStudy(4) + ".1.7"}}, "SOPInstanceUID"),
            (std::vector<std::string>{QStudy(1) + ".1.1", QStudy(4) + ".1.7"}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kImage, {{"Modality", "CT"}, {"StudyDate", "-20230115"}},
                    "SOPInstanceUID"),
            (std::vector<std::string>{QStudy(1) + ".1.1", QStudy(1) + ".1.2"}));
  EXPECT_EQ(Matches(*index_, QueryLevel::kImage, {{"SOPClassUID", kCtImageStorage}, {"PatientID", "P4"}},
                    "SOPInstanceUID"),
            (std::vector<std::string>{QStudy(4) + ".1.7"}));
}

TEST_P(IndexConformanceTest, ReturnedValuesComeFromEveryLevel) {
  AddQuerySet(*index_);
  dicom::Query q;
  q.level = QueryLevel::kImage;
  auto key = dicom::ParseMatchingKey(*dicom::FindQueryAttribute("SOPInstanceUID"), QStudy(3) + ".1.6");
  ASSERT_TRUE(key.ok());
  q.conditions = {key->condition};
  for (const char* k : {"PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
                        "StudyTime", "AccessionNumber", "Modality", "SeriesNumber", "InstanceNumber",
                        "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID"}) {
    q.return_tags.push_back(dicom::FindQueryAttribute(std::string_view(k))->tag);
  }
  auto found = index_->Find(q, AccessScope::Everything());
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_EQ(found->size(), 1u);
  auto v = [&](const char* k) { return (*found)[0].values[dicom::FindQueryAttribute(std::string_view(k))->tag]; };
  EXPECT_EQ(v("PatientName"), "M\xC3\xBCller^J\xC3\xB6rg");
  EXPECT_EQ(v("PatientID"), "P3");
  EXPECT_EQ(v("PatientBirthDate"), "19900615");
  EXPECT_EQ(v("PatientSex"), "M");
  EXPECT_EQ(v("StudyDate"), "20241231");
  EXPECT_EQ(v("StudyTime"), "235959");
  EXPECT_EQ(v("AccessionNumber"), "100%_A");
  EXPECT_EQ(v("Modality"), "US");
  EXPECT_EQ(v("SeriesNumber"), "1");
  EXPECT_EQ(v("InstanceNumber"), "6");
  EXPECT_EQ(v("SOPClassUID"), kCtImageStorage);
  EXPECT_EQ(v("StudyInstanceUID"), QStudy(3));
  EXPECT_EQ(v("SeriesInstanceUID"), QStudy(3) + ".1");
}

TEST_P(IndexConformanceTest, LimitReturnsOneMoreMatchThanAskedWhenMoreExist) {
  AddQuerySet(*index_);
  dicom::Query q;
  q.level = QueryLevel::kStudy;
  q.return_tags = {dicom::MakeTag(0x0020, 0x000D)};
  q.limit = 2;
  auto found = index_->Find(q, AccessScope::Everything());
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->size(), 3u);
  q.limit = 5;
  found = index_->Find(q, AccessScope::Everything());
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->size(), 5u);
  q.offset = 4;
  found = index_->Find(q, AccessScope::Everything());
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->size(), 1u);
  q.offset = 9;
  found = index_->Find(q, AccessScope::Everything());
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(found->empty());
}

TEST_P(IndexConformanceTest, ASeriesFiledUnderAnotherStudyIsInconsistent) {
  ASSERT_EQ(Add({Record("1.2.3.1", 1, kStudyA, kSeriesA1)}), std::vector<AddOutcome>{AddOutcome::kAdded});
  EXPECT_EQ(Add({Record("1.2.3.2", 2, kStudyB, kSeriesA1, "P2")}),
            std::vector<AddOutcome>{AddOutcome::kInconsistent});
  EXPECT_FALSE(Find("1.2.3.2").has_value());
  EXPECT_EQ(Stats().instances, 1);
}

TEST_P(IndexConformanceTest, ALaterInstanceUpdatesChangedValuesAndKeepsTheRows) {
  ASSERT_EQ(Add({Record("1.2.3.1", 1)}), std::vector<AddOutcome>{AddOutcome::kAdded});
  InstanceRecord later = Record("1.2.3.2", 2);
  later.attrs.patient_name = "Roe^Jane";
  later.attrs.patient_birth_date = "19700101";
  later.attrs.study_date = "20240102";
  later.attrs.modality = "MR";
  ASSERT_EQ(Add({later}), std::vector<AddOutcome>{AddOutcome::kAdded});
  InstanceRecord same = later;  // nothing changes: the rows are found, not rewritten
  same.attrs.sop_instance_uid = "1.2.3.3";
  same.blob_name = BlobName(3);
  ASSERT_EQ(Add({same}), std::vector<AddOutcome>{AddOutcome::kAdded});
  IndexStats st = Stats();
  EXPECT_EQ(st.patients, 1);
  EXPECT_EQ(st.studies, 1);
  EXPECT_EQ(st.series, 1);
  EXPECT_EQ(st.instances, 3);
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"PatientName", "Roe^Jane"}}, "StudyInstanceUID"),
            std::vector<std::string>{kStudyA});
  EXPECT_TRUE(Matches(*index_, QueryLevel::kStudy, {{"PatientName", "Doe^Jane"}}, "StudyInstanceUID").empty());
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"PatientName", "roe^jane"}}, "StudyInstanceUID",
                    /*fuzzy=*/true),
            std::vector<std::string>{kStudyA});
  EXPECT_EQ(Matches(*index_, QueryLevel::kStudy, {{"StudyDate", "20240102"}}, "StudyInstanceUID"),
            std::vector<std::string>{kStudyA});
  EXPECT_EQ(Matches(*index_, QueryLevel::kSeries, {{"Modality", "MR"}}, "SeriesInstanceUID"),
            std::vector<std::string>{kSeriesA1});
  EXPECT_EQ(Matches(*index_, QueryLevel::kImage, {{"SeriesInstanceUID", kSeriesA1}}, "SOPInstanceUID").size(),
            3u);
}

TEST_P(IndexConformanceTest, ApiTokenNamesAreUnique) {
  ASSERT_TRUE(index_->PutApiToken({"ci", "alice", Sha('1'), 1800000000}).ok());
  Status again = index_->PutApiToken({"ci", "bob", Sha('2'), 1800000000});
  EXPECT_EQ(again.code(), Code::kAlreadyExists) << again.ToString();
  auto found = index_->FindApiToken(Sha('1'));
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->user, "alice");
  EXPECT_FALSE(index_->FindApiToken(Sha('2'))->has_value());
}

TEST_P(IndexConformanceTest, PeerFieldsRoundTrip) {
  PeerRecord p = Peer("ws", "WS", "ws.example", 11112, "find,move");
  p.certificate_sha256 = Sha('f');
  p.require_identity = true;
  p.groups = {"cardio"};
  ASSERT_TRUE(index_->PutPeer(p).ok());
  ReOpen();
  auto peers = index_->ListPeers();
  ASSERT_TRUE(peers.ok());
  ASSERT_EQ(peers->size(), 1u);
  EXPECT_EQ((*peers)[0].certificate_sha256, Sha('f'));
  EXPECT_TRUE((*peers)[0].require_identity);
  EXPECT_EQ((*peers)[0].groups, std::vector<std::string>{"cardio"});
  EXPECT_EQ((*peers)[0].host, "ws.example");
}

TEST_P(IndexConformanceTest, SessionsSurviveReopeningAndTouchOfAMissingOneIsHarmless) {
  ASSERT_TRUE(index_->PutSession({"s1", "alice", 2000, 1000}).ok());
  EXPECT_TRUE(index_->TouchSession("nope", 1500).ok());
  ReOpen();
  auto s = index_->FindSession("s1");
  ASSERT_TRUE(s.ok() && s->has_value());
  EXPECT_EQ((*s)->expires_at, 2000);
  EXPECT_FALSE(index_->FindSession("nope")->has_value());
  // Put with an existing id replaces it.
  ASSERT_TRUE(index_->PutSession({"s1", "alice", 3000, 1200}).ok());
  EXPECT_EQ((*index_->FindSession("s1"))->expires_at, 3000);
}

// ---- lockout counters ----

// One more failure, forgotten 1000 ms after `now`.
LockoutUpdate Increment(int64_t now) {
  return [now](const std::optional<LockoutRecord>& current) {
    LockoutRecord next = current.value_or(LockoutRecord{});
    ++next.failures;
    next.forget_at_ms = now + 1000;
    return next;
  };
}

TEST_P(IndexConformanceTest, LockoutUpdatesSeeTheStoredRecordAndRemoveForgetsIt) {
  auto none = index_->FindLockout("k", 0);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());
  std::optional<LockoutRecord> seen = LockoutRecord{-1, -1, -1};
  auto r = index_->UpdateLockout("k", 100, [&](const std::optional<LockoutRecord>& current) {
    seen = current;
    return LockoutRecord{1, 5000, 9000};
  });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(seen.has_value()) << "a new key starts from nothing";
  EXPECT_EQ(r->failures, 1);
  ReOpen();
  auto found = index_->FindLockout("k", 200);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->failures, 1);
  EXPECT_EQ((*found)->not_before_ms, 5000);
  EXPECT_EQ((*found)->forget_at_ms, 9000);
  ASSERT_TRUE(index_->UpdateLockout("k", 300, [&](const std::optional<LockoutRecord>& current) {
    seen = current;
    return LockoutRecord{current ? current->failures + 1 : -100, 6000, 9500};
  }).ok());
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->failures, 1);
  EXPECT_EQ((*index_->FindLockout("k", 300))->failures, 2);
  ASSERT_TRUE(index_->RemoveLockout("k").ok());
  EXPECT_FALSE(index_->FindLockout("k", 300)->has_value());
  EXPECT_TRUE(index_->RemoveLockout("never there").ok());
}

TEST_P(IndexConformanceTest, ForgottenLockoutsAreAbsentAndStartAfresh) {
  ASSERT_TRUE(index_->UpdateLockout("old", 0, Increment(0)).ok());  // forgotten at 1000
  EXPECT_TRUE(index_->FindLockout("old", 999)->has_value());
  EXPECT_FALSE(index_->FindLockout("old", 1000)->has_value()) << "forgotten from forget_at on";
  ASSERT_TRUE(index_->UpdateLockout("new", 5000, Increment(5000)).ok());
  std::optional<LockoutRecord> seen = LockoutRecord{};
  ASSERT_TRUE(index_->UpdateLockout("old", 5000, [&](const std::optional<LockoutRecord>& current) {
    seen = current;
    return LockoutRecord{1, 0, 6000};
  }).ok());
  EXPECT_FALSE(seen.has_value());
  EXPECT_EQ((*index_->FindLockout("new", 5500))->failures, 1);
}

TEST_P(IndexConformanceTest, LockoutKeysAreBytesAndBounded) {
  const std::string a("user\0a\xff", 7), b("user\0b\xff", 7);
  ASSERT_TRUE(index_->UpdateLockout(a, 0, Increment(0)).ok());
  EXPECT_TRUE(index_->FindLockout(a, 0)->has_value());
  EXPECT_FALSE(index_->FindLockout(b, 0)->has_value()) << "NUL bytes are part of the key";
  EXPECT_FALSE(index_->FindLockout("user", 0)->has_value());
  EXPECT_EQ(index_->UpdateLockout(std::string(5000, 'x'), 0, Increment(0)).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(index_->FindLockout(std::string(5000, 'x'), 0).status().code(), Code::kInvalidArgument);
}

// Two index instances (two nodes), two threads each, incrementing one key: every
// increment counts.
TEST_P(IndexConformanceTest, ConcurrentLockoutUpdatesFromTwoInstancesLoseNothing) {
  std::unique_ptr<Index> second = OpenSecond();
  ASSERT_NE(second, nullptr);
  constexpr int kEach = 40;
  std::vector<Status> status(4, Status::Ok());
  std::latch start(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Index* index = t % 2 ? second.get() : index_.get();
      start.arrive_and_wait();
      for (int i = 0; i < kEach && status[t].ok(); ++i) {
        status[t] = index->UpdateLockout(t < 2 ? "shared" : "shared2", 0, Increment(1'000'000)).status();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : status) ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ((*second->FindLockout("shared", 0))->failures, 2 * kEach);
  EXPECT_EQ((*index_->FindLockout("shared2", 0))->failures, 2 * kEach);
}

// ---- metadata documents and frame layouts ----

TEST_P(IndexConformanceTest, MetadataDocumentsByStudySeriesAndInstanceInSeriesThenArrivalOrder) {
  // Arrival: A1/1, A2/1, A1/2; documents and layouts are opaque bytes (NUL, 0xFF included).
  std::vector<InstanceRecord> records = {Record("1.2.3.1", 1, kStudyA, kSeriesA1),
                                         Record("1.2.3.2", 2, kStudyA, kSeriesA2),
                                         Record("1.2.3.3", 3, kStudyA, kSeriesA1)};
  for (auto& r : records) {
    r.metadata_document = "{\"00080018\":{\"vr\":\"UI\",\"Value\":[\"" + r.attrs.sop_instance_uid + "\"]}}";
    r.frame_layout = std::string("L\0\xff", 3) + r.attrs.sop_instance_uid;
  }
  records[0].source_peer = "ct1";
  ASSERT_TRUE(index_->PutGroupRule({"cardio", GroupRule::Kind::kPeer, "ct1"}).ok());
  ASSERT_EQ(Add(records).size(), 3u);
  ASSERT_EQ(Add({Record("1.2.3.9", 9, kStudyB, kSeriesB1, "P2")}).size(), 1u);

  auto docs = [&](const std::string& series, const std::string& sop, const AccessScope& scope) {
    auto found = index_->FindMetadata(kStudyA, series, sop, scope);
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    std::vector<std::string> out;
    if (!found.ok()) return out;
    for (const StoredDetails& d : *found) {
      EXPECT_TRUE(d.metadata_document.has_value());
      EXPECT_EQ(d.instance.study_instance_uid, kStudyA);
      EXPECT_EQ(d.metadata_document.value_or(""),
                "{\"00080018\":{\"vr\":\"UI\",\"Value\":[\"" + d.instance.sop_instance_uid + "\"]}}");
      EXPECT_EQ(d.series_instance_uid, d.instance.sop_instance_uid == "1.2.3.2" ? kSeriesA2 : kSeriesA1);
      out.push_back(d.instance.sop_instance_uid);
    }
    return out;
  };
  EXPECT_EQ(docs("", "", AccessScope::Everything()),
            (std::vector<std::string>{"1.2.3.1", "1.2.3.3", "1.2.3.2"}));
  EXPECT_EQ(docs(kSeriesA1, "", AccessScope::Everything()),
            (std::vector<std::string>{"1.2.3.1", "1.2.3.3"}));
  EXPECT_EQ(docs(kSeriesA1, "1.2.3.3", AccessScope::Everything()), std::vector<std::string>{"1.2.3.3"});
  EXPECT_TRUE(docs(kSeriesA2, "1.2.3.3", AccessScope::Everything()).empty());
  EXPECT_EQ(docs("", "", AccessScope::Of({"cardio"})).size(), 3u);
  EXPECT_TRUE(docs("", "", AccessScope::Of({"other"})).empty());
  auto none = index_->FindMetadata("1.2.3.404", "", "", AccessScope::Everything());
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  auto layout = index_->FindFrameLayout(kStudyA, kSeriesA1, "1.2.3.3", AccessScope::Everything());
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  ASSERT_TRUE(layout->has_value());
  EXPECT_EQ((*layout)->frame_layout.value_or("<none>"), std::string("L\0\xff", 3) + "1.2.3.3");
  EXPECT_EQ((*layout)->instance.blob_name, BlobName(3));
  EXPECT_EQ((*layout)->instance.content_sha256, Sha('a'));
  EXPECT_FALSE(index_->FindFrameLayout(kStudyA, kSeriesA2, "1.2.3.3", AccessScope::Everything())->has_value());
  EXPECT_FALSE(index_->FindFrameLayout(kStudyB, kSeriesA1, "1.2.3.3", AccessScope::Everything())->has_value());
  EXPECT_FALSE(index_->FindFrameLayout(kStudyA, kSeriesA1, "1.2.3.3", AccessScope::Of({"other"}))->has_value());
  EXPECT_TRUE(index_->FindFrameLayout(kStudyA, kSeriesA1, "1.2.3.3", AccessScope::Of({"cardio"}))->has_value());
}

TEST_P(IndexConformanceTest, ListInstancesPagesThroughEverythingOnce) {
  std::vector<InstanceRecord> batch;
  for (int n = 1; n <= 23; ++n) batch.push_back(Record("1.2.3." + std::to_string(n), n));
  batch.push_back(NonPatientRecord("1.2.3.99", 99));
  ASSERT_EQ(Add(batch).size(), batch.size());
  std::set<std::string> seen;
  int64_t cursor = 0;
  for (int page = 0; page < 10; ++page) {
    int64_t next = 0;
    auto listed = index_->ListInstances(cursor, 5, &next);
    ASSERT_TRUE(listed.ok()) << listed.status().ToString();
    if (listed->empty()) break;
    EXPECT_LE(listed->size(), 5u);
    for (const auto& i : *listed) EXPECT_TRUE(seen.insert(i.sop_instance_uid).second) << i.sop_instance_uid;
    cursor = next;
  }
  EXPECT_EQ(seen.size(), batch.size());
}

// ---- the audit trail ----

AuditEntry Entry(int64_t time, const std::string& event, const std::string& actors,
                 const std::string& patients, const std::string& studies, const std::string& body) {
  AuditEntry e;
  e.time = time;
  e.event_id = event;
  e.actors = actors;
  e.patient_ids = patients;
  e.study_uids = studies;
  e.body = body;
  return e;
}

// Every record from the start, in pages of `page`.
std::vector<AuditRow> WholeChain(AuditIndex& index, size_t page = 7) {
  std::vector<AuditRow> out;
  int64_t after = 0;
  for (;;) {
    auto rows = index.ReadAuditChain(after, page);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    if (!rows.ok() || rows->empty()) return out;
    after = rows->back().seq;
    out.insert(out.end(), rows->begin(), rows->end());
  }
}

// True if `rows` are seq 1..n, each linked to the one before and hashed as the chain says.
::testing::AssertionResult IsOneChain(const std::vector<AuditRow>& rows) {
  std::string prev = security::kAuditGenesisHash;
  for (size_t i = 0; i < rows.size(); ++i) {
    const AuditRow& r = rows[i];
    if (r.seq != static_cast<int64_t>(i + 1)) {
      return ::testing::AssertionFailure() << "record " << i << " has seq " << r.seq;
    }
    if (r.prev_hash != prev) return ::testing::AssertionFailure() << "seq " << r.seq << ": broken link";
    if (r.hash != security::AuditChainHash(prev, r.seq, r.entry.time, r.entry.body)) {
      return ::testing::AssertionFailure() << "seq " << r.seq << ": wrong hash";
    }
    prev = r.hash;
  }
  return ::testing::AssertionSuccess();
}

TEST_P(IndexConformanceTest, AuditAppendsAssignSeqAndChainTheRecords) {
  auto head = index_->AuditHead();
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_FALSE(head->has_value());
  EXPECT_TRUE(index_->AppendAudit({}).ok());
  EXPECT_TRUE(WholeChain(*index_).empty());

  ASSERT_TRUE(index_->AppendAudit({Entry(100, "login", "\nalice\n", "", "", "{\"a\":1}"),
                                   Entry(101, "query", "\nalice\nWS\n", "\nP1\n", "\n1.2.3\n", "{\"a\":2}"),
                                   Entry(102, "store", "\nCT1\n", "\nP2\n", "\n1.2.4\n", "{\"a\":3}")})
                  .ok());
  ASSERT_TRUE(index_->AppendAudit({Entry(103, "logout", "\nalice\n", "", "", "{\"a\":4}")}).ok());
  std::vector<AuditRow> rows = WholeChain(*index_, 2);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_TRUE(IsOneChain(rows));
  EXPECT_EQ(rows[1].entry.event_id, "query");
  EXPECT_EQ(rows[1].entry.actors, "\nalice\nWS\n");
  EXPECT_EQ(rows[1].entry.patient_ids, "\nP1\n");
  EXPECT_EQ(rows[1].entry.study_uids, "\n1.2.3\n");
  EXPECT_EQ(rows[1].entry.body, "{\"a\":2}");
  EXPECT_EQ(rows[1].entry.time, 101);
  head = index_->AuditHead();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->seq, 4);
  EXPECT_EQ((*head)->hash, rows[3].hash);

  // The chain continues across a restart.
  ReOpen();
  ASSERT_TRUE(index_->AppendAudit({Entry(104, "login", "\nbob\n", "", "", "{\"a\":5}")}).ok());
  rows = WholeChain(*index_);
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_TRUE(IsOneChain(rows));
  auto tail = index_->ReadAuditChain(3, 100);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[0].seq, 4);
}

TEST_P(IndexConformanceTest, AuditFiltersMatchWholeValuesTimesAndPages) {
  std::vector<AuditEntry> entries;
  for (int i = 0; i < 12; ++i) {
    entries.push_back(Entry(1000 + i, i % 3 == 0 ? "store" : "query", i % 2 ? "\nalice\n" : "\nalice2\nWS\n",
                            i % 4 == 0 ? "\nP1\n" : "\nP10\n", i < 6 ? "\n1.2.3\n" : "\n1.2.3.4\n",
                            "{\"i\":" + std::to_string(i) + "}"));
  }
  ASSERT_TRUE(index_->AppendAudit(entries).ok());
  auto seqs = [&](AuditFilter f) {
    auto rows = index_->ListAudit(f);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    std::vector<int64_t> out;
    if (rows.ok()) {
      for (const auto& r : *rows) out.push_back(r.seq);
    }
    return out;
  };
  AuditFilter all;
  all.limit = 100;
  EXPECT_EQ(seqs(all).size(), 12u);
  AuditFilter f = all;
  f.event_id = "store";
  EXPECT_EQ(seqs(f), (std::vector<int64_t>{1, 4, 7, 10}));
  f = all;
  f.actor = "alice";
  EXPECT_EQ(seqs(f), (std::vector<int64_t>{2, 4, 6, 8, 10, 12}));
  f.actor = "alic";
  EXPECT_TRUE(seqs(f).empty()) << "a filter matches whole values only";
  f.actor = "WS";
  EXPECT_EQ(seqs(f).size(), 6u);
  f = all;
  f.patient_id = "P1";
  EXPECT_EQ(seqs(f), (std::vector<int64_t>{1, 5, 9}));
  f = all;
  f.study_uid = "1.2.3";
  EXPECT_EQ(seqs(f), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  f = all;
  f.from_time = 1003;
  f.to_time = 1005;
  EXPECT_EQ(seqs(f), (std::vector<int64_t>{4, 5, 6}));
  f.event_id = "query";
  EXPECT_EQ(seqs(f), (std::vector<int64_t>{5, 6}));
  // limit + 1 rows tell that more exist; offset pages in seq order.
  f = all;
  f.limit = 5;
  EXPECT_EQ(seqs(f), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  f.offset = 10;
  EXPECT_EQ(seqs(f), (std::vector<int64_t>{11, 12}));
}

TEST_P(IndexConformanceTest, AddInstancesAppendsItsAuditRecordsInTheSameTransaction) {
  ASSERT_TRUE(index_->AppendAudit({Entry(10, "login", "\nalice\n", "", "", "{}")}).ok());
  std::vector<AddOutcome> seen;
  auto builder = [&](const std::vector<AddOutcome>& outcomes) {
    seen = outcomes;
    std::vector<AuditEntry> out;
    for (size_t i = 0; i < outcomes.size(); ++i) {
      out.push_back(Entry(11, "store", "\nCT1\n", "\nP1\n", std::string("\n") + kStudyA + "\n",
                          "{\"n\":" + std::to_string(i) + ",\"added\":" +
                              (outcomes[i] == AddOutcome::kAdded ? "true" : "false") + "}"));
    }
    return out;
  };
  ASSERT_TRUE(index_->AddInstances({Record("1.2.3.1", 1)}).ok());
  auto outcomes = index_->AddInstances({Record("1.2.3.1", 2), Record("1.2.3.2", 3)}, builder);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status().ToString();
  EXPECT_EQ(seen, (std::vector<AddOutcome>{AddOutcome::kIdentical, AddOutcome::kAdded}));
  std::vector<AuditRow> rows = WholeChain(*index_);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(IsOneChain(rows));
  EXPECT_EQ(rows[1].entry.body, "{\"n\":0,\"added\":false}");
  EXPECT_EQ(rows[2].entry.body, "{\"n\":1,\"added\":true}");
  // An empty batch with a builder appends what the builder returns for no outcomes.
  ASSERT_TRUE(index_->AppendAudit({Entry(12, "logout", "\nalice\n", "", "", "{}")}).ok());
  EXPECT_TRUE(IsOneChain(WholeChain(*index_)));
}

TEST_P(IndexConformanceTest, AuditCheckpointsAreListedBySeq) {
  ASSERT_TRUE(index_->AppendAudit({Entry(1, "a", "", "", "", "{}"), Entry(2, "b", "", "", "", "{}")}).ok());
  auto rows = WholeChain(*index_);
  ASSERT_EQ(rows.size(), 2u);
  auto listed = index_->ListAuditCheckpoints();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_TRUE(listed->empty());
  ASSERT_TRUE(index_->PutAuditCheckpoint({2, rows[1].hash, 50, std::string(64, 'b'), std::string(128, 'c')}).ok());
  ASSERT_TRUE(index_->PutAuditCheckpoint({1, rows[0].hash, 40, std::string(64, 'b'), std::string(128, 'd')}).ok());
  ReOpen();
  listed = index_->ListAuditCheckpoints();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].seq, 1);
  EXPECT_EQ((*listed)[0].hash, rows[0].hash);
  EXPECT_EQ((*listed)[0].time, 40);
  EXPECT_EQ((*listed)[0].signature, std::string(128, 'd'));
  EXPECT_EQ((*listed)[1].seq, 2);
  EXPECT_EQ((*listed)[1].public_key, std::string(64, 'b'));
}

TEST_P(IndexConformanceTest, ForwardCursorsStartAtZeroAndNeverMoveBack) {
  auto cursor = index_->AuditForwardCursor("siem");
  ASSERT_TRUE(cursor.ok()) << cursor.status().ToString();
  EXPECT_EQ(*cursor, 0);
  ASSERT_TRUE(index_->SetAuditForwardCursor("siem", 5).ok());
  ASSERT_TRUE(index_->SetAuditForwardCursor("siem", 3).ok());
  EXPECT_EQ(*index_->AuditForwardCursor("siem"), 5);
  ASSERT_TRUE(index_->SetAuditForwardCursor("backup", 2).ok());
  ASSERT_TRUE(index_->SetAuditForwardCursor("siem", 9).ok());
  ReOpen();
  EXPECT_EQ(*index_->AuditForwardCursor("siem"), 9);
  EXPECT_EQ(*index_->AuditForwardCursor("backup"), 2);
  EXPECT_EQ(*index_->AuditForwardCursor("other"), 0);
}

// ---- two index instances on one database (two nodes) ----

TEST_P(IndexConformanceTest, TheSameUidAddedConcurrentlyFromTwoInstancesIsAddedOnce) {
  std::unique_ptr<Index> second = OpenSecond();
  ASSERT_NE(second, nullptr);
  constexpr int kRounds = 24;
  for (int round = 0; round < kRounds; ++round) {
    // A new patient, study and series each round: both sides also race to create those.
    const std::string study = "1.2.826.0.1.3680043.8.498.60." + std::to_string(round);
    const std::string uid = study + ".1.1";
    const bool same_content = round % 2 == 0;
    InstanceRecord a = Record(uid, 2 * round + 1, study, study + ".1", "C" + std::to_string(round), 'a');
    InstanceRecord b = Record(uid, 2 * round + 2, study, study + ".1", "C" + std::to_string(round),
                              same_content ? 'a' : 'b');
    std::latch start(2);
    Result<std::vector<AddOutcome>> ra = Internal("not run"), rb = Internal("not run");
    std::thread ta([&] { start.arrive_and_wait(); ra = index_->AddInstances({a}); });
    std::thread tb([&] { start.arrive_and_wait(); rb = second->AddInstances({b}); });
    ta.join();
    tb.join();
    ASSERT_TRUE(ra.ok()) << ra.status().ToString();
    ASSERT_TRUE(rb.ok()) << rb.status().ToString();
    ASSERT_EQ(ra->size(), 1u);
    ASSERT_EQ(rb->size(), 1u);
    const AddOutcome oa = (*ra)[0], ob = (*rb)[0];
    const AddOutcome other = same_content ? AddOutcome::kIdentical : AddOutcome::kConflict;
    EXPECT_TRUE((oa == AddOutcome::kAdded && ob == other) || (ob == AddOutcome::kAdded && oa == other))
        << "round " << round << ": " << static_cast<int>(oa) << " and " << static_cast<int>(ob);
    auto stored = second->FindInstance(uid, AccessScope::Everything());
    ASSERT_TRUE(stored.ok() && stored->has_value());
    EXPECT_EQ((*stored)->blob_name, oa == AddOutcome::kAdded ? a.blob_name : b.blob_name)
        << "the stored blob is the added one's";
  }
  IndexStats st = Stats();
  EXPECT_EQ(st.instances, kRounds);
  EXPECT_EQ(st.series, kRounds);
  EXPECT_EQ(st.studies, kRounds);
  EXPECT_EQ(st.patients, kRounds);
}

TEST_P(IndexConformanceTest, NewInstancesOfOneNewSeriesFromTwoInstancesShareItsRows) {
  std::unique_ptr<Index> second = OpenSecond();
  ASSERT_NE(second, nullptr);
  std::vector<InstanceRecord> left, right;
  for (int n = 0; n < 20; ++n) {
    (n % 2 ? right : left).push_back(Record("1.2.3.70." + std::to_string(n), 700 + n, kStudyA, kSeriesA1));
  }
  std::latch start(2);
  Result<std::vector<AddOutcome>> rl = Internal("not run"), rr = Internal("not run");
  std::thread tl([&] {
    start.arrive_and_wait();
    for (const auto& r : left) {
      if (rl = index_->AddInstances({r}); !rl.ok()) return;
    }
  });
  std::thread tr([&] {
    start.arrive_and_wait();
    for (const auto& r : right) {
      if (rr = second->AddInstances({r}); !rr.ok()) return;
    }
  });
  tl.join();
  tr.join();
  ASSERT_TRUE(rl.ok()) << rl.status().ToString();
  ASSERT_TRUE(rr.ok()) << rr.status().ToString();
  IndexStats st = Stats();
  EXPECT_EQ(st.instances, 20);
  EXPECT_EQ(st.series, 1);
  EXPECT_EQ(st.studies, 1);
  EXPECT_EQ(st.patients, 1);
}

TEST_P(IndexConformanceTest, AuditAppendsFromFourWritersOnTwoInstancesFormOneChain) {
  std::unique_ptr<Index> second = OpenSecond();
  ASSERT_NE(second, nullptr);
  constexpr int kWriters = 4, kBatches = 15;
  std::vector<Status> status(kWriters, Status::Ok());
  std::latch start(kWriters);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      Index* index = w % 2 ? second.get() : index_.get();
      start.arrive_and_wait();
      for (int i = 0; i < kBatches && status[w].ok(); ++i) {
        std::vector<AuditEntry> batch;
        for (int k = 0; k <= i % 3; ++k) {
          batch.push_back(Entry(i, "e", "", "", "", std::to_string(w) + ":" + std::to_string(i) + ":" +
                                                       std::to_string(k)));
        }
        status[w] = index->AppendAudit(batch);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : status) ASSERT_TRUE(s.ok()) << s.ToString();
  std::vector<AuditRow> rows = WholeChain(*index_, 11);
  ASSERT_EQ(rows.size(), static_cast<size_t>(kWriters * (5 + 5 * 2 + 5 * 3)));
  EXPECT_TRUE(IsOneChain(rows));
  // Every record once, each writer's in its order, each batch contiguous.
  std::map<int, std::string> last;
  std::set<std::string> seen;
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string& body = rows[i].entry.body;
    EXPECT_TRUE(seen.insert(body).second) << body;
    const int w = body[0] - '0';
    const bool continues = body.substr(body.size() - 2) != ":0";
    if (continues) {
      ASSERT_GT(i, 0u);
      EXPECT_EQ(rows[i - 1].entry.body.substr(0, 2), body.substr(0, 2)) << "a batch was split at " << body;
    }
    last[w] = body;
  }
}

TEST_P(IndexConformanceTest, AuditOfGroupCommitsAndAppendsFromTwoInstancesFormOneChain) {
  std::unique_ptr<Index> second = OpenSecond();
  ASSERT_NE(second, nullptr);
  constexpr int kBatches = 20;
  auto writer = [&](Index* index, const std::string& who, Status* status) {
    for (int i = 0; i < kBatches && status->ok(); ++i) {
      std::vector<AuditEntry> batch = {
          Entry(i, "e", "\n" + who + "\n", "", "", who + "-" + std::to_string(i) + "-0"),
          Entry(i, "e", "\n" + who + "\n", "", "", who + "-" + std::to_string(i) + "-1")};
      if (i % 4 == 3) {
        // Through a group commit's audit builder as well.
        std::string uid = "1.2.3.80." + who + "." + std::to_string(i);
        auto added = index->AddInstances(
            {Record(uid, 800 + i + (who == "b" ? 100 : 0))},
            [&](const std::vector<AddOutcome>&) { return batch; });
        *status = added.status();
      } else {
        *status = index->AppendAudit(batch);
      }
    }
  };
  Status sa = Status::Ok(), sb = Status::Ok();
  std::latch start(2);
  std::thread ta([&] { start.arrive_and_wait(); writer(index_.get(), "a", &sa); });
  std::thread tb([&] { start.arrive_and_wait(); writer(second.get(), "b", &sb); });
  ta.join();
  tb.join();
  ASSERT_TRUE(sa.ok()) << sa.ToString();
  ASSERT_TRUE(sb.ok()) << sb.ToString();
  std::vector<AuditRow> rows = WholeChain(*second, 13);
  ASSERT_EQ(rows.size(), 4u * kBatches);
  EXPECT_TRUE(IsOneChain(rows));
  // Each writer's records appear in its own order, and each batch stays together.
  std::map<std::string, int> next;
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string& body = rows[i].entry.body;
    const std::string who = body.substr(0, 1);
    EXPECT_EQ(body, who + "-" + std::to_string(next[who] / 2) + "-" + std::to_string(next[who] % 2));
    if (next[who] % 2 == 1) {
      EXPECT_EQ(rows[i - 1].entry.body.substr(0, 1), who) << "a batch was split";
    }
    ++next[who];
  }
  auto head = index_->AuditHead();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->seq, 4 * kBatches);
}

TEST_P(IndexConformanceTest, WritesOfOneInstanceAreSeenByTheOther) {
  std::unique_ptr<Index> second = OpenSecond();
  ASSERT_NE(second, nullptr);
  ASSERT_EQ(Add({Record("1.2.3.1", 1)}).size(), 1u);
  ASSERT_TRUE(index_->PutUser(User("alice", "h", "admin", false)).ok());
  ASSERT_TRUE(index_->PutSession({"s1", "alice", 2000, 1000}).ok());
  ASSERT_TRUE(index_->PutPeer(Peer("ct1", "CT1", "10.0.0.1", 104, "store")).ok());
  EXPECT_TRUE(second->FindInstance("1.2.3.1", AccessScope::Everything())->has_value());
  EXPECT_TRUE(second->FindUser("alice")->has_value());
  EXPECT_TRUE(second->FindSession("s1")->has_value());
  EXPECT_EQ(second->ListPeers()->size(), 1u);
  // Sign-out on one node ends the session on the other.
  EXPECT_TRUE(*second->RemoveSession("s1"));
  EXPECT_FALSE(index_->FindSession("s1")->has_value());
}

}  // namespace
}  // namespace tresor::store::testing
