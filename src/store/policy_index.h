// store::PolicyIndex: registered peers and per-study access groups.
//
// Use-case methods only: nothing about SQL or a particular database leaks out of this
// header, so a PostgreSQL backend can implement the same interface. Every method is
// thread-safe. Writes that return Ok are durable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace tresor::store {

// A registered DICOM peer. `services` is a comma-separated list understood by security/.
struct PeerRecord {
  std::string name;
  std::string ae_title;
  std::string host;
  int port = 104;
  std::string services;
  std::string certificate_sha256;  // empty: not bound to a TLS client certificate
  bool require_identity = false;
  std::vector<std::string> groups;  // access groups (security/access_scope.h)
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

// One study's membership of an access group.
struct StudyGroupMember {
  std::string study_uid;
  std::string group;
};

// Peers (admission, move destinations) and access group rules and assignments
// (administration).
class PolicyIndex {
 public:
  virtual ~PolicyIndex() = default;

  // Inserts or replaces the peer with this name.
  virtual Status PutPeer(const PeerRecord& peer) = 0;
  // Returns false if there was no such peer.
  virtual Result<bool> RemovePeer(const std::string& name) = 0;
  virtual Result<std::vector<PeerRecord>> ListPeers() = 0;

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

  // Migration source (`tresor migrate`): every study's group memberships, ordered by
  // study (in the order studies were indexed), then group. kUnsupported by default.
  virtual Result<std::vector<StudyGroupMember>> ListStudyGroupMembers() {
    return Status(Code::kUnsupported, "this index cannot be exported (migration source)");
  }
};

}  // namespace tresor::store
