// PostgresIndex's migration target entry point (store/audit_index.h ImportAuditTrail):
// another archive's trail stored unchanged, in one transaction, into an empty trail.
#include <map>

#include "security/audit_chain.h"
#include "store/postgres_connection.h"
#include "store/postgres_index.h"

namespace tresor::store {
namespace {

// The trail's transaction lock, the one AppendAuditInTx takes (postgres_accounts.cc):
// no append on any node interleaves with the import.
constexpr char kAuditLock[] = "SELECT pg_advisory_xact_lock(1416782708)";
constexpr char kInsertRecord[] =
    "INSERT INTO audit_records(seq, time, event_id, actors, patient_ids, study_uids, body, "
    "prev_hash, hash) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9)";
constexpr char kInsertCheckpoint[] =
    "INSERT INTO audit_checkpoints(seq, hash, time, public_key, signature) VALUES($1,$2,$3,$4,$5)";

}  // namespace

Status PostgresIndex::ImportAuditTrail(
    const std::function<Result<std::vector<AuditRow>>()>& next_page,
    const std::vector<AuditCheckpointRecord>& checkpoints) {
  // `next_page` is consumed as it goes, so the transaction cannot be run a second time
  // (Transact reruns it after a serialization failure): a rerun fails instead, with the
  // trail still empty, and the import can simply be run again.
  bool started = false;
  return Transact([&](pg::Connection& c) -> Status {
    if (started) {
      return Unavailable("the audit import was interrupted by a concurrent transaction; "
                         "nothing was stored: run it again");
    }
    started = true;
    TRESOR_ASSIGN_OR_RETURN(pg::Rows locked, c.Query(kAuditLock, "audit lock"));
    (void)locked;
    TRESOR_ASSIGN_OR_RETURN(
        pg::Rows size,
        c.Query("SELECT (SELECT count(*) FROM audit_records) + (SELECT count(*) FROM audit_checkpoints)",
                "audit trail size"));
    if (size.size() != 1 || size.Int(0, 0) != 0) {
      return Conflict("the audit trail here is not empty: another trail can only be imported "
                      "into an archive that has none");
    }
    int64_t expected = 1;
    std::string prev = security::kAuditGenesisHash;
    std::map<int64_t, std::string> checkpointed;  // seq -> hash, of the checkpoints' seqs
    for (const AuditCheckpointRecord& cp : checkpoints) checkpointed[cp.seq];
    for (;;) {
      TRESOR_ASSIGN_OR_RETURN(std::vector<AuditRow> rows, next_page());
      if (rows.empty()) break;
      for (const AuditRow& r : rows) {
        if (r.seq != expected) {
          return DataLoss("audit import: record " + std::to_string(expected) +
                          " is missing (next given is " + std::to_string(r.seq) + ")");
        }
        if (r.prev_hash != prev ||
            security::AuditChainHash(prev, r.seq, r.entry.time, r.entry.body) != r.hash) {
          return DataLoss("audit import: record " + std::to_string(r.seq) +
                          " does not continue the chain (altered, removed or reordered)");
        }
        pg::Params p;
        p.Int(r.seq).Int(r.entry.time).Text(r.entry.event_id).Text(r.entry.actors)
            .Text(r.entry.patient_ids).Text(r.entry.study_uids).Text(r.entry.body)
            .Text(r.prev_hash).Text(r.hash);
        TRESOR_ASSIGN_OR_RETURN(pg::Rows inserted, c.Query(kInsertRecord, p, "audit import"));
        (void)inserted;
        auto it = checkpointed.find(r.seq);
        if (it != checkpointed.end()) it->second = r.hash;
        prev = r.hash;
        ++expected;
      }
    }
    for (const AuditCheckpointRecord& cp : checkpoints) {
      if (cp.seq < 1 || cp.seq >= expected || checkpointed[cp.seq] != cp.hash) {
        return DataLoss("audit import: the checkpoint at seq " + std::to_string(cp.seq) +
                        " does not sign a record of the imported chain");
      }
      pg::Params p;
      p.Int(cp.seq).Text(cp.hash).Int(cp.time).Text(cp.public_key).Text(cp.signature);
      TRESOR_ASSIGN_OR_RETURN(pg::Rows inserted, c.Query(kInsertCheckpoint, p, "audit checkpoint import"));
      (void)inserted;
    }
    return Status::Ok();
  });
}

}  // namespace tresor::store
