// Fuzz target: a C-FIND identifier from its received bytes to a dicom::Query, the steps
// AssociationHandler takes (dimse/identifier.h): the bounded scan, DCMTK's parse, the
// character set normalization and conversion to UTF-8, ParseIdentifier.
// Input: byte 0 picks the query model (bit 0: patient root) and the transfer syntax of the
// presentation context (bits 1-2), the rest is the identifier.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dicom/query.h"
#include "dicom/transfer_syntax.h"
#include "dimse/identifier.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tresor;
  if (size < 1) return 0;
  static const char* const kSyntaxes[4] = {
      dicom::kImplicitVRLittleEndian, dicom::kExplicitVRLittleEndian,
      dicom::kExplicitVRBigEndian, dicom::kDeflatedExplicitVRLittleEndian};
  const bool patient_root = (data[0] & 1) != 0;
  const char* syntax = kSyntaxes[(data[0] >> 1) % 4];
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::unique_ptr<DcmDataset> identifier;
  Status decoded = dimse::DecodeIdentifier(bytes, syntax, 64 * 1024, &identifier);
  if (!decoded.ok()) return 0;
  TRESOR_FUZZ_CHECK(identifier != nullptr);
  dimse::NormalizeIdentifierCharacterSet(*identifier);
  if (identifier->convertToUTF8().bad()) return 0;
  dicom::Query query;
  std::vector<DcmTagKey> requested;
  Status parsed = dimse::ParseIdentifier(*identifier, patient_root, &query, &requested);
  if (!parsed.ok()) return 0;
  // Every unique key of the level is returned.
  for (dicom::TagKey key : dimse::UniqueKeys(query.level, patient_root)) {
    TRESOR_FUZZ_CHECK(std::find(query.return_tags.begin(), query.return_tags.end(), key) !=
                      query.return_tags.end());
  }
  for (const dicom::Condition& c : query.conditions) TRESOR_FUZZ_CHECK(c.attribute != nullptr);
  return 0;
}
