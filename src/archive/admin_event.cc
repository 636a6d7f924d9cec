#include "archive/admin_event.h"

#include "core/log.h"

namespace tresor::archive {

void RecordAdminChange(const Principal& who, const std::string& change) {
  // Audit hook: every administrative change passes here once.
  TRESOR_LOG(kInfo) << "security event: administration by " << who.Describe() << ": " << change;
}

}  // namespace tresor::archive
