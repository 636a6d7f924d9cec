// SqliteIndex: store::Index (every narrow interface) on an embedded SQLite database (WAL mode).
//
// One write connection (guarded by write_mu_) serves AddInstances and the admin
// writes; one read connection (guarded by read_mu_) serves lookups, so reads proceed
// while a group commit is being written.
//
// Durability (SqliteIndexOptions::sync):
//   kFull:       every commit is fsynced by SQLite (Durability::kOnCommit).
//   kFilesystem: AddInstances commits without fsync; the caller's filesystem sync makes
//                it durable (Durability::kOnFilesystemSync). WAL checkpoints are run
//                by AddInstances itself with full syncing, so the WAL is never reused
//                before the database file holds its frames durably. Admin writes
//                (peers, users) always commit with full syncing.
//   kOff:        no syncing at all: disposable test archives only.
//
// Encryption at rest (SqliteIndexOptions::page_key): with a key, the database and its WAL
// are opened through a SealedVfs (store/sealed_vfs.h) that seals every page with
// AES-256-GCM; queries see plaintext pages and work unchanged. A new database is created
// with the reserved bytes the seal needs. Open refuses, with a clear error, a database
// sealed with another key ("cannot be decrypted with this key"), a damaged page 1 and a
// plaintext database (an index from a release without page encryption: see
// docs/encryption-index.md for its migration). Without a key (tests only) the pages are
// plaintext, and a sealed database is refused. A page that fails authentication later
// fails the statement with an integrity error; no wrong rows are returned.
// Rollback journals and temp files are never written to disk (journal_mode=WAL,
// temp_store=MEMORY; the VFS refuses them).
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "store/index.h"

struct sqlite3;

namespace tresor::store {

class SealedVfs;

namespace testing {
class SqliteIndexPeer;
}

struct SqliteIndexOptions {
  enum class Sync { kFull, kFilesystem, kOff };
  SqliteIndexOptions(std::string path_in, Sync sync_in = Sync::kFull, std::string key = {})
      : path(std::move(path_in)), sync(sync_in), page_key(std::move(key)) {}
  std::string path;
  Sync sync = Sync::kFull;
  // The 32-byte page key (raw bytes). Empty: plaintext pages, for tests only.
  std::string page_key;
};

class SqliteIndex : public Index {
 public:
  // Opens or creates the database and its schema. Fails (kIoError) when the durability
  // settings cannot be applied: write-ahead logging and the synchronous mode of `sync`.
  // Writes promised a full sync (peers, users, tokens, rules, sessions, recovery) fail
  // when full sync cannot be switched on.
  static Result<std::unique_ptr<SqliteIndex>> Open(const SqliteIndexOptions& options);
  ~SqliteIndex() override;

  Durability durability() const override;
  Result<std::vector<AddOutcome>> AddInstances(const std::vector<InstanceRecord>& records,
                                               const AuditBuilder<AddOutcome>& audit = {}) override;
  Result<std::vector<StoredInstance>> ListUnconfirmed() override;
  Result<std::vector<StoredInstance>> ListInstances(int64_t after, size_t limit,
                                                    int64_t* next) override;
  Status RemoveUnconfirmed(const std::string& sop_instance_uid) override;
  Status ConfirmAll() override;
  Result<std::optional<StoredInstance>> FindInstance(const std::string& sop_instance_uid,
                                                     const AccessScope& scope) override;
  Result<std::vector<dicom::QueryMatch>> Find(const dicom::Query& query,
                                              const AccessScope& scope) override;
  Result<std::optional<StoredDetails>> FindFrameLayout(const std::string& study_uid,
                                                       const std::string& series_uid,
                                                       const std::string& sop_uid,
                                                       const AccessScope& scope) override;
  Result<std::vector<StoredDetails>> FindMetadata(const std::string& study_uid,
                                                  const std::string& series_uid,
                                                  const std::string& sop_uid,
                                                  const AccessScope& scope) override;
  Result<bool> IsBlobReferenced(const std::string& name) override;
  Result<IndexStats> Stats(const AccessScope& scope) override;
  Status PutPeer(const PeerRecord& peer) override;
  Result<bool> RemovePeer(const std::string& name) override;
  Result<std::vector<PeerRecord>> ListPeers() override;
  Status PutUser(const UserRecord& user) override;
  Result<std::optional<UserRecord>> FindUser(const std::string& name) override;
  Result<std::vector<UserRecord>> ListUsers() override;
  Status PutApiToken(const ApiTokenRecord& token) override;
  Result<std::optional<ApiTokenRecord>> FindApiToken(const std::string& token_sha256) override;
  Result<std::vector<ApiTokenRecord>> ListApiTokens() override;
  Result<bool> RemoveApiToken(const std::string& name) override;
  Result<int64_t> PutGroupRule(const GroupRule& rule) override;
  Result<bool> RemoveGroupRule(const GroupRule& rule) override;
  Result<std::vector<GroupRule>> ListGroupRules() override;
  Result<bool> SetStudyGroup(const std::string& group, const std::string& study_uid,
                             bool member) override;
  Result<std::vector<GroupSummary>> ListGroups() override;
  Status PutSession(const SessionRecord& session) override;
  Result<std::optional<SessionRecord>> FindSession(const std::string& id) override;
  Status TouchSession(const std::string& id, int64_t last_seen) override;
  Result<bool> RemoveSession(const std::string& id) override;
  Result<std::optional<LockoutRecord>> FindLockout(const std::string& key, int64_t now_ms) override;
  Result<LockoutRecord> UpdateLockout(const std::string& key, int64_t now_ms,
                                      const LockoutUpdate& update) override;
  Status RemoveLockout(const std::string& key) override;
  Status AppendAudit(const std::vector<AuditEntry>& entries) override;
  Result<std::vector<AuditRow>> ListAudit(const AuditFilter& filter) override;
  Result<std::vector<AuditRow>> ReadAuditChain(int64_t after_seq, size_t max) override;
  Result<std::optional<AuditRow>> AuditHead() override;
  Status PutAuditCheckpoint(const AuditCheckpointRecord& checkpoint) override;
  Result<std::vector<AuditCheckpointRecord>> ListAuditCheckpoints() override;
  Result<int64_t> AuditForwardCursor(const std::string& destination) override;
  Status SetAuditForwardCursor(const std::string& destination, int64_t seq) override;
  // Migration (source and target; see the interfaces).
  Result<std::vector<InstanceRecord>> ExportInstances(int64_t after, size_t limit,
                                                      int64_t* next) override;
  Result<std::vector<StudyGroupMember>> ListStudyGroupMembers() override;
  Result<std::vector<std::pair<std::string, int64_t>>> ListAuditForwardCursors() override;
  Status ImportAuditTrail(const std::function<Result<std::vector<AuditRow>>()>& next_page,
                          const std::vector<AuditCheckpointRecord>& checkpoints) override;

  // Runs one read-only SQL statement on the reader connection (maintenance and test
  // inspection of the sealed index, which no other tool can read) and returns its rows,
  // each column as text (NULL as ""). kInvalidArgument for a statement that could write
  // or for more than one statement.
  Result<std::vector<std::vector<std::string>>> ReadOnlyQuery(const std::string& sql);

  struct Db;  // one connection and its cached statements (defined in the .cc)

 private:
  friend class testing::SqliteIndexPeer;
  explicit SqliteIndex(SqliteIndexOptions options);
  // The writer connection, for fault injection in tests only.
  sqlite3* WriterHandleForTesting();
  // Runs a fully synced WAL checkpoint when the WAL has grown past a threshold.
  Status MaybeCheckpoint();

  const SqliteIndexOptions options_;
  // The page-sealing VFS of both connections (null without a key); declared before the
  // connections so it outlives them.
  std::unique_ptr<SealedVfs> vfs_;

  std::mutex write_mu_;
  std::unique_ptr<Db> writer_;  // guarded by write_mu_
  std::mutex read_mu_;
  std::unique_ptr<Db> reader_;  // guarded by read_mu_

  // AppendAudit calls waiting for the writer: whoever gets it appends everything queued
  // in one transaction (concurrent queries cost one commit, not one each).
  struct AuditAppend {
    const std::vector<AuditEntry>* entries;
    bool done = false;
    Status status;
  };
  std::mutex audit_mu_;
  std::deque<AuditAppend*> audit_queue_;  // guarded by audit_mu_
};

}  // namespace tresor::store
