#include "dicomweb/routes.h"

namespace tresor::dicomweb {

void AddRetrieveRoutes(web::Router&, archive::ArchiveService&, const DicomWebOptions&) {}

}  // namespace tresor::dicomweb
