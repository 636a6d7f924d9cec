// Query identifiers of C-FIND, C-MOVE and C-GET: from the received bytes to a
// dicom::Query. Pure (no network, no archive), so that every step can be tested and
// fuzzed on its own; AssociationHandler receives the bytes and calls these in order:
// DecodeIdentifier, NormalizeIdentifierCharacterSet, DcmDataset::convertToUTF8,
// ParseIdentifier.
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "dicom/query.h"

namespace tresor::dimse {

// Checks `bytes` (a data set without file meta, encoded in `transfer_syntax_uid`) with the
// bounded scanner (at most `max_bytes`) and only then lets DCMTK parse it into `*out`.
// kUnsupported for a transfer syntax Tresor does not accept, kInvalidArgument for a data
// set the scanner or DCMTK refuses.
Status DecodeIdentifier(const std::string& bytes, const char* transfer_syntax_uid,
                        size_t max_bytes, std::unique_ptr<DcmDataset>* out);

// Rewrites a single-valued "ISO 2022 IR 100"-style Specific Character Set to its
// ISO_IR form, which DCMTK's converter accepts.
void NormalizeIdentifierCharacterSet(DcmDataset& id);

// The unique keys returned at `level` and above (PS3.4 C.4.1.2), highest level first.
std::vector<dicom::TagKey> UniqueKeys(dicom::QueryLevel level, bool patient_root);

// Turns an identifier (already UTF-8) into a query. `requested` receives every top-level
// tag of the identifier, in order, for the responses, followed by the unique keys it
// lacks. kInvalidArgument for a missing or invalid level or a key that cannot be matched.
Status ParseIdentifier(DcmDataset& id, bool patient_root, dicom::Query* query,
                       std::vector<DcmTagKey>* requested);

}  // namespace tresor::dimse
