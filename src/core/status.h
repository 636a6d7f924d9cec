// Status and Result<T>: how every layer reports failure to the layer above.
//
// Functions that can fail on untrusted input or I/O return one of these and never
// throw across a layer boundary. A Status carries a machine-readable Code (mapped to
// DIMSE statuses and HTTP statuses by one table per protocol) and a message for
// humans. Messages must never contain patient data (names, IDs, birth dates).
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace tresor {

enum class Code {
  kOk = 0,
  kInvalidArgument,    // the caller's input is malformed or violates a limit
  kNotFound,           // no such object (or not visible to the caller)
  kAlreadyExists,      // an identical object is already there
  kConflict,           // the object exists with different content
  kPermissionDenied,   // the caller is known but not allowed to do this
  kUnauthenticated,    // the caller is not known
  kResourceExhausted,  // a size, count or rate limit was reached
  kUnsupported,        // valid input that Tresor does not handle
  kIoError,            // the disk or network failed
  kUnavailable,        // shutting down or temporarily overloaded
  kInternal,           // a bug: an invariant did not hold
  kDataLoss,           // stored data failed its integrity check (modified, truncated,
                       // or sealed under a key that is not loaded): never served
};

// Returns a stable lowercase name for `code` ("invalid_argument", ...).
const char* CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  // A refusal that says when to try again (a back-off or rate limit).
  Status(Code code, std::string message, int retry_after_seconds)
      : code_(code), message_(std::move(message)), retry_after_seconds_(retry_after_seconds) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // Seconds after which the refused attempt may be made again; 0 when not said.
  int retry_after_seconds() const { return retry_after_seconds_; }
  // "code: message", for logs and CLI output.
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
  int retry_after_seconds_ = 0;
};

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status Conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {Code::kResourceExhausted, std::move(m)}; }
// kResourceExhausted for an attempt that is not even evaluated before `seconds` (>= 1)
// have passed (HTTP 429 with Retry-After; DICOM: a transient reject).
inline Status TryAgainLater(std::string m, int seconds) {
  return {Code::kResourceExhausted, std::move(m), seconds < 1 ? 1 : seconds};
}
inline Status Unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }
inline Status IoError(std::string m) { return {Code::kIoError, std::move(m)}; }
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
inline Status DataLoss(std::string m) { return {Code::kDataLoss, std::move(m)}; }

// Either a value or a non-ok Status. Building one from an ok Status is a bug (there
// would be neither a value nor an error) and aborts the process, in every build type.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) std::abort();
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace tresor

// Returns early from the enclosing function when `expr` (a Status) is not ok.
#define TRESOR_RETURN_IF_ERROR(expr)         \
  do {                                       \
    ::tresor::Status tresor_status_ = (expr); \
    if (!tresor_status_.ok()) return tresor_status_; \
  } while (0)

#define TRESOR_CONCAT_INNER_(a, b) a##b
#define TRESOR_CONCAT_(a, b) TRESOR_CONCAT_INNER_(a, b)
// `lhs = value of expr` (a Result), or return its Status from the enclosing function.
#define TRESOR_ASSIGN_OR_RETURN(lhs, expr)                                  \
  auto TRESOR_CONCAT_(tresor_result_, __LINE__) = (expr);                   \
  if (!TRESOR_CONCAT_(tresor_result_, __LINE__).ok())                       \
    return TRESOR_CONCAT_(tresor_result_, __LINE__).status();               \
  lhs = std::move(TRESOR_CONCAT_(tresor_result_, __LINE__)).value()
