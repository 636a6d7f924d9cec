// PostgresIndex: store::Index (every narrow interface) on a PostgreSQL server (libpq).
//
// Several Tresor nodes may share one database: every write is one server transaction,
// and the outcomes that depend on what other nodes wrote at the same time (duplicate,
// conflicting and inconsistent instances; the audit chain) are decided by the server
// under locks and unique constraints, never by a read in this process followed by a
// write. Transactions that fail with a serialization failure or a deadlock are run
// again from the start (a few times, then the error is returned).
//
// Durability::kOnCommit: a write that returns Ok has been committed with
// synchronous_commit=on (set on every connection), so the server has flushed it.
//
// Connections come from a pool of at most PostgresIndexOptions::pool_size; a call
// waits for a free one. A connection the server closed (restart, idle timeout) is
// replaced on use: reads, and transactions that had not begun, run again once on a new
// one. A transaction that loses its connection before COMMIT fails (kUnavailable;
// nothing of it happened). One that loses it during COMMIT asks the server, on a new
// connection, whether it committed (txid_status): Ok if it did, its error if it did not,
// kUnavailable "whether the transaction committed is unknown" if the server cannot tell
// or cannot be reached -- never a failure for a write that is in the index.
//
// Schema: created by Open in an empty database, at kSchemaVersion (table
// schema_version). Open refuses a database whose schema is older (run Upgrade, the
// explicit upgrade entry point) or newer (a later release wrote it). Rows are stored as
// plaintext: PostgreSQL has no page-sealing hook, so encryption of its files and TLS to
// the server are the operator's part (require_tls makes the latter mandatory).
//
// Text is compared byte-wise (every text column uses the "C" collation), so matching,
// ranges and ordering answer exactly as SqliteIndex does. The database must use the
// UTF8 encoding; text values must be valid UTF-8 without NUL bytes (kInvalidArgument).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/index.h"

namespace tresor::store {

namespace pg {
class Connection;  // one libpq connection (store/postgres_connection.h)
}

struct PostgresIndexOptions {
  // A libpq connection string ("host=... dbname=... user=...", a postgresql:// URI) or
  // "service=NAME" (pg_service.conf). Passwords belong in a password file, not here.
  std::string connection;
  // Connections opened at most (each served call holds one for its duration).
  size_t pool_size = 4;
  // Refuse to connect unless the connection uses TLS with the server's certificate
  // verified (sslmode verify-ca or verify-full in effect).
  bool require_tls = false;
};

class PostgresIndex : public Index {
 public:
  // The schema version this build reads and writes.
  static constexpr int kSchemaVersion = 1;

  // Connects (one connection, checked: TLS requirement, encoding), creates the schema in
  // a database that has none, and checks the schema version. kUnavailable when the
  // server cannot be reached, kPermissionDenied when TLS is required but not in effect,
  // kUnsupported for a schema version other than kSchemaVersion (the message says
  // whether to run the upgrade or a newer release).
  static Result<std::unique_ptr<PostgresIndex>> Open(const PostgresIndexOptions& options);
  // The explicit upgrade: brings the database's schema to kSchemaVersion (creating it
  // in an empty database), in one transaction, and returns the version it found (0:
  // none). Refuses (kUnsupported) a schema newer than this build's. Safe to run while
  // other nodes start: the steps run under a database-wide lock.
  static Result<int> Upgrade(const PostgresIndexOptions& options);

  ~PostgresIndex() override;

  // InstanceIndex (postgres_instances.cc)
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

  // PolicyIndex (postgres_accounts.cc)
  Status PutPeer(const PeerRecord& peer) override;
  Result<bool> RemovePeer(const std::string& name) override;
  Result<std::vector<PeerRecord>> ListPeers() override;
  Result<int64_t> PutGroupRule(const GroupRule& rule) override;
  Result<bool> RemoveGroupRule(const GroupRule& rule) override;
  Result<std::vector<GroupRule>> ListGroupRules() override;
  Result<bool> SetStudyGroup(const std::string& group, const std::string& study_uid,
                             bool member) override;
  Result<std::vector<GroupSummary>> ListGroups() override;

  // AccountIndex (postgres_accounts.cc)
  Status PutUser(const UserRecord& user) override;
  Result<std::optional<UserRecord>> FindUser(const std::string& name) override;
  Result<std::vector<UserRecord>> ListUsers() override;
  Status PutApiToken(const ApiTokenRecord& token) override;
  Result<std::optional<ApiTokenRecord>> FindApiToken(const std::string& token_sha256) override;
  Result<std::vector<ApiTokenRecord>> ListApiTokens() override;
  Result<bool> RemoveApiToken(const std::string& name) override;
  Status PutSession(const SessionRecord& session) override;
  Result<std::optional<SessionRecord>> FindSession(const std::string& id) override;
  Status TouchSession(const std::string& id, int64_t last_seen) override;
  Result<bool> RemoveSession(const std::string& id) override;
  Result<std::optional<LockoutRecord>> FindLockout(const std::string& key, int64_t now_ms) override;
  Result<LockoutRecord> UpdateLockout(const std::string& key, int64_t now_ms,
                                      const LockoutUpdate& update) override;
  Status RemoveLockout(const std::string& key) override;

  // AuditIndex (postgres_accounts.cc)
  Status AppendAudit(const std::vector<AuditEntry>& entries) override;
  Result<std::vector<AuditRow>> ListAudit(const AuditFilter& filter) override;
  Result<std::vector<AuditRow>> ReadAuditChain(int64_t after_seq, size_t max) override;
  Result<std::optional<AuditRow>> AuditHead() override;
  Status PutAuditCheckpoint(const AuditCheckpointRecord& checkpoint) override;
  Result<std::vector<AuditCheckpointRecord>> ListAuditCheckpoints() override;
  Result<int64_t> AuditForwardCursor(const std::string& destination) override;
  Status SetAuditForwardCursor(const std::string& destination, int64_t seq) override;
  // Migration target (store/audit_index.h; postgres_migration.cc).
  Status ImportAuditTrail(const std::function<Result<std::vector<AuditRow>>()>& next_page,
                          const std::vector<AuditCheckpointRecord>& checkpoints) override;

 private:
  class Lease;  // a pooled connection, returned to the pool when it goes out of scope

  explicit PostgresIndex(PostgresIndexOptions options);

  // Opens a new connection with every session setting applied and the TLS
  // requirement checked.
  static Result<std::unique_ptr<pg::Connection>> Connect(const PostgresIndexOptions& options);
  // Waits for a pooled connection (opening one while fewer than pool_size exist;
  // reopening one that broke).
  Result<Lease> Acquire();
  void Release(std::unique_ptr<pg::Connection> conn);

  // Runs `body` inside BEGIN ... COMMIT on a pooled connection; rolls back when it or
  // the commit fails. A serialization failure or deadlock (SQLSTATE 40001, 40P01) runs
  // the whole transaction again, up to a few times: `body` must start from scratch on
  // each run (no state carried over between runs other than what it resets).
  Status Transact(const std::function<Status(pg::Connection&)>& body);
  // After COMMIT of transaction `xid` failed with the connection lost: Ok if the server
  // committed it, `failed` if it aborted, kUnavailable if that cannot be learnt.
  Status CommitOutcome(const std::string& xid, const Status& failed);
  // A read on a pooled connection (no explicit transaction: one statement, one
  // snapshot).
  Status Read(const std::function<Status(pg::Connection&)>& body);

  // Appends `entries` to the audit trail inside the caller's open transaction on
  // `conn`, extending the one chain (seq and hash from the head, read under the
  // trail's transaction lock). Shared by AppendAudit and AddInstances.
  // (postgres_accounts.cc)
  Status AppendAuditInTx(pg::Connection& conn, const std::vector<AuditEntry>& entries);

  const PostgresIndexOptions options_;

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<pg::Connection>> idle_;  // guarded by pool_mu_
  size_t open_ = 0;  // connections handed out or idle; guarded by pool_mu_
};

}  // namespace tresor::store
