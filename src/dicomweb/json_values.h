// DICOM JSON (PS3.18 F.2) of the values the index holds, written straight into a string:
// QIDO-RS answers with thousands of these objects and builds no JSON tree for them.
//
// Index values are UTF-8 text, several values separated by backslashes (as in a data
// set). Writing never fails: invalid UTF-8 is replaced by U+FFFD.
#pragma once

#include <string>
#include <string_view>

#include "dicom/dataset_scanner.h"

namespace tresor::dicomweb {

// Appends `text` as a JSON string (quoted, escaped; invalid UTF-8 replaced by U+FFFD).
void AppendJsonString(std::string& out, std::string_view text);

// Appends one attribute member, `"GGGGEEEE":{"vr":"XX","Value":[...]}`, for the index value
// `value` with value representation `vr`:
//  - an empty value has no "Value" (`{"vr":"PN"}`); an empty value among several is null;
//  - PN values are objects with the non-empty component groups of "Alphabetic=Ideographic=
//    Phonetic" (a value without any is null);
//  - IS and DS values are JSON numbers when they parse as such (IS: a decimal integer, DS:
//    a decimal number), else strings, so nothing the index holds is lost (F.2.3 wants
//    numbers; a malformed stored value is returned as it is);
//  - everything else (UI, DA, TM, CS, SH, LO, ...) is strings.
void AppendJsonAttribute(std::string& out, dicom::TagKey tag, std::string_view vr,
                         std::string_view value);

}  // namespace tresor::dicomweb
