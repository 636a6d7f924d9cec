// Forward-only byte sources for the bounded data set scanner.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace tresor::dicom {

// A forward-only byte stream. Not thread-safe.
class ByteReader {
 public:
  virtual ~ByteReader() = default;
  // Reads up to `n` bytes; returns the count read, 0 only at the end of the stream.
  virtual Result<size_t> Read(void* out, size_t n) = 0;
  // Discards `n` bytes; fails with kInvalidArgument if the stream ends first.
  virtual Status Skip(uint64_t n);
  // Total bytes this stream will yield, if known in advance.
  virtual std::optional<uint64_t> Size() const { return std::nullopt; }
};

// Reads bytes [offset, offset+size) of a file descriptor it does not own.
class FileRangeReader : public ByteReader {
 public:
  FileRangeReader(int fd, uint64_t offset, uint64_t size);
  Result<size_t> Read(void* out, size_t n) override;
  Status Skip(uint64_t n) override;
  std::optional<uint64_t> Size() const override { return size_; }

 private:
  int fd_;
  uint64_t offset_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

// Reads from memory it does not own.
class MemoryReader : public ByteReader {
 public:
  MemoryReader(const void* data, size_t size)
      : data_(static_cast<const uint8_t*>(data)), size_(size) {}
  Result<size_t> Read(void* out, size_t n) override;
  Status Skip(uint64_t n) override;
  std::optional<uint64_t> Size() const override { return size_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Inflates a raw deflate stream (the Deflated Explicit VR Little Endian transfer syntax)
// read from `source`, yielding at most `max_output` bytes; more is a kResourceExhausted
// error (a decompression bomb), a corrupt stream is kInvalidArgument.
class InflateReader : public ByteReader {
 public:
  InflateReader(ByteReader& source, uint64_t max_output);
  ~InflateReader() override;
  InflateReader(const InflateReader&) = delete;
  InflateReader& operator=(const InflateReader&) = delete;
  Result<size_t> Read(void* out, size_t n) override;

 private:
  ByteReader& source_;
  uint64_t max_output_;
  uint64_t produced_ = 0;
  z_stream zs_{};
  std::vector<uint8_t> in_buf_;
  bool source_done_ = false;
  bool stream_done_ = false;
};

}  // namespace tresor::dicom
