// AuditService: the audit trail (DICOM PS3.15 A.5 content), recorded by the archive
// services themselves so that no adapter can act without leaving its record.
//
// Every record carries the A.5 content: EventID (CID 400) and EventTypeCode (CID 401),
// EventActionCode, EventOutcomeIndicator (0/4/8/12), the active participants (the acting
// user or AE with its host, requestor flag and role (CID 402), and this archive), the
// audit source and the participant objects (patient IDs, study UIDs, the query keys).
// Records go into the index's append-only, hash-chained trail (security/audit_chain.h):
// a record that cannot be written fails the action it describes. Patient IDs and query
// keys are PHI: they are stored in the trail only, never logged.
//
// Canonical encoding of a record body: JSON, UTF-8, object keys sorted, no whitespace,
// integers in decimal (what ToCanonicalJson writes; verification re-encodes and compares).
// Every method is thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "archive/options.h"
#include "archive/principal.h"
#include "core/clock.h"
#include "core/status.h"

namespace tresor::store {
class AuditIndex;
struct AuditEntry;
}  // namespace tresor::store

namespace tresor::archive {

// A coded value (A.5: csd-code, codeSystemName, originalText).
struct AuditCode {
  std::string code;
  std::string scheme;
  std::string meaning;
  bool empty() const { return code.empty(); }
  bool operator==(const AuditCode& o) const { return code == o.code && scheme == o.scheme; }
};

// CID 400 Audit Event ID.
enum class AuditEventId {
  kApplicationActivity,   // 110100
  kAuditLogUsed,          // 110101
  kInstancesAccessed,     // 110103
  kInstancesTransferred,  // 110104
  kStudyDeleted,          // 110105
  kExport,                // 110106
  kImport,                // 110107
  kQuery,                 // 110112
  kSecurityAlert,         // 110113
  kUserAuthentication,    // 110114
};
// CID 401 Audit Event Type Code.
enum class AuditEventType {
  kNone,
  kApplicationStart,                 // 110120
  kApplicationStop,                  // 110121
  kLogin,                            // 110122
  kLogout,                           // 110123
  kNodeAuthentication,               // 110126
  kNetworkConfiguration,             // 110128
  kSecurityConfiguration,            // 110129
  kSoftwareConfiguration,            // 110131
  kUseOfRestrictedFunction,          // 110132
  kObjectSecurityAttributesChanged,  // 110135
  kSecurityRolesChanged,             // 110136
  kUserSecurityAttributesChanged,    // 110137
};
// CID 402 Audit Active Participant Role ID.
enum class AuditRole { kNone, kApplication, kDestination, kSource };

AuditCode CodeOf(AuditEventId id);
AuditCode CodeOf(AuditEventType type);
AuditCode CodeOf(AuditRole role);

// EventOutcomeIndicator.
constexpr int kAuditSuccess = 0;
constexpr int kAuditMinorFailure = 4;
constexpr int kAuditSeriousFailure = 8;
constexpr int kAuditMajorFailure = 12;
// 0 for ok; 4 for refusals (permission, authentication, invalid, not found, conflict);
// 8 for everything else (I/O, internal).
int OutcomeOf(const Status& s);

// What a service reports; Record() adds the time, the participants and the source.
struct AuditEvent {
  AuditEventId id = AuditEventId::kApplicationActivity;
  AuditEventType type = AuditEventType::kNone;
  char action = 'E';  // EventActionCode: C, R, U, D, E
  int outcome = kAuditSuccess;
  std::string outcome_description;  // never PHI
  AuditRole requestor_role = AuditRole::kNone;  // of the acting principal
  AuditRole archive_role = AuditRole::kNone;    // of this archive
  std::vector<std::string> patient_ids;         // PHI
  std::vector<std::string> study_uids;
  std::string sop_class_uid;  // of the instances, or the query's information model
  int64_t instances = 0;
  std::string query;    // the query keys, "Keyword=value" joined by "; " (PHI)
  std::string object;   // another participant object (peer, user, rule, token): no PHI
  std::string summary;  // one line for people, no PHI
};

// A.5 ActiveParticipant.
struct AuditParticipant {
  std::string user_id;      // user name, AE title, or this archive's AE title
  std::string alt_user_id;  // the AE title of a user acting through a peer, or the peer name
  std::string host;         // NetworkAccessPointID (an IP address), may be empty
  bool requestor = false;
  AuditCode role;
  // Tresor's own field (not A.5): who the requestor is, "user", "peer", "user-via-peer",
  // "local" or "node" (an AE not admitted); empty for this archive.
  std::string kind;
};

// A stored record, decoded.
struct AuditRecord {
  int64_t seq = 0;
  int64_t time = 0;
  std::string hash;  // its chain hash (hex) when read for forwarding; not part of the body
  AuditCode event_id;
  AuditCode event_type;  // empty if none
  char action = 'E';
  int outcome = 0;
  std::string outcome_description;
  std::vector<AuditParticipant> participants;
  std::string source_id;  // AuditSourceID
  std::vector<std::string> patient_ids;
  std::vector<std::string> study_uids;
  std::string sop_class_uid;
  int64_t instances = 0;
  std::string query;
  std::string object;
  std::string summary;
};

// Canonical body (without seq and time: the chain covers those separately) and back.
std::string ToCanonicalJson(const AuditRecord& record);
Result<AuditRecord> ParseAuditBody(const std::string& body);
// The record as a DICOM audit message (PS3.15 A.5.1 schema element names), one
// <AuditMessage> element without XML declaration.
std::string ToAuditMessageXml(const AuditRecord& record);
// The record as the JSON object of GET /api/audit (docs/audit.md), one line.
std::string ToAuditJson(const AuditRecord& record);
// "2026-01-02T03:04:05Z".
std::string FormatAuditTime(int64_t seconds);
// Parses "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS[Z]" (UTC) or seconds since the epoch.
Result<int64_t> ParseAuditTime(const std::string& text);

// Which records List returns; empty fields match everything.
struct AuditQuery {
  std::optional<int64_t> from, to;  // seconds since the epoch, inclusive
  std::string user;                 // user name, AE title or peer name
  std::string patient_id;
  std::string study_uid;
  std::string event_id;  // CID 400 code ("110112") or a name (query, login, ...: ParseAuditEvent)
  size_t limit = 100;    // at most 10000
  size_t offset = 0;
};
struct AuditPage {
  std::vector<AuditRecord> records;  // ascending by seq
  bool more = false;
};

// Result of Verify: intact, or the first bad seq and why.
struct AuditVerification {
  bool intact = true;
  int64_t records = 0;      // records checked
  int64_t checkpoints = 0;  // signed checkpoints checked
  int64_t last_signed_seq = 0;
  int64_t first_bad_seq = 0;  // when !intact
  std::string problem;        // when !intact
};

class AuditService {
 public:
  // `index` and `clock` must outlive the service. options.audit_signing_seed (32 bytes,
  // may be empty: then no checkpoints are signed) and options.ae_title (the audit source
  // and this archive's participant).
  AuditService(store::AuditIndex& index, const ArchiveOptions& options, const core::Clock& clock);

  // Appends one record of `event` by `who` in its own transaction, before the caller
  // answers. Fails (kIoError) if it cannot be written: the caller must then fail.
  Status Record(const Principal& who, const AuditEvent& event);
  // Several records in one transaction.
  Status RecordAll(const Principal& who, const std::vector<AuditEvent>& events);
  // The store entry of `event` by `who` at `time`, for a caller that appends it in its
  // own transaction (the group commit).
  void Build(const Principal& who, const AuditEvent& event, int64_t time,
             store::AuditEntry* out) const;

  // The records matching `query`. Auditors, admins and the local administrator only
  // (kPermissionDenied otherwise); recorded as Audit Log Used (110101) first.
  Result<AuditPage> List(const Principal& who, const AuditQuery& query);
  // Checks the whole chain and every checkpoint against `public_key` (32 bytes; empty:
  // the key of options.audit_signing_seed). Local administrator only. Recorded (110101)
  // after the check, with its outcome.
  Result<AuditVerification> Verify(const Principal& who, const std::string& public_key = "");
  // Signs the current head and stores it as a checkpoint (fully synced), unless the
  // head is already signed. kUnsupported without a signing key.
  Status Checkpoint();
  // The Ed25519 public key (32 bytes), empty without a signing key.
  const std::string& public_key() const { return public_key_; }

  // For forwarding (archive/audit_forwarder.h), not itself recorded: up to `max` records
  // with seq > `after_seq`, ascending, decoded, with seq, time and hash. A body that does
  // not decode (a tampered trail) comes as a record saying so, so that seq stays gapless.
  Result<std::vector<AuditRecord>> ReadAfter(int64_t after_seq, size_t max);
  // The highest seq delivered to `destination` (0: none), and moving it forward.
  Result<int64_t> ForwardCursor(const std::string& destination);
  Status SetForwardCursor(const std::string& destination, int64_t seq);

 private:
  AuditRecord Compose(const Principal& who, const AuditEvent& event) const;

  store::AuditIndex& index_;
  const std::string ae_title_;
  const std::string source_id_;  // AuditSourceID: "AE", or "AE@node" on several nodes
  const std::string seed_;
  std::string public_key_;
  const core::Clock& clock_;
};

// The CID 400 code for an event filter: a code ("110112") as is, or one of the names
// application, audit, accessed, transferred, deleted, export, import, query, alert,
// authentication. kInvalidArgument otherwise.
Result<std::string> ParseAuditEvent(const std::string& text);

}  // namespace tresor::archive
