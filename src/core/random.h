// Cryptographically secure random bytes from the kernel.
#pragma once

#include <cstddef>
#include <string>

namespace tresor {

// Fills `out` with `n` random bytes; aborts if the kernel cannot provide them.
void RandomBytes(void* out, size_t n);
// `n` random bytes as 2n lowercase hex digits.
std::string RandomHex(size_t n);

}  // namespace tresor
