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
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "store/index.h"

struct sqlite3;

namespace tresor::store {

namespace testing {
class SqliteIndexPeer;
}

struct SqliteIndexOptions {
  enum class Sync { kFull, kFilesystem, kOff };
  std::string path;
  Sync sync = Sync::kFull;
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
  Result<std::vector<AddOutcome>> AddInstances(const std::vector<InstanceRecord>& records) override;
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

  struct Db;  // one connection and its cached statements (defined in the .cc)

 private:
  friend class testing::SqliteIndexPeer;
  explicit SqliteIndex(SqliteIndexOptions options);
  // The writer connection, for fault injection in tests only.
  sqlite3* WriterHandleForTesting();
  // Runs a fully synced WAL checkpoint when the WAL has grown past a threshold.
  Status MaybeCheckpoint();

  const SqliteIndexOptions options_;

  std::mutex write_mu_;
  std::unique_ptr<Db> writer_;  // guarded by write_mu_
  std::mutex read_mu_;
  std::unique_ptr<Db> reader_;  // guarded by read_mu_
};

}  // namespace tresor::store
