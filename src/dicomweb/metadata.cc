#include "dicomweb/routes.h"

namespace tresor::dicomweb {

void AddMetadataRoutes(web::Router&, archive::ArchiveService&, const DicomWebOptions&) {}

}  // namespace tresor::dicomweb
