#include "dicomweb/routes.h"

namespace tresor::dicomweb {

void AddQidoRoutes(web::Router&, archive::ArchiveService&, const DicomWebOptions&) {}

}  // namespace tresor::dicomweb
