// Fuzz target: the upper-layer byte stream an association receives, through PduGuard
// (dimse/pdu_guard.h), split into reads of varying sizes as a socket delivers them.
// Input: byte 0 picks the announced maximum P-DATA length, byte 1 seeds the read sizes,
// the rest is the stream.
#include <cstddef>
#include <cstdint>

#include "dimse/pdu_guard.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static const uint32_t kMaxPdata[4] = {0, 16, 16384, 131072};
  tresor::dimse::PduGuard guard(kMaxPdata[data[0] % 4]);
  uint32_t seed = data[1] | 1u;
  data += 2;
  size -= 2;
  bool ok = true;
  while (size > 0) {
    seed = seed * 1103515245u + 12345u;
    size_t n = 1 + (seed >> 16) % 4096;
    if (n > size) n = size;
    ok = guard.Feed(data, n);
    if (!ok) break;
    data += n;
    size -= n;
  }
  if (!ok) {
    // A refused stream stays refused and says why.
    TRESOR_FUZZ_CHECK(!guard.error().empty());
    uint8_t more = 0;
    TRESOR_FUZZ_CHECK(!guard.Feed(&more, 1));
  } else {
    TRESOR_FUZZ_CHECK(guard.error().empty());
  }
  return 0;
}
