// Pixel data codecs (DCMTK: JPEG, JPEG-LS, RLE) and transcoding between transfer
// syntaxes, for receivers that do not accept the syntax an object is stored in.
#pragma once

#include <string>

#include "core/status.h"

namespace tresor::dicom {

// Registers DCMTK's decoders and encoders. Call once, before any thread starts.
void RegisterCodecs();

// Re-encodes the data set of a Part 10 file (`part10`, whole file in memory) in
// `target_ts` and returns the data set bytes (no file meta). kUnsupported if no codec
// can convert it (e.g. JPEG 2000, which Debian's DCMTK cannot decode); kInvalidArgument
// if the file cannot be parsed.
Result<std::string> TranscodeDataset(const std::string& part10, const std::string& target_ts);

}  // namespace tresor::dicom
