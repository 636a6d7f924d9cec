// FailureTracker: counts failed logins and rejected associations per source address and
// blocks a source for a while after too many (S12). Thread-safe; in memory, per process.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace tresor::security {

class FailureTracker {
 public:
  FailureTracker(int max_failures, int window_seconds, int block_seconds)
      : max_failures_(max_failures), window_(window_seconds), block_(block_seconds) {}

  // True while `source` is blocked at `now` (seconds).
  bool Blocked(const std::string& source, int64_t now);
  // Records a failure; returns true if this failure started a block.
  bool RecordFailure(const std::string& source, int64_t now);
  // A success clears the source's failure history.
  void RecordSuccess(const std::string& source);

 private:
  struct Entry {
    std::vector<int64_t> failures;  // times within the window
    int64_t blocked_until = 0;
  };
  const int max_failures_;
  const int window_;
  const int block_;
  std::mutex mu_;
  std::map<std::string, Entry> sources_;  // guarded by mu_
};

}  // namespace tresor::security
