#include "store/postgres_connection.h"

#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <limits>

namespace tresor::store::pg {

namespace {

// Prepared statements kept per connection; beyond this all are dropped and prepared
// again on use (generated query texts vary with the query's shape).
constexpr size_t kMaxPrepared = 256;

// libpq prints notices (e.g. "relation already exists, skipping") to stderr by default.
void IgnoreNotice(void*, const char*) {}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool ValidText(const std::string& text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size();
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values beyond Unicode are refused (as the server does).
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += len;
  }
  return true;
}

std::string TextArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (const std::string& v : values) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

Params& Params::Text(const std::string& v) {
  if (invalid_.empty() && !ValidText(v)) {
    invalid_ = "parameter " + std::to_string(values_.size() + 1);
  }
  values_.push_back(Value{v, nullptr, false});
  return *this;
}

Params& Params::Int(int64_t v) {
  values_.push_back(Value{std::to_string(v), nullptr, false});
  return *this;
}

Params& Params::Bool(bool v) {
  values_.push_back(Value{v ? "t" : "f", nullptr, false});
  return *this;
}

Params& Params::Null() {
  values_.push_back(Value{std::string(), nullptr, true});
  return *this;
}

Params& Params::Bytes(const std::string& v) {
  values_.push_back(Value{std::string(), &v, false});
  return *this;
}

int64_t Rows::Int(int row, int col) const {
  const char* v = PQgetvalue(r_.get(), row, col);
  return std::strtoll(v, nullptr, 10);
}

std::string Rows::Bytes(int row, int col) const {
  const char* v = PQgetvalue(r_.get(), row, col);
  size_t n = static_cast<size_t>(PQgetlength(r_.get(), row, col));
  std::string out;
  if (n >= 2 && v[0] == '\\' && v[1] == 'x') {  // bytea_output = hex (set per connection)
    out.reserve((n - 2) / 2);
    for (size_t i = 2; i + 1 < n; i += 2) {
      int hi = HexValue(v[i]);
      int lo = HexValue(v[i + 1]);
      if (hi < 0 || lo < 0) break;
      out.push_back(static_cast<char>(hi * 16 + lo));
    }
    return out;
  }
  return std::string(v, n);
}

int64_t Rows::Affected() const {
  const char* v = PQcmdTuples(r_.get());
  return v && *v ? std::strtoll(v, nullptr, 10) : 0;
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& conninfo) {
  PGconn* raw = PQconnectdb(conninfo.c_str());
  if (raw == nullptr) return Unavailable("index: cannot allocate a PostgreSQL connection");
  std::unique_ptr<Connection> conn(new Connection(raw));
  if (PQstatus(raw) != CONNECTION_OK) {
    std::string reason = PQerrorMessage(raw);
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
    return Unavailable("index: cannot connect to PostgreSQL: " + reason);
  }
  PQsetNoticeProcessor(raw, IgnoreNotice, nullptr);
  return conn;
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::Retryable() const {
  return last_sqlstate_ == kSerializationFailure || last_sqlstate_ == kDeadlockDetected;
}

bool Connection::Broken() const {
  // The server may report the end of the session (an administrator's termination, its
  // shutdown) before libpq has seen the socket close.
  return PQstatus(conn_) != CONNECTION_OK || last_sqlstate_.rfind("08", 0) == 0 ||
         last_sqlstate_ == "57P01" || last_sqlstate_ == "57P02" || last_sqlstate_ == "57P03";
}

Status Connection::Failure(const char* what, PGresult* r) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  last_sqlstate_ = state ? state : "";
  std::string message = primary ? primary : PQerrorMessage(conn_);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  std::string text = std::string("index ") + what + ": " + message;
  if (!last_sqlstate_.empty()) text += " (SQLSTATE " + last_sqlstate_ + ")";
  if (Broken()) {
    return Unavailable(text);  // connection lost, server shutting down
  }
  if (last_sqlstate_ == kUniqueViolation) return Status(Code::kAlreadyExists, text);
  return IoError(text);
}

Status Connection::Exec(const std::string& sql) {
  last_sqlstate_.clear();
  Rows r(PQexec(conn_, sql.c_str()));
  ExecStatusType st = r.get() ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Failure("statement", r.get());
  return Status::Ok();
}

Result<std::string> Connection::Prepared(const std::string& sql, const char* what) {
  auto it = prepared_.find(sql);
  if (it != prepared_.end()) return it->second;
  if (prepared_.size() >= kMaxPrepared) {
    TRESOR_RETURN_IF_ERROR(Exec("DEALLOCATE ALL"));
    prepared_.clear();
  }
  std::string name = "s" + std::to_string(next_statement_++);
  Rows prep(PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr));
  if (!prep.get() || PQresultStatus(prep.get()) != PGRES_COMMAND_OK) {
    return Failure(what, prep.get());
  }
  // A statement prepared inside a transaction that then fails stays prepared (PREPARE
  // at the protocol level is not transactional), so the cache stays valid.
  prepared_.emplace(sql, name);
  return name;
}

// libpq's view of one statement's parameters (pointing into `params`).
struct Connection::Bound {
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  int size() const { return static_cast<int>(values.size()); }
};

Status Connection::Bind(const Params& params, const char* what, Bound* out) {
  if (!params.invalid().empty()) {
    return InvalidArgument(std::string("index ") + what + ": a text value is not valid UTF-8 " +
                           "or contains a NUL byte");
  }
  const size_t n = params.values_.size();
  if (n > 65535) return InvalidArgument(std::string("index ") + what + ": too many parameters");
  out->values.assign(n, nullptr);
  out->lengths.assign(n, 0);
  out->formats.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const Params::Value& v = params.values_[i];
    if (v.null) continue;
    if (v.bytes) {
      if (v.bytes->size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
        return InvalidArgument(std::string("index ") + what + ": value too large");
      }
      out->values[i] = v.bytes->data();
      out->lengths[i] = static_cast<int>(v.bytes->size());
      out->formats[i] = 1;
    } else {
      out->values[i] = v.text.c_str();
    }
  }
  return Status::Ok();
}

Result<Rows> Connection::Query(const std::string& sql, const Params& params, const char* what) {
  last_sqlstate_.clear();
  Bound bound;
  TRESOR_RETURN_IF_ERROR(Bind(params, what, &bound));
  TRESOR_ASSIGN_OR_RETURN(std::string name, Prepared(sql, what));
  Rows r(PQexecPrepared(conn_, name.c_str(), bound.size(), bound.values.data(),
                        bound.lengths.data(), bound.formats.data(), 0));
  ExecStatusType st = r.get() ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Failure(what, r.get());
  return r;
}

Result<std::vector<Rows>> Connection::QueryEach(const std::string& sql,
                                                const std::vector<Params>& params,
                                                const char* what) {
  last_sqlstate_.clear();
  std::vector<Rows> out;
  out.reserve(params.size());
  if (params.empty()) return out;
  std::vector<Bound> bound(params.size());
  for (size_t i = 0; i < params.size(); ++i) TRESOR_RETURN_IF_ERROR(Bind(params[i], what, &bound[i]));
  TRESOR_ASSIGN_OR_RETURN(std::string name, Prepared(sql, what));
  // Pipelined in chunks: each chunk's results (small) fit the socket buffers, so the
  // server never blocks on sending them while this side is still sending (libpq runs
  // blocking here).
  constexpr size_t kChunk = 64;
  for (size_t start = 0; start < params.size(); start += kChunk) {
    const size_t end = std::min(params.size(), start + kChunk);
    if (PQenterPipelineMode(conn_) != 1) return Failure(what, nullptr);
    bool sent = true;
    for (size_t i = start; i < end && sent; ++i) {
      const Bound& b = bound[i];
      sent = PQsendQueryPrepared(conn_, name.c_str(), b.size(), b.values.data(), b.lengths.data(),
                                 b.formats.data(), 0) == 1;
    }
    if (sent) sent = PQpipelineSync(conn_) == 1;
    // Every result up to the sync is read (even after a failure), so the connection
    // leaves pipeline mode clean.
    Status failed;
    size_t expected = end - start;
    for (;;) {
      PGresult* raw = PQgetResult(conn_);
      if (raw == nullptr) {
        if (!sent || Broken()) break;
        continue;  // the end of one statement's results; the sync's comes last
      }
      Rows r(raw);
      ExecStatusType st = PQresultStatus(raw);
      if (st == PGRES_PIPELINE_SYNC) break;
      if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        out.push_back(std::move(r));
        if (expected > 0) --expected;
      } else if (st == PGRES_PIPELINE_ABORTED) {
        if (expected > 0) --expected;
      } else if (failed.ok()) {
        failed = Failure(what, raw);
        if (expected > 0) --expected;
      }
    }
    if (failed.ok() && !sent) failed = Failure(what, nullptr);
    if (PQexitPipelineMode(conn_) != 1 && failed.ok()) failed = Failure(what, nullptr);
    if (!failed.ok()) return failed;
    if (out.size() != end) return Internal(std::string("index ") + what + ": results missing");
  }
  return out;
}

}  // namespace tresor::store::pg
