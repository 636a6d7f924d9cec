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

const char* ImplicitVr(uint32_t tag, bool signed_pixels) {
  const auto group = static_cast<Uint16>(tag >> 16);
  const auto element = static_cast<Uint16>(tag & 0xFFFF);
  if ((group & 1) && element >= 0x0010 && element <= 0x00FF) return "LO";  // private creator
  DcmTag t(group, element);
  switch (t.getEVR()) {
    case EVR_xs:
      return signed_pixels ? "SS" : "US";
    case EVR_lt:
    case EVR_ox:
    case EVR_px:
      return "OW";
    case EVR_up:
      return "UL";
    case EVR_UNKNOWN:
    case EVR_UNKNOWN2B:
    case EVR_na:
      return "UN";
    default:
      break;
  }
  const char* name = DcmVR(t.getEVR()).getValidVRName();
  if (name == nullptr || name[0] < 'A' || name[0] > 'Z' || name[1] < 'A' || name[1] > 'Z' ||
      name[2] != '\0') {
    return "UN";
  }
  return name;
}

}  // namespace tresor::dicom
