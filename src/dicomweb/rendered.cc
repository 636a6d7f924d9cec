#include "dicomweb/routes.h"

namespace tresor::dicomweb {

void AddRenderedRoutes(web::Router&, archive::ArchiveService&, const DicomWebOptions&) {}

}  // namespace tresor::dicomweb
