#include "archive/archive_service.h"

#include "store/index.h"

namespace tresor::archive {

ArchiveService::ArchiveService(store::Index& index, store::BlobStore& blobs, ArchiveOptions options,
                               const core::Clock& clock)
    : options_(std::move(options)),
      access_(index, index, options_, clock),
      admin_(index, index),
      catalog_(index, index, blobs, options_),
      ingest_(index, blobs, options_, clock) {}

ArchiveService::~ArchiveService() = default;

}  // namespace tresor::archive
