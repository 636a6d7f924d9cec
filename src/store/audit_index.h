// store::AuditIndex: the append-only audit trail (records hash-chained, signed
// checkpoints of the head).
//
// The store assigns seq and extends the chain (security/audit_chain.h) inside the write
// transaction that appends, so concurrent writers -- threads here, or several nodes
// sharing one database -- always extend one chain: the head is read and the next
// records written under the database's write lock. Records are never updated or deleted
// through this interface. Every method is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace tresor::store {

// One record to append: its time, its canonical body (opaque here) and the values the
// trail is filtered by, derived from the body by the caller. The list columns hold each
// value between newlines ("\nA\nB\n"; "" for none) so a filter matches whole values.
struct AuditEntry {
  int64_t time = 0;  // seconds since the epoch
  std::string event_id;
  std::string actors;       // user names, AE titles, peer names
  std::string patient_ids;  // PHI: only in the index, never in logs
  std::string study_uids;
  std::string body;
};

// A stored record.
struct AuditRow {
  int64_t seq = 0;
  AuditEntry entry;
  std::string prev_hash;  // hex
  std::string hash;       // hex
};

// Which records ListAudit returns (every field optional), ascending by seq.
struct AuditFilter {
  std::optional<int64_t> from_time, to_time;  // inclusive
  std::string event_id;
  std::string actor;
  std::string patient_id;
  std::string study_uid;
  size_t limit = 100;
  size_t offset = 0;
};

// A signed head of the chain.
struct AuditCheckpointRecord {
  int64_t seq = 0;
  std::string hash;  // hex, the hash of record `seq`
  int64_t time = 0;
  std::string public_key;  // hex Ed25519 public key
  std::string signature;   // hex
};

// Builds the audit entries of a group commit once its outcomes are known (one per
// record, in order); they are appended in the same transaction.
template <typename Outcome>
using AuditBuilder = std::function<std::vector<AuditEntry>(const std::vector<Outcome>&)>;

class AuditIndex {
 public:
  virtual ~AuditIndex() = default;

  // Appends `entries` in one transaction, in order (nothing if it fails). On return the
  // records are committed (every later read, on any node, sees them) and survive a crash
  // of this process. They are durable against a crash of the machine (or of the database
  // server) once a later synced commit has been made, or after the backend's own flush
  // interval: for SQLite under kFilesystem the next group commit's filesystem sync or
  // checkpoint (until then the operating system's write-back), at once under kFull; for
  // PostgreSQL its WAL writer, within a few wal_writer_delay (200 ms by default).
  // Records written with a store (AddInstances) are as durable as the store.
  virtual Status AppendAudit(const std::vector<AuditEntry>& entries) = 0;
  // At most filter.limit + 1 matching records (one more tells that more exist).
  virtual Result<std::vector<AuditRow>> ListAudit(const AuditFilter& filter) = 0;
  // Up to `max` records with seq > `after_seq`, ascending (verification reads the whole
  // chain in such pages).
  virtual Result<std::vector<AuditRow>> ReadAuditChain(int64_t after_seq, size_t max) = 0;
  // The last record (seq, hash), or nullopt when the trail is empty.
  virtual Result<std::optional<AuditRow>> AuditHead() = 0;
  // Stores a signed checkpoint (fully synced: everything before it is durable too).
  virtual Status PutAuditCheckpoint(const AuditCheckpointRecord& checkpoint) = 0;
  // Every checkpoint, ascending by seq.
  virtual Result<std::vector<AuditCheckpointRecord>> ListAuditCheckpoints() = 0;

  // Forwarding (archive/audit_forwarder.h): the trail itself is the spool, and each
  // destination has a cursor, the highest seq it has been delivered up to (0: none).
  virtual Result<int64_t> AuditForwardCursor(const std::string& destination) = 0;
  // Moves the cursor of `destination` to `seq`; never backwards (a smaller seq leaves it).
  // Committed without a sync of its own (durable with the next one): a cursor lost in a
  // crash only sends records again, with the seq that identifies them.
  virtual Status SetAuditForwardCursor(const std::string& destination, int64_t seq) = 0;

  // Migration (`tresor migrate`).
  //
  // Source: every forwarding destination and its cursor, ordered by destination.
  // kUnsupported by default (a backend that is never migrated from).
  virtual Result<std::vector<std::pair<std::string, int64_t>>> ListAuditForwardCursors() {
    return Status(Code::kUnsupported, "this index cannot be exported (migration source)");
  }
  // Target: stores another archive's trail unchanged -- every record with its seq, time,
  // body, filter columns, prev_hash and hash, and `checkpoints` as signed -- so that the
  // chain and its signatures verify here as they did there. The records come from
  // `next_page`, called until it returns an empty page, in ascending seq order; all of
  // them and the checkpoints are written in ONE transaction, under the lock that
  // AppendAudit takes: all or nothing, and no append can interleave.
  //   kConflict: the trail here already holds a record (import only into an empty trail;
  //              an import that failed left it empty, so it can simply be run again).
  //   kDataLoss: the records are not one intact chain from seq 1 (seq gapless, each
  //              prev_hash the hash before it, each hash security::AuditChainHash of its
  //              seq, time and body), or a checkpoint names a seq/hash not in it.
  //              Nothing is stored. (Signatures are checked by audit verification.)
  //   any error of `next_page` is returned as it is, nothing stored.
  // kUnsupported by default; every backend that can be a migration target implements it.
  virtual Status ImportAuditTrail(
      const std::function<Result<std::vector<AuditRow>>()>& next_page,
      const std::vector<AuditCheckpointRecord>& checkpoints) {
    (void)next_page;
    (void)checkpoints;
    return Status(Code::kUnsupported, "this index cannot import an audit trail");
  }
};

}  // namespace tresor::store
