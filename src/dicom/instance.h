// The attributes of one instance that the index keeps (for C-FIND, QIDO-RS, access
// rules and statistics), taken from a bounded scan of its data set.
#pragma once

#include <set>
#include <string>

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
};

// The top-level tags ScanDataset must keep for ExtractAttributes.
const std::set<TagKey>& IndexedTags();

// Decodes and validates the scanned values: the four identifying UIDs must be present
// and valid (kInvalidArgument otherwise); text is converted to UTF-8 from the data
// set's Specific Character Set (kUnsupported if the character set cannot be converted).
Result<InstanceAttributes> ExtractAttributes(const ScanResult& scan);

}  // namespace tresor::dicom
