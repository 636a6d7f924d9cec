// TempDir: a fresh directory under $TMPDIR (or /tmp) for one test, removed with
// everything in it when the object is destroyed. Aborts if none can be created.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace tresor::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "tresor_test") {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + ".XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace tresor::testing
