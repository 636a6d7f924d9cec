#include "dicom/dictionary.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dctag.h>

namespace tresor::dicom {

Status CheckDictionaryLoaded() {
  if (!dcmDataDict.isDictionaryLoaded()) {
    return Unavailable(
        "the DICOM data dictionary is not loaded (install Debian's 'dcmtk' package or set "
        "DCMDICTPATH)");
  }
  return Status::Ok();
}

bool IsSequenceTag(uint32_t tag) {
  DcmTag t(static_cast<Uint16>(tag >> 16), static_cast<Uint16>(tag & 0xFFFF));
  return t.getEVR() == EVR_SQ;
}

}  // namespace tresor::dicom
