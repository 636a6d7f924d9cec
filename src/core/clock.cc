#include "core/clock.h"

#include <ctime>

namespace tresor::core {

int64_t SystemClock::WallSeconds() const { return static_cast<int64_t>(std::time(nullptr)); }

const SystemClock& SystemClock::Instance() {
  static const SystemClock* clock = new SystemClock();
  return *clock;
}

}  // namespace tresor::core
