#include "dicomweb/multipart.h"

#include <algorithm>
#include <utility>

namespace tresor::dicomweb {
namespace {

// Transport padding (RFC 2046: LWSP after a boundary) tolerated before the line end.
constexpr size_t kMaxPadding = 256;
// The most of one Feed() piece buffered at a time.
constexpr size_t kSliceBytes = 64 * 1024;

// What follows "\n--boundary" at `i`.
enum class Tail {
  kNeedMore,  // not enough bytes to tell
  kNo,        // not a delimiter after all (content that merely starts like one)
  kPart,      // a delimiter line: its end is at *line_end (the '\n')
  kClose,     // the closing delimiter "--boundary--"
};

Tail ClassifyTail(std::string_view s, size_t i, size_t* line_end) {
  if (i >= s.size()) return Tail::kNeedMore;
  if (s[i] == '-') {
    if (i + 1 >= s.size()) return Tail::kNeedMore;
    return s[i + 1] == '-' ? Tail::kClose : Tail::kNo;
  }
  size_t j = i;
  while (j < s.size() && (s[j] == ' ' || s[j] == '\t')) {
    if (++j - i > kMaxPadding) return Tail::kNo;
  }
  if (j >= s.size()) return Tail::kNeedMore;
  if (s[j] == '\r') {
    if (j + 1 >= s.size()) return Tail::kNeedMore;
    if (s[j + 1] != '\n') return Tail::kNo;
    ++j;
  }
  if (s[j] != '\n') return Tail::kNo;
  *line_end = j;
  return Tail::kPart;
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

MultipartParser::MultipartParser(std::string boundary, MultipartHandler& handler,
                                 MultipartLimits limits)
    : delimiter_("\n--" + boundary), handler_(handler), limits_(limits) {
  // A virtual line end before the body, so that a boundary on its first line is found.
  buf_ = "\n";
}

Status MultipartParser::Fail(Status status) {
  state_ = State::kFailed;
  error_ = status;
  buf_.clear();
  buf_.shrink_to_fit();
  pos_ = 0;
  return status;
}

Status MultipartParser::Feed(std::string_view piece) {
  // In slices, so that the buffer stays small however large the pieces are.
  while (!piece.empty()) {
    if (state_ == State::kFailed) return error_;
    if (state_ == State::kEpilogue) return Status::Ok();
    size_t take = std::min(piece.size(), kSliceBytes);
    buf_.append(piece.data(), take);
    piece.remove_prefix(take);
    Status st = Process();
    if (!st.ok()) return Fail(std::move(st));
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return state_ == State::kFailed ? error_ : Status::Ok();
}

Status MultipartParser::Finish() {
  if (state_ == State::kFailed) return error_;
  if (state_ != State::kEpilogue) {
    return Fail(InvalidArgument(parts_ == 0 && state_ == State::kPreamble
                                    ? "multipart body has no boundary line"
                                    : "multipart body ends before its closing boundary"));
  }
  return Status::Ok();
}

Status MultipartParser::Process() {
  while (true) {
    bool advanced = false;
    switch (state_) {
      case State::kPreamble:
      case State::kData:
        TRESOR_RETURN_IF_ERROR(ScanForDelimiter(&advanced));
        break;
      case State::kHeaders:
        TRESOR_RETURN_IF_ERROR(ScanHeaders(&advanced));
        break;
      case State::kEpilogue:
        pos_ = buf_.size();  // the epilogue is ignored
        return Status::Ok();
      case State::kFailed:
        return error_;
    }
    if (!advanced) return Status::Ok();
  }
}

Status MultipartParser::ScanForDelimiter(bool* advanced) {
  const bool in_part = state_ == State::kData;
  std::string_view rest(buf_.data() + pos_, buf_.size() - pos_);
  // Ends the current content at `data_end` and consumes through the delimiter line.
  auto take_delimiter = [&](size_t data_end, Tail tail, size_t consumed) -> Status {
    if (in_part) {
      if (data_end > 0) TRESOR_RETURN_IF_ERROR(handler_.OnPartData(rest.substr(0, data_end)));
      part_open_ = false;
      TRESOR_RETURN_IF_ERROR(handler_.OnPartEnd());
    }
    pos_ += consumed;
    *advanced = true;
    if (tail == Tail::kClose) {
      state_ = State::kEpilogue;
    } else {
      state_ = State::kHeaders;
      header_bytes_ = 0;
      headers_.clear();
    }
    return Status::Ok();
  };

  if (in_part && at_part_start_) {
    // Empty content: the line end closing the header block doubles as the delimiter's.
    std::string_view bare(delimiter_.data() + 1, delimiter_.size() - 1);
    size_t n = std::min(rest.size(), bare.size());
    if (rest.substr(0, n) == bare.substr(0, n)) {
      if (n < bare.size()) return Status::Ok();  // wait for more
      size_t line_end = 0;
      Tail tail = ClassifyTail(rest, bare.size(), &line_end);
      if (tail == Tail::kNeedMore) return Status::Ok();
      if (tail == Tail::kClose) return take_delimiter(0, tail, bare.size() + 2);
      if (tail == Tail::kPart) return take_delimiter(0, tail, line_end + 1);
    }
    at_part_start_ = false;
  }

  size_t from = 0;
  while (true) {
    size_t p = rest.find(delimiter_, from);
    if (p == std::string_view::npos) {
      // All but a possible partial delimiter at the end (and the '\r' before it).
      size_t keep = std::min(rest.size(), delimiter_.size());
      size_t emit = rest.size() - keep;
      if (emit > 0) {
        if (in_part) TRESOR_RETURN_IF_ERROR(handler_.OnPartData(rest.substr(0, emit)));
        pos_ += emit;
        at_part_start_ = false;
        *advanced = true;
      }
      return Status::Ok();
    }
    size_t data_end = (p > 0 && rest[p - 1] == '\r') ? p - 1 : p;
    size_t line_end = 0;
    Tail tail = ClassifyTail(rest, p + delimiter_.size(), &line_end);
    switch (tail) {
      case Tail::kNo:
        from = p + 1;
        continue;
      case Tail::kNeedMore:
        if (data_end > 0) {
          if (in_part) TRESOR_RETURN_IF_ERROR(handler_.OnPartData(rest.substr(0, data_end)));
          pos_ += data_end;
          at_part_start_ = false;
          *advanced = true;
        }
        return Status::Ok();
      case Tail::kClose:
        return take_delimiter(data_end, tail, p + delimiter_.size() + 2);
      case Tail::kPart:
        return take_delimiter(data_end, tail, line_end + 1);
    }
  }
}

Status MultipartParser::ScanHeaders(bool* advanced) {
  while (true) {
    size_t nl = buf_.find('\n', pos_);
    if (nl == std::string::npos) {
      if (header_bytes_ + (buf_.size() - pos_) > limits_.max_header_bytes) {
        return InvalidArgument("a part's header block is larger than " +
                               std::to_string(limits_.max_header_bytes) + " bytes");
      }
      return Status::Ok();
    }
    header_bytes_ += nl + 1 - pos_;
    if (header_bytes_ > limits_.max_header_bytes) {
      return InvalidArgument("a part's header block is larger than " +
                             std::to_string(limits_.max_header_bytes) + " bytes");
    }
    std::string_view line(buf_.data() + pos_, nl - pos_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos_ = nl + 1;
    *advanced = true;
    if (line.empty()) {
      if (parts_ >= limits_.max_parts) {
        return ResourceExhausted("more than " + std::to_string(limits_.max_parts) +
                                 " parts in one multipart body");
      }
      ++parts_;
      state_ = State::kData;
      at_part_start_ = true;
      part_open_ = true;
      web::HeaderList headers = std::move(headers_);
      headers_.clear();
      return handler_.OnPartBegin(headers);
    }
    if (line.front() == ' ' || line.front() == '\t') {  // folded continuation line
      if (headers_.empty()) return InvalidArgument("a part's header block starts with a fold");
      std::string_view more = TrimSpaces(line);
      if (!more.empty()) {
        headers_.back().second += ' ';
        headers_.back().second.append(more.data(), more.size());
      }
      continue;
    }
    size_t colon = line.find(':');
    std::string_view name = colon == std::string_view::npos ? std::string_view()
                                                            : TrimSpaces(line.substr(0, colon));
    if (name.empty()) return InvalidArgument("a part header line is not 'name: value'");
    for (char c : name) {
      if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
        return InvalidArgument("a part header name contains a space or control character");
      }
    }
    headers_.emplace_back(std::string(name), std::string(TrimSpaces(line.substr(colon + 1))));
  }
}

}  // namespace tresor::dicomweb
