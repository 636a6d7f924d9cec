// ArchiveService: the composition root of the one core under every protocol adapter.
//
// It owns the four services and hands each only the narrow index interfaces it needs:
//   ingest()  IngestService   store::InstanceIndex, BlobStore
//   catalog() CatalogService  store::InstanceIndex, store::PolicyIndex, BlobStore
//   access()  AccessService   store::AccountIndex, store::PolicyIndex
//   admin()   AdminService    store::PolicyIndex, store::AccountIndex
//   audit()   AuditService    store::AuditIndex (every other service records through it)
// DIMSE, REST and the CLI call through these and only map the results to protocol
// statuses; admission, authorization, scope and validation live in the services so
// that no adapter can skip them. Nothing of store/ is visible through this header.
// Thread-safe: the services are.
#pragma once

#include "archive/access_service.h"
#include "archive/admin_service.h"
#include "archive/audit.h"
#include "archive/catalog_service.h"
#include "archive/ingest_service.h"
#include "archive/options.h"
#include "archive/principal.h"
#include "archive/types.h"
#include "core/clock.h"

namespace tresor::store {
class BlobStore;
class Index;
}  // namespace tresor::store

namespace tresor::archive {

class ArchiveService {
 public:
  // `index`, `blobs` and `clock` (session and token times, the failure back-off, receive
  // times) must outlive the service.
  ArchiveService(store::Index& index, store::BlobStore& blobs, ArchiveOptions options,
                 const core::Clock& clock);
  ~ArchiveService();
  ArchiveService(const ArchiveService&) = delete;
  ArchiveService& operator=(const ArchiveService&) = delete;

  const ArchiveOptions& options() const { return options_; }
  IngestService& ingest() { return ingest_; }
  CatalogService& catalog() { return catalog_; }
  AccessService& access() { return access_; }
  AdminService& admin() { return admin_; }
  AuditService& audit() { return audit_; }

 private:
  const ArchiveOptions options_;
  AuditService audit_;  // declared first: used by all the others
  AccessService access_;
  AdminService admin_;
  CatalogService catalog_;
  IngestService ingest_;  // declared last: destroyed (its queue drained) first
};

}  // namespace tresor::archive
