// Incremental SHA-256 (OpenSSL), for content hashes of stored data sets.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace tresor {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t n);
  // The digest as 64 lowercase hex digits. Call once.
  std::string FinishHex();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

}  // namespace tresor
