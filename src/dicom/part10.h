// DICOM Part 10 files (PS3.10 7.1): the 128-byte preamble, "DICM" and the file meta
// information group, followed by the data set.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "dicom/byte_reader.h"

namespace tresor::dicom {

// `value` without its padding: trailing spaces and NULs, leading spaces (PS3.5 6.2).
std::string TrimPadding(const std::string& value);

// Tresor's Implementation Class UID and Version Name, written into every file meta header.
inline constexpr char kImplementationClassUid[] = "2.25.207981263412593845520476389116740253881";
inline constexpr char kImplementationVersion[] = "TRESOR_010";

struct FileMeta {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string transfer_syntax_uid;
  std::string source_ae;         // (0002,0016), may be empty
  uint64_t dataset_offset = 0;   // where the data set starts in the file
};

// The preamble (always zeroed: no polyglot file passes through Tresor), "DICM" and a
// freshly written file meta group describing the data set that follows.
std::string BuildFileMetaHeader(const FileMeta& meta);

// Reads the preamble and file meta group from the start of `in`. Fails with
// kInvalidArgument if this is not a Part 10 file or its meta group is malformed.
Result<FileMeta> ReadFileMeta(ByteReader& in);

}  // namespace tresor::dicom
