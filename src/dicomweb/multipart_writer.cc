#include "dicomweb/multipart_writer.h"

#include <algorithm>
#include <cstring>

#include "core/random.h"

namespace tresor::dicomweb {

MultipartWriter::MultipartWriter(std::string boundary, NextPart next)
    : boundary_(std::move(boundary)), next_(std::move(next)) {}

std::string MultipartWriter::NewBoundary() { return "tresor" + RandomHex(16); }

std::string MultipartWriter::PartHeader(std::string_view boundary, bool first,
                                        std::string_view content_type,
                                        std::optional<uint64_t> length) {
  std::string out = first ? "--" : "\r\n--";
  out += boundary;
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\n";
  if (length) out += "Content-Length: " + std::to_string(*length) + "\r\n";
  out += "\r\n";
  return out;
}

uint64_t MultipartWriter::FramingBytes(std::string_view boundary, std::string_view content_type,
                                       uint64_t length) {
  // Every part but the first is preceded by CRLF; ClosingBytes counts the first's share.
  return PartHeader(boundary, false, content_type, length).size();
}

uint64_t MultipartWriter::ClosingBytes(std::string_view boundary) {
  // "\r\n--" boundary "--\r\n", less the CRLF the first part does not have.
  return 4 + boundary.size() + 4 - 2;
}

Result<size_t> MultipartWriter::Read(char* out, size_t n) {
  size_t written = 0;
  while (written < n) {
    if (pending_pos_ < pending_.size()) {
      size_t take = std::min(n - written, pending_.size() - pending_pos_);
      std::memcpy(out + written, pending_.data() + pending_pos_, take);
      pending_pos_ += take;
      written += take;
      continue;
    }
    if (body_) {
      size_t want = n - written;
      if (remaining_) want = static_cast<size_t>(std::min<uint64_t>(want, *remaining_));
      size_t got = 0;
      if (want > 0) {
        TRESOR_ASSIGN_OR_RETURN(got, body_->Read(out + written, want));
      }
      if (got > 0) {
        written += got;
        if (remaining_) *remaining_ -= got;
        continue;
      }
      if (remaining_ && *remaining_ > 0) {
        return IoError("a part ended before its declared length");
      }
      if (remaining_) {
        // The declared length is reached: the body must have nothing more.
        char extra;
        TRESOR_ASSIGN_OR_RETURN(size_t more, body_->Read(&extra, 1));
        if (more != 0) return IoError("a part is longer than its declared length");
      }
      body_.reset();
      remaining_.reset();
      continue;
    }
    if (done_) break;
    TRESOR_ASSIGN_OR_RETURN(std::optional<MultipartPart> part, next_());
    pending_.clear();
    pending_pos_ = 0;
    if (!part) {
      done_ = true;
      pending_ = first_ ? "--" : "\r\n--";
      pending_ += boundary_;
      pending_ += "--\r\n";
      continue;
    }
    pending_ = PartHeader(boundary_, first_, part->content_type, part->length);
    first_ = false;
    body_ = std::move(part->body);
    remaining_ = part->length;
    if (!body_) {
      if (remaining_ && *remaining_ > 0) return Internal("a part without a body");
      remaining_.reset();
    }
  }
  return written;
}

Result<size_t> StringBodySource::Read(char* out, size_t n) {
  size_t take = std::min(n, bytes_.size() - pos_);
  std::memcpy(out, bytes_.data() + pos_, take);
  pos_ += take;
  return take;
}

}  // namespace tresor::dicomweb
