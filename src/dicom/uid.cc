#include "dicom/uid.h"

namespace tresor::dicom {

bool IsValidUid(std::string_view uid) {
  if (uid.empty() || uid.size() > 64) return false;
  size_t component_start = 0;
  for (size_t i = 0; i <= uid.size(); ++i) {
    if (i == uid.size() || uid[i] == '.') {
      size_t len = i - component_start;
      if (len == 0) return false;
      if (len > 1 && uid[component_start] == '0') return false;
      component_start = i + 1;
    } else if (uid[i] < '0' || uid[i] > '9') {
      return false;
    }
  }
  return true;
}

}  // namespace tresor::dicom
