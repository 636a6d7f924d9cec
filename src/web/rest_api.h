// The REST routes of Tresor's HTTPS API over one ArchiveService:
//   GET  /api/health        public   liveness and version, no patient data
//   GET  /api/openapi.json  public   the OpenAPI document of the route table
//   POST /auth/token        public   password sign-in -> bearer session token
//   POST /auth/session      public   browser sign-in: the same session token in the
//                                    cookie tresor_session (Secure, HttpOnly,
//                                    SameSite=Strict, Max-Age = sessions.max_minutes)
//                                    and {"csrf_token", "user", "role", ...}
//   GET  /auth/session      auth     {"user", "role"} and, for the cookie, "csrf_token"
//   POST /auth/logout       auth     ends the session; clears the cookie (Max-Age=0)
//   GET  /api/studies/{study} auth   one study within the caller's scope
//   GET  /api/stats         auth     what the archive holds (counts)
//   /api/users, /api/peers, /api/groups, /api/rules, /api/tokens   admin (web/admin_api.h)
// Every authenticated route goes through the router's one authentication step (bearer,
// or the cookie plus X-CSRF-Token on state-changing methods), which calls
// ArchiveService::Authenticate.
#pragma once

#include <memory>

#include "archive/archive_service.h"
#include "web/router.h"

namespace tresor::web {

// The router with every route; `archive` must outlive it.
std::unique_ptr<Router> MakeRestRouter(archive::ArchiveService& archive);

// The version Tresor reports (the CMake project version).
const char* TresorVersion();

}  // namespace tresor::web
