// DICOM UID validation (PS3.5 9.1).
#pragma once

#include <string_view>

namespace tresor::dicom {

// True if `uid` is a valid DICOM UID: 1..64 characters, components of digits separated
// by single dots, no leading zero in a multi-digit component, no empty component.
// Anything else ("../x", "/abs", NUL bytes, letters, trailing dot) is refused.
bool IsValidUid(std::string_view uid);

}  // namespace tresor::dicom
