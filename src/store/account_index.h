// store::AccountIndex: user accounts, API tokens and sessions.
//
// Use-case methods only: nothing about SQL or a particular database leaks out of this
// header, so a PostgreSQL backend can implement the same interface. Every method is
// thread-safe. Writes that return Ok are durable.
#pragma once

#include <cstdint>
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
};

}  // namespace tresor::store
