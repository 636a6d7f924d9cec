// Fuzz target: attribute extraction and character set conversion (dicom/instance.h).
// Input byte 0 picks the mode:
//  - even: the rest is a data set input (fuzz_input.h), scanned for the indexed tags and
//    turned into InstanceAttributes, as every store does;
//  - odd: byte 1 picks a Specific Character Set (declared values as clients send them,
//    ISO 2022 code extensions included), the rest is text decoded with TextDecoder.
// Every text value that comes out must be UTF-8.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>

#include "dicom/dataset_scanner.h"
#include "dicom/instance.h"
#include "fuzz_input.h"

namespace {

const char* const kCharacterSets[] = {
    "", "ISO_IR 100", "ISO_IR 101", "ISO_IR 109", "ISO_IR 110", "ISO_IR 126", "ISO_IR 127",
    "ISO_IR 138", "ISO_IR 144", "ISO_IR 148", "ISO_IR 166", "ISO_IR 13", "ISO_IR 192",
    "GB18030", "GBK", "ISO 2022 IR 6", "ISO 2022 IR 100", "ISO 2022 IR 87",
    "\\ISO 2022 IR 87", "ISO 2022 IR 13\\ISO 2022 IR 87", "\\ISO 2022 IR 149",
    "\\ISO 2022 IR 58", "ISO 2022 IR 6\\ISO 2022 IR 126", "ISO_IR 100\\ISO_IR 192",
    "NOT A CHARSET", "ISO 2022 IR 166\\ISO 2022 IR 87\\ISO 2022 IR 159"};

void CheckUtf8(const tresor::dicom::InstanceAttributes& a) {
  using tresor::dicom::IsValidUtf8;
  for (const std::string* s :
       {&a.patient_name, &a.patient_id, &a.issuer_of_patient_id, &a.patient_birth_date,
        &a.patient_sex, &a.study_instance_uid, &a.study_date, &a.study_time,
        &a.accession_number, &a.study_id, &a.study_description, &a.referring_physician_name,
        &a.institution_name, &a.series_instance_uid, &a.modality, &a.series_number,
        &a.series_description, &a.body_part_examined, &a.sop_class_uid, &a.sop_instance_uid,
        &a.instance_number}) {
    TRESOR_FUZZ_CHECK(IsValidUtf8(*s));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tresor;
  if (size < 2) return 0;
  if (data[0] % 2 == 1) {
    std::string charset =
        dicom::NormalizeCharacterSet(kCharacterSets[data[1] % std::size(kCharacterSets)]);
    dicom::TextDecoder decoder(charset);
    std::string_view text(reinterpret_cast<const char*>(data) + 2, size - 2);
    // Two values through one decoder, as a data set's values go.
    size_t half = text.size() / 2;
    for (std::string_view value : {text.substr(0, half), text.substr(half)}) {
      std::string out;
      decoder.Decode(value, (data[0] & 2) ? "\\^=" : "\\", &out);
      TRESOR_FUZZ_CHECK(dicom::IsValidUtf8(out));
    }
    return 0;
  }
  fuzz::DataSetInput input;
  if (!fuzz::SplitDataSetInput(data + 1, size - 1, &input)) return 0;
  dicom::MemoryReader reader(input.dataset.data(), input.dataset.size());
  dicom::ScanLimits limits;
  limits.max_bytes = 8u << 20;
  auto scan = dicom::ScanDataset(reader, input.encoding, limits, dicom::IndexedTags());
  if (!scan.ok()) return 0;
  auto attributes = dicom::ExtractAttributes(*scan);
  if (attributes.ok()) CheckUtf8(*attributes);
  return 0;
}
