// PostgresIndex on a real PostgreSQL server: what the backend-neutral conformance suite
// cannot express (schema versions, TLS requirement, an unreachable server, two processes
// adding the same instances at once) and a differential check of Find against
// SqliteIndex over many queries.
//
// The server is TRESOR_TEST_PG (a libpq connection string of a role that may create
// databases; tests/tools/pg_cluster.sh). Without it the tests are skipped, unless
// TRESOR_REQUIRE_PG=1 (the registered PostgreSQL ctest), where they fail.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "dicom/query.h"
#include "store/postgres_connection.h"
#include "store/postgres_index.h"
#include "store/sqlite_index.h"

namespace tresor::store {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Skips (or, when PostgreSQL is required, fails) the test without a server.
#define REQUIRE_PG()                                                              \
  do {                                                                            \
    if (Env("TRESOR_TEST_PG").empty()) {                                          \
      if (Env("TRESOR_REQUIRE_PG") == "1") FAIL() << "TRESOR_TEST_PG is not set"; \
      GTEST_SKIP() << "TRESOR_TEST_PG is not set";                                \
    }                                                                             \
  } while (0)

// A fresh database on the test server, dropped when the test ends.
class TestDatabase {
 public:
  TestDatabase() {
    static int counter = 0;
    name_ = "tresor_t" + std::to_string(getpid()) + "_" + std::to_string(++counter);
    auto admin = pg::Connection::Open(Env("TRESOR_TEST_PG"));
    EXPECT_TRUE(admin.ok()) << admin.status().ToString();
    if (admin.ok()) {
      Status s = (*admin)->Exec("CREATE DATABASE " + name_);
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
  }
  ~TestDatabase() {
    auto admin = pg::Connection::Open(Env("TRESOR_TEST_PG"));
    if (admin.ok()) (void)(*admin)->Exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  }
  // The server's connection string with this database (a later keyword wins in libpq).
  std::string Connection(const std::string& base = Env("TRESOR_TEST_PG")) const {
    return base + " dbname=" + name_;
  }
  PostgresIndexOptions Options() const {
    PostgresIndexOptions o;
    o.connection = Connection();
    return o;
  }
  // Runs `sql` on this database directly.
  void Exec(const std::string& sql) const {
    auto c = pg::Connection::Open(Connection());
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    Status s = (*c)->Exec(sql);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

 private:
  std::string name_;
};

std::unique_ptr<PostgresIndex> OpenOrDie(const PostgresIndexOptions& options) {
  auto index = PostgresIndex::Open(options);
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  return index.ok() ? std::move(index).value() : nullptr;
}

InstanceRecord Record(const std::string& sop, const std::string& study, const std::string& series,
                      const std::string& blob, char sha) {
  InstanceRecord r;
  r.attrs.patient_name = "Doe^Jane";
  r.attrs.patient_id = "P1";
  r.attrs.study_instance_uid = study;
  r.attrs.series_instance_uid = series;
  r.attrs.modality = "CT";
  r.attrs.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
  r.attrs.sop_instance_uid = sop;
  r.transfer_syntax_uid = "1.2.840.10008.1.2.1";
  r.blob_name = blob;
  r.blob_size = 100;
  r.content_sha256 = std::string(64, sha);
  r.source_ae = "CT1";
  r.received_at = 1700000000;
  r.metadata_document = std::string("{\"a\":1}\0\xff", 9);  // bytes, NUL included
  return r;
}

TEST(PostgresIndexTest, CreatesTheSchemaOnceAndChecksItsVersion) {
  REQUIRE_PG();
  TestDatabase db;
  {
    auto index = OpenOrDie(db.Options());
    ASSERT_NE(index, nullptr);
    auto added = index->AddInstances({Record("1.2.3.1", "1.2.3", "1.2.3.0", "b1", 'a')});
    ASSERT_TRUE(added.ok()) << added.status().ToString();
  }
  {
    auto index = OpenOrDie(db.Options());  // reopened: the schema and the row are kept
    ASSERT_NE(index, nullptr);
    auto stats = index->Stats(AccessScope::Everything());
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->instances, 1);
    auto up = PostgresIndex::Upgrade(db.Options());
    ASSERT_TRUE(up.ok()) << up.status().ToString();
    EXPECT_EQ(*up, PostgresIndex::kSchemaVersion);
  }
  db.Exec("UPDATE schema_version SET version = 99");
  auto newer = PostgresIndex::Open(db.Options());
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().code(), Code::kUnsupported);
  EXPECT_NE(newer.status().message().find("newer release"), std::string::npos)
      << newer.status().message();
  auto up = PostgresIndex::Upgrade(db.Options());
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.status().code(), Code::kUnsupported);
  db.Exec("UPDATE schema_version SET version = " + std::to_string(PostgresIndex::kSchemaVersion));
  EXPECT_NE(OpenOrDie(db.Options()), nullptr);
}

TEST(PostgresIndexTest, UpgradeCreatesTheSchemaInAnEmptyDatabase) {
  REQUIRE_PG();
  TestDatabase db;
  auto up = PostgresIndex::Upgrade(db.Options());
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  EXPECT_EQ(*up, 0);
  auto index = OpenOrDie(db.Options());
  ASSERT_NE(index, nullptr);
  auto stats = index->Stats(AccessScope::Everything());
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->instances, 0);
}

TEST(PostgresIndexTest, RequiredTlsRefusesConnectionsThatDoNotVerifyTheServer) {
  REQUIRE_PG();
  if (Env("TRESOR_TEST_PG_REQUIRE").empty()) {
    if (Env("TRESOR_REQUIRE_PG") == "1") FAIL() << "the test server has no TLS (pg_start --tls)";
    GTEST_SKIP() << "the test server has no TLS";
  }
  TestDatabase db;
  PostgresIndexOptions o = db.Options();  // sslmode=verify-full: the positive control
  o.require_tls = true;
  EXPECT_NE(OpenOrDie(o), nullptr);
  for (const char* variable : {"TRESOR_TEST_PG_REQUIRE", "TRESOR_TEST_PG_NOTLS"}) {
    PostgresIndexOptions weak = o;
    weak.connection = db.Connection(Env(variable));
    auto refused = PostgresIndex::Open(weak);
    ASSERT_FALSE(refused.ok()) << variable;
    EXPECT_EQ(refused.status().code(), Code::kPermissionDenied) << refused.status().ToString();
    weak.require_tls = false;  // the same connection works when TLS is not required
    EXPECT_NE(OpenOrDie(weak), nullptr) << variable;
  }
}

TEST(PostgresIndexTest, UnreachableServerIsUnavailable) {
  REQUIRE_PG();
  TestDatabase db;
  EXPECT_NE(OpenOrDie(db.Options()), nullptr);  // positive control
  PostgresIndexOptions o;
  o.connection = "host=127.0.0.1 port=1 dbname=x user=x connect_timeout=5 sslmode=disable";
  auto refused = PostgresIndex::Open(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kUnavailable) << refused.status().ToString();
}

// The server closes the index's idle connections (a restart, an idle timeout): the next
// read and the next write still succeed, on new connections.
TEST(PostgresIndexTest, ConnectionsTheServerClosedAreReplaced) {
  REQUIRE_PG();
  TestDatabase db;
  auto index = OpenOrDie(db.Options());
  ASSERT_NE(index, nullptr);
  ASSERT_TRUE(index->AddInstances({Record("1.2.3.1", "1.2.3", "1.2.3.0", "b1", 'a')}).ok());
  auto terminate = [&] {
    // From another database, so that the terminating session is not among them.
    auto killer = pg::Connection::Open(Env("TRESOR_TEST_PG"));
    ASSERT_TRUE(killer.ok()) << killer.status().ToString();
    pg::Params p;
    p.Text(db.Connection().substr(db.Connection().rfind("dbname=") + 7));
    auto r = (*killer)->Query(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname=$1 "
        "AND usename=current_user AND backend_type='client backend'", p,
        "terminate");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    // The index's pooled connection was there, and is gone.
    ASSERT_GE(r->Int(0, 0), 1) << "the index's pooled connection was not found";
  };
  terminate();
  auto stats = index->Stats(AccessScope::Everything());
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->instances, 1);
  terminate();
  auto added = index->AddInstances({Record("1.2.3.2", "1.2.3", "1.2.3.0", "b2", 'a')});
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ((*added)[0], AddOutcome::kAdded);
}

TEST(PostgresIndexTest, RefusesTextThatIsNotUtf8AndIndexesNothingOfTheBatch) {
  REQUIRE_PG();
  TestDatabase db;
  auto index = OpenOrDie(db.Options());
  ASSERT_NE(index, nullptr);
  InstanceRecord bad = Record("1.2.3.2", "1.2.3", "1.2.3.0", "b2", 'a');
  bad.attrs.patient_name = std::string("Doe\0Jane", 8);
  InstanceRecord bad2 = Record("1.2.3.3", "1.2.3", "1.2.3.0", "b3", 'a');
  bad2.attrs.study_description = "\xc3\x28";
  for (const InstanceRecord& b : {bad, bad2}) {
    auto refused = index->AddInstances({Record("1.2.3.1", "1.2.3", "1.2.3.0", "b1", 'a'), b});
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), Code::kInvalidArgument);
  }
  auto stats = index->Stats(AccessScope::Everything());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->instances, 0);
  auto added = index->AddInstances({Record("1.2.3.1", "1.2.3", "1.2.3.0", "b1", 'a')});
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  auto docs = index->FindMetadata("1.2.3", "", "", AccessScope::Everything());
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  ASSERT_EQ(docs->size(), 1u);
  EXPECT_EQ(*(*docs)[0].metadata_document, std::string("{\"a\":1}\0\xff", 9));
}

// Two processes (two nodes) add the same SOP Instance UIDs at once, in opposite orders
// (deadlocks between their batches are resolved by the retry): every UID is indexed
// exactly once; the other process sees it as identical (same content) or as a conflict
// (different content); of two instances filing one new series under different studies,
// exactly one is added and the other is inconsistent.
TEST(PostgresIndexTest, ConcurrentAddsOfTheSameUidsFromTwoProcesses) {
  REQUIRE_PG();
  TestDatabase db;
  ASSERT_NE(OpenOrDie(db.Options()), nullptr);  // schema created before the race
  constexpr int kUids = 120;
  constexpr int kBatch = 8;
  auto uid = [](int i) { return "1.2.840.99." + std::to_string(i); };
  auto run = [&](int process) -> std::string {
    auto index = PostgresIndex::Open(db.Options());
    if (!index.ok()) return "open: " + index.status().ToString();
    std::vector<int> order;
    for (int i = 0; i < kUids; ++i) order.push_back(process == 0 ? i : kUids - 1 - i);
    std::string out(kUids + 20, '?');
    for (size_t start = 0; start < order.size(); start += kBatch) {
      std::vector<InstanceRecord> batch;
      std::vector<int> which;
      for (size_t k = start; k < std::min(order.size(), start + kBatch); ++k) {
        const int i = order[k];
        // Odd UIDs differ in content between the processes.
        const char sha = (i % 2 == 1 && process == 1) ? 'b' : 'a';
        batch.push_back(Record(uid(i), "1.2.840.99.s" + std::to_string(i % 7),
                               "1.2.840.99.s" + std::to_string(i % 7) + ".1",
                               "p" + std::to_string(process) + "_" + std::to_string(i), sha));
        which.push_back(i);
      }
      auto outcomes = (*index)->AddInstances(batch);
      if (!outcomes.ok()) return "add: " + outcomes.status().ToString();
      for (size_t k = 0; k < which.size(); ++k) {
        out[static_cast<size_t>(which[k])] = static_cast<char>('0' + static_cast<int>((*outcomes)[k]));
      }
    }
    // New series filed under a different study by each process.
    for (int j = 0; j < 20; ++j) {
      InstanceRecord r = Record("1.2.840.98." + std::to_string(process) + "." + std::to_string(j),
                                "1.2.840.98.study" + std::to_string(process) + "." + std::to_string(j),
                                "1.2.840.98.series" + std::to_string(j),
                                "q" + std::to_string(process) + "_" + std::to_string(j), 'a');
      auto outcomes = (*index)->AddInstances({r});
      if (!outcomes.ok()) return "add: " + outcomes.status().ToString();
      out[static_cast<size_t>(kUids + j)] = static_cast<char>('0' + static_cast<int>((*outcomes)[0]));
    }
    return out;
  };
  std::vector<std::string> results(2);
  std::vector<std::string> files;
  std::vector<pid_t> children;
  for (int process = 0; process < 2; ++process) {
    std::string file = std::filesystem::temp_directory_path() /
                       ("pg_race_" + std::to_string(getpid()) + "_" + std::to_string(process));
    files.push_back(file);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::string out = run(process);
      FILE* f = std::fopen(file.c_str(), "w");
      if (f) {
        std::fputs(out.c_str(), f);
        std::fclose(f);
      }
      _exit(0);  // no destructors: the parent's connections are not ours to close
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
  }
  for (int process = 0; process < 2; ++process) {
    FILE* f = std::fopen(files[static_cast<size_t>(process)].c_str(), "r");
    ASSERT_NE(f, nullptr);
    char buf[4096] = {};
    size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    std::remove(files[static_cast<size_t>(process)].c_str());
    results[static_cast<size_t>(process)] = std::string(buf, n);
    ASSERT_EQ(results[static_cast<size_t>(process)].size(), static_cast<size_t>(kUids + 20))
        << results[static_cast<size_t>(process)];
  }
  const char kAdded = '0' + static_cast<int>(AddOutcome::kAdded);
  const char kIdentical = '0' + static_cast<int>(AddOutcome::kIdentical);
  const char kConflict = '0' + static_cast<int>(AddOutcome::kConflict);
  const char kInconsistent = '0' + static_cast<int>(AddOutcome::kInconsistent);
  auto index = OpenOrDie(db.Options());
  ASSERT_NE(index, nullptr);
  for (int i = 0; i < kUids; ++i) {
    const char a = results[0][static_cast<size_t>(i)];
    const char b = results[1][static_cast<size_t>(i)];
    ASSERT_TRUE((a == kAdded) != (b == kAdded)) << "uid " << i << ": " << a << b;
    EXPECT_EQ(a == kAdded ? b : a, i % 2 == 1 ? kConflict : kIdentical) << "uid " << i;
    auto found = index->FindInstance(uid(i), AccessScope::Everything());
    ASSERT_TRUE(found.ok() && found->has_value());
    // The stored instance is the adder's.
    EXPECT_EQ((*found)->blob_name, (a == kAdded ? "p0_" : "p1_") + std::to_string(i));
  }
  for (int j = 0; j < 20; ++j) {
    const char a = results[0][static_cast<size_t>(kUids + j)];
    const char b = results[1][static_cast<size_t>(kUids + j)];
    EXPECT_TRUE((a == kAdded && b == kInconsistent) || (a == kInconsistent && b == kAdded))
        << "series " << j << ": " << a << b;
  }
  auto stats = index->Stats(AccessScope::Everything());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->instances, kUids + 20);
  EXPECT_EQ(stats->series, 7 + 20);
}

// ---- Find: the same answers as SqliteIndex ----

// A corpus with the values matching is sensitive to: case, accents, LIKE's own
// characters, empty values, integer strings, dates and times.
std::vector<InstanceRecord> Corpus() {
  const std::vector<std::string> names = {"Müller^Jörg", "MULLER^JORG", "muller^jorg", "Doe^Jane",
                                          "Doe^John", "O'Neil^Ann", "50%_off^x", "", "Łukasz^Ōtsuka",
                                          "Zoë^Ÿ", "doe^jane"};
  const std::vector<std::string> dates = {"20240101", "20231231", "", "20240215", "19991231"};
  const std::vector<std::string> times = {"101500", "100059", "", "235959.123", "0800"};
  const std::vector<std::string> modalities = {"CT", "MR", "", "ct", "US"};
  const std::vector<std::string> numbers = {"1", "10", "2", "", " 3", "-4", "x"};
  const std::vector<std::string> classes = {"1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4",
                                            "1.2.840.10008.5.1.4.1.1.7"};
  std::mt19937 rng(7);
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  std::vector<InstanceRecord> out;
  int n = 0;
  for (int p = 0; p < 11; ++p) {
    for (int st = 0; st < 1 + p % 3; ++st) {
      const std::string study = "1.2.9." + std::to_string(p) + "." + std::to_string(st);
      const std::string date = pick(dates), time = pick(times), acc = "A" + std::to_string(rng() % 5);
      const std::string referring = pick(names), institution = p % 2 ? "General" : "St. Mary's";
      for (int se = 0; se < 1 + (p + st) % 3; ++se) {
        const std::string series = study + "." + std::to_string(se);
        const std::string modality = pick(modalities), number = pick(numbers);
        for (int i = 0; i < 1 + (p + se) % 4; ++i) {
          InstanceRecord r;
          r.attrs.patient_name = names[static_cast<size_t>(p)];
          r.attrs.patient_id = "PID" + std::to_string(p % 9);  // two patients share an ID...
          r.attrs.issuer_of_patient_id = p >= 9 ? "ISS" : "";   // ...with another issuer
          r.attrs.patient_birth_date = pick(dates);
          r.attrs.patient_sex = p % 2 ? "F" : "M";
          r.attrs.study_instance_uid = study;
          r.attrs.study_date = date;
          r.attrs.study_time = time;
          r.attrs.accession_number = acc;
          r.attrs.study_id = std::to_string(st);
          r.attrs.study_description = p % 3 ? "Chest" : "Head 100%";
          r.attrs.referring_physician_name = referring;
          r.attrs.institution_name = institution;
          r.attrs.series_instance_uid = series;
          r.attrs.modality = modality;
          r.attrs.series_number = number;
          r.attrs.series_description = "S" + std::to_string(se);
          r.attrs.body_part_examined = se % 2 ? "CHEST" : "HEAD";
          r.attrs.sop_class_uid = pick(classes);
          r.attrs.sop_instance_uid = series + "." + std::to_string(i);
          r.attrs.instance_number = pick(numbers);
          r.transfer_syntax_uid = "1.2.840.10008.1.2.1";
          r.blob_name = "blob" + std::to_string(++n);
          r.blob_size = 100 + static_cast<uint64_t>(n);
          r.content_sha256 = std::string(64, 'a');
          r.source_ae = "AE";
          r.source_peer = p % 4 == 0 ? "modality1" : "";
          r.received_at = 1700000000 + n;
          out.push_back(std::move(r));
        }
      }
    }
  }
  return out;
}

dicom::Query MakeQuery(dicom::QueryLevel level,
                       const std::vector<std::pair<std::string, std::string>>& keys) {
  dicom::Query q;
  q.level = level;
  for (const dicom::QueryAttribute& a : dicom::QueryAttributes()) q.return_tags.push_back(a.tag);
  for (const auto& [keyword, value] : keys) {
    const dicom::QueryAttribute* a = dicom::FindQueryAttribute(keyword);
    EXPECT_NE(a, nullptr) << keyword;
    if (!a) continue;
    std::vector<std::string> values;
    size_t start = 0;
    for (size_t comma; (comma = value.find(',', start)) != std::string::npos; start = comma + 1) {
      values.push_back(value.substr(start, comma - start));
    }
    values.push_back(value.substr(start));
    auto parsed = dicom::ParseMatchingValues(*a, values);
    EXPECT_TRUE(parsed.ok()) << keyword << "=" << value << ": " << parsed.status().ToString();
    if (parsed.ok() && parsed->matches) q.conditions.push_back(parsed->condition);
  }
  return q;
}

std::string Describe(const std::vector<dicom::QueryMatch>& matches) {
  std::string out;
  for (const auto& m : matches) {
    out += "{";
    for (const auto& [tag, v] : m.values) out += std::to_string(tag) + "=" + v + ";";
    out += "}\n";
  }
  return out;
}

TEST(PostgresIndexTest, FindAnswersExactlyAsSqliteIndex) {
  REQUIRE_PG();
  TestDatabase db;
  auto pg_index = OpenOrDie(db.Options());
  ASSERT_NE(pg_index, nullptr);
  const std::string dir = std::filesystem::temp_directory_path() / ("pgdiff_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto sqlite = SqliteIndex::Open({dir + "/index.db", SqliteIndexOptions::Sync::kOff});
  ASSERT_TRUE(sqlite.ok()) << sqlite.status().ToString();
  // Access groups, so that scoped queries have something to tell apart.
  for (Index* index : {static_cast<Index*>(pg_index.get()), static_cast<Index*>(sqlite->get())}) {
    if (index == pg_index.get()) {
      // Group rules are administration (postgres_accounts.cc); written directly here.
      db.Exec("INSERT INTO group_rules VALUES ('peer','modality1','g1'), "
              "('institution','General','g2')");
    } else {
      ASSERT_TRUE(index->PutGroupRule({"g1", GroupRule::Kind::kPeer, "modality1"}).ok());
      ASSERT_TRUE(index->PutGroupRule({"g2", GroupRule::Kind::kInstitution, "General"}).ok());
    }
  }
  std::vector<InstanceRecord> corpus = Corpus();
  for (size_t start = 0; start < corpus.size(); start += 16) {
    std::vector<InstanceRecord> batch(corpus.begin() + static_cast<long>(start),
                                      corpus.begin() + static_cast<long>(std::min(corpus.size(), start + 16)));
    auto a = pg_index->AddInstances(batch);
    auto b = (*sqlite)->AddInstances(batch);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    ASSERT_EQ(*a, *b);
  }
  using L = dicom::QueryLevel;
  const std::vector<std::vector<std::pair<std::string, std::string>>> keysets = {
      {},
      {{"PatientName", "Müller^Jörg"}},
      {{"PatientName", "müller*"}},
      {{"PatientName", "M*"}},
      {{"PatientName", "*^J?rg"}},
      {{"PatientName", "Doe^*"}},
      {{"PatientName", "50%_*"}},
      {{"PatientName", "5?%*"}},
      {{"PatientName", "Ł*"}},
      {{"PatientName", "Zo?^*"}},
      {{"PatientName", "Doe^Jane,MULLER^JORG"}},
      {{"PatientID", "PID1"}},
      {{"PatientID", "PID*"}, {"IssuerOfPatientID", "ISS"}},
      {{"PatientBirthDate", "19990101-20231231"}},
      {{"StudyDate", "20240101"}},
      {{"StudyDate", "20231231-"}},
      {{"StudyDate", "-20231231"}},
      {{"StudyDate", "20240101,20240215"}},
      {{"StudyTime", "-1000"}},
      {{"StudyTime", "1000-1015"}},
      {{"StudyTime", "0800-"}},
      {{"AccessionNumber", "A1"}},
      {{"AccessionNumber", "A?"}},
      {{"StudyDescription", "*100%"}},
      {{"StudyDescription", "Head*"}},
      {{"ReferringPhysicianName", "Doe^J*"}},
      {{"InstitutionName", "St. Mary's"}},
      {{"StudyInstanceUID", "1.2.9.3.0,1.2.9.4.1,1.2.9.9.9"}},
      {{"ModalitiesInStudy", "CT"}},
      {{"ModalitiesInStudy", "CT,MR"}},
      {{"ModalitiesInStudy", "?T"}},
      {{"Modality", "ct"}},
      {{"Modality", "MR"}, {"PatientSex", "F"}},
      {{"SeriesNumber", "10"}},
      {{"BodyPartExamined", "CH*"}},
      {{"SOPClassesInStudy", "1.2.840.10008.5.1.4.1.1.4"}},
      {{"SOPClassUID", "1.2.840.10008.5.1.4.1.1.7"}},
      {{"InstanceNumber", "2"}},
      {{"SeriesInstanceUID", "1.2.9.2.0.0"}},
  };
  std::vector<std::vector<dicom::SortKey>> orders = {{}};
  auto sort = [](const char* keyword, bool desc) {
    return dicom::SortKey{dicom::FindQueryAttribute(keyword), desc};
  };
  orders.push_back({sort("StudyDate", true), sort("StudyTime", true)});
  orders.push_back({sort("PatientName", false)});
  orders.push_back({sort("SeriesNumber", false)});
  orders.push_back({sort("InstanceNumber", true)});
  const std::vector<AccessScope> scopes = {AccessScope::Everything(), AccessScope::Of({"g1"}),
                                           AccessScope::Of({"g1", "g2"}), AccessScope::Of({"none"})};
  // Every level, key set and PN matching mode, each with the unordered, unlimited and
  // unscoped query and with one more combination of order, scope and page (rotating).
  const std::vector<std::pair<size_t, size_t>> pages = {{dicom::Query::kNoLimit, 0}, {3, 0}, {3, 2}};
  int compared = 0, nonempty = 0;
  size_t turn = 0;
  for (L level : {L::kPatient, L::kStudy, L::kSeries, L::kImage}) {
    for (const auto& keys : keysets) {
      for (bool fuzzy : {false, true}) {
        for (int variant = 0; variant < 2; ++variant) {
          ++turn;
          const auto& order = variant == 0 ? orders[0] : orders[turn % orders.size()];
          const size_t scope_i = variant == 0 ? 0 : turn % scopes.size();
          const auto [limit, offset] = variant == 0 ? pages[0] : pages[(turn / 2) % pages.size()];
          dicom::Query q = MakeQuery(level, keys);
          q.fuzzy_person_names = fuzzy;
          for (const dicom::SortKey& k : order) {
            if (dicom::IsSortable(*k.attribute, level)) q.order_by.push_back(k);
          }
          q.limit = limit;
          q.offset = offset;
          auto a = pg_index->Find(q, scopes[scope_i]);
          auto b = (*sqlite)->Find(q, scopes[scope_i]);
          ASSERT_TRUE(a.ok()) << a.status().ToString();
          ASSERT_TRUE(b.ok()) << b.status().ToString();
          ASSERT_EQ(Describe(*a), Describe(*b))
              << "level " << static_cast<int>(level) << " key "
              << (keys.empty() ? "" : keys[0].first + "=" + keys[0].second) << " fuzzy " << fuzzy
              << " scope " << scope_i << " limit " << limit << " offset " << offset;
          ++compared;
          if (!b->empty()) ++nonempty;
        }
      }
    }
  }
  // The comparison is not vacuous: most queries match something.
  EXPECT_GT(nonempty, compared / 2) << nonempty << " of " << compared;
  EXPECT_GT(compared, 500);
  for (const AccessScope& scope : scopes) {
    auto a = pg_index->Stats(scope);
    auto b = (*sqlite)->Stats(scope);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->patients, b->patients);
    EXPECT_EQ(a->studies, b->studies);
    EXPECT_EQ(a->series, b->series);
    EXPECT_EQ(a->instances, b->instances);
    EXPECT_EQ(a->bytes, b->bytes);
    for (const InstanceRecord& r : {corpus[0], corpus[17], corpus.back()}) {
      auto fa = pg_index->FindInstance(r.attrs.sop_instance_uid, scope);
      auto fb = (*sqlite)->FindInstance(r.attrs.sop_instance_uid, scope);
      ASSERT_TRUE(fa.ok() && fb.ok());
      ASSERT_EQ(fa->has_value(), fb->has_value());
      if (fa->has_value()) {
        EXPECT_EQ((*fa)->study_instance_uid, (*fb)->study_instance_uid);
        EXPECT_EQ((*fa)->blob_name, (*fb)->blob_name);
      }
      auto ma = pg_index->FindMetadata(r.attrs.study_instance_uid, "", "", scope);
      auto mb = (*sqlite)->FindMetadata(r.attrs.study_instance_uid, "", "", scope);
      ASSERT_TRUE(ma.ok() && mb.ok());
      ASSERT_EQ(ma->size(), mb->size());
      for (size_t k = 0; k < ma->size(); ++k) {
        EXPECT_EQ((*ma)[k].instance.sop_instance_uid, (*mb)[k].instance.sop_instance_uid);
      }
    }
  }
  sqlite->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tresor::store
