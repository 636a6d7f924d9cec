// Lowercase hexadecimal encoding of bytes.
#pragma once

#include <cstddef>
#include <string>

namespace tresor {

// Two lowercase hex digits per byte of `data`.
inline std::string HexEncode(const void* data, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  const auto* p = static_cast<const unsigned char*>(data);
  std::string hex;
  hex.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    hex.push_back(kDigits[p[i] >> 4]);
    hex.push_back(kDigits[p[i] & 15]);
  }
  return hex;
}

}  // namespace tresor
