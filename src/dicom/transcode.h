// Transcoding for DICOMweb retrieval (WADO-RS): whole Part 10 objects into another transfer
// syntax, and single frames into native little-endian pixel bytes, with the codecs
// RegisterCodecs() registers (DCMTK: JPEG, JPEG-LS, RLE; no JPEG 2000). DCMTK types stay
// inside dicom/. All functions are thread-safe once RegisterCodecs() has run.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace tresor::dicom {

// True for a transfer syntax whose pixel data is lossy compressed (JPEG baseline and
// extended, JPEG-LS near-lossless, JPEG 2000 lossy, ...). False for unknown UIDs.
bool IsLossyTransferSyntax(std::string_view ts);
// True for an encapsulated (compressed) transfer syntax known to DCMTK.
bool IsEncapsulatedTransferSyntax(std::string_view ts);

// Whether an object stored in `from` can be re-encoded in `to`: both are known, native
// syntaxes convert among themselves, compressed ones need a registered decoder for
// `from` and encoder for `to`. Converting lossy pixel data into a lossless compressed
// syntax is refused (it would claim a quality that is gone); into a native syntax is
// allowed. True when `from` == `to`. This is a table lookup: a conversion it allows may
// still fail for a particular object (e.g. 16-bit pixels into 8-bit JPEG baseline).
bool CanTranscode(std::string_view from, std::string_view to);

// Whether one frame stored in `from` can be decoded into native pixel bytes.
bool CanDecodeFrames(std::string_view from);

// Re-encodes the Part 10 file `part10` (whole file in memory) in `target_ts` and returns a
// Part 10 file: a fresh file meta header (Tresor's, same SOP class/instance, source AE
// kept) and the re-encoded data set. kUnsupported if no codec converts it,
// kInvalidArgument if the file does not parse, kResourceExhausted if decoding would
// exceed the decoded-size cap.
Result<std::string> TranscodePart10(const std::string& part10, const std::string& target_ts);

// Decodes frame `index` (0-based) of the Part 10 file `part10` (whole file in memory)
// into native pixel bytes: little endian, as PS3.5 8.1.1 lays native pixel data out
// (colour by pixel or by plane as the decoder leaves it). kNotFound if there is no such
// frame, kUnsupported if no codec decodes it.
Result<std::string> DecodeFrameOfFile(const std::string& part10, uint32_t index);

// Decodes one compressed frame without the rest of its object: `header` is a prefix of
// the Part 10 file that holds everything before the Pixel Data element (it may run into
// the element; parsing stops at (7FE0,0010)), `fragments` are the frame's fragments as
// stored (item values, without item headers), `stored_ts` is the object's transfer
// syntax. Returns what DecodeFrameOfFile returns for that frame.
Result<std::string> DecodeFrameFragments(const std::string& header, std::string_view stored_ts,
                                         const std::vector<std::string>& fragments);

}  // namespace tresor::dicom
