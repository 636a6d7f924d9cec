// A dicom::ByteReader over a stored blob, for scans of what is (being) stored. Internal
// to archive/ (it reaches store/): no public archive header includes this one.
#pragma once

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "core/status.h"
#include "dicom/byte_reader.h"
#include "store/blob_store.h"

namespace tresor::archive {

// Reads a blob from `offset` on, for the scanner, through a read-ahead buffer so
// a scan costs a few large reads rather than one read per element header.
class BlobByteReader : public dicom::ByteReader {
 public:
  BlobByteReader(store::BlobReader& blob, uint64_t offset)
      : blob_(blob), start_(offset), pos_(offset), buf_(64 * 1024) {}
  Result<size_t> Read(void* out, size_t n) override {
    if (buf_pos_ == buf_len_) {
      TRESOR_ASSIGN_OR_RETURN(buf_len_, blob_.ReadAt(buf_.data(), buf_.size(), pos_));
      buf_pos_ = 0;
      if (buf_len_ == 0) return size_t{0};
    }
    size_t take = std::min(n, buf_len_ - buf_pos_);
    std::memcpy(out, buf_.data() + buf_pos_, take);
    buf_pos_ += take;
    pos_ += take;
    return take;
  }
  Status Skip(uint64_t n) override {
    if (n > blob_.size() - pos_) return InvalidArgument("data set ends inside an element value");
    uint64_t buffered = buf_len_ - buf_pos_;
    if (n <= buffered) {
      buf_pos_ += static_cast<size_t>(n);
    } else {
      buf_pos_ = buf_len_ = 0;
    }
    pos_ += n;
    return Status::Ok();
  }
  std::optional<uint64_t> Size() const override { return blob_.size() - start_; }

 private:
  store::BlobReader& blob_;
  const uint64_t start_;
  uint64_t pos_;
  std::vector<char> buf_;
  size_t buf_pos_ = 0;
  size_t buf_len_ = 0;
};

}  // namespace tresor::archive
