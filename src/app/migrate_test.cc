// CopyArchive (app/migrate.h) from an embedded archive (SqliteIndex + sealed
// FileBlobStore) into a target: always a second SQLite index + file store; with
// TRESOR_TEST_PG and TRESOR_TEST_S3_ENDPOINT set (tests/unit/migrate_pg_s3.sh starts a
// private PostgreSQL cluster and s3rver), PostgresIndex + S3BlobStore, where the target
// case must run (TRESOR_TEST_MIGRATE_PG_S3_REQUIRED=1 makes a missing server a failure).
// Checks what the target holds against the source, value by value, and that a second
// run copies nothing twice.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <memory>
#include <string>
#include <vector>

#include "app/blob_backend.h"
#include "app/migrate.h"
#include "core/testing/temp_dir.h"
#include "security/master_key.h"
#include "store/file_blob_store.h"
#include "store/postgres_index.h"
#include "store/sqlite_index.h"

namespace tresor::app {
namespace {

using security::AccessScope;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::shared_ptr<const store::KeyRing> Keys(const std::string& path) {
  auto key = security::CreateMasterKey(path);
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  auto ring = store::KeyRing::Make({*key});
  EXPECT_TRUE(ring.ok());
  return std::make_shared<const store::KeyRing>(std::move(ring).value());
}

// Writes `bytes` as a published blob of `blobs`; returns its name.
std::string PutBlob(store::BlobStore& blobs, const std::string& bytes) {
  auto w = blobs.Create();
  EXPECT_TRUE(w.ok());
  EXPECT_TRUE((*w)->Append(bytes.data(), bytes.size()).ok());
  auto name = (*w)->Finish();
  EXPECT_TRUE(name.ok());
  EXPECT_TRUE(blobs.Persist({*name}).ok());
  EXPECT_TRUE(blobs.Publish(*name).ok());
  return *name;
}

std::string ReadBlob(store::BlobStore& blobs, const std::string& name) {
  auto r = blobs.Open(name);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return "";
  std::string out((*r)->size(), '\0');
  auto n = (*r)->ReadAt(out.data(), out.size(), 0);
  EXPECT_TRUE(n.ok());
  out.resize(n.ok() ? *n : 0);
  return out;
}

store::InstanceRecord Record(int i, const std::string& blob, uint64_t size) {
  store::InstanceRecord r;
  const int study = i % 4;  // one patient per study, as in real data
  r.attrs.patient_name = "Müller^Anna" + std::to_string(study % 2);
  r.attrs.patient_id = "P" + std::to_string(study % 2);
  r.attrs.issuer_of_patient_id = study % 2 ? "HOSP" : "";
  r.attrs.study_instance_uid = "1.2.3." + std::to_string(i % 4);
  r.attrs.study_date = "2024010" + std::to_string(1 + i % 4);
  r.attrs.institution_name = i % 4 == 1 ? "General" : "Other";
  r.attrs.series_instance_uid = "1.2.3." + std::to_string(i % 4) + ".1";
  r.attrs.modality = "CT";
  r.attrs.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
  r.attrs.sop_instance_uid = "1.2.3." + std::to_string(i % 4) + ".1." + std::to_string(i);
  r.attrs.instance_number = std::to_string(i);
  r.transfer_syntax_uid = "1.2.840.10008.1.2.1";
  r.blob_name = blob;
  r.blob_size = size;
  r.content_sha256 = std::string(63, 'a') + static_cast<char>('0' + i % 10);
  r.source_ae = i % 2 ? "MOD" : "LOCAL";
  r.source_peer = i % 2 ? "mod" : "";
  r.received_at = 1700000000 + i;
  r.metadata_document = "{\"n\":" + std::to_string(i) + "}";
  return r;
}

struct Source {
  tresor::testing::TempDir dir;
  std::unique_ptr<store::SqliteIndex> index;
  std::unique_ptr<store::FileBlobStore> blobs;
  std::vector<std::string> contents;  // per instance i
  static constexpr int kInstances = 150;  // more than two batches

  Source() {
    auto keys = Keys(dir.path() + "/master.key");
    auto b = store::FileBlobStore::Make({dir.path() + "/storage", false, keys});
    EXPECT_TRUE(b.ok());
    blobs = std::move(b).value();
    auto ix = store::SqliteIndex::Open({dir.path() + "/index.db", store::SqliteIndexOptions::Sync::kOff,
                                        std::string(32, 'k')});
    EXPECT_TRUE(ix.ok());
    index = std::move(ix).value();
    EXPECT_TRUE(index->PutPeer({"mod", "MOD", "127.0.0.1", 104, "echo,store", "", false, {"all"}}).ok());
    EXPECT_TRUE(index->PutUser({"reader", "$argon2id$x", "radiologist", false, {"wards"}}).ok());
    EXPECT_TRUE(index->PutApiToken({"t1", "reader", std::string(64, 'c'), 1900000000}).ok());
    std::vector<store::InstanceRecord> records;
    for (int i = 0; i < kInstances; ++i) {
      // Sizes around the 1 MiB copy buffer and the 64 KiB seal segments.
      std::string bytes(i == 7 ? (1 << 20) + 3 : 1000 + 37 * i, static_cast<char>('A' + i % 26));
      bytes[0] = static_cast<char>(i);
      contents.push_back(bytes);
      records.push_back(Record(i, PutBlob(*blobs, bytes), bytes.size()));
    }
    EXPECT_TRUE(index->AddInstances(records).ok());
    // A rule (applied to the archived studies), a membership by hand, one taken out.
    EXPECT_TRUE(index->PutGroupRule({"wards", store::GroupRule::Kind::kInstitution, "General"}).ok());
    EXPECT_TRUE(*index->SetStudyGroup("wards", "1.2.3.2", true));
    EXPECT_TRUE(*index->SetStudyGroup("wards", "1.2.3.1", false));
    std::vector<store::AuditEntry> entries(5);
    for (int i = 0; i < 5; ++i) {
      entries[i].time = 1700000000 + i;
      entries[i].event_id = "110112";
      entries[i].body = "{\"i\":" + std::to_string(i) + "}";
    }
    EXPECT_TRUE(index->AppendAudit(entries).ok());
    auto head = index->AuditHead();
    EXPECT_TRUE(head.ok() && head->has_value());
    EXPECT_TRUE(index->PutAuditCheckpoint({5, (*head)->hash, 1700000009, std::string(64, 'e'),
                                           std::string(128, 'f')})
                    .ok());
    EXPECT_TRUE(index->SetAuditForwardCursor("collector:6514", 3).ok());
  }
};

void ExpectSameArchive(Source& s, store::Index& ti, store::BlobStore& tb) {
  auto a = s.index->Stats(AccessScope::Everything());
  auto b = ti.Stats(AccessScope::Everything());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(b->patients, a->patients);
  EXPECT_EQ(b->studies, a->studies);
  EXPECT_EQ(b->series, a->series);
  EXPECT_EQ(b->instances, a->instances);
  EXPECT_EQ(b->bytes, a->bytes);
  for (int i = 0; i < Source::kInstances; ++i) {
    const std::string uid = Record(i, "", 0).attrs.sop_instance_uid;
    auto there = ti.FindInstance(uid, AccessScope::Everything());
    ASSERT_TRUE(there.ok() && there->has_value()) << uid;
    EXPECT_EQ((*there)->content_sha256, Record(i, "", 0).content_sha256);
    EXPECT_EQ(ReadBlob(tb, (*there)->blob_name), s.contents[i]) << uid;
  }
  auto ga = s.index->ListGroups();
  auto gb = ti.ListGroups();
  ASSERT_TRUE(ga.ok() && gb.ok());
  ASSERT_EQ(ga->size(), gb->size());
  for (size_t i = 0; i < ga->size(); ++i) {
    EXPECT_EQ((*gb)[i].name, (*ga)[i].name);
    EXPECT_EQ((*gb)[i].studies, (*ga)[i].studies) << (*ga)[i].name;
  }
  // The hand-removed study stays out of the group, the hand-added one in.
  AccessScope wards;
  wards.all = false;
  wards.groups = {"wards"};
  for (const auto& [study, member] : {std::pair{"1.2.3.1", false}, std::pair{"1.2.3.2", true}}) {
    auto found = ti.FindInstance(std::string(study) + ".1." + std::string(study).substr(6), wards);
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found->has_value(), member) << study;
  }
  auto ua = s.index->ListUsers();
  auto ub = ti.ListUsers();
  ASSERT_TRUE(ua.ok() && ub.ok());
  ASSERT_EQ(ub->size(), ua->size());
  EXPECT_EQ((*ub)[0].password_hash, (*ua)[0].password_hash);
  auto token = ti.FindApiToken(std::string(64, 'c'));
  ASSERT_TRUE(token.ok() && token->has_value());
  EXPECT_EQ((*token)->name, "t1");
  auto chain_a = s.index->ReadAuditChain(0, 100);
  auto chain_b = ti.ReadAuditChain(0, 100);
  ASSERT_TRUE(chain_a.ok() && chain_b.ok());
  ASSERT_EQ(chain_b->size(), chain_a->size());
  for (size_t i = 0; i < chain_a->size(); ++i) EXPECT_EQ((*chain_b)[i].hash, (*chain_a)[i].hash);
  auto cps = ti.ListAuditCheckpoints();
  ASSERT_TRUE(cps.ok());
  EXPECT_EQ(cps->size(), 1u);
  auto cursor = ti.AuditForwardCursor("collector:6514");
  ASSERT_TRUE(cursor.ok());
  EXPECT_EQ(*cursor, 3);
}

void CopyTwice(Source& s, store::Index& ti, store::BlobStore& tb) {
  uint64_t last_done = 0;
  auto first = CopyArchive(*s.index, *s.blobs, ti, tb, [&](const char*, uint64_t done, uint64_t) {
    EXPECT_GE(done, last_done);
    last_done = done;
  });
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->instances_copied, static_cast<uint64_t>(Source::kInstances));
  EXPECT_EQ(first->instances_present, 0u);
  EXPECT_TRUE(first->audit_imported);
  EXPECT_EQ(last_done, static_cast<uint64_t>(Source::kInstances));
  ExpectSameArchive(s, ti, tb);
  // Run again (a resumed migration): nothing copied twice, the same archive.
  auto second = CopyArchive(*s.index, *s.blobs, ti, tb, {});
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->instances_copied, 0u);
  EXPECT_EQ(second->instances_present, static_cast<uint64_t>(Source::kInstances));
  EXPECT_FALSE(second->audit_imported);
  ExpectSameArchive(s, ti, tb);
  int blobs = 0;
  ASSERT_TRUE(tb.List([&](const std::string&, bool staged) {
                  EXPECT_FALSE(staged);
                  ++blobs;
                  return Status::Ok();
                }).ok());
  EXPECT_EQ(blobs, Source::kInstances);
}

TEST(Migrate, CopiesIntoSqliteAndFiles) {
  Source s;
  tresor::testing::TempDir dir;
  auto tb = store::FileBlobStore::Make({dir.path() + "/storage", false, Keys(dir.path() + "/master.key")});
  auto ti = store::SqliteIndex::Open({dir.path() + "/index.db", store::SqliteIndexOptions::Sync::kFilesystem,
                                      std::string(32, 'j')});
  ASSERT_TRUE(tb.ok() && ti.ok());
  CopyTwice(s, **ti, **tb);
}

TEST(Migrate, RefusesATargetWithOtherContent) {
  Source s;
  tresor::testing::TempDir dir;
  auto tb = store::FileBlobStore::Make({dir.path() + "/storage", false, Keys(dir.path() + "/master.key")});
  auto ti = store::SqliteIndex::Open({dir.path() + "/index.db", store::SqliteIndexOptions::Sync::kOff});
  ASSERT_TRUE(tb.ok() && ti.ok());
  store::InstanceRecord other = Record(3, PutBlob(**tb, "other"), 5);
  other.content_sha256 = std::string(64, 'f');
  ASSERT_TRUE((*ti)->AddInstances({other}).ok());
  auto copied = CopyArchive(*s.index, *s.blobs, **ti, **tb, {});
  EXPECT_EQ(copied.status().code(), Code::kConflict) << copied.status().ToString();
}

TEST(Migrate, CopiesIntoPostgresAndS3) {
  const std::string pg = Env("TRESOR_TEST_PG"), s3 = Env("TRESOR_TEST_S3_ENDPOINT");
  if (pg.empty() || s3.empty()) {
    if (Env("TRESOR_TEST_MIGRATE_PG_S3_REQUIRED") == "1") {
      FAIL() << "TRESOR_TEST_PG and TRESOR_TEST_S3_ENDPOINT must be set";
    }
    GTEST_SKIP() << "no PostgreSQL / S3 test servers (tests/unit/migrate_pg_s3.sh starts them)";
  }
  Source s;
  tresor::testing::TempDir dir;
  auto ti = store::PostgresIndex::Open({pg});
  ASSERT_TRUE(ti.ok()) << ti.status().ToString();
  Config c;
  c.storage_backend = "s3";
  c.s3_endpoint = s3;
  c.s3_bucket = Env("TRESOR_TEST_S3_BUCKET");
  c.s3_prefix = "migrate-test";
  setenv("AWS_ACCESS_KEY_ID", Env("TRESOR_TEST_S3_ACCESS_KEY").c_str(), 1);
  setenv("AWS_SECRET_ACCESS_KEY", Env("TRESOR_TEST_S3_SECRET_KEY").c_str(), 1);
  auto tb = OpenBlobBackend(c, dir.path(), Keys(dir.path() + "/master.key"), "node1");
  ASSERT_TRUE(tb.ok()) << tb.status().ToString();
  CopyTwice(s, **ti, **tb);
}

}  // namespace
}  // namespace tresor::app
