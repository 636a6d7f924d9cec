// A bounded, allocation-light pre-scan of a DICOM data set.
//
// Every data set Tresor accepts passes through ScanDataset before anything else reads
// it (DCMTK's parser included). The scan walks the element structure without building a
// data set and refuses, with kInvalidArgument, anything whose structure is not sound:
// element lengths beyond the enclosing item or the data, truncation, sequence nesting
// deeper than the limit, items outside sequences, invalid VRs. Deflated input is
// inflated on the fly under a size cap (kResourceExhausted beyond it).
//
// While it walks, it keeps the values of the requested top-level elements (the
// attributes the index needs), so a store needs exactly one pass over the bytes.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "dicom/byte_reader.h"
#include "dicom/tag_values.h"
#include "dicom/transfer_syntax.h"

namespace tresor::dicom {

struct ScanLimits {
  uint64_t max_bytes = 2ull << 30;  // after inflation, for deflated data sets
  int max_sequence_depth = 16;
  size_t max_kept_value = 1024;     // longer values of wanted elements are skipped
};

// Tag as (group << 16 | element).
using TagKey = uint32_t;
constexpr TagKey MakeTag(uint16_t group, uint16_t element) {
  return (static_cast<uint32_t>(group) << 16) | element;
}

// Where the top-level Pixel Data (7FE0,0010) lies. Offsets count from the first byte of
// the data set as scanned (for a deflated data set: of the inflated stream).
struct PixelDataPosition {
  bool present = false;
  bool encapsulated = false;   // undefined length: items (fragments) follow
  uint64_t value_offset = 0;   // first byte after the element header
  uint64_t value_length = 0;   // native data only
  struct Fragment {
    uint64_t item_offset = 0;  // the item tag (offset tables count from here)
    uint64_t value_offset = 0;
    uint32_t length = 0;
  };
  // Every item of encapsulated data in order, the Basic Offset Table (possibly empty) first.
  std::vector<Fragment> items;
  std::string basic_offset_table;  // value of the first item (at most 16 MiB kept)
};

struct ScanResult {
  TagValues values;  // raw value bytes of wanted top-level elements
  uint64_t element_count = 0;
  int max_depth_seen = 0;
  PixelDataPosition pixel_data;
};

// Length of an element whose length is undefined (sequences, encapsulated data).
inline constexpr uint32_t kUndefinedLength = 0xFFFFFFFFu;

// One data element as the scanner meets it (not items or delimiters).
struct ElementHead {
  TagKey tag = 0;
  char vr[2] = {0, 0};        // as encoded; {0, 0} where the encoding is implicit VR
  uint32_t length = 0;        // kUndefinedLength for undefined
  uint64_t value_offset = 0;  // from the start of the data set as scanned
  int depth = 0;              // enclosing sequences (0: top level)
};

// Receives the structure of a data set while ScanDataset validates it, in order: an element
// is either a value (OnElement, then OnValue when asked for) or a container
// (OnContainerStart, its items or fragments, OnContainerEnd). Called only on the scanning
// thread; the scan's verdict is the one that counts (a visitor may have seen part of an
// invalid data set).
class ScanVisitor {
 public:
  enum class Container {
    kSequence,      // SQ, or an implicit VR element the dictionary calls SQ
    kUnSequence,    // UN of undefined length: a sequence of implicit VR items
    kEncapsulated,  // Pixel Data of undefined length: fragments
  };
  virtual ~ScanVisitor() = default;
  // A value element. Return true to receive its value (OnValue): the scanner reads it into
  // memory, so only ask for bounded lengths.
  virtual bool OnElement(const ElementHead& element) = 0;
  virtual void OnValue(const ElementHead& element, std::string_view value) = 0;
  virtual void OnContainerStart(const ElementHead& element, Container kind) = 0;
  virtual void OnContainerEnd() = 0;
  virtual void OnItemStart() = 0;
  virtual void OnItemEnd() = 0;
  // An item of encapsulated data (the offset table first); its value is skipped.
  virtual void OnFragment(uint64_t value_offset, uint32_t length) = 0;
};

// Scans the data set `in` (no file meta information) encoded as `encoding`. `visitor`, if
// set, sees every element (see ScanVisitor).
Result<ScanResult> ScanDataset(ByteReader& in, Encoding encoding, const ScanLimits& limits,
                               const std::set<TagKey>& wanted, ScanVisitor* visitor = nullptr);

}  // namespace tresor::dicom
