#include "dicomweb/routes.h"

namespace tresor::dicomweb {

void AddStowRoutes(web::Router&, archive::ArchiveService&, const DicomWebOptions&) {}

}  // namespace tresor::dicomweb
