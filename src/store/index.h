// store::Index: the catalogue of what the archive holds, and who may talk to it.
//
// Use-case methods only: nothing about SQL or a particular database leaks out of this
// header, so a PostgreSQL backend can implement the same interface. Every method is
// thread-safe. Writes that return Ok are durable, except AddInstances under
// Durability::kOnFilesystemSync (see there).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/access_scope.h"
#include "dicom/instance.h"
#include "dicom/query.h"

namespace tresor::store {

// One instance to be indexed, with where its bytes are.
struct InstanceRecord {
  dicom::InstanceAttributes attrs;
  std::string transfer_syntax_uid;
  std::string blob_name;
  uint64_t blob_size = 0;
  std::string content_sha256;  // hex SHA-256 of the data set bytes (meta excluded)
  std::string source_ae;       // calling AE title, or "import"
  std::string source_peer;     // registered peer that sent it (access rules); empty for import
  int64_t received_at = 0;     // seconds since the epoch
};

// What AddInstances did with one record.
enum class AddOutcome {
  kAdded,      // new instance, indexed
  kIdentical,  // same SOP Instance UID with the same content was already there
  kConflict,   // same SOP Instance UID with different content: nothing changed
  kInconsistent,  // its Series Instance UID belongs to another study: nothing changed
};

struct StoredInstance {
  std::string sop_instance_uid;
  std::string sop_class_uid;
  std::string study_instance_uid;
  std::string transfer_syntax_uid;
  std::string blob_name;
  uint64_t blob_size = 0;
  std::string content_sha256;
};

struct IndexStats {
  int64_t patients = 0;
  int64_t studies = 0;
  int64_t series = 0;
  int64_t instances = 0;
  uint64_t bytes = 0;
};

// A registered DICOM peer. `services` is a comma-separated list understood by security/.
struct PeerRecord {
  std::string name;
  std::string ae_title;
  std::string host;
  int port = 104;
  std::string services;
  std::string certificate_sha256;  // empty: not bound to a TLS client certificate
  bool require_identity = false;
  std::vector<std::string> groups;  // access groups (store/access_scope.h)
};

struct UserRecord {
  std::string name;
  std::string password_hash;  // Argon2id encoded string
  std::string role;
  bool disabled = false;
  std::vector<std::string> groups;  // access groups (store/access_scope.h)
};

// A rule that puts studies into an access group when their instances are stored:
// instances received from peer `value`, or whose Institution Name (0008,0080) or Issuer
// of Patient ID (0010,0021) equals `value` exactly.
struct GroupRule {
  enum class Kind { kPeer, kInstitution, kIssuer };
  std::string group;
  Kind kind = Kind::kPeer;
  std::string value;
};
// "peer", "institution", "issuer".
const char* GroupRuleKindName(GroupRule::Kind kind);

// An access group and how many studies are in it.
struct GroupSummary {
  std::string name;
  int64_t studies = 0;
};

// A signed-in session (HTTPS or DICOM JWT identity). Expires at `expires_at`, or once
// unused for the idle timeout the caller applies to `last_seen`.
struct SessionRecord {
  std::string id;
  std::string user;
  int64_t expires_at = 0;  // seconds since the epoch
  int64_t last_seen = 0;
};

// How the rows written by AddInstances become durable.
enum class Durability {
  // Durable when AddInstances returns (a database server, or fsync per commit).
  kOnCommit,
  // Durable once the caller has synced the filesystem that holds both the index and
  // the blobs (BlobStore::Persist). One sync then covers the blobs and the rows of a
  // whole batch. Rows added but not yet synced are remembered as unconfirmed (in the
  // same transaction) so that crash recovery can check them against their blobs.
  kOnFilesystemSync,
};

// A long-lived API token (only its hash is stored).
struct ApiTokenRecord {
  std::string name;
  std::string user;
  std::string token_sha256;  // hex
  int64_t expires_at = 0;    // seconds since the epoch
};

class Index {
 public:
  virtual ~Index() = default;

  virtual Durability durability() const = 0;

  // Indexes `records` in one transaction (group commit). Returns one outcome per
  // record, in order. Duplicates within the batch are resolved in order. Under
  // kOnFilesystemSync the caller must sync before acknowledging, and must not call
  // AddInstances again before that sync succeeded (the next call confirms the rows of
  // this one).
  virtual Result<std::vector<AddOutcome>> AddInstances(const std::vector<InstanceRecord>& records) = 0;

  // Crash recovery under kOnFilesystemSync: the instances added by the last
  // AddInstances calls whose sync may not have completed.
  virtual Result<std::vector<StoredInstance>> ListUnconfirmed() = 0;
  // Removes an unconfirmed instance whose blob did not survive (durably), and the series,
  // study and patient rows left without instances by that.
  virtual Status RemoveUnconfirmed(const std::string& sop_instance_uid) = 0;
  // Marks every unconfirmed instance as confirmed (durably).
  virtual Status ConfirmAll() = 0;
  // The instance if it exists and its study is within `scope` (objects without a study
  // are only within AccessScope::Everything()).
  virtual Result<std::optional<StoredInstance>> FindInstance(const std::string& sop_instance_uid,
                                                             const AccessScope& scope) = 0;
  // Answers `query` from the index alone, over the studies within `scope` only (computed
  // counts included): at most query.limit + 1 matches (one more than the limit tells the
  // caller the limit was reached), in a stable order. Attributes the index does not hold
  // are left out of the matches.
  virtual Result<std::vector<dicom::QueryMatch>> Find(const dicom::Query& query,
                                                      const AccessScope& scope) = 0;
  // True if an indexed instance's bytes are in blob `name` (crash recovery).
  virtual Result<bool> IsBlobReferenced(const std::string& name) = 0;
  // What the index holds within `scope` (non-patient objects count only for
  // AccessScope::Everything()).
  virtual Result<IndexStats> Stats(const AccessScope& scope) = 0;

  // Inserts or replaces the peer with this name.
  virtual Status PutPeer(const PeerRecord& peer) = 0;
  // Returns false if there was no such peer.
  virtual Result<bool> RemovePeer(const std::string& name) = 0;
  virtual Result<std::vector<PeerRecord>> ListPeers() = 0;

  // Inserts or replaces the user with this name.
  virtual Status PutUser(const UserRecord& user) = 0;
  virtual Result<std::optional<UserRecord>> FindUser(const std::string& name) = 0;
  virtual Result<std::vector<UserRecord>> ListUsers() = 0;

  // Inserts an API token; kAlreadyExists if the name is taken.
  virtual Status PutApiToken(const ApiTokenRecord& token) = 0;
  virtual Result<std::optional<ApiTokenRecord>> FindApiToken(const std::string& token_sha256) = 0;

  // Access group rules (applied by AddInstances to every instance stored afterwards).
  // PutGroupRule also applies the new rule to the studies already archived and returns
  // how many it added to the group. RemoveGroupRule returns false if there was no such
  // rule; studies keep the groups they have.
  virtual Result<int64_t> PutGroupRule(const GroupRule& rule) = 0;
  virtual Result<bool> RemoveGroupRule(const GroupRule& rule) = 0;
  virtual Result<std::vector<GroupRule>> ListGroupRules() = 0;
  // Puts a study into a group or takes it out. Returns false if there is no such study.
  virtual Result<bool> SetStudyGroup(const std::string& group, const std::string& study_uid,
                                     bool member) = 0;
  // Every group that has studies, rules or members, with its number of studies.
  virtual Result<std::vector<GroupSummary>> ListGroups() = 0;

  // Sessions. TouchSession sets last_seen; RemoveSession returns false if there was none.
  // Expired sessions may be purged by PutSession.
  virtual Status PutSession(const SessionRecord& session) = 0;
  virtual Result<std::optional<SessionRecord>> FindSession(const std::string& id) = 0;
  virtual Status TouchSession(const std::string& id, int64_t last_seen) = 0;
  virtual Result<bool> RemoveSession(const std::string& id) = 0;
};

}  // namespace tresor::store
