// store::AccountIndex: user accounts, API tokens, sessions and lockout counters.
//
// Use-case methods only: nothing about SQL or a particular database leaks out of this
// header, so a PostgreSQL backend can implement the same interface. Every method is
// thread-safe. Writes that return Ok are durable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace tresor::store {

struct UserRecord {
  std::string name;
  std::string password_hash;  // Argon2id encoded string
  std::string role;
  bool disabled = false;
  std::vector<std::string> groups;  // access groups (security/access_scope.h)
};

// A signed-in session (HTTPS or DICOM JWT identity). Expires at `expires_at`, or once
// unused for the idle timeout the caller applies to `last_seen`.
struct SessionRecord {
  std::string id;
  std::string user;
  int64_t expires_at = 0;  // seconds since the epoch
  int64_t last_seen = 0;
};

// A long-lived API token (only its hash is stored).
struct ApiTokenRecord {
  std::string name;
  std::string user;
  std::string token_sha256;  // hex
  int64_t expires_at = 0;    // seconds since the epoch
};

// A lockout counter of the failure back-off (security/failure_tracker.h): failed
// attempts on one key (a user name from an address, an address, an admitted peer), kept
// in the index so that every node sharing it sees the same counters and back-offs.
// Times are wall milliseconds since the epoch.
struct LockoutRecord {
  int failures = 0;
  int64_t not_before_ms = 0;  // attempts on the key before this are refused
  int64_t forget_at_ms = 0;   // from this time on the record counts as absent
};

// Computes a key's next record from its current one (nullopt: none, or forgotten).
using LockoutUpdate = std::function<LockoutRecord(const std::optional<LockoutRecord>& current)>;

// Who may sign in, and their credentials and sessions (access and administration).
class AccountIndex {
 public:
  virtual ~AccountIndex() = default;

  // Inserts or replaces the user with this name.
  virtual Status PutUser(const UserRecord& user) = 0;
  virtual Result<std::optional<UserRecord>> FindUser(const std::string& name) = 0;
  virtual Result<std::vector<UserRecord>> ListUsers() = 0;

  // Inserts an API token; kAlreadyExists if the name is taken.
  virtual Status PutApiToken(const ApiTokenRecord& token) = 0;
  virtual Result<std::optional<ApiTokenRecord>> FindApiToken(const std::string& token_sha256) = 0;
  // Every API token (hashes included), ordered by name.
  virtual Result<std::vector<ApiTokenRecord>> ListApiTokens() = 0;
  // Deletes the token called `name`, so it no longer authenticates from the next lookup
  // on. Returns false if there was none.
  virtual Result<bool> RemoveApiToken(const std::string& name) = 0;

  // Sessions. TouchSession sets last_seen; RemoveSession returns false if there was none.
  // Expired sessions may be purged by PutSession.
  virtual Status PutSession(const SessionRecord& session) = 0;
  virtual Result<std::optional<SessionRecord>> FindSession(const std::string& id) = 0;
  virtual Status TouchSession(const std::string& id, int64_t last_seen) = 0;
  virtual Result<bool> RemoveSession(const std::string& id) = 0;

  // Lockout counters. Keys are opaque byte strings chosen by the caller (they may hold
  // any byte, NUL included), at most 4 KiB. Writes need not be fully synced: a counter
  // lost in a crash only ends a back-off early.
  //
  // At most kMaxLockouts records are kept.
  static constexpr size_t kMaxLockouts = 100000;
  // The record of `key`, or nullopt if there is none or it is forgotten at `now_ms`
  // (forget_at_ms <= now_ms).
  virtual Result<std::optional<LockoutRecord>> FindLockout(const std::string& key,
                                                           int64_t now_ms) = 0;
  // Atomically: reads the record of `key` as FindLockout(key, now_ms) would, stores
  // update(current) in its place and returns it. Concurrent updates of one key, from
  // this process or any other on the same index, are serialized (one transaction,
  // retried as a whole on a serialization failure), so no failure is lost. `update` is
  // a pure function and may be called more than once. The same transaction may delete
  // records forgotten at `now_ms`, and, beyond kMaxLockouts, those forgotten soonest.
  virtual Result<LockoutRecord> UpdateLockout(const std::string& key, int64_t now_ms,
                                              const LockoutUpdate& update) = 0;
  // Deletes the record of `key` (no error if there was none).
  virtual Status RemoveLockout(const std::string& key) = 0;
};

}  // namespace tresor::store
