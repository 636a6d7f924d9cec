// Where each frame of an object's Pixel Data lies in its stored bytes, worked out at
// store time from the scan (dataset_scanner.h), so that one frame can be served with one
// index lookup and one read.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "dicom/dataset_scanner.h"
#include "dicom/transfer_syntax.h"

namespace tresor::dicom {

struct FrameLayout {
  struct Range {
    uint64_t offset = 0;
    uint64_t length = 0;
  };
  bool encapsulated = false;
  // Per frame, the byte ranges that hold it: one range for native data; the fragments'
  // values (item headers excluded) for encapsulated data. Empty when encapsulated data
  // gives no way to tell its frames apart (several frames, no offset table, and not one
  // fragment per frame).
  std::vector<std::vector<Range>> frames;
  uint16_t rows = 0;
  uint16_t columns = 0;
  uint16_t samples_per_pixel = 1;
  uint16_t bits_allocated = 0;
  uint32_t number_of_frames = 1;  // as declared (1 when absent)
};

// The top-level tags ScanDataset must keep for BuildFrameLayout.
const std::set<TagKey>& FrameLayoutTags();

// The frame layout of a scanned data set, with every offset shifted by `base_offset` (the
// size of the file meta header when the offsets are to address the Part 10 blob). nullopt
// when the data set has no top-level Pixel Data, or when its offsets do not address the
// stored bytes (a deflated data set). Native data: frame i is at value offset + i * frame
// size, frames that do not fit the value are left out; encapsulated data: frames from the
// Extended Offset Table when present, else the Basic Offset Table when not empty, else one
// fragment per frame when the counts agree, else all fragments form the one frame of a
// single-frame object.
std::optional<FrameLayout> BuildFrameLayout(const ScanResult& scan, Encoding encoding,
                                            uint64_t base_offset);

// A compact binary form for the index, and back (kInvalidArgument when malformed).
std::string SerializeFrameLayout(const FrameLayout& layout);
Result<FrameLayout> ParseFrameLayout(std::string_view bytes);

}  // namespace tresor::dicom
