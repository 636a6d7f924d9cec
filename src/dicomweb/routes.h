// The route groups AddDicomWebRoutes composes; one file each.
#pragma once

#include "dicomweb/dicomweb.h"

namespace tresor::dicomweb {

// The path prefix of every DICOMweb route.
inline constexpr char kRoot[] = "/dicom-web";

void AddQidoRoutes(web::Router& router, archive::ArchiveService& archive,
                   const DicomWebOptions& options);      // qido.cc
void AddRetrieveRoutes(web::Router& router, archive::ArchiveService& archive,
                       const DicomWebOptions& options);  // retrieve.cc: instances, frames
void AddMetadataRoutes(web::Router& router, archive::ArchiveService& archive,
                       const DicomWebOptions& options);  // metadata.cc: metadata, bulkdata
void AddRenderedRoutes(web::Router& router, archive::ArchiveService& archive,
                       const DicomWebOptions& options);  // rendered.cc: rendered, thumbnail,
                                                         // WADO-URI (wado_uri.cc)
void AddStowRoutes(web::Router& router, archive::ArchiveService& archive,
                   const DicomWebOptions& options);      // stow.cc

}  // namespace tresor::dicomweb
