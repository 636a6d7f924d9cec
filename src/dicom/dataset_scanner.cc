#include "dicom/dataset_scanner.h"

#include <cstring>
#include <limits>
#include <vector>

#include "dicom/dictionary.h"

namespace tresor::dicom {
namespace {

constexpr uint32_t kUndefined = kUndefinedLength;
// Offset tables (Basic and Extended) are kept up to this size: 8 bytes per frame for
// two million frames.
constexpr uint64_t kMaxKeptOffsetTable = 16u << 20;
constexpr TagKey kExtendedOffsetTable = MakeTag(0x7FE0, 0x0001);
constexpr TagKey kExtendedOffsetTableLengths = MakeTag(0x7FE0, 0x0002);
constexpr uint64_t kOpenEnd = std::numeric_limits<uint64_t>::max();
constexpr TagKey kItem = MakeTag(0xFFFE, 0xE000);
constexpr TagKey kItemDelimitation = MakeTag(0xFFFE, 0xE00D);
constexpr TagKey kSequenceDelimitation = MakeTag(0xFFFE, 0xE0DD);
constexpr TagKey kPixelData = MakeTag(0x7FE0, 0x0010);

// What an open container on the scan stack is.
enum class Kind { kSequence, kItem, kEncapsulated };

struct Frame {
  Kind kind;
  uint64_t end;        // absolute end offset, kOpenEnd for undefined length
  bool implicit_vr;    // contents are implicit VR (inside a UN of undefined length)
  int64_t last_tag = -1;  // items: the tag of the item's previous element
};

// VRs whose explicit encoding uses 2 reserved bytes and a 32-bit length.
bool HasLongLength(char a, char b) {
  static const char* kLong[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV",
                                "UC", "UN", "UR", "UT", "UV"};
  for (const char* vr : kLong) {
    if (vr[0] == a && vr[1] == b) return true;
  }
  return false;
}

bool IsKnownShortVr(char a, char b) {
  static const char* kShort[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS",
                                 "LO", "LT", "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL",
                                 "US"};
  for (const char* vr : kShort) {
    if (vr[0] == a && vr[1] == b) return true;
  }
  return false;
}

class Scanner {
 public:
  Scanner(ByteReader& in, Encoding encoding, const ScanLimits& limits,
          const std::set<TagKey>& wanted, ScanVisitor* visitor)
      : in_(in),
        visitor_(visitor),
        big_(encoding == Encoding::kExplicitBig),
        explicit_(encoding != Encoding::kImplicitLittle),
        limits_(limits),
        wanted_(wanted),
        total_(in.Size()) {}

  Result<ScanResult> Run() {
    while (true) {
      // Close defined-length containers that end exactly here.
      while (!stack_.empty() && stack_.back().end == pos_) Pop();
      if (!stack_.empty() && stack_.back().end < pos_) {
        return Bad("element runs past the end of its enclosing item or sequence");
      }
      uint8_t head[8];
      TRESOR_ASSIGN_OR_RETURN(size_t got, ReadUpTo(head, 4));
      if (got == 0) {
        for (const Frame& f : stack_) {
          if (f.end == kOpenEnd) return Bad("data set ends inside an open sequence or item");
        }
        if (!stack_.empty()) return Bad("data set ends inside a sequence or item");
        return std::move(result_);
      }
      if (got < 4) return Bad("data set ends inside an element header");
      TagKey tag = MakeTag(U16(head), U16(head + 2));
      if ((tag >> 16) == 0xFFFE) {
        TRESOR_RETURN_IF_ERROR(Exact(head + 4, 4));
        TRESOR_RETURN_IF_ERROR(Delimiter(tag, U32(head + 4)));
        continue;
      }
      if (!stack_.empty() && stack_.back().kind != Kind::kItem) {
        return Bad("data element found inside a sequence but outside any item");
      }
      TRESOR_RETURN_IF_ERROR(Element(tag));
    }
  }

 private:
  Status Bad(const std::string& why) const {
    return InvalidArgument(why + " (at byte " + std::to_string(pos_) + ")");
  }

  uint16_t U16(const uint8_t* p) const {
    return big_ ? static_cast<uint16_t>(p[0] << 8 | p[1]) : static_cast<uint16_t>(p[1] << 8 | p[0]);
  }
  uint32_t U32(const uint8_t* p) const {
    return big_ ? (uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3])
                : (uint32_t{p[3]} << 24 | uint32_t{p[2]} << 16 | uint32_t{p[1]} << 8 | p[0]);
  }

  Result<size_t> ReadUpTo(uint8_t* out, size_t n) {
    size_t done = 0;
    while (done < n) {
      TRESOR_ASSIGN_OR_RETURN(size_t got, in_.Read(out + done, n - done));
      if (got == 0) break;
      done += got;
    }
    pos_ += done;
    return done;
  }
  Status Exact(uint8_t* out, size_t n) {
    TRESOR_ASSIGN_OR_RETURN(size_t got, ReadUpTo(out, n));
    if (got != n) return Bad("data set ends inside an element");
    return Status::Ok();
  }
  Status SkipValue(uint64_t n) {
    Status s = in_.Skip(n);
    if (!s.ok()) return s.code() == Code::kInvalidArgument ? Bad(s.message()) : s;
    pos_ += n;
    return Status::Ok();
  }

  // Checks that a value of `length` bytes starting at pos_ fits the enclosing container
  // and the data that exists. This is what turns a 2 GB declared length into an error
  // before anything is allocated or read.
  Status CheckFits(uint64_t length) const {
    uint64_t end = pos_ + length;
    if (!stack_.empty() && stack_.back().end != kOpenEnd && end > stack_.back().end) {
      return Bad("element length exceeds its enclosing item or sequence");
    }
    if (total_ && end > *total_) return Bad("element length exceeds the data set");
    if (end > limits_.max_bytes) return ResourceExhausted("data set exceeds the size limit");
    return Status::Ok();
  }

  // True if elements at the current position are encoded with explicit VR.
  bool ExplicitHere() const {
    return explicit_ && (stack_.empty() || !stack_.back().implicit_vr);
  }

  Status Push(Kind kind, uint32_t length, bool implicit_vr_contents = false) {
    if (length != kUndefined) TRESOR_RETURN_IF_ERROR(CheckFits(length));
    bool implicit = implicit_vr_contents || (!stack_.empty() && stack_.back().implicit_vr);
    stack_.push_back({kind, length == kUndefined ? kOpenEnd : pos_ + length, implicit, -1});
    if (kind == Kind::kSequence || kind == Kind::kEncapsulated) {
      ++depth_;
      if (depth_ > result_.max_depth_seen) result_.max_depth_seen = depth_;
      if (depth_ > limits_.max_sequence_depth) {
        return InvalidArgument("sequence nesting deeper than " +
                               std::to_string(limits_.max_sequence_depth));
      }
    }
    return Status::Ok();
  }
  void Pop() {
    Kind kind = stack_.back().kind;
    if (kind != Kind::kItem) --depth_;
    stack_.pop_back();
    if (visitor_) {
      if (kind == Kind::kItem) {
        visitor_->OnItemEnd();
      } else {
        visitor_->OnContainerEnd();
      }
    }
  }

  Status Delimiter(TagKey tag, uint32_t length) {
    if (tag == kItem) {
      if (stack_.empty() || stack_.back().kind == Kind::kItem) {
        return Bad("item found outside a sequence");
      }
      if (stack_.back().kind == Kind::kEncapsulated) {
        if (length == kUndefined) return Bad("pixel data fragment with undefined length");
        TRESOR_RETURN_IF_ERROR(CheckFits(length));
        if (visitor_) visitor_->OnFragment(pos_, length);
        if (stack_.size() == 1) {
          PixelDataPosition& pixel = result_.pixel_data;
          pixel.items.push_back({pos_ - 8, pos_, length});
          if (pixel.items.size() == 1 && length <= kMaxKeptOffsetTable) {
            pixel.basic_offset_table.assign(length, '\0');
            return Exact(reinterpret_cast<uint8_t*>(pixel.basic_offset_table.data()), length);
          }
        }
        return SkipValue(length);
      }
      TRESOR_RETURN_IF_ERROR(Push(Kind::kItem, length));
      if (visitor_) visitor_->OnItemStart();
      return Status::Ok();
    }
    if (tag == kItemDelimitation) {
      if (stack_.empty() || stack_.back().kind != Kind::kItem || stack_.back().end != kOpenEnd) {
        return Bad("item delimiter without an open undefined-length item");
      }
      if (length != 0) return Bad("item delimiter with non-zero length");
      Pop();
      return Status::Ok();
    }
    if (tag == kSequenceDelimitation) {
      if (stack_.empty() || stack_.back().kind == Kind::kItem || stack_.back().end != kOpenEnd) {
        return Bad("sequence delimiter without an open undefined-length sequence");
      }
      if (length != 0) return Bad("sequence delimiter with non-zero length");
      Pop();
      return Status::Ok();
    }
    return Bad("unknown delimitation tag");
  }

  Status Element(TagKey tag) {
    ++result_.element_count;
    // PS3.5 7.1: each tag once per data set or item. A tag repeated right after itself
    // leaves readers free to disagree on the value (the index, DCMTK and a viewer could
    // each take another), so it is refused. (Out-of-order tags are tolerated, as DCMTK
    // does; a repeat separated by other tags is not detected here.)
    int64_t& last = stack_.empty() ? last_top_tag_ : stack_.back().last_tag;
    if (static_cast<int64_t>(tag) == last) return Bad("data element tag repeated");
    last = tag;
    uint32_t length = 0;
    bool is_sequence = false;
    bool may_be_undefined = false;
    bool unknown_vr = false;
    ElementHead head;
    head.tag = tag;
    head.depth = depth_;
    const bool top_level = stack_.empty();
    if (ExplicitHere()) {
      uint8_t vr[4];
      TRESOR_RETURN_IF_ERROR(Exact(vr, 2));
      char a = static_cast<char>(vr[0]), b = static_cast<char>(vr[1]);
      head.vr[0] = a;
      head.vr[1] = b;
      if (HasLongLength(a, b)) {
        uint8_t rest[6];
        TRESOR_RETURN_IF_ERROR(Exact(rest, 6));
        length = U32(rest + 2);
        is_sequence = (a == 'S' && b == 'Q');
        unknown_vr = (a == 'U' && b == 'N');
        may_be_undefined = is_sequence || unknown_vr ||
                           (tag == kPixelData && (b == 'B' || b == 'W'));
      } else if (IsKnownShortVr(a, b)) {
        uint8_t len[2];
        TRESOR_RETURN_IF_ERROR(Exact(len, 2));
        length = U16(len);
      } else {
        return Bad("invalid value representation");
      }
    } else {
      uint8_t len[4];
      TRESOR_RETURN_IF_ERROR(Exact(len, 4));
      length = U32(len);
      may_be_undefined = true;  // implicit VR: undefined length means a sequence
      is_sequence = length != kUndefined && IsSequenceTag(tag);
    }
    head.length = length;
    head.value_offset = pos_;
    if (length == kUndefined) {
      if (!may_be_undefined) return Bad("undefined length on an element that cannot have one");
      bool encapsulated = ExplicitHere() && tag == kPixelData && !is_sequence && !unknown_vr;
      if (encapsulated && top_level) {
        result_.pixel_data.present = true;
        result_.pixel_data.encapsulated = true;
        result_.pixel_data.value_offset = pos_;
      }
      // A UN of undefined length is a sequence whose contents are implicit VR
      // little endian (PS3.5 6.2.2).
      TRESOR_RETURN_IF_ERROR(
          Push(encapsulated ? Kind::kEncapsulated : Kind::kSequence, length, unknown_vr));
      if (visitor_) {
        using C = ScanVisitor::Container;
        visitor_->OnContainerStart(head, encapsulated ? C::kEncapsulated
                                         : unknown_vr ? C::kUnSequence
                                                      : C::kSequence);
      }
      return Status::Ok();
    }
    if (is_sequence) {
      TRESOR_RETURN_IF_ERROR(Push(Kind::kSequence, length));
      if (visitor_) visitor_->OnContainerStart(head, ScanVisitor::Container::kSequence);
      return Status::Ok();
    }
    TRESOR_RETURN_IF_ERROR(CheckFits(length));
    if (top_level && tag == kPixelData) {
      result_.pixel_data.present = true;
      result_.pixel_data.value_offset = pos_;
      result_.pixel_data.value_length = length;
    }
    const bool for_visitor = visitor_ && visitor_->OnElement(head);
    const bool wanted =
        top_level && wanted_.count(tag) &&
        (length <= limits_.max_kept_value ||
         ((tag == kExtendedOffsetTable || tag == kExtendedOffsetTableLengths) &&
          length <= kMaxKeptOffsetTable));
    if (for_visitor || wanted) {
      std::string value(length, '\0');
      TRESOR_RETURN_IF_ERROR(Exact(reinterpret_cast<uint8_t*>(value.data()), length));
      if (for_visitor) visitor_->OnValue(head, value);
      if (wanted) result_.values[tag] = std::move(value);
      return Status::Ok();
    }
    return SkipValue(length);
  }

  ByteReader& in_;
  ScanVisitor* const visitor_;  // may be null
  const bool big_;
  const bool explicit_;
  const ScanLimits& limits_;
  const std::set<TagKey>& wanted_;
  const std::optional<uint64_t> total_;
  uint64_t pos_ = 0;
  int depth_ = 0;
  int64_t last_top_tag_ = -1;  // the tag of the previous top-level element
  std::vector<Frame> stack_;
  ScanResult result_;
};

}  // namespace

Result<ScanResult> ScanDataset(ByteReader& in, Encoding encoding, const ScanLimits& limits,
                               const std::set<TagKey>& wanted, ScanVisitor* visitor) {
  if (encoding == Encoding::kDeflatedExplicitLittle) {
    InflateReader inflated(in, limits.max_bytes);
    Scanner scanner(inflated, Encoding::kExplicitLittle, limits, wanted, visitor);
    return scanner.Run();
  }
  Scanner scanner(in, encoding, limits, wanted, visitor);
  return scanner.Run();
}

}  // namespace tresor::dicom
