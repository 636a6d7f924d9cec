#include "store/postgres_connection.h"

#include <cstdlib>
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

bool Connection::Broken() const { return PQstatus(conn_) != CONNECTION_OK; }

Status Connection::Failure(const char* what, PGresult* r) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  last_sqlstate_ = state ? state : "";
  std::string message = primary ? primary : PQerrorMessage(conn_);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  std::string text = std::string("index ") + what + ": " + message;
  if (!last_sqlstate_.empty()) text += " (SQLSTATE " + last_sqlstate_ + ")";
  if (Broken() || last_sqlstate_.rfind("08", 0) == 0 || last_sqlstate_ == "57P01") {
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

Result<Rows> Connection::Query(const std::string& sql, const Params& params, const char* what) {
  last_sqlstate_.clear();
  if (!params.invalid().empty()) {
    return InvalidArgument(std::string("index ") + what + ": a text value is not valid UTF-8 " +
                           "or contains a NUL byte");
  }
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    if (prepared_.size() >= kMaxPrepared) {
      TRESOR_RETURN_IF_ERROR(Exec("DEALLOCATE ALL"));
      prepared_.clear();
    }
    std::string name = "s" + std::to_string(next_statement_++);
    Rows prep(PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr));
    if (!prep.get() || PQresultStatus(prep.get()) != PGRES_COMMAND_OK) {
      return Failure(what, prep.get());
    }
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  const size_t n = params.values_.size();
  if (n > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return InvalidArgument(std::string("index ") + what + ": too many parameters");
  }
  std::vector<const char*> values(n);
  std::vector<int> lengths(n);
  std::vector<int> formats(n);
  for (size_t i = 0; i < n; ++i) {
    const Params::Value& v = params.values_[i];
    if (v.null) {
      values[i] = nullptr;
    } else if (v.bytes) {
      if (v.bytes->size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
        return InvalidArgument(std::string("index ") + what + ": value too large");
      }
      values[i] = v.bytes->data();
      lengths[i] = static_cast<int>(v.bytes->size());
      formats[i] = 1;
    } else {
      values[i] = v.text.c_str();
    }
  }
  Rows r(PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(n), values.data(),
                        lengths.data(), formats.data(), 0));
  ExecStatusType st = r.get() ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    Status failed = Failure(what, r.get());
    // A statement prepared inside a transaction that then failed stays prepared (PREPARE
    // at the protocol level is not transactional), so the cache stays valid.
    return failed;
  }
  return r;
}

}  // namespace tresor::store::pg
