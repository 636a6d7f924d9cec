#include "core/clock.h"

#include <chrono>
#include <ctime>

namespace tresor::core {

int64_t SystemClock::WallSeconds() const { return static_cast<int64_t>(std::time(nullptr)); }

int64_t SystemClock::WallMillis() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const SystemClock& SystemClock::Instance() {
  static const SystemClock* clock = new SystemClock();
  return *clock;
}

}  // namespace tresor::core
