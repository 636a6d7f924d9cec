// Test helper: writes DICOM data set bytes element by element, in any encoding.
#pragma once

#include <cstdint>
#include <string>

#include "dicom/dataset_scanner.h"
#include "dicom/transfer_syntax.h"

namespace tresor::dicom::testing {

inline bool IsLongVr(const std::string& vr) {
  for (const char* v :
       {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}) {
    if (vr == v) return true;
  }
  return false;
}

// Builds data set bytes in one encoding. Writes exactly what it is told (lengths are not
// checked against values), so tests can forge malformed structures. Values are padded to
// even length only by Element().
class DataSetBuilder {
 public:
  explicit DataSetBuilder(Encoding encoding) : encoding_(encoding) {}

  // A complete element: header with the value's padded length, then the value.
  DataSetBuilder& Element(TagKey tag, const std::string& vr, std::string value) {
    if (value.size() % 2) value.push_back(vr == "UI" || vr == "OB" ? '\0' : ' ');
    Header(tag, vr, static_cast<uint32_t>(value.size()));
    bytes_ += value;
    return *this;
  }
  // An element header declaring `length`; no value follows unless the caller adds one.
  DataSetBuilder& Header(TagKey tag, const std::string& vr, uint32_t length) {
    Tag(tag);
    if (encoding_ == Encoding::kImplicitLittle) {
      U32(length);
    } else if (IsLongVr(vr)) {
      bytes_ += vr;
      U16(0);
      U32(length);
    } else {
      bytes_ += vr;
      U16(static_cast<uint16_t>(length));
    }
    return *this;
  }
  DataSetBuilder& Item(uint32_t length = kUndefinedLength) {
    Tag(MakeTag(0xFFFE, 0xE000));
    U32(length);
    return *this;
  }
  DataSetBuilder& ItemEnd() {
    Tag(MakeTag(0xFFFE, 0xE00D));
    U32(0);
    return *this;
  }
  DataSetBuilder& SequenceEnd() {
    Tag(MakeTag(0xFFFE, 0xE0DD));
    U32(0);
    return *this;
  }
  DataSetBuilder& Raw(const std::string& bytes) {
    bytes_ += bytes;
    return *this;
  }

  const std::string& bytes() const { return bytes_; }
  size_t size() const { return bytes_.size(); }

 private:
  void Tag(TagKey tag) {
    U16(static_cast<uint16_t>(tag >> 16));
    U16(static_cast<uint16_t>(tag & 0xFFFF));
  }
  void U16(uint16_t v) {
    if (encoding_ == Encoding::kExplicitBig) {
      bytes_.push_back(static_cast<char>(v >> 8));
      bytes_.push_back(static_cast<char>(v & 0xFF));
    } else {
      bytes_.push_back(static_cast<char>(v & 0xFF));
      bytes_.push_back(static_cast<char>(v >> 8));
    }
  }
  void U32(uint32_t v) {
    if (encoding_ == Encoding::kExplicitBig) {
      U16(static_cast<uint16_t>(v >> 16));
      U16(static_cast<uint16_t>(v & 0xFFFF));
    } else {
      U16(static_cast<uint16_t>(v & 0xFFFF));
      U16(static_cast<uint16_t>(v >> 16));
    }
  }

  Encoding encoding_;
  std::string bytes_;
};

}  // namespace tresor::dicom::testing
