#include "store/sealed_vfs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/testing/temp_dir.h"
#include "dicom/query.h"
#include "store/sqlite_index.h"

namespace tresor::store {
namespace {

using Sync = SqliteIndexOptions::Sync;

const std::string kKey(32, 'k');
const std::string kOtherKey(32, 'o');
constexpr char kName[] = "Lindqvist^Ingegerd";
constexpr char kPatientId[] = "PID-778812";
constexpr char kBirthDate[] = "19470312";
constexpr char kStudy[] = "1.2.826.0.1.3680043.8.498.77";
constexpr char kSeries[] = "1.2.826.0.1.3680043.8.498.77.1";

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

off_t SizeOf(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

InstanceRecord Record(int n, const std::string& name = kName) {
  InstanceRecord r;
  r.attrs.patient_name = name;
  r.attrs.patient_id = std::string(kPatientId) + (n == 0 ? "" : "-" + std::to_string(n));
  r.attrs.patient_birth_date = kBirthDate;
  r.attrs.study_instance_uid = std::string(kStudy) + "." + std::to_string(n);
  r.attrs.series_instance_uid = std::string(kSeries) + "." + std::to_string(n);
  r.attrs.modality = "CT";
  r.attrs.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
  r.attrs.sop_instance_uid = "1.2.3.4." + std::to_string(n);
  r.transfer_syntax_uid = "1.2.840.10008.1.2.1";
  std::string s = std::to_string(n);
  r.blob_name = std::string(32 - s.size(), 'b') + s;
  r.blob_size = 1000;
  r.content_sha256 = std::string(64, 'a');
  r.source_ae = "CT1";
  r.received_at = 1700000000;
  return r;
}

std::vector<InstanceRecord> Records(int from, int count) {
  std::vector<InstanceRecord> out;
  for (int i = from; i < from + count; ++i) out.push_back(Record(i));
  return out;
}

std::unique_ptr<SqliteIndex> OpenOrDie(const std::string& path, const std::string& key,
                                       Sync sync = Sync::kFull) {
  SqliteIndexOptions o{path, sync};
  o.page_key = key;
  auto opened = SqliteIndex::Open(o);
  EXPECT_TRUE(opened.ok()) << opened.status().ToString();
  return opened.ok() ? std::move(opened).value() : nullptr;
}

// Studies matching a patient-name pattern (wildcards; fuzzy when asked).
Result<size_t> StudiesNamed(SqliteIndex& index, const std::string& pattern, bool fuzzy = false) {
  dicom::Query q;
  q.level = dicom::QueryLevel::kStudy;
  q.fuzzy_person_names = fuzzy;
  auto key = dicom::ParseMatchingKey(*dicom::FindQueryAttribute(dicom::MakeTag(0x0010, 0x0010)),
                                     pattern);
  if (!key.ok()) return key.status();
  q.conditions.push_back(key->condition);
  TRESOR_ASSIGN_OR_RETURN(auto found, index.Find(q, AccessScope::Everything()));
  return found.size();
}

size_t Count(const Result<size_t>& n) {
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  return n.ok() ? *n : 0;
}

// Flips one byte of `path` at `offset`.
void FlipByte(const std::string& path, off_t offset) {
  int fd = open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  unsigned char b = 0;
  ASSERT_EQ(pread(fd, &b, 1, offset), 1);
  b ^= 0x20;
  ASSERT_EQ(pwrite(fd, &b, 1, offset), 1);
  close(fd);
}

class SealedVfsTest : public ::testing::Test {
 protected:
  std::string Db() const { return dir_.path() + "/index.db"; }
  ::tresor::testing::TempDir dir_;
};

TEST_F(SealedVfsTest, RoundTripKeepsQueriesWorkingAndFilesHoldNoPlaintext) {
  {
    auto index = OpenOrDie(Db(), kKey);
    ASSERT_TRUE(index);
    ASSERT_TRUE(index->AddInstances(Records(0, 50)).ok());
    // Positive controls: wildcard and fuzzy matching see the plaintext.
    EXPECT_EQ(Count(StudiesNamed(*index, "Lindq*")), 50u);
    EXPECT_EQ(Count(StudiesNamed(*index, "lindqvist^inge*", true)), 50u);
    // The WAL holds the frames now, sealed.
    ASSERT_GT(SizeOf(Db() + "-wal"), 0);
    for (const char* file : {"", "-wal", "-shm"}) {
      std::string bytes = ReadAll(Db() + file);
      EXPECT_EQ(bytes.find("Lindqvist"), std::string::npos) << file;
      EXPECT_EQ(bytes.find(kPatientId), std::string::npos) << file;
      EXPECT_EQ(bytes.find(kBirthDate), std::string::npos) << file;
      EXPECT_EQ(bytes.find("CREATE TABLE"), std::string::npos) << file;
    }
  }
  // After the final checkpoint the database file alone holds everything, still sealed.
  std::string bytes = ReadAll(Db());
  ASSERT_GT(bytes.size(), 4096u);
  EXPECT_EQ(bytes.compare(0, 16, std::string("SQLite format 3\0", 16)), 0);
  EXPECT_EQ(static_cast<unsigned char>(bytes[20]), kSealReserveBytes);
  EXPECT_EQ(bytes.find("Lindqvist"), std::string::npos);
  EXPECT_EQ(bytes.find(kPatientId), std::string::npos);
  EXPECT_EQ(bytes.find("patients"), std::string::npos) << "the schema is sealed too";
  auto index = OpenOrDie(Db(), kKey);
  ASSERT_TRUE(index);
  auto found = index->FindInstance("1.2.3.4.7", AccessScope::Everything());
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->study_instance_uid, std::string(kStudy) + ".7");
}

TEST_F(SealedVfsTest, WrongKeyIsAClearErrorAtOpen) {
  {
    auto index = OpenOrDie(Db(), kKey);
    ASSERT_TRUE(index);
    ASSERT_TRUE(index->AddInstances(Records(0, 3)).ok());
  }
  SqliteIndexOptions o{Db(), Sync::kFull};
  o.page_key = kOtherKey;
  auto opened = SqliteIndex::Open(o);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Code::kPermissionDenied);
  EXPECT_NE(opened.status().message().find("cannot be decrypted with this key"), std::string::npos)
      << opened.status().message();
  // Without any key the sealed index is refused too, never read as garbage.
  auto keyless = SqliteIndex::Open({Db(), Sync::kFull});
  ASSERT_FALSE(keyless.ok());
  EXPECT_NE(keyless.status().message().find("encrypted"), std::string::npos);
  // Positive control: the right key still opens it.
  auto index = OpenOrDie(Db(), kKey);
  ASSERT_TRUE(index);
  EXPECT_EQ(Count(StudiesNamed(*index, "L*")), 3u);
}

TEST_F(SealedVfsTest, AKeyOfTheWrongLengthIsRefused) {
  SqliteIndexOptions o{Db(), Sync::kFull};
  o.page_key = std::string(16, 'k');
  auto opened = SqliteIndex::Open(o);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Code::kInvalidArgument);
}

TEST_F(SealedVfsTest, APlaintextIndexIsRefusedWithAKey) {
  {
    auto plain = SqliteIndex::Open({Db(), Sync::kFull});
    ASSERT_TRUE(plain.ok()) << plain.status().ToString();
    ASSERT_TRUE((*plain)->AddInstances(Records(0, 2)).ok());
  }
  SqliteIndexOptions o{Db(), Sync::kFull};
  o.page_key = kKey;
  auto opened = SqliteIndex::Open(o);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Code::kUnsupported);
  EXPECT_NE(opened.status().message().find("not encrypted"), std::string::npos);
}

// A page that fails authentication fails the statement reading it with an integrity
// error. One byte is flipped in each page but page 1: whatever pages a query reads, it
// must fail, and never answer from damaged pages.
TEST_F(SealedVfsTest, AFlippedByteInAPageIsAnIntegrityErrorNotWrongRows) {
  {
    auto index = OpenOrDie(Db(), kKey);
    ASSERT_TRUE(index);
    ASSERT_TRUE(index->AddInstances(Records(0, 400)).ok());
  }
  auto index = OpenOrDie(Db(), kKey);
  ASSERT_TRUE(index);
  ASSERT_EQ(Count(StudiesNamed(*index, "Lindq*")), 400u) << "positive control";
  index.reset();
  ASSERT_FALSE(Exists(Db() + "-wal")) << "everything is in the database file";
  const off_t size = SizeOf(Db());
  ASSERT_GT(size, 8 * 4096);
  // Opened first (its schema checks read page 1 only), then damaged on disk.
  index = OpenOrDie(Db(), kKey);
  ASSERT_TRUE(index);
  for (off_t page = 4096; page < size; page += 4096) FlipByte(Db(), page + 1000);
  for (const char* pattern : {"Lindq*", "L*", "*qvist^Inge*"}) {
    auto n = StudiesNamed(*index, pattern);
    ASSERT_FALSE(n.ok()) << pattern << " answered " << *n << " from damaged pages";
    EXPECT_NE(n.status().message().find("integrity check"), std::string::npos)
        << n.status().message();
  }
  auto found = index->FindInstance("1.2.3.4.7", AccessScope::Everything());
  ASSERT_FALSE(found.ok());
  EXPECT_NE(found.status().message().find("integrity check"), std::string::npos)
      << found.status().message();
}

TEST_F(SealedVfsTest, AFlippedByteInPageOneIsRefusedAtOpen) {
  {
    auto index = OpenOrDie(Db(), kKey);
    ASSERT_TRUE(index);
    ASSERT_TRUE(index->AddInstances(Records(0, 2)).ok());
  }
  FlipByte(Db(), 200);
  SqliteIndexOptions o{Db(), Sync::kFull};
  o.page_key = kKey;
  auto opened = SqliteIndex::Open(o);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.status().message().find("integrity check"), std::string::npos)
      << opened.status().message();
}

// A writer that dies without closing leaves its commits in the sealed WAL only; SQLite's
// recovery (checksums over what the VFS decrypts) finds them all on the next open.
TEST_F(SealedVfsTest, CommitsInTheWalSurviveACrash) {
  for (Sync sync : {Sync::kFull, Sync::kFilesystem}) {
    ::tresor::testing::TempDir dir;
    const std::string db = dir.path() + "/index.db";
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      SqliteIndexOptions o{db, sync};
      o.page_key = kKey;
      auto opened = SqliteIndex::Open(o);
      if (!opened.ok()) _exit(2);
      for (int batch = 0; batch < 10; ++batch) {
        if (!(*opened)->AddInstances(Records(batch * 20, 20)).ok()) _exit(3);
      }
      if (sync == Sync::kFilesystem && !(*opened)->ConfirmAll().ok()) _exit(4);
      _exit(0);  // no destructor: no checkpoint, the WAL stays as the crash left it
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    ASSERT_GT(SizeOf(db + "-wal"), 0) << "the commits are in the WAL";
    std::string wal = ReadAll(db + "-wal");
    EXPECT_EQ(wal.find("Lindqvist"), std::string::npos);
    EXPECT_EQ(wal.find(kPatientId), std::string::npos);
    auto index = OpenOrDie(db, kKey, sync);
    ASSERT_TRUE(index);
    EXPECT_EQ(Count(StudiesNamed(*index, "Lindq*")), 200u);
    auto stats = index->Stats(AccessScope::Everything());
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->instances, 200);
  }
}

// A raw connection through the VFS: page kinds other than the database and its WAL are
// refused, so nothing can spill plaintext pages to a temp file or rollback journal.
TEST_F(SealedVfsTest, TempFilesAndRollbackJournalsAreRefused) {
  auto vfs = SealedVfs::Make(kKey);
  ASSERT_TRUE(vfs.ok());
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open_v2(Db().c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                            (*vfs)->name()),
            SQLITE_OK);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw, sqlite3_close);
  int reserve = kSealReserveBytes;
  ASSERT_EQ(sqlite3_file_control(db.get(), "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve), SQLITE_OK);
  // A rollback-journal transaction needs a journal file: refused.
  EXPECT_NE(sqlite3_exec(db.get(), "CREATE TABLE t(x)", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_GT((*vfs)->refused_opens(), 0u);
  EXPECT_FALSE(Exists(Db() + "-journal"));
  // Positive control: the index's way (in-memory journal to switch to WAL) works.
  ASSERT_EQ(sqlite3_exec(db.get(), "PRAGMA journal_mode=MEMORY; PRAGMA journal_mode=WAL;"
                         "CREATE TABLE t(x); INSERT INTO t VALUES('Lindqvist');",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db.get());
  // A temp table on disk is refused; in memory it works.
  const uint64_t refused = (*vfs)->refused_opens();
  ASSERT_EQ(sqlite3_exec(db.get(), "PRAGMA temp_store=FILE", nullptr, nullptr, nullptr), SQLITE_OK);
  // (5 MB: more than the temp database's page cache holds, so it must spill to a file)
  const char* big = "CREATE TEMP TABLE tt AS WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL "
                    "SELECT n+1 FROM c WHERE n<5000) SELECT randomblob(1000) FROM c";
  EXPECT_NE(sqlite3_exec(db.get(), big, nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_GT((*vfs)->refused_opens(), refused);
  ASSERT_EQ(sqlite3_exec(db.get(), "PRAGMA temp_store=MEMORY", nullptr, nullptr, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db.get(), big, nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db.get());
}

}  // namespace
}  // namespace tresor::store

namespace tresor::store {
namespace {

// Not a test: the cost of sealing, plaintext against sealed, at TRESOR_BENCH_INSTANCES
// instances (default 100,000; 2 studies of 10 instances per patient). Run with
//   tresor_store_test --gtest_also_run_disabled_tests --gtest_filter='*SealedVfsBenchmark*'
// It prints the ingest time and the median of 21 runs of each query on a reopened index
// (cold SQLite page cache; the files are in the OS cache, as on a busy server).
double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

dicom::Query StudyQuery(uint16_t group, uint16_t element, const std::string& value, bool fuzzy) {
  dicom::Query q;
  q.level = dicom::QueryLevel::kStudy;
  q.fuzzy_person_names = fuzzy;
  auto key = dicom::ParseMatchingKey(*dicom::FindQueryAttribute(dicom::MakeTag(group, element)), value);
  if (key.ok()) q.conditions.push_back(key->condition);
  return q;
}

TEST(SealedVfsBenchmark, DISABLED_PlaintextAgainstSealed) {
  const char* env = std::getenv("TRESOR_BENCH_INSTANCES");
  const int instances = env ? std::atoi(env) : 100000;
  const int patients = instances / 20;
  const char* surnames[] = {"Mueller", "Schmidt", "Papadopoulos", "Ivanova", "Lindqvist"};
  struct Named {
    const char* name;
    dicom::Query query;
  };
  std::vector<Named> queries = {
      {"name prefix Mue*", StudyQuery(0x0010, 0x0010, "Mue*", false)},
      {"fuzzy lindq*", StudyQuery(0x0010, 0x0010, "lindq*", true)},
      {"patient ID", StudyQuery(0x0010, 0x0020, "BP" + std::to_string(patients / 2), false)},
      {"date range (1 month)", StudyQuery(0x0008, 0x0020, "20110101-20110131", false)},
  };
  ::tresor::testing::TempDir dirs[2];
  for (bool sealed : {false, true}) {
    const std::string db = dirs[sealed].path() + "/index.db";
    auto start = std::chrono::steady_clock::now();
    {
      auto index = OpenOrDie(db, sealed ? kKey : "", Sync::kOff);
      ASSERT_TRUE(index);
      std::vector<InstanceRecord> batch;
      for (int p = 0; p < patients; ++p) {
        for (int s = 0; s < 2; ++s) {
          for (int i = 0; i < 10; ++i) {
            const int n = (p * 2 + s) * 10 + i;
            InstanceRecord r = Record(n, std::string(surnames[p % 5]) + "^Given" + std::to_string(p));
            r.attrs.patient_id = "BP" + std::to_string(p);
            r.attrs.study_instance_uid = "1.2.826.0.1.3680043.8.498.9." + std::to_string(p * 2 + s);
            r.attrs.series_instance_uid = r.attrs.study_instance_uid + ".1";
            const int day = (p * 2 + s) % 3650;
            char date[16];
            std::snprintf(date, sizeof date, "%04d%02d%02d", 2010 + day / 365, 1 + day % 365 / 31 % 12,
                          1 + day % 28);
            r.attrs.study_date = date;
            batch.push_back(std::move(r));
            if (batch.size() == 500) {
              ASSERT_TRUE(index->AddInstances(batch).ok());
              batch.clear();
            }
          }
        }
      }
      if (!batch.empty()) {
        ASSERT_TRUE(index->AddInstances(batch).ok());
      }
    }
    std::printf("%s: %d instances ingested in %.2f s (batches of 500, no sync), %lld bytes\n",
                sealed ? "sealed" : "plaintext", instances, Seconds(start),
                static_cast<long long>(SizeOf(db)));
  }
  // Plaintext and sealed runs alternate, so a busy machine slows both alike.
  for (const Named& q : queries) {
    std::vector<double> times[2];
    size_t matches[2] = {0, 0};
    for (int run = 0; run < 21; ++run) {
      for (bool sealed : {false, true}) {
        auto index = OpenOrDie(dirs[sealed].path() + "/index.db", sealed ? kKey : "", Sync::kOff);
        ASSERT_TRUE(index);
        auto t = std::chrono::steady_clock::now();
        auto found = index->Find(q.query, AccessScope::Everything());
        times[sealed].push_back(Seconds(t));
        ASSERT_TRUE(found.ok()) << found.status().ToString();
        matches[sealed] = found->size();
      }
    }
    EXPECT_EQ(matches[0], matches[1]);
    for (auto& t : times) std::sort(t.begin(), t.end());
    std::printf("  %-22s %6zu studies  median plaintext %8.2f ms  sealed %8.2f ms  (%+.0f%%)\n",
                q.name, matches[1], times[0][10] * 1000, times[1][10] * 1000,
                (times[1][10] / times[0][10] - 1) * 100);
  }
}

}  // namespace
}  // namespace tresor::store
