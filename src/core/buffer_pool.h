// BufferPool: fixed-size byte buffers kept for reuse. A fresh large buffer per object
// costs page faults for every page it touches (and, at 256 KiB or more, an mmap and a
// munmap in the server, whose allocator maps such blocks on their own); a reused one is
// already resident. At most `max_kept` buffers are kept; Take allocates when none is
// free. Thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace tresor::core {

class BufferPool {
 public:
  BufferPool(size_t bytes, size_t max_kept) : bytes_(bytes), max_kept_(max_kept) {}
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  size_t bytes() const { return bytes_; }
  // A buffer of bytes() bytes (contents undefined).
  std::unique_ptr<char[]> Take() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        std::unique_ptr<char[]> b = std::move(free_.back());
        free_.pop_back();
        return b;
      }
    }
    return std::unique_ptr<char[]>(new char[bytes_]);
  }
  // Takes back a buffer from Take() (null is ignored).
  void Give(std::unique_ptr<char[]> b) {
    if (!b) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < max_kept_) free_.push_back(std::move(b));
  }

 private:
  const size_t bytes_;
  const size_t max_kept_;
  std::mutex mu_;
  std::vector<std::unique_ptr<char[]>> free_;  // guarded by mu_
};

}  // namespace tresor::core
