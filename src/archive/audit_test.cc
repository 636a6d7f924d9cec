// The audit trail over a real SqliteIndex: canonical encoding, the hash chain, signed
// checkpoints, verification detecting each kind of tampering, and the records the
// services leave (store in the group commit's transaction, queries, sign-ins).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <memory>
#include <string>

#include "archive/archive_service.h"
#include "core/testing/fake_clock.h"
#include "core/testing/temp_dir.h"
#include "dicom/testing/data_set_builder.h"
#include "dicom/transfer_syntax.h"
#include "security/audit_chain.h"
#include "store/file_blob_store.h"
#include "store/sqlite_index.h"

namespace tresor::archive {
namespace {

using dicom::MakeTag;

constexpr char kCt[] = "1.2.840.10008.5.1.4.1.1.2";

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void TearDown() override { Close(); }
  void Open() {
    auto index = store::SqliteIndex::Open({dir_.path() + "/index.db", store::SqliteIndexOptions::Sync::kOff});
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    index_ = std::move(index).value();
    auto blobs = store::FileBlobStore::Make({dir_.path() + "/storage", /*fsync=*/false, nullptr});
    ASSERT_TRUE(blobs.ok());
    blobs_ = std::move(blobs).value();
    ArchiveOptions options;
    options.audit_signing_seed = std::string(32, '\x07');
    options.token_key = std::string(32, 'k');
    archive_ = std::make_unique<ArchiveService>(*index_, *blobs_, options, clock_);
  }
  void Close() {
    archive_.reset();
    index_.reset();
    blobs_.reset();
  }
  AuditService& audit() { return archive_->audit(); }
  // Records `n` query events by a peer.
  void RecordSome(int n) {
    Principal peer{"ct1", "CT_AE", "10.0.0.5", security::kAllServices, "", "",
                   security::AccessScope::Everything(), ""};
    for (int i = 0; i < n; ++i) {
      AuditEvent e;
      e.id = AuditEventId::kQuery;
      e.query = "PatientID=P" + std::to_string(i);
      e.patient_ids = {"P" + std::to_string(i)};
      ASSERT_TRUE(audit().Record(peer, e).ok());
      clock_.AdvanceSeconds(1);
    }
  }
  AuditVerification Verify() {
    auto v = audit().Verify(Principal::LocalAdmin());
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : AuditVerification{};
  }
  // Runs SQL on the index file directly, as someone with the disk would, with the
  // append-only triggers dropped.
  void Tamper(const std::string& sql) {
    Close();
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_.path() + "/index.db").c_str(), &db), SQLITE_OK);
    std::string all = "DROP TRIGGER audit_records_no_update; DROP TRIGGER audit_records_no_delete; " + sql;
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, all.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
    Open();
  }

  ::tresor::testing::TempDir dir_;
  ::tresor::testing::FakeClock clock_{1700000000};
  std::unique_ptr<store::SqliteIndex> index_;
  std::unique_ptr<store::FileBlobStore> blobs_;
  std::unique_ptr<ArchiveService> archive_;
};

TEST(AuditChainTest, HashCoversPreviousHashSeqTimeAndBody) {
  std::string h1 = security::AuditChainHash(security::kAuditGenesisHash, 1, 10, "{}");
  EXPECT_EQ(h1.size(), 64u);
  EXPECT_NE(h1, security::AuditChainHash(security::kAuditGenesisHash, 2, 10, "{}"));
  EXPECT_NE(h1, security::AuditChainHash(security::kAuditGenesisHash, 1, 11, "{}"));
  EXPECT_NE(h1, security::AuditChainHash(security::kAuditGenesisHash, 1, 10, "{ }"));
  EXPECT_NE(h1, security::AuditChainHash(h1, 1, 10, "{}"));
  EXPECT_EQ(h1, security::AuditChainHash(security::kAuditGenesisHash, 1, 10, "{}"));
}

TEST(AuditChainTest, CheckpointSignatureVerifiesOnlyUnchanged) {
  auto key = security::AuditKeyFromSeed(std::string(32, '\x01'));
  ASSERT_TRUE(key.ok());
  std::string hash(64, 'a');
  auto sig = security::SignAuditCheckpoint(*key, 5, hash, 100);
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(security::VerifyAuditCheckpoint(key->public_key, 5, hash, 100, *sig));
  EXPECT_FALSE(security::VerifyAuditCheckpoint(key->public_key, 6, hash, 100, *sig));
  EXPECT_FALSE(security::VerifyAuditCheckpoint(key->public_key, 5, std::string(64, 'b'), 100, *sig));
  EXPECT_FALSE(security::VerifyAuditCheckpoint(key->public_key, 5, hash, 101, *sig));
  auto other = security::AuditKeyFromSeed(std::string(32, '\x02'));
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(security::VerifyAuditCheckpoint(other->public_key, 5, hash, 100, *sig));
  EXPECT_FALSE(security::AuditKeyFromSeed("short").ok());
}

TEST(AuditEncodingTest, CanonicalJsonRoundTripsWithSortedKeys) {
  AuditRecord r;
  r.event_id = CodeOf(AuditEventId::kQuery);
  r.event_type = CodeOf(AuditEventType::kLogin);
  r.action = 'E';
  r.outcome = 4;
  r.participants.push_back({"alice", "CT_AE", "10.0.0.1", true, CodeOf(AuditRole::kSource), "user-via-peer"});
  r.source_id = "TRESOR";
  r.patient_ids = {"P\xC3\xA9"};
  r.study_uids = {"1.2.3"};
  r.query = "PatientName=M\xC3\xBCller*";
  std::string body = ToCanonicalJson(r);
  EXPECT_EQ(body.find('\n'), std::string::npos);
  EXPECT_LT(body.find("\"action\""), body.find("\"event\""));  // sorted keys
  auto back = ParseAuditBody(body);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(ToCanonicalJson(*back), body);
  EXPECT_EQ(back->participants.at(0).alt_user_id, "CT_AE");
  EXPECT_FALSE(ParseAuditBody("{\"event\":1}").ok());
  std::string xml = ToAuditMessageXml(*back);
  EXPECT_NE(xml.find("<EventID csd-code=\"110112\" codeSystemName=\"DCM\" originalText=\"Query\"/>"),
            std::string::npos);
  EXPECT_NE(xml.find("EventOutcomeIndicator=\"4\""), std::string::npos);
  EXPECT_NE(xml.find("UserIsRequestor=\"true\""), std::string::npos);
  EXPECT_NE(xml.find("<ParticipantObjectQuery>"), std::string::npos);
}

TEST_F(AuditTest, IntactChainVerifies) {
  RecordSome(5);
  ASSERT_TRUE(audit().Checkpoint().ok());
  RecordSome(2);
  AuditVerification v = Verify();
  EXPECT_TRUE(v.intact) << v.problem;
  EXPECT_EQ(v.records, 7);
  EXPECT_EQ(v.checkpoints, 1);
  EXPECT_EQ(v.last_signed_seq, 5);
  // The verification itself was recorded, and the trail still verifies.
  EXPECT_TRUE(Verify().intact);
}

TEST_F(AuditTest, EditedRecordIsNamed) {
  RecordSome(6);
  Tamper("UPDATE audit_records SET body = replace(body, 'P3', 'P9') WHERE seq = 4;");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.intact);
  EXPECT_EQ(v.first_bad_seq, 4);
}

TEST_F(AuditTest, EditedSearchColumnIsNamed) {
  RecordSome(3);
  Tamper("UPDATE audit_records SET patient_ids = char(10) || 'X' || char(10) WHERE seq = 2;");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.intact);
  EXPECT_EQ(v.first_bad_seq, 2);
}

TEST_F(AuditTest, DeletedRecordIsNamed) {
  RecordSome(6);
  Tamper("DELETE FROM audit_records WHERE seq = 3;");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.intact);
  EXPECT_EQ(v.first_bad_seq, 3);
}

TEST_F(AuditTest, SwappedRecordsAreNamed) {
  RecordSome(6);
  Tamper("UPDATE audit_records SET seq = -1 WHERE seq = 2; UPDATE audit_records SET seq = 2 WHERE seq = 3; "
         "UPDATE audit_records SET seq = 3 WHERE seq = -1;");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.intact);
  EXPECT_EQ(v.first_bad_seq, 2);
}

TEST_F(AuditTest, InsertedRecordIsNamed) {
  RecordSome(3);
  // A forged record appended with a made-up hash, and one that renumbers the middle.
  Tamper("INSERT INTO audit_records SELECT 4, time, event_id, actors, patient_ids, study_uids, body, "
         "hash, hash FROM audit_records WHERE seq = 3;");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.intact);
  EXPECT_EQ(v.first_bad_seq, 4);
}

TEST_F(AuditTest, RecomputedChainFailsAgainstCheckpoint) {
  RecordSome(4);
  ASSERT_TRUE(audit().Checkpoint().ok());
  // Someone rewrites record 2 and recomputes every later hash consistently: only the
  // signed checkpoint notices.
  auto rows = index_->ReadAuditChain(0, 100);
  ASSERT_TRUE(rows.ok());
  std::string prev = security::kAuditGenesisHash;
  std::string sql;
  for (auto& row : *rows) {
    std::string body = row.entry.body;
    if (row.seq == 2) body.replace(body.find("P1"), 2, "P8");
    std::string hash = security::AuditChainHash(prev, row.seq, row.entry.time, body);
    std::string patients = row.seq == 2 ? "char(10) || 'P8' || char(10)" : "patient_ids";
    sql += "UPDATE audit_records SET body = '" + body + "', patient_ids = " + patients + ", prev_hash = '" +
           prev + "', hash = '" + hash + "' WHERE seq = " + std::to_string(row.seq) + ";";
    prev = hash;
  }
  Tamper(sql);
  AuditVerification v = Verify();
  EXPECT_FALSE(v.intact);
  EXPECT_EQ(v.first_bad_seq, 4);  // the signed head no longer matches
}

TEST_F(AuditTest, TruncatedTailAfterCheckpointIsNamed) {
  RecordSome(5);
  ASSERT_TRUE(audit().Checkpoint().ok());
  Tamper("DELETE FROM audit_records WHERE seq >= 4;");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.intact);
  EXPECT_EQ(v.first_bad_seq, 4);
}

TEST_F(AuditTest, ForgedCheckpointSignatureIsNamed) {
  RecordSome(3);
  ASSERT_TRUE(audit().Checkpoint().ok());
  Tamper("UPDATE audit_checkpoints SET time = time + 1;");
  AuditVerification v = Verify();
  EXPECT_FALSE(v.intact);
  EXPECT_EQ(v.first_bad_seq, 3);
}

TEST_F(AuditTest, UpdatesAreRefusedByTheIndex) {
  RecordSome(1);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() + "/index.db").c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  EXPECT_NE(sqlite3_exec(db, "UPDATE audit_records SET time = 0", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "DELETE FROM audit_records", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_TRUE(Verify().intact);
}

TEST_F(AuditTest, StoreIsRecordedInTheGroupCommitWithPatientAndStudy) {
  dicom::testing::DataSetBuilder b(dicom::Encoding::kExplicitLittle);
  b.Element(MakeTag(0x0008, 0x0016), "UI", kCt)
      .Element(MakeTag(0x0008, 0x0018), "UI", "1.2.3.4.1")
      .Element(MakeTag(0x0010, 0x0020), "LO", "PID42")
      .Element(MakeTag(0x0020, 0x000D), "UI", "1.2.3.4")
      .Element(MakeTag(0x0020, 0x000E), "UI", "1.2.3.4.0");
  Principal peer{"ct1", "CT_AE", "10.0.0.5", security::kAllServices, "", "",
                 security::AccessScope::Everything(), ""};
  UploadInfo info;
  info.sop_class_uid = kCt;
  info.sop_instance_uid = "1.2.3.4.1";
  info.transfer_syntax_uid = dicom::kExplicitVRLittleEndian;
  auto upload = archive_->ingest().BeginStore(peer, info);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Write(b.bytes().data(), b.bytes().size()).ok());
  ASSERT_TRUE((*upload)->Commit().ok());
  AuditQuery q;
  q.event_id = "110104";
  q.patient_id = "PID42";
  auto page = audit().List(Principal::LocalAdmin(), q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->records.size(), 1u);
  const AuditRecord& r = page->records[0];
  EXPECT_EQ(r.action, 'C');
  EXPECT_EQ(r.outcome, 0);
  EXPECT_EQ(r.study_uids, std::vector<std::string>{"1.2.3.4"});
  EXPECT_EQ(r.instances, 1);
  ASSERT_FALSE(r.participants.empty());
  EXPECT_EQ(r.participants[0].user_id, "CT_AE");
  EXPECT_TRUE(r.participants[0].requestor);
  EXPECT_EQ(r.participants[0].host, "10.0.0.5");
  EXPECT_EQ(r.participants[0].role.code, "110153");
  // Reading the trail was itself recorded.
  AuditQuery used;
  used.event_id = "110101";
  auto reads = audit().List(Principal::LocalAdmin(), used);
  ASSERT_TRUE(reads.ok());
  EXPECT_GE(reads->records.size(), 1u);
}

TEST_F(AuditTest, SignInsAndAuditorAccess) {
  ASSERT_TRUE(archive_->admin()
                  .CreateUser(Principal::LocalAdmin(), "eve", "auditor", "a long passphrase 1", {})
                  .ok());
  ASSERT_TRUE(archive_->admin()
                  .CreateUser(Principal::LocalAdmin(), "bob", "radiologist", "a long passphrase 2", {})
                  .ok());
  EXPECT_FALSE(archive_->access().Login("eve", "wrong", "10.1.1.1").ok());
  ASSERT_TRUE(archive_->access().Login("eve", "a long passphrase 1", "10.1.1.1").ok());
  Principal eve = Principal::ForUser("eve", "auditor", "10.1.1.1", {});
  Principal bob = Principal::ForUser("bob", "radiologist", "10.1.1.2", {});
  EXPECT_EQ(audit().List(bob, {}).status().code(), Code::kPermissionDenied);
  AuditQuery q;
  q.event_id = "authentication";
  q.user = "eve";
  auto page = audit().List(eve, q);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->records.size(), 2u);
  EXPECT_EQ(page->records[0].outcome, 4);
  EXPECT_EQ(page->records[1].outcome, 0);
  EXPECT_EQ(page->records[1].event_type.code, "110122");
  EXPECT_EQ(page->records[1].participants[0].host, "10.1.1.1");
  // bob's refused read is recorded too.
  AuditQuery refused;
  refused.user = "bob";
  refused.event_id = "110101";
  auto bob_reads = audit().List(eve, refused);
  ASSERT_TRUE(bob_reads.ok());
  ASSERT_EQ(bob_reads->records.size(), 1u);
  EXPECT_EQ(bob_reads->records[0].outcome, 4);
  EXPECT_TRUE(Verify().intact);
}

TEST_F(AuditTest, ActionFailsWhenItsRecordCannotBeWritten) {
  // An index that refuses audit rows (as a full disk would): the query must fail, not
  // answer unrecorded.
  Close();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() + "/index.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TRIGGER refuse BEFORE INSERT ON audit_records "
                         "BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  Open();
  dicom::Query query;
  query.level = dicom::QueryLevel::kStudy;
  auto found = archive_->catalog().Find(Principal::LocalAdmin(), query);
  EXPECT_FALSE(found.ok());
  EXPECT_EQ(found.status().code(), Code::kIoError);
}

}  // namespace
}  // namespace tresor::archive
