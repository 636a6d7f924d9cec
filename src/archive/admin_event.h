// The one record of every administrative change (peers, users, groups, API tokens),
// internal to archive/. Each change calls RecordAdminChange exactly once, after it has
// succeeded, so the audit trail has one place per change to hook into.
#pragma once

#include <string>

#include "archive/principal.h"

namespace tresor::archive {

// Logs "security event: administration by <who>: <change>". `change` names what changed
// (user, peer, rule, token names and settings), never a password, a token or patient data.
void RecordAdminChange(const Principal& who, const std::string& change);

}  // namespace tresor::archive
