#include "dimse/identifier.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcelem.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <algorithm>

#include "dicom/byte_reader.h"
#include "dicom/dataset_scanner.h"
#include "dicom/instance.h"
#include "dicom/part10.h"
#include "dicom/transfer_syntax.h"

namespace tresor::dimse {

Status DecodeIdentifier(const std::string& bytes, const char* transfer_syntax_uid,
                        size_t max_bytes, std::unique_ptr<DcmDataset>* out) {
  dicom::Encoding encoding;
  if (!dicom::EncodingOf(transfer_syntax_uid, &encoding)) {
    return Unsupported("transfer syntax not supported for identifiers");
  }
  dicom::MemoryReader reader(bytes.data(), bytes.size());
  dicom::ScanLimits limits;
  limits.max_bytes = max_bytes;
  auto scan = dicom::ScanDataset(reader, encoding, limits, {});
  if (!scan.ok()) return InvalidArgument("malformed identifier: " + scan.status().message());
  auto dataset = std::make_unique<DcmDataset>();
  DcmInputBufferStream stream;
  stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  stream.setEos();
  E_TransferSyntax xfer = DcmXfer(transfer_syntax_uid).getXfer();
  dataset->transferInit();
  OFCondition cond = dataset->read(stream, xfer, EGL_noChange, static_cast<Uint32>(max_bytes));
  dataset->transferEnd();
  if (cond.bad()) {
    return InvalidArgument(std::string("identifier cannot be parsed: ") + cond.text());
  }
  *out = std::move(dataset);
  return Status::Ok();
}

void NormalizeIdentifierCharacterSet(DcmDataset& id) {
  OFString value;
  if (id.findAndGetOFStringArray(DCM_SpecificCharacterSet, value).good()) {
    std::string normalized = dicom::NormalizeCharacterSet(std::string(value.c_str()));
    if (normalized != value.c_str()) {
      id.putAndInsertString(DCM_SpecificCharacterSet, normalized.c_str());
    }
  }
}

std::vector<dicom::TagKey> UniqueKeys(dicom::QueryLevel level, bool patient_root) {
  std::vector<dicom::TagKey> keys;
  if (patient_root) keys.push_back(dicom::MakeTag(0x0010, 0x0020));
  if (level >= dicom::QueryLevel::kStudy) keys.push_back(dicom::MakeTag(0x0020, 0x000D));
  if (level >= dicom::QueryLevel::kSeries) keys.push_back(dicom::MakeTag(0x0020, 0x000E));
  if (level >= dicom::QueryLevel::kImage) keys.push_back(dicom::MakeTag(0x0008, 0x0018));
  return keys;
}

Status ParseIdentifier(DcmDataset& id, bool patient_root, dicom::Query* query,
                       std::vector<DcmTagKey>* requested) {
  OFString level;
  if (id.findAndGetOFString(DCM_QueryRetrieveLevel, level).bad()) {
    return InvalidArgument("Query/Retrieve Level (0008,0052) is missing");
  }
  if (level == "PATIENT" && patient_root) query->level = dicom::QueryLevel::kPatient;
  else if (level == "STUDY") query->level = dicom::QueryLevel::kStudy;
  else if (level == "SERIES") query->level = dicom::QueryLevel::kSeries;
  else if (level == "IMAGE") query->level = dicom::QueryLevel::kImage;
  else return InvalidArgument("Query/Retrieve Level '" + std::string(level.c_str()) + "' is not valid here");
  query->patient_root = patient_root;
  for (unsigned long i = 0; i < id.card(); ++i) {
    DcmElement* e = id.getElement(i);
    DcmTagKey key = e->getTag().getXTag();
    if (key == DCM_SpecificCharacterSet || key == DCM_QueryRetrieveLevel) continue;
    requested->push_back(key);
    dicom::TagKey tag = dicom::MakeTag(key.getGroup(), key.getElement());
    const dicom::QueryAttribute* attribute = dicom::FindQueryAttribute(tag);
    if (!attribute) continue;  // returned empty: the index does not hold it
    query->return_tags.push_back(tag);
    if (e->ident() == EVR_SQ) continue;
    OFString value;
    e->getOFStringArray(value);
    // Padding is insignificant for matching.
    std::string v = dicom::TrimPadding(std::string(value.c_str(), value.size()));
    TRESOR_ASSIGN_OR_RETURN(dicom::ParsedKey parsed, dicom::ParseMatchingKey(*attribute, v));
    if (parsed.matches) query->conditions.push_back(parsed.condition);
  }
  for (dicom::TagKey key : UniqueKeys(query->level, patient_root)) {
    if (std::find(query->return_tags.begin(), query->return_tags.end(), key) ==
        query->return_tags.end()) {
      query->return_tags.push_back(key);
      requested->push_back(DcmTagKey(static_cast<Uint16>(key >> 16), static_cast<Uint16>(key & 0xFFFF)));
    }
  }
  return Status::Ok();
}

}  // namespace tresor::dimse
