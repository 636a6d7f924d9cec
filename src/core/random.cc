#include "core/random.h"

#include "core/hex.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>

namespace tresor {

void RandomBytes(void* out, size_t n) {
  auto* p = static_cast<unsigned char*>(out);
  while (n > 0) {
    ssize_t got = getrandom(p, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      std::abort();  // no entropy source: nothing secure can be done
    }
    p += got;
    n -= static_cast<size_t>(got);
  }
}

std::string RandomHex(size_t n) {
  std::string bytes(n, '\0');
  RandomBytes(bytes.data(), n);
  return HexEncode(bytes.data(), n);
}

}  // namespace tresor
