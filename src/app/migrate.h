// The copier behind `tresor migrate`: one archive's index and blobs into another's,
// through the store interfaces only (store::Index, store::BlobStore), so any backend pair
// works (SQLite + local files into PostgreSQL + S3, or into another SQLite data directory).
//
// What is copied, in this order (each step may be repeated: a run interrupted anywhere
// is finished by running it again, without duplicates):
//   1. users (with their password hashes), API tokens (hashes), peers;
//   2. instances: each blob is read from the source store (decrypted in memory), written
//      to the target store (sealed there under the target's keys), made durable, then
//      indexed with every value the source index holds (ExportInstances): patient, study
//      and series attributes, provenance (calling AE, peer, receive time), the WADO-RS
//      metadata document and frame layout. An instance already in the target with the
//      same content is skipped; with other content the copy stops (kConflict);
//   3. study group memberships, then group rules; memberships a rule adds on the target
//      that the source does not have (removed there by hand) are taken out again, so each
//      study ends with exactly the source's groups;
//   4. the audit trail with its seq, hashes and signed checkpoints (ImportAuditTrail: one
//      transaction into an empty trail; a target whose trail already holds the source's
//      head record at the same seq was imported before), and the forwarding cursors.
// Not copied: sessions (everyone signs in again) and failure counters.
//
// The source is only read. The caller opens it so that nothing of it changes (see
// migrate_commands.cc), and must keep other writers off both archives.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/status.h"
#include "store/blob_store.h"
#include "store/index.h"

namespace tresor::app {

struct MigrationReport {
  uint64_t instances = 0;         // instances in the source
  uint64_t instances_copied = 0;  // copied by this run
  uint64_t instances_present = 0;  // already in the target (an earlier run)
  uint64_t bytes_copied = 0;      // plaintext bytes of the blobs copied by this run
  uint64_t users = 0, api_tokens = 0, peers = 0, group_rules = 0, study_groups = 0;
  uint64_t audit_records = 0, audit_checkpoints = 0, forward_cursors = 0;
  bool audit_imported = false;  // false: the target had the trail from an earlier run
};

// Called as work proceeds: `phase` ("instances"), done and total so far.
using MigrationProgress = std::function<void(const char* phase, uint64_t done, uint64_t total)>;

// Copies everything listed above from (source_index, source_blobs) to (target_index,
// target_blobs). The target's crash recovery (IngestService::Recover) must have run
// before, so no unconfirmed rows or staged blobs of an interrupted run are left.
// Errors: kConflict when the source has unconfirmed instances (not stopped cleanly), or
// the target holds other content under a source UID, another API token under a source
// token's name or hash, or another audit trail; kDataLoss when a source blob fails its
// integrity check (named by SOP Instance UID); the stores' errors otherwise (kIoError,
// kUnavailable...). What was copied before an error stays; a rerun goes on from there.
Result<MigrationReport> CopyArchive(store::Index& source_index, store::BlobStore& source_blobs,
                                    store::Index& target_index, store::BlobStore& target_blobs,
                                    const MigrationProgress& progress);

}  // namespace tresor::app
