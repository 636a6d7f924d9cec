// The administration routes of the REST API (the console's admin pages), JSON in and out:
//   GET    /api/users            users: [{"name","role","disabled","groups"}]
//   POST   /api/users            create {"name","role","password","groups"} -> 201 user
//   PATCH  /api/users/{name}     any of {"disabled","password","groups","role"} -> 200 user
//   GET    /api/peers            peers: [{"name","ae_title","host","port","services",
//                                "certificate_sha256","tls","require_identity","groups"}]
//   POST   /api/peers            register a peer -> 201 peer (409 when the name is taken)
//   DELETE /api/peers/{name}     -> 204 (404 unknown)
//   GET    /api/groups           [{"name","studies"}]
//   GET    /api/rules            [{"group","kind","value"}]
//   POST   /api/rules            add a rule -> 201 {"rule","studies_added"}
//   POST   /api/rules/remove     remove a rule -> 200 {"rule"} (404 unknown)
//   GET    /api/tokens           [{"name","user","expires_at"}] (never the token)
//   POST   /api/tokens           {"name","user","days"} -> 201 {..., "token"} (shown once)
//   DELETE /api/tokens/{name}    revoke -> 204 (404 unknown)
// Every route is authenticated by the router and decided by archive::RequireAdmin: the
// local administrator or an admin-role user; everyone else gets 403 before the body is
// looked at. Bodies are strict: a JSON object, application/json, no unknown field (400
// naming it), every field of its JSON type (400 naming it). Passwords and tokens are never
// echoed or logged; each change is recorded by the archive (a security event).
#pragma once

#include "archive/archive_service.h"
#include "web/router.h"

namespace tresor::web {

// Adds the administration routes to `router`; `archive` must outlive it.
void AddAdminRoutes(Router& router, archive::ArchiveService& archive);

}  // namespace tresor::web
