// Byte-level encoding of DIMSE command sets (PS3.7 6.3, 9.3, E.1): implicit VR little
// endian elements of group 0000 preceded by their group length. Shared by the encoders
// that write commands without building a DCMTK data set (C-STORE-RQ of outbound
// transfers, C-FIND-RSP). DCMTK-free.
#pragma once

#include <cstdint>
#include <string>

namespace tresor::dimse::bytes {

inline void PutU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v & 0xFF));
  out.push_back(static_cast<char>(v >> 8));
}
inline void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
// A US value's two bytes.
inline std::string U16Value(uint16_t v) {
  std::string s;
  PutU16(s, v);
  return s;
}
// One command element (0000,element); an odd-length value is padded to even length with
// a space when it is text, else with NUL (UIDs, binary values).
inline void PutCommand(std::string& out, uint16_t element, std::string value, bool is_text) {
  if (value.size() % 2) value.push_back(is_text ? ' ' : '\0');
  PutU16(out, 0x0000);
  PutU16(out, element);
  PutU32(out, static_cast<uint32_t>(value.size()));
  out += value;
}
// The command set: (0000,0000) CommandGroupLength, then `elements` (in tag order).
inline std::string CommandSet(const std::string& elements) {
  std::string command;
  PutU16(command, 0x0000);
  PutU16(command, 0x0000);
  PutU32(command, 4);
  PutU32(command, static_cast<uint32_t>(elements.size()));
  return command + elements;
}

}  // namespace tresor::dimse::bytes
