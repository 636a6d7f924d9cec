// Store-private: RAII over libpq (PGconn, PGresult) for PostgresIndex's source files.
// Nothing outside src/store/postgres_*.cc includes this header.
//
// Every statement is sent with out-of-line parameters (never values spliced into SQL
// text). Error messages carry the server's primary message and SQLSTATE only: the
// detail and context fields, which may quote row values (patient data), are dropped.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace tresor::store::pg {

// SQLSTATEs the index reacts to.
inline constexpr char kSerializationFailure[] = "40001";
inline constexpr char kDeadlockDetected[] = "40P01";
inline constexpr char kUniqueViolation[] = "23505";

// True if `text` is valid UTF-8 without NUL bytes (what a text parameter may hold).
bool ValidText(const std::string& text);

// `values` as a text[] literal ('{"a","b"}'), for one parameter such as "= ANY($1::text[])".
std::string TextArray(const std::vector<std::string>& values);

// Parameters of one statement. Text values are copied; Bytes() values (bytea, sent in
// binary) are referenced and must outlive the statement's execution.
class Params {
 public:
  Params& Text(const std::string& v);
  Params& Text(const char* v) { return Text(std::string(v)); }
  Params& Int(int64_t v);
  Params& Bool(bool v);
  Params& Null();
  Params& Bytes(const std::string& v);
  size_t size() const { return values_.size(); }
  // Empty when every text value is valid UTF-8 without NUL; else which one is not.
  const std::string& invalid() const { return invalid_; }

 private:
  friend class Connection;
  struct Value {
    std::string text;               // text format
    const std::string* bytes = nullptr;  // binary format (bytea)
    bool null = false;
  };
  std::vector<Value> values_;
  std::string invalid_;
};

// The result of one statement, freed with it.
class Rows {
 public:
  Rows() = default;
  explicit Rows(PGresult* r) : r_(r, &PQclear) {}
  int size() const { return r_ ? PQntuples(r_.get()) : 0; }
  bool IsNull(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string Text(int row, int col) const {
    return std::string(PQgetvalue(r_.get(), row, col),
                       static_cast<size_t>(PQgetlength(r_.get(), row, col)));
  }
  int64_t Int(int row, int col) const;
  bool Bool(int row, int col) const { return Text(row, col) == "t"; }
  // A bytea column selected in text format (hex output), decoded.
  std::string Bytes(int row, int col) const;
  // Rows affected by an INSERT/UPDATE/DELETE.
  int64_t Affected() const;
  PGresult* get() const { return r_.get(); }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> r_{nullptr, &PQclear};
};

class Connection {
 public:
  // Connects with `conninfo`; kUnavailable (with libpq's reason) when it fails.
  static Result<std::unique_ptr<Connection>> Open(const std::string& conninfo);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs `sql` (one or more statements, no parameters): schema and transaction control.
  Status Exec(const std::string& sql);
  // Runs one statement with `params` as $1, $2, ...; prepared once per connection and
  // reused (statements whose text varies, such as generated queries, are kept in a
  // bounded set). `what` names the operation in error messages.
  Result<Rows> Query(const std::string& sql, const Params& params, const char* what);
  Result<Rows> Query(const std::string& sql, const char* what) { return Query(sql, Params(), what); }

  // Runs the one statement `sql` once per element of `params`, pipelined (a round trip
  // per 64, not per statement), and returns their results in order. Stops at the first
  // failure: that failure is returned (later statements did not run).
  Result<std::vector<Rows>> QueryEach(const std::string& sql, const std::vector<Params>& params,
                                      const char* what);

  // The SQLSTATE of the last failed statement ("" after a success or a client-side
  // failure).
  const std::string& last_sqlstate() const { return last_sqlstate_; }
  // True if the last failure was a serialization failure or a deadlock: the
  // transaction may succeed when run again.
  bool Retryable() const;
  // True if the connection to the server is lost, or the server said it ends the
  // session (it is then reopened, never reused).
  bool Broken() const;
  PGconn* get() { return conn_; }

 private:
  struct Bound;
  explicit Connection(PGconn* conn) : conn_(conn) {}
  Status Failure(const char* what, PGresult* r);
  // The name of the prepared statement for `sql` (prepared on first use).
  Result<std::string> Prepared(const std::string& sql, const char* what);
  Status Bind(const Params& params, const char* what, Bound* out);

  PGconn* conn_;
  std::map<std::string, std::string> prepared_;  // sql -> statement name
  int next_statement_ = 0;
  std::string last_sqlstate_;
};

}  // namespace tresor::store::pg

namespace tresor::store::pg {

// The schema of this build's version (PostgresIndex::kSchemaVersion), in two parts that
// Open/Upgrade run in one transaction: the instance catalogue with the access groups it
// applies (postgres_index.cc) and the accounts, peers and audit trail
// (postgres_accounts.cc).
extern const char kInstanceSchema[];
extern const char kAccountsSchema[];

}  // namespace tresor::store::pg
