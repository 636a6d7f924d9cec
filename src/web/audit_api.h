// GET /api/audit: the audit trail for auditors and admins (the console's auditor page).
//   ?from=&to=    time, inclusive (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ UTC, or epoch seconds;
//                 a date alone for `to` means the whole day)
//   &user=        user name, AE title or peer name
//   &patient_id=  &study=  &event= (CID 400 code or name, archive::ParseAuditEvent)
//   &limit= (default 100, at most 1000) &offset=
// -> 200 {"records":[archive::ToAuditJson objects, ascending by seq],"more":bool};
// 403 for other roles; 400 naming a bad parameter. Reading is itself recorded (Audit Log
// Used) by archive::AuditService::List.
#pragma once

#include "archive/archive_service.h"
#include "web/router.h"

namespace tresor::web {

void AddAuditRoutes(Router& router, archive::ArchiveService& archive);

}  // namespace tresor::web
