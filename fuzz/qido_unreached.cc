// Link-only definitions for the libFuzzer build of the qido target: qido.cc also holds the
// QIDO-RS routes (AddQidoRoutes), which call web/'s router and the archive. The target
// never calls them, but clang's coverage instrumentation keeps their code in the binary,
// so the symbols must resolve. Building web/ and archive/ (and store/ beneath it) for one
// target would double `make fuzz`'s build; these abort instead, should anything call them.
// The gcc replay build drops the unused code (--gc-sections) and does not compile this.
#include <cstdlib>

#include "archive/catalog_service.h"
#include "web/router.h"

namespace tresor {

web::Route web::Route::Authenticated(std::string, std::string, std::string,
                                           AuthenticatedHandler) {
  std::abort();
}
void web::Router::Add(Route) { std::abort(); }
Result<archive::FindResult> archive::CatalogService::Find(const Principal&, dicom::Query) {
  std::abort();
}

}  // namespace tresor
