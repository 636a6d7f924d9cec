#include "store/sqlite_index.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <optional>

#include "security/access_scope.h"
#include "security/audit_chain.h"
#include "core/log.h"
#include "store/query_sql.h"
#include "store/sealed_vfs.h"

namespace tresor::store {

using security::FormatGroupList;
using security::kAllStudiesGroup;
using security::ParseGroupList;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS patients(
  id INTEGER PRIMARY KEY,
  patient_id TEXT NOT NULL,
  issuer TEXT NOT NULL,
  name TEXT NOT NULL,
  name_folded TEXT NOT NULL,  -- lower case, accents removed: fuzzy name matching
  birth_date TEXT NOT NULL,
  sex TEXT NOT NULL,
  UNIQUE(patient_id, issuer));
CREATE INDEX IF NOT EXISTS patients_name ON patients(name);
CREATE INDEX IF NOT EXISTS patients_name_folded ON patients(name_folded);
CREATE TABLE IF NOT EXISTS studies(
  id INTEGER PRIMARY KEY,
  patient INTEGER NOT NULL REFERENCES patients(id),
  study_uid TEXT NOT NULL UNIQUE,
  study_date TEXT NOT NULL,
  study_time TEXT NOT NULL,
  accession TEXT NOT NULL,
  study_id TEXT NOT NULL,
  description TEXT NOT NULL,
  referring TEXT NOT NULL,
  institution TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS studies_patient ON studies(patient);
CREATE INDEX IF NOT EXISTS studies_date ON studies(study_date);
-- Study lists ordered newest first (orderby=-StudyDate,-StudyTime) without a sort step.
CREATE INDEX IF NOT EXISTS studies_date_time ON studies(study_date, study_time);
CREATE INDEX IF NOT EXISTS studies_accession ON studies(accession);
CREATE TABLE IF NOT EXISTS series(
  id INTEGER PRIMARY KEY,
  study INTEGER NOT NULL REFERENCES studies(id),
  series_uid TEXT NOT NULL UNIQUE,
  modality TEXT NOT NULL,
  series_number TEXT NOT NULL,
  description TEXT NOT NULL,
  body_part TEXT NOT NULL);
-- By study, and within a study by modality: ModalitiesInStudy groups a study's series
-- along this index instead of sorting them. (Replaces series_study(study).)
DROP INDEX IF EXISTS series_study;
CREATE INDEX IF NOT EXISTS series_study_modality ON series(study, modality);
CREATE TABLE IF NOT EXISTS instances(
  id INTEGER PRIMARY KEY,
  series INTEGER REFERENCES series(id),  -- NULL for non-patient objects
  sop_uid TEXT NOT NULL UNIQUE,
  sop_class TEXT NOT NULL,
  instance_number TEXT NOT NULL,
  transfer_syntax TEXT NOT NULL,
  blob TEXT NOT NULL UNIQUE,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  source_ae TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  source_peer TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS instances_series ON instances(series);
CREATE TABLE IF NOT EXISTS unconfirmed(
  instance INTEGER PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS peers(
  name TEXT PRIMARY KEY,
  ae_title TEXT NOT NULL,
  host TEXT NOT NULL,
  port INTEGER NOT NULL,
  services TEXT NOT NULL,
  certificate_sha256 TEXT NOT NULL DEFAULT '',
  require_identity INTEGER NOT NULL DEFAULT 0,
  groups TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS api_tokens(
  name TEXT PRIMARY KEY,
  user TEXT NOT NULL,
  token_sha256 TEXT NOT NULL UNIQUE,
  expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS users(
  name TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL,
  disabled INTEGER NOT NULL,
  groups TEXT NOT NULL DEFAULT '');
-- Per-study access scope (security/access_scope.h).
CREATE TABLE IF NOT EXISTS group_rules(
  kind TEXT NOT NULL,   -- peer, institution, issuer
  value TEXT NOT NULL,
  group_name TEXT NOT NULL,
  PRIMARY KEY(kind, value, group_name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS study_groups(
  study INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  group_name TEXT NOT NULL,
  PRIMARY KEY(study, group_name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS study_groups_group ON study_groups(group_name, study);
-- Built at store time (WADO-RS): each instance's DICOM JSON object (uncompressed, so a
-- series is served by concatenation) and frame layout, opaque to the index. No row:
-- indexed before these existed.
CREATE TABLE IF NOT EXISTS instance_metadata(
  instance INTEGER PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE,
  document BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS instance_frames(
  instance INTEGER PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE,
  layout BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sessions(
  id TEXT PRIMARY KEY,
  user TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  last_seen INTEGER NOT NULL);
-- Lockout counters of the failure back-off (store/account_index.h); key is a blob.
CREATE TABLE IF NOT EXISTS lockouts(
  key BLOB PRIMARY KEY,
  failures INTEGER NOT NULL,
  not_before INTEGER NOT NULL,
  forget_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS lockouts_forget_at ON lockouts(forget_at);
-- The audit trail (store/audit_index.h): append-only, each record chained to the one
-- before (security/audit_chain.h). The filter columns are derived from the body; audit
-- verification checks that they agree with it.
CREATE TABLE IF NOT EXISTS audit_records(
  seq INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  actors TEXT NOT NULL,
  patient_ids TEXT NOT NULL,
  study_uids TEXT NOT NULL,
  body TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_records_time ON audit_records(time);
CREATE TRIGGER IF NOT EXISTS audit_records_no_update BEFORE UPDATE ON audit_records
  BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_records_no_delete BEFORE DELETE ON audit_records
  BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TABLE IF NOT EXISTS audit_checkpoints(
  id INTEGER PRIMARY KEY,
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL,
  time INTEGER NOT NULL,
  public_key TEXT NOT NULL,
  signature TEXT NOT NULL);
-- Audit forwarding: per destination, the highest seq delivered (the trail is the spool).
CREATE TABLE IF NOT EXISTS audit_forward_cursor(
  destination TEXT PRIMARY KEY,
  seq INTEGER NOT NULL);
)sql";

// RAII for a prepared statement that is reset (not finalized) after each use.
// The last error of `db` for a message. A page that failed authentication in the sealed
// VFS `vfs` (SQLITE_IOERR_DATA, which SQLite may report as a plain I/O error) is named as
// such instead of SQLite's generic "disk I/O error": once a page of this index failed,
// I/O errors are reported as integrity errors.
std::string SqliteMessage(sqlite3* db, const SealedVfs* vfs) {
  const int code = sqlite3_extended_errcode(db);
  if (code == SQLITE_IOERR_DATA ||
      ((code & 0xff) == SQLITE_IOERR && vfs != nullptr && vfs->integrity_failures() > 0)) {
    return "an index page failed its integrity check (the index is damaged or was altered)";
  }
  return sqlite3_errmsg(db);
}

class Stmt {
 public:
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(s_); }
  Status Prepare(sqlite3* db, const char* sql, const SealedVfs* vfs) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) != SQLITE_OK) {
      return Internal(std::string("prepare: ") + SqliteMessage(db, vfs));
    }
    return Status::Ok();
  }
  sqlite3_stmt* get() { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// Resets a statement when the scope ends, so every use starts clean.
class Use {
 public:
  explicit Use(Stmt& s) : s_(s.get()) {}
  ~Use() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;
  // The text is not copied (SQLITE_STATIC): `v` must outlive the statement's use, so
  // temporaries are refused at compile time.
  Use& Bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Use& Bind(int i, std::string&& v) = delete;
  Use& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  int Step() { return sqlite3_step(s_); }
  std::string Text(int col) {
    const unsigned char* t = sqlite3_column_text(s_, col);
    return t ? std::string(reinterpret_cast<const char*>(t),
                           static_cast<size_t>(sqlite3_column_bytes(s_, col)))
             : std::string();
  }
  int64_t Int(int col) { return sqlite3_column_int64(s_, col); }
  Use& BindBlob(int i, const std::string& v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Use& BindBlob(int i, std::string&& v) = delete;
  bool IsNull(int col) { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  std::string Blob(int col) {
    const void* b = sqlite3_column_blob(s_, col);
    return b ? std::string(static_cast<const char*>(b),
                           static_cast<size_t>(sqlite3_column_bytes(s_, col)))
             : std::string();
  }

 private:
  sqlite3_stmt* s_;
};

// The row an upsert whose DO UPDATE has a WHERE stands on: its RETURNING row, or, when the
// row was left unchanged (no row returned), the row `lookup` finds once `bind` has bound
// it (held in `found`). Null on an error.
template <typename BindLookup>
Use* UpsertedRow(Use& upsert, Stmt& lookup, std::optional<Use>& found, BindLookup bind) {
  int rc = upsert.Step();
  if (rc == SQLITE_ROW) return &upsert;
  if (rc != SQLITE_DONE) return nullptr;
  found.emplace(lookup);
  bind(*found);
  return found->Step() == SQLITE_ROW ? &*found : nullptr;
}

// The groups of `scope` as a JSON array, for json_each() in scope conditions. Group
// names are validated (security/access_scope.h), so they need no escaping.
std::string GroupsJson(const AccessScope& scope) {
  std::string out = "[";
  for (const std::string& g : scope.groups) out += (out.size() > 1 ? ",\"" : "\"") + g + "\"";
  return out + "]";
}

// A stored group list (written by FormatGroupList); a damaged one grants nothing.
std::vector<std::string> StoredGroups(const std::string& text) {
  auto groups = ParseGroupList(text);
  return groups.ok() ? std::move(groups).value() : std::vector<std::string>();
}

}  // namespace

struct SqliteIndex::Db {
  sqlite3* db = nullptr;
  const SealedVfs* vfs = nullptr;  // the page-sealing VFS of the connection, if any
  int wal_frames = 0;  // frames in the WAL after the last commit (from the WAL hook)
  std::map<std::string, std::unique_ptr<Stmt>> stmts;
  ~Db() {
    generated.clear();
    stmts.clear();
    sqlite3_close_v2(db);
  }
  Status Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string m = (sqlite3_extended_errcode(db) & 0xff) == SQLITE_IOERR ? SqliteMessage(db, vfs)
                      : err                                                  ? err
                                                                             : "unknown error";
      sqlite3_free(err);
      return IoError("index: " + m);
    }
    return Status::Ok();
  }
  // The current value of a PRAGMA, as text.
  Result<std::string> Pragma(const char* name) {
    std::string sql = std::string("PRAGMA ") + name;
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) return Error(name);
    std::string value;
    if (sqlite3_step(raw) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(raw, 0);
      value = text ? reinterpret_cast<const char*>(text) : "";
    }
    sqlite3_finalize(raw);
    return value;
  }
  Status Error(const char* what) { return IoError(std::string("index ") + what + ": " + SqliteMessage(db, vfs)); }
  // The cached prepared statement for `sql` (prepared on first use).
  Result<Stmt*> Get(const char* sql) {
    auto it = stmts.find(sql);
    if (it != stmts.end()) return it->second.get();
    auto s = std::make_unique<Stmt>();
    TRESOR_RETURN_IF_ERROR(s->Prepare(db, sql, vfs));
    Stmt* raw = s.get();
    stmts.emplace(sql, std::move(s));
    return raw;
  }
  // Generated statements (Find): the same cache, bounded, since their texts vary with
  // the query's shape (values are always bound). Full means it is emptied.
  static constexpr size_t kMaxGenerated = 64;
  std::map<std::string, std::unique_ptr<Stmt>> generated;
  Result<Stmt*> GetGenerated(const std::string& sql) {
    auto it = generated.find(sql);
    if (it != generated.end()) return it->second.get();
    if (generated.size() >= kMaxGenerated) generated.clear();
    auto s = std::make_unique<Stmt>();
    if (!s->Prepare(db, sql.c_str(), vfs).ok()) return Error("query");  // I/O errors as such
    Stmt* raw = s.get();
    generated.emplace(sql, std::move(s));
    return raw;
  }
};

// Makes the writer's commits within its scope fully synced (admin writes, recovery),
// whatever the index's sync mode. The caller must check status() before writing: a
// write that was promised full sync must not happen without it. Restoring the faster
// mode afterwards may fail harmlessly (commits then stay fully synced); it is logged.
class FullSync {
 public:
  FullSync(SqliteIndex::Db& d, bool needed) : d_(d) {
    if (needed) {
      status_ = d_.Exec("PRAGMA synchronous=FULL");
      applied_ = status_.ok();
    }
  }
  ~FullSync() {
    if (!applied_) return;
    Status restored = d_.Exec("PRAGMA synchronous=OFF");
    if (!restored.ok()) TRESOR_LOG(kWarn) << "index stays fully synced: " << restored.ToString();
  }
  FullSync(const FullSync&) = delete;
  FullSync& operator=(const FullSync&) = delete;
  const Status& status() const { return status_; }

 private:
  SqliteIndex::Db& d_;
  Status status_;
  bool applied_ = false;
};

// A write transaction that rolls back unless Commit() succeeded.
class Transaction {
 public:
  explicit Transaction(SqliteIndex::Db& d) : d_(d) {}
  ~Transaction() {
    if (open_) (void)d_.Exec("ROLLBACK");
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Status Begin() {
    TRESOR_RETURN_IF_ERROR(d_.Exec("BEGIN IMMEDIATE"));
    open_ = true;
    return Status::Ok();
  }
  Status Commit() {
    TRESOR_RETURN_IF_ERROR(d_.Exec("COMMIT"));
    open_ = false;
    return Status::Ok();
  }

 private:
  SqliteIndex::Db& d_;
  bool open_ = false;
};

// Appends audit records inside the caller's open write transaction: seq and the chain
// continue from the last stored record, read under the same write lock.
Status AppendAuditIn(SqliteIndex::Db& d, const std::vector<AuditEntry>& entries);

// tresor_fold(text): dicom::FoldPersonName as an SQL function, for fuzzy PN matching.
void FoldFunction(sqlite3_context* ctx, int, sqlite3_value** argv);

// Adds `column` to `table` if an older database lacks it.
Status EnsureColumn(SqliteIndex::Db& db, const std::string& table, const std::string& column,
                    const std::string& declaration);

// Version of dicom::FoldPersonName's mapping that patients.name_folded was computed
// with, kept in PRAGMA user_version. Bump it whenever the mapping changes.
constexpr int kFoldVersion = 2;

// Recomputes every stored folded name if the database was folded by another version
// (or never: a name_folded column added to an older database starts empty).
Status RefoldNamesIfStale(SqliteIndex::Db& db);

// Adds the stored study aggregates (num_series, num_instances, modalities) to a database
// that lacks them, computed from its rows, and (re)creates the triggers that keep them
// true on every insert, delete and update of series and instances. The columns and
// their first values come in one transaction: an interrupted upgrade runs again.
Status EnsureStudyAggregates(SqliteIndex::Db& db);

// WAL frames after which AddInstances runs a checkpoint (about 16 MB of 4 KB pages).
constexpr int kCheckpointFrames = 4000;

Status RefoldNamesIfStale(SqliteIndex::Db& db) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db.db, "PRAGMA user_version", -1, &raw, nullptr) != SQLITE_OK) {
    return db.Error("fold version");
  }
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(raw, sqlite3_finalize);
  if (sqlite3_step(stmt.get()) != SQLITE_ROW) return db.Error("fold version");
  const int version = sqlite3_column_int(stmt.get(), 0);
  stmt.reset();
  if (version == kFoldVersion) return Status::Ok();
  // One transaction: an interrupted refold leaves the old version behind and runs again.
  const std::string sql = "BEGIN IMMEDIATE; UPDATE patients SET name_folded = tresor_fold(name); "
                          "PRAGMA user_version=" + std::to_string(kFoldVersion) + "; COMMIT;";
  return db.Exec(sql.c_str());
}

// A study's modalities as ModalitiesInStudy returns them: distinct, in byte order,
// backslash-separated ("" when none), `study` naming the study's id.
std::string ModalitiesOf(const std::string& study) {
  return "coalesce((SELECT group_concat(m, '\\') FROM (SELECT modality AS m FROM series "
         "WHERE study=" + study + " AND modality<>'' GROUP BY modality)), '')";
}

// "UPDATE studies SET <every aggregate counted from the rows>": for the rows `where` picks.
std::string RecountStudies(const std::string& where) {
  return "UPDATE studies SET num_series=(SELECT count(*) FROM series WHERE study=studies.id), "
         "num_instances=(SELECT count(*) FROM instances z JOIN series x ON x.id=z.series "
         "WHERE x.study=studies.id), modalities=" + ModalitiesOf("studies.id") + where + ";";
}

Result<bool> HasColumn(SqliteIndex::Db& db, const std::string& table, const std::string& column) {
  sqlite3_stmt* raw = nullptr;
  std::string sql = "SELECT 1 FROM pragma_table_info('" + table + "') WHERE name='" + column + "'";
  if (sqlite3_prepare_v2(db.db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    return db.Error("schema check");
  }
  const int rc = sqlite3_step(raw);
  sqlite3_finalize(raw);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db.Error("schema check");
  return rc == SQLITE_ROW;
}

Status EnsureStudyAggregates(SqliteIndex::Db& db) {
  TRESOR_ASSIGN_OR_RETURN(bool present, HasColumn(db, "studies", "modalities"));
  if (!present) {
    const std::string add =
        "BEGIN IMMEDIATE;"
        "ALTER TABLE studies ADD COLUMN num_series INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE studies ADD COLUMN num_instances INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE studies ADD COLUMN modalities TEXT NOT NULL DEFAULT '';" +
        RecountStudies("") + "COMMIT;";
    TRESOR_RETURN_IF_ERROR(db.Exec(add.c_str()));
  }
  // An instance counts in its series' study; a series in its study, with its modality.
  // Moving a series (or changing its modality) recounts both studies involved.
  const std::string triggers =
      "CREATE TRIGGER IF NOT EXISTS instances_count_in AFTER INSERT ON instances BEGIN "
      "UPDATE studies SET num_instances=num_instances+1 "
      "WHERE id=(SELECT study FROM series WHERE id=NEW.series); END;"
      "CREATE TRIGGER IF NOT EXISTS instances_count_out AFTER DELETE ON instances BEGIN "
      "UPDATE studies SET num_instances=num_instances-1 "
      "WHERE id=(SELECT study FROM series WHERE id=OLD.series); END;"
      "CREATE TRIGGER IF NOT EXISTS instances_count_move AFTER UPDATE OF series ON instances "
      "WHEN OLD.series IS NOT NEW.series BEGIN "
      "UPDATE studies SET num_instances=num_instances-1 "
      "WHERE id=(SELECT study FROM series WHERE id=OLD.series); "
      "UPDATE studies SET num_instances=num_instances+1 "
      "WHERE id=(SELECT study FROM series WHERE id=NEW.series); END;"
      "CREATE TRIGGER IF NOT EXISTS series_count_in AFTER INSERT ON series BEGIN "
      "UPDATE studies SET num_series=num_series+1, modalities=" + ModalitiesOf("NEW.study") +
      " WHERE id=NEW.study; END;"
      "CREATE TRIGGER IF NOT EXISTS series_count_out AFTER DELETE ON series BEGIN "
      "UPDATE studies SET num_series=num_series-1, modalities=" + ModalitiesOf("OLD.study") +
      " WHERE id=OLD.study; END;"
      "CREATE TRIGGER IF NOT EXISTS series_count_change AFTER UPDATE OF study, modality ON series "
      "BEGIN " + RecountStudies(" WHERE id IN (OLD.study, NEW.study)") + " END;";
  return db.Exec(triggers.c_str());
}

Status EnsureColumn(SqliteIndex::Db& db, const std::string& table, const std::string& column,
                    const std::string& declaration) {
  TRESOR_ASSIGN_OR_RETURN(bool present, HasColumn(db, table, column));
  if (present) return Status::Ok();
  return db.Exec(("ALTER TABLE " + table + " ADD COLUMN " + column + " " + declaration).c_str());
}

Result<std::unique_ptr<SqliteIndex>> SqliteIndex::Open(const SqliteIndexOptions& options) {
  std::unique_ptr<SqliteIndex> index(new SqliteIndex(options));
  // A new sealed database is switched to WAL with an in-memory journal, so no rollback
  // journal is ever written (the sealed VFS refuses one).
  bool fresh = false;
  if (!options.page_key.empty()) {
    TRESOR_ASSIGN_OR_RETURN(index->vfs_, SealedVfs::Make(options.page_key));
    TRESOR_RETURN_IF_ERROR(index->vfs_->CheckDatabase(options.path));
    struct stat st {};
    fresh = stat(options.path.c_str(), &st) != 0 || st.st_size == 0;
  } else {
    TRESOR_RETURN_IF_ERROR(CheckNotSealed(options.path));
  }
  const char* vfs_name = index->vfs_ ? index->vfs_->name() : nullptr;
  for (int i = 0; i < 2; ++i) {
    auto db = std::make_unique<Db>();
    db->vfs = index->vfs_.get();
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(options.path.c_str(), &db->db, flags, vfs_name) != SQLITE_OK) {
      return IoError("cannot open index " + options.path + ": " + SqliteMessage(db->db, index->vfs_.get()));
    }
    sqlite3_busy_timeout(db->db, 10000);
    if (index->vfs_) {
      // Room for the seal in every page of a new database (no effect on an existing one,
      // whose reserve CheckDatabase has verified).
      int reserve = kSealReserveBytes;
      if (sqlite3_file_control(db->db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve) != SQLITE_OK) {
        return IoError("index " + options.path + ": cannot reserve page bytes for encryption");
      }
      if (i == 0 && fresh) TRESOR_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=MEMORY;"));
    }
    TRESOR_RETURN_IF_ERROR(
        db->Exec("PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"));
    using Sync = SqliteIndexOptions::Sync;
    // The reader always uses full syncing: if it is the last connection to close, it
    // checkpoints the WAL into the database file.
    bool full = options.sync == Sync::kFull || i == 1;
    TRESOR_RETURN_IF_ERROR(db->Exec(full ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=OFF;"));
    // SQLite ignores settings it cannot apply (no WAL for an in-memory database or
    // without shared memory): the durability design depends on both, so read them back.
    TRESOR_ASSIGN_OR_RETURN(std::string journal_mode, db->Pragma("journal_mode"));
    if (journal_mode != "wal") {
      return IoError("index " + options.path + ": write-ahead logging unavailable (journal mode '" +
                     journal_mode + "')");
    }
    TRESOR_ASSIGN_OR_RETURN(std::string synchronous, db->Pragma("synchronous"));
    if (synchronous != (full ? "2" : "0")) {
      return IoError("index " + options.path + ": cannot apply synchronous mode");
    }
    if (i == 0 && options.sync == Sync::kFilesystem) {
      // Checkpoints are run by MaybeCheckpoint, with full syncing.
      TRESOR_RETURN_IF_ERROR(db->Exec("PRAGMA wal_autocheckpoint=0;"));
      sqlite3_wal_hook(
          db->db,
          [](void* arg, sqlite3*, const char*, int frames) {
            static_cast<Db*>(arg)->wal_frames = frames;
            return SQLITE_OK;
          },
          db.get());
    }
    sqlite3_create_function(db->db, "tresor_fold", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                            nullptr, FoldFunction, nullptr, nullptr);
    if (i == 0) {
      TRESOR_RETURN_IF_ERROR(db->Exec(kSchema));
      // Columns added after the first release: add them to older databases.
      TRESOR_RETURN_IF_ERROR(EnsureColumn(*db, "patients", "name_folded", "TEXT NOT NULL DEFAULT ''"));
      TRESOR_RETURN_IF_ERROR(
          EnsureColumn(*db, "peers", "certificate_sha256", "TEXT NOT NULL DEFAULT ''"));
      TRESOR_RETURN_IF_ERROR(
          EnsureColumn(*db, "peers", "require_identity", "INTEGER NOT NULL DEFAULT 0"));
      TRESOR_RETURN_IF_ERROR(EnsureColumn(*db, "peers", "groups", "TEXT NOT NULL DEFAULT ''"));
      TRESOR_RETURN_IF_ERROR(EnsureColumn(*db, "users", "groups", "TEXT NOT NULL DEFAULT ''"));
      TRESOR_RETURN_IF_ERROR(
          EnsureColumn(*db, "instances", "source_peer", "TEXT NOT NULL DEFAULT ''"));
      TRESOR_RETURN_IF_ERROR(RefoldNamesIfStale(*db));
      TRESOR_RETURN_IF_ERROR(EnsureStudyAggregates(*db));
      index->writer_ = std::move(db);
    } else {
      index->reader_ = std::move(db);
    }
  }
  return index;
}

SqliteIndex::SqliteIndex(SqliteIndexOptions options) : options_(std::move(options)) {}

sqlite3* SqliteIndex::WriterHandleForTesting() { return writer_->db; }

SqliteIndex::~SqliteIndex() {
  // The writer closes first, so the fully synced reader is the last connection and
  // performs the final checkpoint. The VFS goes after both.
  writer_.reset();
  reader_.reset();
  vfs_.reset();
}

Result<std::vector<std::vector<std::string>>> SqliteIndex::ReadOnlyQuery(const std::string& sql) {
  std::lock_guard<std::mutex> lock(read_mu_);
  Db& d = *reader_;
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  if (sqlite3_prepare_v2(d.db, sql.c_str(), static_cast<int>(sql.size()), &raw, &tail) != SQLITE_OK) {
    return InvalidArgument("index query: " + SqliteMessage(d.db, d.vfs));
  }
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(raw, sqlite3_finalize);
  if (stmt == nullptr) return InvalidArgument("index query: no statement");
  for (const char* t = tail; t && *t; ++t) {
    if (*t != ' ' && *t != '\n' && *t != '\t' && *t != ';') {
      return InvalidArgument("index query: one statement only");
    }
  }
  if (!sqlite3_stmt_readonly(stmt.get())) return InvalidArgument("index query: read-only statements only");
  std::vector<std::vector<std::string>> rows;
  const int columns = sqlite3_column_count(stmt.get());
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int c = 0; c < columns; ++c) {
      const unsigned char* text = sqlite3_column_text(stmt.get(), c);
      row.emplace_back(text ? reinterpret_cast<const char*>(text) : "",
                       text ? static_cast<size_t>(sqlite3_column_bytes(stmt.get(), c)) : 0);
    }
    rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) return d.Error("query");
  return rows;
}

Durability SqliteIndex::durability() const {
  return options_.sync == SqliteIndexOptions::Sync::kFilesystem ? Durability::kOnFilesystemSync
                                                                 : Durability::kOnCommit;
}

Status SqliteIndex::MaybeCheckpoint() {
  Db& d = *writer_;
  if (d.wal_frames < kCheckpointFrames) return Status::Ok();
  // With synchronous=FULL the checkpoint syncs the WAL before and the database file
  // after copying, so the WAL may safely be reused afterwards by any writer.
  TRESOR_RETURN_IF_ERROR(d.Exec("PRAGMA synchronous=FULL"));
  int rc = sqlite3_wal_checkpoint_v2(d.db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  Status restored = d.Exec("PRAGMA synchronous=OFF");
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) return d.Error("checkpoint");
  if (rc == SQLITE_OK) d.wal_frames = 0;
  return restored;
}

Result<std::vector<AddOutcome>> SqliteIndex::AddInstances(const std::vector<InstanceRecord>& records,
                                                          const AuditBuilder<AddOutcome>& audit) {
  std::lock_guard<std::mutex> lock(write_mu_);
  Db& d = *writer_;
  bool track = options_.sync == SqliteIndexOptions::Sync::kFilesystem;
  Transaction txn(d);
  TRESOR_RETURN_IF_ERROR(txn.Begin());

  if (track) {
    // The caller synced after the previous call: its rows are durable now.
    TRESOR_RETURN_IF_ERROR(d.Exec("DELETE FROM unconfirmed"));
  }
  TRESOR_ASSIGN_OR_RETURN(Stmt* unconfirm, d.Get("INSERT INTO unconfirmed(instance) VALUES(?1)"));
  TRESOR_ASSIGN_OR_RETURN(Stmt* existing, d.Get("SELECT sha256 FROM instances WHERE sop_uid=?1"));
  // The upserts write only when a value changes (the WHERE of DO UPDATE): an unchanged
  // row would otherwise be rewritten with its name and date indexes, several index pages
  // per instance in every commit. They return no row then, and the id is looked up.
  TRESOR_ASSIGN_OR_RETURN(Stmt* patient_upsert, d.Get(
      "INSERT INTO patients(patient_id,issuer,name,name_folded,birth_date,sex) "
      "VALUES(?1,?2,?3,?6,?4,?5) "
      "ON CONFLICT(patient_id,issuer) DO UPDATE SET name=excluded.name, "
      "name_folded=excluded.name_folded, birth_date=excluded.birth_date, sex=excluded.sex "
      "WHERE name IS NOT excluded.name OR name_folded IS NOT excluded.name_folded "
      "OR birth_date IS NOT excluded.birth_date OR sex IS NOT excluded.sex "
      "RETURNING id"));
  TRESOR_ASSIGN_OR_RETURN(Stmt* patient_id, d.Get(
      "SELECT id FROM patients WHERE patient_id=?1 AND issuer=?2"));
  TRESOR_ASSIGN_OR_RETURN(Stmt* study_upsert, d.Get(
      "INSERT INTO studies(patient,study_uid,study_date,study_time,accession,study_id,"
      "description,referring,institution) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9) "
      "ON CONFLICT(study_uid) DO UPDATE SET study_date=excluded.study_date "
      "WHERE study_date IS NOT excluded.study_date RETURNING id"));
  TRESOR_ASSIGN_OR_RETURN(Stmt* study_id, d.Get("SELECT id FROM studies WHERE study_uid=?1"));
  TRESOR_ASSIGN_OR_RETURN(Stmt* series_upsert, d.Get(
      "INSERT INTO series(study,series_uid,modality,series_number,description,body_part) "
      "VALUES(?1,?2,?3,?4,?5,?6) ON CONFLICT(series_uid) DO UPDATE SET "
      "modality=excluded.modality WHERE modality IS NOT excluded.modality RETURNING id, study"));
  TRESOR_ASSIGN_OR_RETURN(Stmt* series_id, d.Get(
      "SELECT id, study FROM series WHERE series_uid=?1"));
  TRESOR_ASSIGN_OR_RETURN(Stmt* instance_insert, d.Get(
      "INSERT INTO instances(series,sop_uid,sop_class,instance_number,transfer_syntax,blob,"
      "size,sha256,source_ae,received_at,source_peer) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"));
  TRESOR_ASSIGN_OR_RETURN(Stmt* metadata_insert, d.Get(
      "INSERT INTO instance_metadata(instance, document) VALUES(?1, ?2)"));
  TRESOR_ASSIGN_OR_RETURN(Stmt* frames_insert, d.Get(
      "INSERT INTO instance_frames(instance, layout) VALUES(?1, ?2)"));
  // A study's groups come from its first instance (the study has no series yet): later
  // instances, from whichever peer or institution, never widen who may see a study.
  TRESOR_ASSIGN_OR_RETURN(Stmt* assign_groups, d.Get(
      "INSERT OR IGNORE INTO study_groups(study, group_name) SELECT ?1, group_name "
      "FROM group_rules WHERE ((kind='peer' AND value=?2) OR (kind='institution' AND value=?3) "
      "OR (kind='issuer' AND value=?4)) AND NOT EXISTS (SELECT 1 FROM series WHERE study=?1)"));

  std::vector<AddOutcome> outcomes;
  outcomes.reserve(records.size());
  for (const InstanceRecord& r : records) {
    const dicom::InstanceAttributes& a = r.attrs;
    {
      Use q(*existing);
      q.Bind(1, a.sop_instance_uid);
      int rc = q.Step();
      if (rc == SQLITE_ROW) {
        outcomes.push_back(q.Text(0) == r.content_sha256 ? AddOutcome::kIdentical
                                                          : AddOutcome::kConflict);
        continue;
      }
      if (rc != SQLITE_DONE) return d.Error("lookup");
    }
    std::optional<int64_t> series;
    if (!a.study_instance_uid.empty()) {
      int64_t patient, study;
      {
        Use q(*patient_upsert);
        std::string folded = dicom::FoldPersonName(a.patient_name);
        q.Bind(1, a.patient_id).Bind(2, a.issuer_of_patient_id).Bind(3, a.patient_name)
            .Bind(4, a.patient_birth_date).Bind(5, a.patient_sex).Bind(6, folded);
        std::optional<Use> found;
        Use* row = UpsertedRow(q, *patient_id, found, [&](Use& id) {
          id.Bind(1, a.patient_id).Bind(2, a.issuer_of_patient_id);
        });
        if (!row) return d.Error("patient upsert");
        patient = row->Int(0);
      }
      {
        Use q(*study_upsert);
        q.Bind(1, patient).Bind(2, a.study_instance_uid).Bind(3, a.study_date)
            .Bind(4, a.study_time).Bind(5, a.accession_number).Bind(6, a.study_id)
            .Bind(7, a.study_description).Bind(8, a.referring_physician_name)
            .Bind(9, a.institution_name);
        std::optional<Use> found;
        Use* row = UpsertedRow(q, *study_id, found,
                               [&](Use& id) { id.Bind(1, a.study_instance_uid); });
        if (!row) return d.Error("study upsert");
        study = row->Int(0);
      }
      if (!r.source_peer.empty() || !a.institution_name.empty() ||
          !a.issuer_of_patient_id.empty()) {
        Use q(*assign_groups);
        q.Bind(1, study).Bind(2, r.source_peer).Bind(3, a.institution_name)
            .Bind(4, a.issuer_of_patient_id);
        if (q.Step() != SQLITE_DONE) return d.Error("access group assignment");
      }
      {
        Use q(*series_upsert);
        q.Bind(1, study).Bind(2, a.series_instance_uid).Bind(3, a.modality)
            .Bind(4, a.series_number).Bind(5, a.series_description).Bind(6, a.body_part_examined);
        std::optional<Use> found;
        Use* row = UpsertedRow(q, *series_id, found,
                               [&](Use& id) { id.Bind(1, a.series_instance_uid); });
        if (!row) return d.Error("series upsert");
        series = row->Int(0);
        if (row->Int(1) != study) {
          // The series is filed under another study: refuse rather than misfile.
          outcomes.push_back(AddOutcome::kInconsistent);
          continue;
        }
      }
    }
    {
      Use q(*instance_insert);
      if (series) q.Bind(1, *series);
      q.Bind(2, a.sop_instance_uid).Bind(3, a.sop_class_uid)
          .Bind(4, a.instance_number).Bind(5, r.transfer_syntax_uid).Bind(6, r.blob_name)
          .Bind(7, static_cast<int64_t>(r.blob_size)).Bind(8, r.content_sha256)
          .Bind(9, r.source_ae).Bind(10, r.received_at).Bind(11, r.source_peer);
      if (q.Step() != SQLITE_DONE) return d.Error("instance insert");
    }
    const auto instance_id = static_cast<int64_t>(sqlite3_last_insert_rowid(d.db));
    {
      Use q(*metadata_insert);
      q.Bind(1, instance_id).BindBlob(2, r.metadata_document);
      if (q.Step() != SQLITE_DONE) return d.Error("metadata insert");
    }
    {
      Use q(*frames_insert);
      q.Bind(1, instance_id).BindBlob(2, r.frame_layout);
      if (q.Step() != SQLITE_DONE) return d.Error("frame layout insert");
    }
    if (track) {
      Use q(*unconfirm);
      q.Bind(1, instance_id);
      if (q.Step() != SQLITE_DONE) return d.Error("unconfirmed insert");
    }
    outcomes.push_back(AddOutcome::kAdded);
  }
  if (audit) TRESOR_RETURN_IF_ERROR(AppendAuditIn(d, audit(outcomes)));
  TRESOR_RETURN_IF_ERROR(txn.Commit());
  if (track) TRESOR_RETURN_IF_ERROR(MaybeCheckpoint());
  return outcomes;
}

Result<std::vector<StoredInstance>> SqliteIndex::ListUnconfirmed() {
  std::lock_guard<std::mutex> lock(write_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get(
      "SELECT i.sop_uid, i.sop_class, '', i.transfer_syntax, i.blob, i.size, i.sha256 "
      "FROM unconfirmed u JOIN instances i ON i.id=u.instance"));
  Use q(*s);
  std::vector<StoredInstance> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    out.push_back({q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Text(4),
                   static_cast<uint64_t>(q.Int(5)), q.Text(6)});
  }
  if (rc != SQLITE_DONE) return writer_->Error("list unconfirmed");
  return out;
}

Result<std::vector<StoredInstance>> SqliteIndex::ListInstances(int64_t after, size_t limit,
                                                               int64_t* next) {
  std::lock_guard<std::mutex> lock(write_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get(
      "SELECT i.id, i.sop_uid, i.sop_class, '', i.transfer_syntax, i.blob, i.size, i.sha256 "
      "FROM instances i WHERE i.id > ?1 ORDER BY i.id LIMIT ?2"));
  Use q(*s);
  q.Bind(1, after);
  q.Bind(2, static_cast<int64_t>(limit));
  std::vector<StoredInstance> out;
  *next = after;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    *next = q.Int(0);
    out.push_back({q.Text(1), q.Text(2), q.Text(3), q.Text(4), q.Text(5),
                   static_cast<uint64_t>(q.Int(6)), q.Text(7)});
  }
  if (rc != SQLITE_DONE) return writer_->Error("list instances");
  return out;
}

Status SqliteIndex::RemoveUnconfirmed(const std::string& sop_instance_uid) {
  std::lock_guard<std::mutex> lock(write_mu_);
  FullSync full_sync(*writer_, options_.sync == SqliteIndexOptions::Sync::kFilesystem);
  TRESOR_RETURN_IF_ERROR(full_sync.status());
  Transaction txn(*writer_);
  TRESOR_RETURN_IF_ERROR(txn.Begin());
  auto run = [&](const char* sql) -> Status {
    TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get(sql));
    Use q(*s);
    q.Bind(1, sop_instance_uid);
    if (q.Step() != SQLITE_DONE) return writer_->Error("remove unconfirmed");
    return Status::Ok();
  };
  // Children first would lose the path to the parents: collect it in temp rows.
  TRESOR_RETURN_IF_ERROR(
      run("CREATE TEMP TABLE IF NOT EXISTS doomed(series INTEGER, study INTEGER, patient INTEGER)"));
  TRESOR_RETURN_IF_ERROR(writer_->Exec("DELETE FROM doomed"));
  TRESOR_RETURN_IF_ERROR(
      run("INSERT INTO doomed SELECT se.id, st.id, st.patient FROM instances i "
          "JOIN unconfirmed u ON u.instance=i.id LEFT JOIN series se ON se.id=i.series "
          "LEFT JOIN studies st ON st.id=se.study WHERE i.sop_uid=?1"));
  TRESOR_RETURN_IF_ERROR(
      run("DELETE FROM instances WHERE sop_uid=?1 AND id IN (SELECT instance FROM unconfirmed)"));
  TRESOR_RETURN_IF_ERROR(writer_->Exec(
      "DELETE FROM series WHERE id IN (SELECT series FROM doomed) AND NOT EXISTS "
      "(SELECT 1 FROM instances WHERE series=series.id);"
      "DELETE FROM studies WHERE id IN (SELECT study FROM doomed) AND NOT EXISTS "
      "(SELECT 1 FROM series WHERE study=studies.id);"
      "DELETE FROM patients WHERE id IN (SELECT patient FROM doomed) AND NOT EXISTS "
      "(SELECT 1 FROM studies WHERE patient=patients.id);"));
  return txn.Commit();
}

Status SqliteIndex::ConfirmAll() {
  std::lock_guard<std::mutex> lock(write_mu_);
  FullSync full_sync(*writer_, options_.sync == SqliteIndexOptions::Sync::kFilesystem);
  TRESOR_RETURN_IF_ERROR(full_sync.status());
  return writer_->Exec("DELETE FROM unconfirmed");
}

Result<std::optional<StoredInstance>> SqliteIndex::FindInstance(const std::string& sop_instance_uid,
                                                                const AccessScope& scope) {
  std::lock_guard<std::mutex> lock(read_mu_);
  // ?2 = 1: every study; otherwise the study must be in one of the groups in ?3.
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(
      "SELECT i.sop_uid, i.sop_class, st.study_uid, i.transfer_syntax, i.blob, i.size, i.sha256 "
      "FROM instances i LEFT JOIN series se ON se.id=i.series LEFT JOIN studies st ON st.id=se.study "
      "WHERE i.sop_uid=?1 AND (?2 = 1 OR EXISTS (SELECT 1 FROM study_groups g "
      "WHERE g.study=st.id AND g.group_name IN (SELECT value FROM json_each(?3))))"));
  std::string groups = GroupsJson(scope);  // outlives q, which binds it
  Use q(*s);
  q.Bind(1, sop_instance_uid).Bind(2, int64_t{scope.all ? 1 : 0}).Bind(3, groups);
  int rc = q.Step();
  if (rc == SQLITE_DONE) return std::optional<StoredInstance>();
  if (rc != SQLITE_ROW) return reader_->Error("find instance");
  StoredInstance out;
  out.sop_instance_uid = q.Text(0);
  out.sop_class_uid = q.Text(1);
  out.study_instance_uid = q.Text(2);
  out.transfer_syntax_uid = q.Text(3);
  out.blob_name = q.Text(4);
  out.blob_size = static_cast<uint64_t>(q.Int(5));
  out.content_sha256 = q.Text(6);
  return std::optional<StoredInstance>(std::move(out));
}

Result<std::optional<StoredDetails>> SqliteIndex::FindFrameLayout(const std::string& study_uid,
                                                                  const std::string& series_uid,
                                                                  const std::string& sop_uid,
                                                                  const AccessScope& scope) {
  std::lock_guard<std::mutex> lock(read_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(
      "SELECT i.sop_uid, i.sop_class, st.study_uid, i.transfer_syntax, i.blob, i.size, i.sha256, "
      "se.series_uid, f.layout FROM instances i JOIN series se ON se.id=i.series "
      "JOIN studies st ON st.id=se.study LEFT JOIN instance_frames f ON f.instance=i.id "
      "WHERE i.sop_uid=?1 AND se.series_uid=?2 AND st.study_uid=?3 AND (?4 = 1 OR "
      "EXISTS (SELECT 1 FROM study_groups g WHERE g.study=st.id AND g.group_name IN "
      "(SELECT value FROM json_each(?5))))"));
  std::string groups = GroupsJson(scope);  // outlives q, which binds it
  Use q(*s);
  q.Bind(1, sop_uid).Bind(2, series_uid).Bind(3, study_uid)
      .Bind(4, int64_t{scope.all ? 1 : 0}).Bind(5, groups);
  int rc = q.Step();
  if (rc == SQLITE_DONE) return std::optional<StoredDetails>();
  if (rc != SQLITE_ROW) return reader_->Error("find frame layout");
  StoredDetails out;
  out.instance = {q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Text(4),
                  static_cast<uint64_t>(q.Int(5)), q.Text(6)};
  out.series_instance_uid = q.Text(7);
  if (!q.IsNull(8)) out.frame_layout = q.Blob(8);
  return std::optional<StoredDetails>(std::move(out));
}

Result<std::vector<StoredDetails>> SqliteIndex::FindMetadata(const std::string& study_uid,
                                                             const std::string& series_uid,
                                                             const std::string& sop_uid,
                                                             const AccessScope& scope) {
  std::lock_guard<std::mutex> lock(read_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(
      "SELECT i.sop_uid, i.sop_class, st.study_uid, i.transfer_syntax, i.blob, i.size, i.sha256, "
      "se.series_uid, m.document FROM studies st JOIN series se ON se.study=st.id "
      "JOIN instances i ON i.series=se.id LEFT JOIN instance_metadata m ON m.instance=i.id "
      "WHERE st.study_uid=?1 AND (?2 = '' OR se.series_uid=?2) AND (?3 = '' OR i.sop_uid=?3) "
      "AND (?4 = 1 OR EXISTS (SELECT 1 FROM study_groups g WHERE g.study=st.id AND "
      "g.group_name IN (SELECT value FROM json_each(?5)))) ORDER BY se.id, i.id"));
  std::string groups = GroupsJson(scope);  // outlives q, which binds it
  Use q(*s);
  q.Bind(1, study_uid).Bind(2, series_uid).Bind(3, sop_uid)
      .Bind(4, int64_t{scope.all ? 1 : 0}).Bind(5, groups);
  std::vector<StoredDetails> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    StoredDetails d;
    d.instance = {q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Text(4),
                  static_cast<uint64_t>(q.Int(5)), q.Text(6)};
    d.series_instance_uid = q.Text(7);
    if (!q.IsNull(8)) d.metadata_document = q.Blob(8);
    out.push_back(std::move(d));
  }
  if (rc != SQLITE_DONE) return reader_->Error("find metadata");
  return out;
}

void FoldFunction(sqlite3_context* ctx, int, sqlite3_value** argv) {
  const unsigned char* text = sqlite3_value_text(argv[0]);
  std::string folded = dicom::FoldPersonName(text ? reinterpret_cast<const char*>(text) : "");
  sqlite3_result_text(ctx, folded.data(), static_cast<int>(folded.size()), SQLITE_TRANSIENT);
}

Result<std::vector<dicom::QueryMatch>> SqliteIndex::Find(const dicom::Query& query,
                                                        const AccessScope& scope) {
  std::lock_guard<std::mutex> lock(read_mu_);
  using query_sql::Dialect;
  using query_sql::ScopePlan;
  ScopePlan plan = ScopePlan::kProbe;
  if (!scope.all && !query_sql::Selective(Dialect::kSqlite, query)) {
    // Collecting the scope first wins below query_sql::DriveBound, which a bounded count
    // (index only) tells.
    TRESOR_ASSIGN_OR_RETURN(Stmt* count, reader_->Get(
        "SELECT count(*) FROM (SELECT 1 FROM study_groups WHERE group_name IN "
        "(SELECT value FROM json_each(?1)) LIMIT ?2)"));
    int64_t studies = 0;  // estimated by the highest study id
    {
      TRESOR_ASSIGN_OR_RETURN(Stmt* max_id, reader_->Get("SELECT coalesce(max(id), 0) FROM studies"));
      Use q(*max_id);
      if (q.Step() != SQLITE_ROW) return reader_->Error("query plan");
      studies = q.Int(0);
    }
    const int64_t bound = query_sql::DriveBound(query, studies);
    std::string groups = GroupsJson(scope);  // outlives q, which binds it
    Use q(*count);
    q.Bind(1, groups).Bind(2, bound);
    if (q.Step() != SQLITE_ROW) return reader_->Error("query plan");
    if (q.Int(0) < bound) plan = ScopePlan::kDrive;
  }
  query_sql::FindSql sql = query_sql::BuildFind(
      Dialect::kSqlite, query, scope, plan, scope.all ? std::string() : GroupsJson(scope));
  TRESOR_ASSIGN_OR_RETURN(Stmt* stmt, reader_->GetGenerated(sql.text));
  Use q(*stmt);  // sql (the bound texts) outlives q
  for (size_t i = 0; i < sql.params.size(); ++i) q.Bind(static_cast<int>(i + 1), sql.params[i]);
  sqlite3_stmt* raw = stmt->get();
  std::vector<dicom::QueryMatch> out;
  int rc;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    dicom::QueryMatch m;
    m.values.reserve(sql.columns.size());
    for (size_t col = 0; col < sql.columns.size(); ++col) {
      const unsigned char* t = sqlite3_column_text(raw, static_cast<int>(col));
      m.values[sql.columns[col]] =
          t ? std::string(reinterpret_cast<const char*>(t),
                          static_cast<size_t>(sqlite3_column_bytes(raw, static_cast<int>(col))))
            : std::string();
    }
    out.push_back(std::move(m));
  }
  if (rc != SQLITE_DONE) return reader_->Error("query");
  return out;
}

Result<bool> SqliteIndex::IsBlobReferenced(const std::string& name) {
  std::lock_guard<std::mutex> lock(read_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get("SELECT 1 FROM instances WHERE blob=?1"));
  Use q(*s);
  q.Bind(1, name);
  int rc = q.Step();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return reader_->Error("blob lookup");
  return rc == SQLITE_ROW;
}

Result<IndexStats> SqliteIndex::Stats(const AccessScope& scope) {
  std::lock_guard<std::mutex> lock(read_mu_);
  // The visible studies are collected once; everything else is counted from them.
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(scope.all ?
      "SELECT (SELECT count(*) FROM patients), (SELECT count(*) FROM studies), "
      "(SELECT count(*) FROM series), (SELECT count(*) FROM instances), "
      "(SELECT coalesce(sum(size),0) FROM instances)" :
      "WITH v AS (SELECT DISTINCT study AS id FROM study_groups "
      "WHERE group_name IN (SELECT value FROM json_each(?1))) "
      "SELECT (SELECT count(DISTINCT s.patient) FROM studies s JOIN v ON v.id=s.id), "
      "(SELECT count(*) FROM v), "
      "(SELECT count(*) FROM series se JOIN v ON v.id=se.study), "
      "(SELECT count(*) FROM instances i JOIN series se ON se.id=i.series JOIN v ON v.id=se.study), "
      "(SELECT coalesce(sum(i.size),0) FROM instances i JOIN series se ON se.id=i.series "
      "JOIN v ON v.id=se.study)"));
  std::string groups = GroupsJson(scope);  // outlives q, which binds it
  Use q(*s);
  if (!scope.all) q.Bind(1, groups);
  if (q.Step() != SQLITE_ROW) return reader_->Error("stats");
  IndexStats st;
  st.patients = q.Int(0);
  st.studies = q.Int(1);
  st.series = q.Int(2);
  st.instances = q.Int(3);
  st.bytes = static_cast<uint64_t>(q.Int(4));
  return st;
}

Status SqliteIndex::PutPeer(const PeerRecord& peer) {
  std::lock_guard<std::mutex> lock(write_mu_);
  FullSync full_sync(*writer_, options_.sync == SqliteIndexOptions::Sync::kFilesystem);
  TRESOR_RETURN_IF_ERROR(full_sync.status());
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get(
      "INSERT OR REPLACE INTO peers(name,ae_title,host,port,services,certificate_sha256,"
      "require_identity,groups) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)"));
  Use q(*s);
  std::string groups = FormatGroupList(peer.groups);
  q.Bind(1, peer.name).Bind(2, peer.ae_title).Bind(3, peer.host).Bind(4, int64_t{peer.port})
      .Bind(5, peer.services).Bind(6, peer.certificate_sha256)
      .Bind(7, int64_t{peer.require_identity ? 1 : 0}).Bind(8, groups);
  if (q.Step() != SQLITE_DONE) return writer_->Error("put peer");
  return Status::Ok();
}

Result<bool> SqliteIndex::RemovePeer(const std::string& name) {
  std::lock_guard<std::mutex> lock(write_mu_);
  FullSync full_sync(*writer_, options_.sync == SqliteIndexOptions::Sync::kFilesystem);
  TRESOR_RETURN_IF_ERROR(full_sync.status());
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get("DELETE FROM peers WHERE name=?1"));
  Use q(*s);
  q.Bind(1, name);
  if (q.Step() != SQLITE_DONE) return writer_->Error("remove peer");
  return sqlite3_changes(writer_->db) > 0;
}

Result<std::vector<PeerRecord>> SqliteIndex::ListPeers() {
  std::lock_guard<std::mutex> lock(read_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(
      "SELECT name,ae_title,host,port,services,certificate_sha256,require_identity,groups "
      "FROM peers ORDER BY name"));
  Use q(*s);
  std::vector<PeerRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    out.push_back({q.Text(0), q.Text(1), q.Text(2), static_cast<int>(q.Int(3)), q.Text(4),
                   q.Text(5), q.Int(6) != 0, StoredGroups(q.Text(7))});
  }
  if (rc != SQLITE_DONE) return reader_->Error("list peers");
  return out;
}

Status SqliteIndex::PutUser(const UserRecord& user) {
  std::lock_guard<std::mutex> lock(write_mu_);
  FullSync full_sync(*writer_, options_.sync == SqliteIndexOptions::Sync::kFilesystem);
  TRESOR_RETURN_IF_ERROR(full_sync.status());
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get(
      "INSERT OR REPLACE INTO users(name,password_hash,role,disabled,groups) "
      "VALUES(?1,?2,?3,?4,?5)"));
  Use q(*s);
  std::string groups = FormatGroupList(user.groups);
  q.Bind(1, user.name).Bind(2, user.password_hash).Bind(3, user.role)
      .Bind(4, int64_t{user.disabled ? 1 : 0}).Bind(5, groups);
  if (q.Step() != SQLITE_DONE) return writer_->Error("put user");
  return Status::Ok();
}

Result<std::optional<UserRecord>> SqliteIndex::FindUser(const std::string& name) {
  std::lock_guard<std::mutex> lock(read_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(
      "SELECT name,password_hash,role,disabled,groups FROM users WHERE name=?1"));
  Use q(*s);
  q.Bind(1, name);
  int rc = q.Step();
  if (rc == SQLITE_DONE) return std::optional<UserRecord>();
  if (rc != SQLITE_ROW) return reader_->Error("find user");
  return std::optional<UserRecord>(
      UserRecord{q.Text(0), q.Text(1), q.Text(2), q.Int(3) != 0, StoredGroups(q.Text(4))});
}

Result<std::vector<UserRecord>> SqliteIndex::ListUsers() {
  std::lock_guard<std::mutex> lock(read_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(
      "SELECT name,password_hash,role,disabled,groups FROM users ORDER BY name"));
  Use q(*s);
  std::vector<UserRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    out.push_back({q.Text(0), q.Text(1), q.Text(2), q.Int(3) != 0, StoredGroups(q.Text(4))});
  }
  if (rc != SQLITE_DONE) return reader_->Error("list users");
  return out;
}

Status SqliteIndex::PutApiToken(const ApiTokenRecord& token) {
  std::lock_guard<std::mutex> lock(write_mu_);
  FullSync full_sync(*writer_, options_.sync == SqliteIndexOptions::Sync::kFilesystem);
  TRESOR_RETURN_IF_ERROR(full_sync.status());
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get(
      "INSERT INTO api_tokens(name,user,token_sha256,expires_at) VALUES(?1,?2,?3,?4)"));
  Use q(*s);
  q.Bind(1, token.name).Bind(2, token.user).Bind(3, token.token_sha256).Bind(4, token.expires_at);
  int rc = q.Step();
  if (rc == SQLITE_CONSTRAINT) return Status(Code::kAlreadyExists, "a token with this name exists");
  if (rc != SQLITE_DONE) return writer_->Error("put token");
  return Status::Ok();
}

Result<std::optional<ApiTokenRecord>> SqliteIndex::FindApiToken(const std::string& token_sha256) {
  std::lock_guard<std::mutex> lock(read_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(
      "SELECT name,user,token_sha256,expires_at FROM api_tokens WHERE token_sha256=?1"));
  Use q(*s);
  q.Bind(1, token_sha256);
  int rc = q.Step();
  if (rc == SQLITE_DONE) return std::optional<ApiTokenRecord>();
  if (rc != SQLITE_ROW) return reader_->Error("find token");
  return std::optional<ApiTokenRecord>(ApiTokenRecord{q.Text(0), q.Text(1), q.Text(2), q.Int(3)});
}

Result<std::vector<ApiTokenRecord>> SqliteIndex::ListApiTokens() {
  std::lock_guard<std::mutex> lock(read_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(
      "SELECT name,user,token_sha256,expires_at FROM api_tokens ORDER BY name"));
  Use q(*s);
  std::vector<ApiTokenRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back({q.Text(0), q.Text(1), q.Text(2), q.Int(3)});
  if (rc != SQLITE_DONE) return reader_->Error("list tokens");
  return out;
}

Result<bool> SqliteIndex::RemoveApiToken(const std::string& name) {
  std::lock_guard<std::mutex> lock(write_mu_);
  FullSync full_sync(*writer_, options_.sync == SqliteIndexOptions::Sync::kFilesystem);
  TRESOR_RETURN_IF_ERROR(full_sync.status());
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get("DELETE FROM api_tokens WHERE name=?1"));
  Use q(*s);
  q.Bind(1, name);
  if (q.Step() != SQLITE_DONE) return writer_->Error("remove token");
  return sqlite3_changes(writer_->db) > 0;
}

const char* GroupRuleKindName(GroupRule::Kind kind) {
  switch (kind) {
    case GroupRule::Kind::kPeer: return "peer";
    case GroupRule::Kind::kInstitution: return "institution";
    case GroupRule::Kind::kIssuer: return "issuer";
  }
  return "peer";
}

Result<int64_t> SqliteIndex::PutGroupRule(const GroupRule& rule) {
  std::lock_guard<std::mutex> lock(write_mu_);
  Db& d = *writer_;
  FullSync full_sync(d, options_.sync == SqliteIndexOptions::Sync::kFilesystem);
  TRESOR_RETURN_IF_ERROR(full_sync.status());
  Transaction txn(d);
  TRESOR_RETURN_IF_ERROR(txn.Begin());
  const std::string kind = GroupRuleKindName(rule.kind);
  {
    TRESOR_ASSIGN_OR_RETURN(Stmt* s, d.Get(
        "INSERT OR IGNORE INTO group_rules(kind,value,group_name) VALUES(?1,?2,?3)"));
    Use q(*s);
    q.Bind(1, kind).Bind(2, rule.value).Bind(3, rule.group);
    if (q.Step() != SQLITE_DONE) return d.Error("put group rule");
  }
  // The studies already archived that the rule would have assigned.
  const char* apply = nullptr;
  switch (rule.kind) {
    case GroupRule::Kind::kPeer:
      // As at store time: studies whose first instance came from the peer. (SQLite takes
      // the bare column source_peer from the row that has min(i.id).)
      apply = "INSERT OR IGNORE INTO study_groups(study,group_name) SELECT study, ?2 FROM "
              "(SELECT se.study AS study, i.source_peer AS peer, min(i.id) FROM instances i "
              "JOIN series se ON se.id=i.series GROUP BY se.study) WHERE peer=?1";
      break;
    case GroupRule::Kind::kInstitution:
      apply = "INSERT OR IGNORE INTO study_groups(study,group_name) SELECT id, ?2 FROM studies "
              "WHERE institution=?1";
      break;
    case GroupRule::Kind::kIssuer:
      apply = "INSERT OR IGNORE INTO study_groups(study,group_name) SELECT s.id, ?2 FROM studies s "
              "JOIN patients p ON p.id=s.patient WHERE p.issuer=?1";
      break;
  }
  int64_t added = 0;
  {
    TRESOR_ASSIGN_OR_RETURN(Stmt* s, d.Get(apply));
    Use q(*s);
    q.Bind(1, rule.value).Bind(2, rule.group);
    if (q.Step() != SQLITE_DONE) return d.Error("apply group rule");
    added = sqlite3_changes(d.db);
  }
  TRESOR_RETURN_IF_ERROR(txn.Commit());
  return added;
}

Result<bool> SqliteIndex::RemoveGroupRule(const GroupRule& rule) {
  std::lock_guard<std::mutex> lock(write_mu_);
  FullSync full_sync(*writer_, options_.sync == SqliteIndexOptions::Sync::kFilesystem);
  TRESOR_RETURN_IF_ERROR(full_sync.status());
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get(
      "DELETE FROM group_rules WHERE kind=?1 AND value=?2 AND group_name=?3"));
  Use q(*s);
  const std::string kind = GroupRuleKindName(rule.kind);
  q.Bind(1, kind).Bind(2, rule.value).Bind(3, rule.group);
  if (q.Step() != SQLITE_DONE) return writer_->Error("remove group rule");
  return sqlite3_changes(writer_->db) > 0;
}

Result<std::vector<GroupRule>> SqliteIndex::ListGroupRules() {
  std::lock_guard<std::mutex> lock(read_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(
      "SELECT group_name, kind, value FROM group_rules ORDER BY group_name, kind, value"));
  Use q(*s);
  std::vector<GroupRule> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    std::string kind = q.Text(1);
    GroupRule r{q.Text(0), GroupRule::Kind::kPeer, q.Text(2)};
    if (kind == "institution") r.kind = GroupRule::Kind::kInstitution;
    if (kind == "issuer") r.kind = GroupRule::Kind::kIssuer;
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return reader_->Error("list group rules");
  return out;
}

Result<bool> SqliteIndex::SetStudyGroup(const std::string& group, const std::string& study_uid,
                                        bool member) {
  std::lock_guard<std::mutex> lock(write_mu_);
  FullSync full_sync(*writer_, options_.sync == SqliteIndexOptions::Sync::kFilesystem);
  TRESOR_RETURN_IF_ERROR(full_sync.status());
  {
    TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get("SELECT 1 FROM studies WHERE study_uid=?1"));
    Use q(*s);
    q.Bind(1, study_uid);
    int rc = q.Step();
    if (rc == SQLITE_DONE) return false;
    if (rc != SQLITE_ROW) return writer_->Error("study lookup");
  }
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get(
      member ? "INSERT OR IGNORE INTO study_groups(study,group_name) "
               "SELECT id, ?2 FROM studies WHERE study_uid=?1"
             : "DELETE FROM study_groups WHERE group_name=?2 AND study="
               "(SELECT id FROM studies WHERE study_uid=?1)"));
  Use q(*s);
  q.Bind(1, study_uid).Bind(2, group);
  if (q.Step() != SQLITE_DONE) return writer_->Error("set study group");
  return true;
}

Result<std::vector<GroupSummary>> SqliteIndex::ListGroups() {
  // Member groups live in comma lists: collect them here, count studies in SQL.
  TRESOR_ASSIGN_OR_RETURN(std::vector<PeerRecord> peers, ListPeers());
  TRESOR_ASSIGN_OR_RETURN(std::vector<UserRecord> users, ListUsers());
  std::map<std::string, int64_t> counts;
  for (const auto& p : peers) for (const auto& g : p.groups) counts[g];
  for (const auto& u : users) for (const auto& g : u.groups) counts[g];
  std::lock_guard<std::mutex> lock(read_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(
      "SELECT group_name, count(*) FROM study_groups GROUP BY group_name "
      "UNION ALL SELECT DISTINCT group_name, 0 FROM group_rules"));
  Use q(*s);
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) counts[q.Text(0)] += q.Int(1);
  if (rc != SQLITE_DONE) return reader_->Error("list groups");
  counts.erase(kAllStudiesGroup);
  std::vector<GroupSummary> out;
  for (const auto& [name, n] : counts) out.push_back({name, n});
  return out;
}

Status SqliteIndex::PutSession(const SessionRecord& session) {
  std::lock_guard<std::mutex> lock(write_mu_);
  FullSync full_sync(*writer_, options_.sync == SqliteIndexOptions::Sync::kFilesystem);
  TRESOR_RETURN_IF_ERROR(full_sync.status());
  {
    TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get("DELETE FROM sessions WHERE expires_at<?1"));
    Use q(*s);
    q.Bind(1, session.last_seen);
    if (q.Step() != SQLITE_DONE) return writer_->Error("purge sessions");
  }
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get(
      "INSERT OR REPLACE INTO sessions(id,user,expires_at,last_seen) VALUES(?1,?2,?3,?4)"));
  Use q(*s);
  q.Bind(1, session.id).Bind(2, session.user).Bind(3, session.expires_at).Bind(4, session.last_seen);
  if (q.Step() != SQLITE_DONE) return writer_->Error("put session");
  return Status::Ok();
}

Result<std::optional<SessionRecord>> SqliteIndex::FindSession(const std::string& id) {
  std::lock_guard<std::mutex> lock(read_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(
      "SELECT id,user,expires_at,last_seen FROM sessions WHERE id=?1"));
  Use q(*s);
  q.Bind(1, id);
  int rc = q.Step();
  if (rc == SQLITE_DONE) return std::optional<SessionRecord>();
  if (rc != SQLITE_ROW) return reader_->Error("find session");
  return std::optional<SessionRecord>(SessionRecord{q.Text(0), q.Text(1), q.Int(2), q.Int(3)});
}

Status SqliteIndex::TouchSession(const std::string& id, int64_t last_seen) {
  // Not fully synced: a touch lost in a crash only makes a session expire earlier.
  std::lock_guard<std::mutex> lock(write_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get("UPDATE sessions SET last_seen=?2 WHERE id=?1"));
  Use q(*s);
  q.Bind(1, id).Bind(2, last_seen);
  if (q.Step() != SQLITE_DONE) return writer_->Error("touch session");
  return Status::Ok();
}

Result<bool> SqliteIndex::RemoveSession(const std::string& id) {
  std::lock_guard<std::mutex> lock(write_mu_);
  FullSync full_sync(*writer_, options_.sync == SqliteIndexOptions::Sync::kFilesystem);
  TRESOR_RETURN_IF_ERROR(full_sync.status());
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get("DELETE FROM sessions WHERE id=?1"));
  Use q(*s);
  q.Bind(1, id);
  if (q.Step() != SQLITE_DONE) return writer_->Error("remove session");
  return sqlite3_changes(writer_->db) > 0;
}

// ---- lockout counters ----

namespace {
constexpr size_t kMaxLockoutKey = 4096;
}

Result<std::optional<LockoutRecord>> SqliteIndex::FindLockout(const std::string& key, int64_t now_ms) {
  if (key.size() > kMaxLockoutKey) return InvalidArgument("lockout key too long");
  std::lock_guard<std::mutex> lock(read_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(
      "SELECT failures,not_before,forget_at FROM lockouts WHERE key=?1 AND forget_at>?2"));
  Use q(*s);
  q.BindBlob(1, key).Bind(2, now_ms);
  int rc = q.Step();
  if (rc == SQLITE_DONE) return std::optional<LockoutRecord>();
  if (rc != SQLITE_ROW) return reader_->Error("find lockout");
  return std::optional<LockoutRecord>(
      LockoutRecord{static_cast<int>(q.Int(0)), q.Int(1), q.Int(2)});
}

Result<LockoutRecord> SqliteIndex::UpdateLockout(const std::string& key, int64_t now_ms,
                                                 const LockoutUpdate& update) {
  if (key.size() > kMaxLockoutKey) return InvalidArgument("lockout key too long");
  // Not fully synced (see account_index.h); one write transaction, so the read and the
  // write of the counter cannot interleave with another process's.
  std::lock_guard<std::mutex> lock(write_mu_);
  Transaction txn(*writer_);
  TRESOR_RETURN_IF_ERROR(txn.Begin());
  {
    TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get("DELETE FROM lockouts WHERE forget_at<=?1"));
    Use q(*s);
    q.Bind(1, now_ms);
    if (q.Step() != SQLITE_DONE) return writer_->Error("purge lockouts");
  }
  std::optional<LockoutRecord> current;
  {
    TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get(
        "SELECT failures,not_before,forget_at FROM lockouts WHERE key=?1"));
    Use q(*s);
    q.BindBlob(1, key);
    int rc = q.Step();
    if (rc == SQLITE_ROW) {
      current = LockoutRecord{static_cast<int>(q.Int(0)), q.Int(1), q.Int(2)};
    } else if (rc != SQLITE_DONE) {
      return writer_->Error("read lockout");
    }
  }
  if (!current) {
    // A new key: make room beyond the cap, dropping what would be forgotten soonest.
    TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get(
        "DELETE FROM lockouts WHERE key IN (SELECT key FROM lockouts ORDER BY forget_at "
        "LIMIT max(0,(SELECT count(*) FROM lockouts)-?1+1))"));
    Use q(*s);
    q.Bind(1, static_cast<int64_t>(kMaxLockouts));
    if (q.Step() != SQLITE_DONE) return writer_->Error("bound lockouts");
  }
  LockoutRecord next = update(current);
  {
    TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get(
        "INSERT OR REPLACE INTO lockouts(key,failures,not_before,forget_at) VALUES(?1,?2,?3,?4)"));
    Use q(*s);
    q.BindBlob(1, key).Bind(2, int64_t{next.failures}).Bind(3, next.not_before_ms)
        .Bind(4, next.forget_at_ms);
    if (q.Step() != SQLITE_DONE) return writer_->Error("put lockout");
  }
  TRESOR_RETURN_IF_ERROR(txn.Commit());
  return next;
}

Status SqliteIndex::RemoveLockout(const std::string& key) {
  if (key.size() > kMaxLockoutKey) return InvalidArgument("lockout key too long");
  std::lock_guard<std::mutex> lock(write_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get("DELETE FROM lockouts WHERE key=?1"));
  Use q(*s);
  q.BindBlob(1, key);
  if (q.Step() != SQLITE_DONE) return writer_->Error("remove lockout");
  return Status::Ok();
}

// ---- audit trail ----

Status AppendAuditIn(SqliteIndex::Db& d, const std::vector<AuditEntry>& entries) {
  if (entries.empty()) return Status::Ok();
  TRESOR_ASSIGN_OR_RETURN(Stmt* head, d.Get("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1"));
  TRESOR_ASSIGN_OR_RETURN(Stmt* insert, d.Get(
      "INSERT INTO audit_records(seq,time,event_id,actors,patient_ids,study_uids,body,prev_hash,hash) "
      "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)"));
  int64_t seq = 0;
  std::string prev = security::kAuditGenesisHash;
  {
    Use q(*head);
    int rc = q.Step();
    if (rc == SQLITE_ROW) {
      seq = q.Int(0);
      prev = q.Text(1);
    } else if (rc != SQLITE_DONE) {
      return d.Error("audit head");
    }
  }
  for (const AuditEntry& e : entries) {
    ++seq;
    std::string hash = security::AuditChainHash(prev, seq, e.time, e.body);
    Use q(*insert);
    q.Bind(1, seq).Bind(2, e.time).Bind(3, e.event_id).Bind(4, e.actors).Bind(5, e.patient_ids)
        .Bind(6, e.study_uids).Bind(7, e.body).Bind(8, prev).Bind(9, hash);
    if (q.Step() != SQLITE_DONE) return d.Error("audit insert");
    prev = std::move(hash);
  }
  return Status::Ok();
}

namespace {
AuditRow ReadAuditRow(Use& q) {
  AuditRow r;
  r.seq = q.Int(0);
  r.entry.time = q.Int(1);
  r.entry.event_id = q.Text(2);
  r.entry.actors = q.Text(3);
  r.entry.patient_ids = q.Text(4);
  r.entry.study_uids = q.Text(5);
  r.entry.body = q.Text(6);
  r.prev_hash = q.Text(7);
  r.hash = q.Text(8);
  return r;
}
constexpr char kAuditColumns[] = "seq,time,event_id,actors,patient_ids,study_uids,body,prev_hash,hash";
}  // namespace

Status SqliteIndex::AppendAudit(const std::vector<AuditEntry>& entries) {
  if (entries.empty()) return Status::Ok();
  AuditAppend mine{&entries, false, Status::Ok()};
  {
    std::lock_guard<std::mutex> lock(audit_mu_);
    audit_queue_.push_back(&mine);
  }
  std::lock_guard<std::mutex> lock(write_mu_);
  std::vector<AuditAppend*> batch;
  {
    std::lock_guard<std::mutex> queue_lock(audit_mu_);
    if (mine.done) return mine.status;  // appended by the caller before us
    batch.assign(audit_queue_.begin(), audit_queue_.end());
    audit_queue_.clear();
  }
  // Committed like a group commit (synced with the next filesystem sync or checkpoint
  // under kFilesystem; by SQLite under kFull). One transaction for the whole batch: all
  // of it is appended, or none.
  Status s = [&]() -> Status {
    Transaction txn(*writer_);
    TRESOR_RETURN_IF_ERROR(txn.Begin());
    for (AuditAppend* a : batch) TRESOR_RETURN_IF_ERROR(AppendAuditIn(*writer_, *a->entries));
    TRESOR_RETURN_IF_ERROR(txn.Commit());
    if (options_.sync == SqliteIndexOptions::Sync::kFilesystem) {
      Status checkpointed = MaybeCheckpoint();
      if (!checkpointed.ok()) TRESOR_LOG(kWarn) << "index checkpoint: " << checkpointed.ToString();
    }
    return Status::Ok();
  }();
  {
    std::lock_guard<std::mutex> queue_lock(audit_mu_);
    for (AuditAppend* a : batch) {
      a->status = s;
      a->done = true;
    }
  }
  return s;
}

Result<std::vector<AuditRow>> SqliteIndex::ListAudit(const AuditFilter& f) {
  std::lock_guard<std::mutex> lock(read_mu_);
  const std::string sql = std::string("SELECT ") + kAuditColumns +
      " FROM audit_records WHERE (?1 IS NULL OR time >= ?1) AND (?2 IS NULL OR time <= ?2) "
      "AND (?3 = '' OR event_id = ?3) "
      "AND (?4 = '' OR instr(actors, char(10) || ?4 || char(10)) > 0) "
      "AND (?5 = '' OR instr(patient_ids, char(10) || ?5 || char(10)) > 0) "
      "AND (?6 = '' OR instr(study_uids, char(10) || ?6 || char(10)) > 0) "
      "ORDER BY seq LIMIT ?7 OFFSET ?8";
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(sql.c_str()));
  Use q(*s);  // ?1 and ?2 stay NULL when unset
  if (f.from_time) q.Bind(1, *f.from_time);
  if (f.to_time) q.Bind(2, *f.to_time);
  q.Bind(3, f.event_id).Bind(4, f.actor).Bind(5, f.patient_id).Bind(6, f.study_uid);
  q.Bind(7, static_cast<int64_t>(std::min<size_t>(f.limit, 1u << 20) + 1));
  q.Bind(8, static_cast<int64_t>(f.offset));
  std::vector<AuditRow> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadAuditRow(q));
  if (rc != SQLITE_DONE) return reader_->Error("list audit");
  return out;
}

Result<std::vector<AuditRow>> SqliteIndex::ReadAuditChain(int64_t after_seq, size_t max) {
  std::lock_guard<std::mutex> lock(read_mu_);
  static const std::string sql =
      std::string("SELECT ") + kAuditColumns + " FROM audit_records WHERE seq > ?1 ORDER BY seq LIMIT ?2";
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(sql.c_str()));
  Use q(*s);
  q.Bind(1, after_seq).Bind(2, static_cast<int64_t>(max));
  std::vector<AuditRow> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadAuditRow(q));
  if (rc != SQLITE_DONE) return reader_->Error("read audit chain");
  return out;
}

Result<std::optional<AuditRow>> SqliteIndex::AuditHead() {
  std::lock_guard<std::mutex> lock(read_mu_);
  static const std::string sql =
      std::string("SELECT ") + kAuditColumns + " FROM audit_records ORDER BY seq DESC LIMIT 1";
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(sql.c_str()));
  Use q(*s);
  int rc = q.Step();
  if (rc == SQLITE_DONE) return std::optional<AuditRow>();
  if (rc != SQLITE_ROW) return reader_->Error("audit head");
  return std::optional<AuditRow>(ReadAuditRow(q));
}

Status SqliteIndex::PutAuditCheckpoint(const AuditCheckpointRecord& c) {
  std::lock_guard<std::mutex> lock(write_mu_);
  // Fully synced: the checkpoint and every record before it become durable.
  FullSync full_sync(*writer_, options_.sync == SqliteIndexOptions::Sync::kFilesystem);
  TRESOR_RETURN_IF_ERROR(full_sync.status());
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get(
      "INSERT INTO audit_checkpoints(seq,hash,time,public_key,signature) VALUES(?1,?2,?3,?4,?5)"));
  Use q(*s);
  q.Bind(1, c.seq).Bind(2, c.hash).Bind(3, c.time).Bind(4, c.public_key).Bind(5, c.signature);
  if (q.Step() != SQLITE_DONE) return writer_->Error("put audit checkpoint");
  return Status::Ok();
}

Result<std::vector<AuditCheckpointRecord>> SqliteIndex::ListAuditCheckpoints() {
  std::lock_guard<std::mutex> lock(read_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(
      "SELECT seq,hash,time,public_key,signature FROM audit_checkpoints ORDER BY seq, id"));
  Use q(*s);
  std::vector<AuditCheckpointRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    out.push_back({q.Int(0), q.Text(1), q.Int(2), q.Text(3), q.Text(4)});
  }
  if (rc != SQLITE_DONE) return reader_->Error("list audit checkpoints");
  return out;
}

Result<int64_t> SqliteIndex::AuditForwardCursor(const std::string& destination) {
  std::lock_guard<std::mutex> lock(read_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get("SELECT seq FROM audit_forward_cursor WHERE destination=?1"));
  Use q(*s);
  q.Bind(1, destination);
  int rc = q.Step();
  if (rc == SQLITE_DONE) return int64_t{0};
  if (rc != SQLITE_ROW) return reader_->Error("audit forward cursor");
  return q.Int(0);
}

Status SqliteIndex::SetAuditForwardCursor(const std::string& destination, int64_t seq) {
  std::lock_guard<std::mutex> lock(write_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, writer_->Get(
      "INSERT INTO audit_forward_cursor(destination,seq) VALUES(?1,?2) "
      "ON CONFLICT(destination) DO UPDATE SET seq=max(seq,excluded.seq)"));
  Use q(*s);
  q.Bind(1, destination).Bind(2, seq);
  if (q.Step() != SQLITE_DONE) return writer_->Error("set audit forward cursor");
  if (options_.sync == SqliteIndexOptions::Sync::kFilesystem) {
    Status checkpointed = MaybeCheckpoint();
    if (!checkpointed.ok()) TRESOR_LOG(kWarn) << "index checkpoint: " << checkpointed.ToString();
  }
  return Status::Ok();
}

// --- Migration ------------------------------------------------------------------------

Result<std::vector<InstanceRecord>> SqliteIndex::ExportInstances(int64_t after, size_t limit,
                                                                 int64_t* next) {
  std::lock_guard<std::mutex> lock(read_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(
      "SELECT i.id, p.patient_id, p.issuer, p.name, p.birth_date, p.sex, st.study_uid, "
      "st.study_date, st.study_time, st.accession, st.study_id, st.description, st.referring, "
      "st.institution, se.series_uid, se.modality, se.series_number, se.description, "
      "se.body_part, i.sop_class, i.sop_uid, i.instance_number, i.transfer_syntax, i.blob, "
      "i.size, i.sha256, i.source_ae, i.source_peer, i.received_at, m.document, f.layout "
      "FROM instances i LEFT JOIN series se ON se.id=i.series "
      "LEFT JOIN studies st ON st.id=se.study LEFT JOIN patients p ON p.id=st.patient "
      "LEFT JOIN instance_metadata m ON m.instance=i.id "
      "LEFT JOIN instance_frames f ON f.instance=i.id "
      "WHERE i.id > ?1 ORDER BY i.id LIMIT ?2"));
  Use q(*s);
  q.Bind(1, after);
  q.Bind(2, static_cast<int64_t>(limit));
  std::vector<InstanceRecord> out;
  *next = after;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    *next = q.Int(0);
    InstanceRecord r;
    dicom::InstanceAttributes& a = r.attrs;
    a.patient_id = q.Text(1);
    a.issuer_of_patient_id = q.Text(2);
    a.patient_name = q.Text(3);
    a.patient_birth_date = q.Text(4);
    a.patient_sex = q.Text(5);
    a.study_instance_uid = q.Text(6);
    a.study_date = q.Text(7);
    a.study_time = q.Text(8);
    a.accession_number = q.Text(9);
    a.study_id = q.Text(10);
    a.study_description = q.Text(11);
    a.referring_physician_name = q.Text(12);
    a.institution_name = q.Text(13);
    a.series_instance_uid = q.Text(14);
    a.modality = q.Text(15);
    a.series_number = q.Text(16);
    a.series_description = q.Text(17);
    a.body_part_examined = q.Text(18);
    a.sop_class_uid = q.Text(19);
    a.sop_instance_uid = q.Text(20);
    a.instance_number = q.Text(21);
    r.transfer_syntax_uid = q.Text(22);
    r.blob_name = q.Text(23);
    r.blob_size = static_cast<uint64_t>(q.Int(24));
    r.content_sha256 = q.Text(25);
    r.source_ae = q.Text(26);
    r.source_peer = q.Text(27);
    r.received_at = q.Int(28);
    if (!q.IsNull(29)) r.metadata_document = q.Blob(29);
    if (!q.IsNull(30)) r.frame_layout = q.Blob(30);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return reader_->Error("export instances");
  return out;
}

Result<std::vector<StudyGroupMember>> SqliteIndex::ListStudyGroupMembers() {
  std::lock_guard<std::mutex> lock(read_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(
      "SELECT st.study_uid, g.group_name FROM study_groups g JOIN studies st ON st.id=g.study "
      "ORDER BY st.id, g.group_name"));
  Use q(*s);
  std::vector<StudyGroupMember> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back({q.Text(0), q.Text(1)});
  if (rc != SQLITE_DONE) return reader_->Error("list study groups");
  return out;
}

Result<std::vector<std::pair<std::string, int64_t>>> SqliteIndex::ListAuditForwardCursors() {
  std::lock_guard<std::mutex> lock(read_mu_);
  TRESOR_ASSIGN_OR_RETURN(Stmt* s, reader_->Get(
      "SELECT destination, seq FROM audit_forward_cursor ORDER BY destination"));
  Use q(*s);
  std::vector<std::pair<std::string, int64_t>> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.emplace_back(q.Text(0), q.Int(1));
  if (rc != SQLITE_DONE) return reader_->Error("list audit forward cursors");
  return out;
}

Status SqliteIndex::ImportAuditTrail(
    const std::function<Result<std::vector<AuditRow>>()>& next_page,
    const std::vector<AuditCheckpointRecord>& checkpoints) {
  // The writer lock: no AppendAudit (or group commit) can interleave with the import.
  std::lock_guard<std::mutex> lock(write_mu_);
  Db& d = *writer_;
  FullSync full_sync(d, options_.sync == SqliteIndexOptions::Sync::kFilesystem);
  TRESOR_RETURN_IF_ERROR(full_sync.status());
  Transaction txn(d);
  TRESOR_RETURN_IF_ERROR(txn.Begin());
  {
    TRESOR_ASSIGN_OR_RETURN(Stmt* s, d.Get(
        "SELECT (SELECT count(*) FROM audit_records) + (SELECT count(*) FROM audit_checkpoints)"));
    Use q(*s);
    if (q.Step() != SQLITE_ROW) return d.Error("audit trail size");
    if (q.Int(0) != 0) {
      return Conflict("the audit trail here is not empty: another trail can only be imported "
                      "into an archive that has none");
    }
  }
  TRESOR_ASSIGN_OR_RETURN(Stmt* insert, d.Get(
      "INSERT INTO audit_records(seq,time,event_id,actors,patient_ids,study_uids,body,prev_hash,hash) "
      "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)"));
  int64_t expected = 1;
  std::string prev = security::kAuditGenesisHash;
  std::map<int64_t, std::string> checkpointed;  // seq -> hash, of the checkpoints' seqs
  for (const AuditCheckpointRecord& c : checkpoints) checkpointed[c.seq];
  for (;;) {
    TRESOR_ASSIGN_OR_RETURN(std::vector<AuditRow> rows, next_page());
    if (rows.empty()) break;
    for (const AuditRow& r : rows) {
      if (r.seq != expected) {
        return DataLoss("audit import: record " + std::to_string(expected) +
                        " is missing (next given is " + std::to_string(r.seq) + ")");
      }
      if (r.prev_hash != prev ||
          security::AuditChainHash(prev, r.seq, r.entry.time, r.entry.body) != r.hash) {
        return DataLoss("audit import: record " + std::to_string(r.seq) +
                        " does not continue the chain (altered, removed or reordered)");
      }
      Use q(*insert);
      q.Bind(1, r.seq).Bind(2, r.entry.time).Bind(3, r.entry.event_id).Bind(4, r.entry.actors)
          .Bind(5, r.entry.patient_ids).Bind(6, r.entry.study_uids).Bind(7, r.entry.body)
          .Bind(8, r.prev_hash).Bind(9, r.hash);
      if (q.Step() != SQLITE_DONE) return d.Error("audit import");
      auto it = checkpointed.find(r.seq);
      if (it != checkpointed.end()) it->second = r.hash;
      prev = r.hash;
      ++expected;
    }
  }
  TRESOR_ASSIGN_OR_RETURN(Stmt* put, d.Get(
      "INSERT INTO audit_checkpoints(seq,hash,time,public_key,signature) VALUES(?1,?2,?3,?4,?5)"));
  for (const AuditCheckpointRecord& c : checkpoints) {
    if (c.seq < 1 || c.seq >= expected || checkpointed[c.seq] != c.hash) {
      return DataLoss("audit import: the checkpoint at seq " + std::to_string(c.seq) +
                      " does not sign a record of the imported chain");
    }
    Use q(*put);
    q.Bind(1, c.seq).Bind(2, c.hash).Bind(3, c.time).Bind(4, c.public_key).Bind(5, c.signature);
    if (q.Step() != SQLITE_DONE) return d.Error("audit checkpoint import");
  }
  return txn.Commit();
}

}  // namespace tresor::store
