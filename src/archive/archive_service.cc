#include "archive/archive_service.h"

#include "store/index.h"

namespace tresor::archive {

ArchiveService::ArchiveService(store::Index& index, store::BlobStore& blobs, ArchiveOptions options,
                               const core::Clock& clock)
    : options_(std::move(options)),
      audit_(index, options_, clock),
      access_(index, index, options_, clock, audit_),
      admin_(index, index, audit_),
      catalog_(index, index, blobs, options_, audit_),
      ingest_(index, blobs, options_, clock, audit_) {}

ArchiveService::~ArchiveService() = default;

}  // namespace tresor::archive
