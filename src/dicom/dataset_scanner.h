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
#include <map>
#include <set>
#include <string>

#include "core/status.h"
#include "dicom/byte_reader.h"
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

struct ScanResult {
  std::map<TagKey, std::string> values;  // raw value bytes of wanted top-level elements
  uint64_t element_count = 0;
  int max_depth_seen = 0;
};

// Scans the data set `in` (no file meta information) encoded as `encoding`.
Result<ScanResult> ScanDataset(ByteReader& in, Encoding encoding, const ScanLimits& limits,
                               const std::set<TagKey>& wanted);

}  // namespace tresor::dicom
