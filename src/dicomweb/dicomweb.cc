#include "dicomweb/dicomweb.h"

#include "dicomweb/routes.h"

namespace tresor::dicomweb {

void AddDicomWebRoutes(web::Router& router, archive::ArchiveService& archive,
                       const DicomWebOptions& options) {
  AddQidoRoutes(router, archive, options);
  AddRetrieveRoutes(router, archive, options);
  AddMetadataRoutes(router, archive, options);
  AddRenderedRoutes(router, archive, options);
  AddStowRoutes(router, archive, options);
}

}  // namespace tresor::dicomweb
