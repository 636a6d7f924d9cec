// The attributes of one instance that the index keeps (for C-FIND, QIDO-RS, access
// rules and statistics), taken from a bounded scan of its data set.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "core/status.h"
#include "dicom/dataset_scanner.h"

namespace tresor::dicom {

// Text values are UTF-8, trimmed of padding. Empty means absent or empty.
struct InstanceAttributes {
  std::string specific_character_set;  // as received, e.g. "ISO_IR 100"
  // Patient
  std::string patient_name;
  std::string patient_id;
  std::string issuer_of_patient_id;
  std::string patient_birth_date;
  std::string patient_sex;
  // Study
  std::string study_instance_uid;
  std::string study_date;
  std::string study_time;
  std::string accession_number;
  std::string study_id;
  std::string study_description;
  std::string referring_physician_name;
  std::string institution_name;
  // Series
  std::string series_instance_uid;
  std::string modality;
  std::string series_number;
  std::string series_description;
  std::string body_part_examined;
  // Instance
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string instance_number;

  // True if some text could not be converted from the Specific Character Set (glibc
  // iconv cannot convert ISO 2022 IR 87, for one): those values are indexed with '?'
  // in place of each non-ASCII byte. The stored object itself is never changed.
  bool text_not_converted = false;
};

// "ISO 2022 IR 100" (a single one-byte ISO 2022 term) -> "ISO_IR 100"; other values
// unchanged. Lets single-valued ISO 2022 declarations of one-byte sets convert.
std::string NormalizeCharacterSet(const std::string& value);

// Converts the text values of one data set to UTF-8 from its Specific Character Set
// (glibc iconv through DCMTK). Not thread-safe; one per data set.
class TextDecoder {
 public:
  // `character_set`: the (0008,0005) value, trimmed and normalized (NormalizeCharacterSet);
  // empty for the default repertoire.
  explicit TextDecoder(std::string character_set);
  ~TextDecoder();
  TextDecoder(const TextDecoder&) = delete;
  TextDecoder& operator=(const TextDecoder&) = delete;

  // Sets `out` to `raw` in UTF-8 and returns true; `delimiters` are the characters that
  // end ISO 2022 code switching ("\\" for multi-valued text, "\\^=" for PN). Text
  // that cannot be converted (declared ASCII or UTF-8 but not, or a character set iconv
  // lacks) becomes `raw` with '?' for every non-ASCII byte, and false is returned.
  bool Decode(std::string_view raw, const char* delimiters, std::string* out);

 private:
  struct Converter;
  const std::string character_set_;
  const bool ascii_;  // default repertoire
  const bool utf8_;   // ISO_IR 192
  std::unique_ptr<Converter> converter_;  // created on the first non-ASCII value
  bool converter_failed_ = false;
};

// True if every byte of `s` is ASCII (no ISO 2022 escape either).
bool IsAsciiText(std::string_view s);
// True if `s` is well-formed UTF-8.
bool IsValidUtf8(std::string_view s);

// The top-level tags ScanDataset must keep for ExtractAttributes.
const std::set<TagKey>& IndexedTags();

// Decodes and validates the scanned values: SOP Class and Instance UID must be present
// and valid, and so must Study and Series Instance UID except for objects of
// non-patient storage classes, which belong to no study (kInvalidArgument otherwise); text is converted to UTF-8 from the data
// set's Specific Character Set where possible (see text_not_converted).
Result<InstanceAttributes> ExtractAttributes(const ScanResult& scan);

}  // namespace tresor::dicom
