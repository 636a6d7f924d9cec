// FaultPlan: which injected faults are active, read from a control file. Test-only (the
// tresor_faulty test binary); nothing in the tresor binary uses it.
//
// The file holds fault names separated by white space (see faulty_blob_store.h and
// faulty_index.h for the names); a missing or empty file means no fault. It is read on
// every question, so a test switches faults on and off while the server runs by
// replacing the file (write aside, rename over: readers never see half a file).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <string_view>

namespace tresor::store::testing {

class FaultPlan {
 public:
  explicit FaultPlan(std::string path) : path_(std::move(path)) {}

  // True if `fault` is listed in the control file now.
  bool Active(std::string_view fault) const {
    int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[4096];
    std::string text;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    close(fd);
    size_t pos = 0;
    while (pos < text.size()) {
      size_t start = text.find_first_not_of(" \t\r\n", pos);
      if (start == std::string::npos) break;
      size_t end = text.find_first_of(" \t\r\n", start);
      if (end == std::string::npos) end = text.size();
      if (std::string_view(text).substr(start, end - start) == fault) return true;
      pos = end;
    }
    return false;
  }

 private:
  const std::string path_;
};

}  // namespace tresor::store::testing
