// DICOMweb (PS3.18) under /dicom-web: QIDO-RS, WADO-RS, WADO-URI and STOW-RS, as thin
// adapters over the archive's services. Every route is authenticated by the router's one
// step and every read and store goes through the same core (and so the same grants and
// per-study scope) as DIMSE.
#pragma once

#include <cstddef>
#include <cstdint>

#include "archive/archive_service.h"
#include "web/router.h"

namespace tresor::dicomweb {

struct DicomWebOptions {
  size_t qido_default_limit = 1000;   // matches per QIDO response without `limit`
  size_t qido_max_limit = 10000;      // the largest `limit` honoured
  uint64_t max_upload_bytes = uint64_t{64} << 30;  // one STOW-RS request body
  int max_concurrent_renders = 2;     // rendered/thumbnail decodes at once
  uint64_t max_render_pixels = uint64_t{64} << 20;  // decoded samples of one render
};

// Adds every DICOMweb route to `router`. `archive` must outlive the router.
void AddDicomWebRoutes(web::Router& router, archive::ArchiveService& archive,
                       const DicomWebOptions& options);

}  // namespace tresor::dicomweb
