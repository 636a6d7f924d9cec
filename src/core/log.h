// Process-wide logging to stderr, one line per record, safe from any thread.
//
// Contract for callers: log UIDs, AE titles, addresses and outcomes; never patient
// names, patient IDs or birth dates. Usage: TRESOR_LOG(kInfo) << "stored " << uid;
#pragma once

#include <sstream>
#include <string>

namespace tresor::log {

enum class Level { kDebug = 0, kInfo, kWarn, kError };

// Records below `level` are dropped. Default: kInfo.
void SetLevel(Level level);
bool Enabled(Level level);
// Parses "debug", "info", "warn", "error"; returns false on anything else.
bool ParseLevel(const std::string& text, Level* level);
void Write(Level level, const std::string& line);

// Collects one record and writes it when destroyed.
class Line {
 public:
  explicit Line(Level level) : level_(level) {}
  ~Line() { Write(level_, out_.str()); }
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;
  template <typename T>
  Line& operator<<(const T& v) {
    out_ << v;
    return *this;
  }

 private:
  Level level_;
  std::ostringstream out_;
};

}  // namespace tresor::log

// A one-iteration loop rather than an if, so the macro is safe inside unbraced if/else.
#define TRESOR_LOG(level)                                                              \
  for (bool tresor_log_on_ = ::tresor::log::Enabled(::tresor::log::Level::level);      \
       tresor_log_on_; tresor_log_on_ = false)                                         \
  ::tresor::log::Line(::tresor::log::Level::level)
