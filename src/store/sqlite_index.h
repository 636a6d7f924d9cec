// SqliteIndex: store::Index on an embedded SQLite database (WAL mode).
//
// One write connection (guarded by write_mu_) serves AddInstances and the admin
// writes; one read connection (guarded by read_mu_) serves lookups, so reads proceed
// while a group commit is being written. With `durable`, every commit is fsynced.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "store/index.h"

struct sqlite3;

namespace tresor::store {

struct SqliteIndexOptions {
  std::string path;
  bool durable = true;  // synchronous=FULL; false only for disposable test archives
};

class SqliteIndex : public Index {
 public:
  // Opens or creates the database and its schema.
  static Result<std::unique_ptr<SqliteIndex>> Open(const SqliteIndexOptions& options);
  ~SqliteIndex() override;

  Result<std::vector<AddOutcome>> AddInstances(const std::vector<InstanceRecord>& records) override;
  Result<std::optional<StoredInstance>> FindInstance(const std::string& sop_instance_uid) override;
  Result<bool> IsBlobReferenced(const std::string& name) override;
  Result<IndexStats> Stats() override;
  Status PutPeer(const PeerRecord& peer) override;
  Result<bool> RemovePeer(const std::string& name) override;
  Result<std::vector<PeerRecord>> ListPeers() override;
  Status PutUser(const UserRecord& user) override;
  Result<std::optional<UserRecord>> FindUser(const std::string& name) override;
  Result<std::vector<UserRecord>> ListUsers() override;

 private:
  struct Db;
  SqliteIndex() = default;

  std::mutex write_mu_;
  std::unique_ptr<Db> writer_;  // guarded by write_mu_
  std::mutex read_mu_;
  std::unique_ptr<Db> reader_;  // guarded by read_mu_
};

}  // namespace tresor::store
