// SqliteIndexPeer: fault injection into a SqliteIndex's writer connection for tests.
// DenyPragma makes every statement setting that PRAGMA fail to prepare (SQLITE_AUTH), as
// a connection that cannot change it would; Allow() removes the denial.
#pragma once

#include <sqlite3.h>

#include <cstring>
#include <string>

#include "store/sqlite_index.h"

namespace tresor::store::testing {

class SqliteIndexPeer {
 public:
  explicit SqliteIndexPeer(SqliteIndex& index) : index_(index) {}
  ~SqliteIndexPeer() { Allow(); }
  SqliteIndexPeer(const SqliteIndexPeer&) = delete;
  SqliteIndexPeer& operator=(const SqliteIndexPeer&) = delete;

  void DenyPragma(const std::string& name) {
    denied_ = name;
    sqlite3_set_authorizer(index_.WriterHandleForTesting(), &Authorize, this);
  }
  void Allow() { sqlite3_set_authorizer(index_.WriterHandleForTesting(), nullptr, nullptr); }

 private:
  // Denies setting (not reading) the PRAGMA: arg1 is its name, arg2 the new value.
  static int Authorize(void* self, int action, const char* arg1, const char* arg2,
                       const char*, const char*) {
    auto* peer = static_cast<SqliteIndexPeer*>(self);
    if (action == SQLITE_PRAGMA && arg1 && arg2 && peer->denied_ == arg1) return SQLITE_DENY;
    return SQLITE_OK;
  }

  SqliteIndex& index_;
  std::string denied_;
};

}  // namespace tresor::store::testing
