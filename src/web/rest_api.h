// The REST routes of Tresor's HTTPS API over one ArchiveService:
//   GET  /api/health        public   liveness and version, no patient data
//   GET  /api/openapi.json  public   the OpenAPI document of the route table
//   POST /auth/token        public   password sign-in -> bearer session token
//   GET  /api/stats         bearer   what the archive holds (counts)
// Every authenticated route goes through the router's one authentication step, which
// calls ArchiveService::Authenticate.
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
