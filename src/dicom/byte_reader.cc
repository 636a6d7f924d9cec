#include "dicom/byte_reader.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tresor::dicom {

Status ByteReader::Skip(uint64_t n) {
  uint8_t buf[16384];
  while (n > 0) {
    TRESOR_ASSIGN_OR_RETURN(size_t got, Read(buf, static_cast<size_t>(std::min<uint64_t>(n, sizeof buf))));
    if (got == 0) return InvalidArgument("data set ends inside an element value");
    n -= got;
  }
  return Status::Ok();
}

FileRangeReader::FileRangeReader(int fd, uint64_t offset, uint64_t size)
    : fd_(fd), offset_(offset), size_(size) {}

Result<size_t> FileRangeReader::Read(void* out, size_t n) {
  n = static_cast<size_t>(std::min<uint64_t>(n, size_ - pos_));
  size_t done = 0;
  while (done < n) {
    ssize_t got = pread(fd_, static_cast<uint8_t*>(out) + done, n - done,
                        static_cast<off_t>(offset_ + pos_ + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return IoError(std::string("read failed: ") + std::strerror(errno));
    }
    if (got == 0) return IoError("file shorter than expected");
    done += static_cast<size_t>(got);
  }
  pos_ += done;
  return done;
}

Status FileRangeReader::Skip(uint64_t n) {
  if (n > size_ - pos_) return InvalidArgument("data set ends inside an element value");
  pos_ += n;
  return Status::Ok();
}

Result<size_t> MemoryReader::Read(void* out, size_t n) {
  n = std::min(n, size_ - pos_);
  std::memcpy(out, data_ + pos_, n);
  pos_ += n;
  return n;
}

Status MemoryReader::Skip(uint64_t n) {
  if (n > size_ - pos_) return InvalidArgument("data set ends inside an element value");
  pos_ += static_cast<size_t>(n);
  return Status::Ok();
}

InflateReader::InflateReader(ByteReader& source, uint64_t max_output)
    : source_(source), max_output_(max_output), in_buf_(65536) {
  // Negative window bits: raw deflate without zlib header, as PS3.5 A.5 specifies.
  inflateInit2(&zs_, -MAX_WBITS);
}

InflateReader::~InflateReader() { inflateEnd(&zs_); }

Result<size_t> InflateReader::Read(void* out, size_t n) {
  if (stream_done_ || n == 0) return size_t{0};
  zs_.next_out = static_cast<Bytef*>(out);
  zs_.avail_out = static_cast<uInt>(std::min<size_t>(n, 1 << 30));
  while (zs_.avail_out > 0 && !stream_done_) {
    if (zs_.avail_in == 0 && !source_done_) {
      TRESOR_ASSIGN_OR_RETURN(size_t got, source_.Read(in_buf_.data(), in_buf_.size()));
      if (got == 0) source_done_ = true;
      zs_.next_in = in_buf_.data();
      zs_.avail_in = static_cast<uInt>(got);
    }
    if (zs_.avail_in == 0 && source_done_) {
      return InvalidArgument("deflated data set ends before its end-of-stream marker");
    }
    int rc = inflate(&zs_, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      stream_done_ = true;
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return InvalidArgument("corrupt deflated data set");
    }
  }
  size_t produced = static_cast<size_t>(zs_.next_out - static_cast<Bytef*>(out));
  produced_ += produced;
  if (produced_ > max_output_) {
    return ResourceExhausted("deflated data set inflates beyond the size limit");
  }
  return produced;
}

}  // namespace tresor::dicom
