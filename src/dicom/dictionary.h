// Facts from the DICOM data dictionary (DCMTK's, loaded at start-up).
#pragma once

#include <cstdint>

#include "core/status.h"

namespace tresor::dicom {

// Fails with a clear message if DCMTK's data dictionary could not be loaded (the
// `dcmtk` data files are missing); every DICOM operation depends on it.
Status CheckDictionaryLoaded();

// True if the dictionary defines (group << 16 | element) with VR SQ.
bool IsSequenceTag(uint32_t tag);

// The VR the dictionary gives (group << 16 | element), for implicit VR data: "UN" when the
// tag is unknown (private data elements included; private creators are "LO"). Where the
// dictionary allows several, "US or SS" follows `signed_pixels` (Pixel Representation 1),
// "OB or OW" is "OW".
const char* ImplicitVr(uint32_t tag, bool signed_pixels);

}  // namespace tresor::dicom
