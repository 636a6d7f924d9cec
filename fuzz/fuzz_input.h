// Helpers shared by the fuzz targets: how a target's input bytes map to what a parser
// receives in production.
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/oflog/oflog.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dicom/byte_reader.h"
#include "dicom/part10.h"
#include "dicom/transfer_syntax.h"

namespace tresor::fuzz {

// DCMTK logs every oddity of hostile input; only fatal messages are of interest here.
inline const bool kDcmtkQuiet = (OFLog::configure(OFLogger::FATAL_LOG_LEVEL), true);

// A data set to scan, as stored objects and STOW-RS parts arrive: either a Part 10 file
// (its file meta says how the data set is encoded) or, for inputs that are not one, a
// bare data set whose first byte selects the encoding (0 implicit VR little endian,
// 1 explicit little, 2 explicit big, 3 deflated explicit little; modulo 4).
struct DataSetInput {
  bool part10 = false;
  dicom::Encoding encoding = dicom::Encoding::kExplicitLittle;
  std::string transfer_syntax;  // the UID
  std::string_view dataset;     // the bytes after the file meta (or after the selector)
  dicom::FileMeta meta;         // Part 10 only: the meta group as read
};

// A Part 10 input as the archive keeps it: a file meta group Tresor writes itself, then the
// data set received. Later parses (rendering, transcoding) only ever see this form, never
// the sender's meta group.
inline std::string StoredForm(const DataSetInput& input) {
  return dicom::BuildFileMetaHeader(input.meta) + std::string(input.dataset);
}

// False when the input is a Part 10 file whose transfer syntax Tresor does not accept
// (such objects are refused before any scan).
inline bool SplitDataSetInput(const uint8_t* data, size_t size, DataSetInput* out) {
  dicom::MemoryReader reader(data, size);
  auto meta = dicom::ReadFileMeta(reader);
  if (meta.ok()) {
    out->part10 = true;
    out->meta = *meta;
    out->transfer_syntax = meta->transfer_syntax_uid;
    if (!dicom::EncodingOf(out->transfer_syntax, &out->encoding)) return false;
    if (meta->dataset_offset > size) return false;
    out->dataset = std::string_view(reinterpret_cast<const char*>(data) + meta->dataset_offset,
                                    size - meta->dataset_offset);
    return true;
  }
  if (size == 0) return false;
  static const char* const kSyntaxes[4] = {
      dicom::kImplicitVRLittleEndian, dicom::kExplicitVRLittleEndian,
      dicom::kExplicitVRBigEndian, dicom::kDeflatedExplicitVRLittleEndian};
  out->part10 = false;
  out->transfer_syntax = kSyntaxes[data[0] % 4];
  if (!dicom::EncodingOf(out->transfer_syntax, &out->encoding)) return false;
  out->dataset = std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1);
  return true;
}

// Stops the process (a finding) when an invariant of the code under test is broken.
#define TRESOR_FUZZ_CHECK(cond)                                                          \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      __builtin_fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      __builtin_abort();                                                               \
    }                                                                                  \
  } while (0)

}  // namespace tresor::fuzz
