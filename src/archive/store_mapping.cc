#include "archive/store_mapping.h"

#include "core/log.h"

namespace tresor::archive {
namespace {

GroupRule::Kind ToKind(store::GroupRule::Kind kind) {
  switch (kind) {
    case store::GroupRule::Kind::kPeer: return GroupRule::Kind::kPeer;
    case store::GroupRule::Kind::kInstitution: return GroupRule::Kind::kInstitution;
    case store::GroupRule::Kind::kIssuer: return GroupRule::Kind::kIssuer;
  }
  return GroupRule::Kind::kPeer;
}

store::GroupRule::Kind ToStoreKind(GroupRule::Kind kind) {
  switch (kind) {
    case GroupRule::Kind::kPeer: return store::GroupRule::Kind::kPeer;
    case GroupRule::Kind::kInstitution: return store::GroupRule::Kind::kInstitution;
    case GroupRule::Kind::kIssuer: return store::GroupRule::Kind::kIssuer;
  }
  return store::GroupRule::Kind::kPeer;
}

}  // namespace

const char* GroupRuleKindName(GroupRule::Kind kind) {
  return store::GroupRuleKindName(ToStoreKind(kind));
}

InstanceInfo ToInstanceInfo(const store::StoredInstance& i) {
  return InstanceInfo{i.sop_instance_uid, i.sop_class_uid, i.study_instance_uid,
                      i.transfer_syntax_uid, i.blob_name, i.blob_size, i.content_sha256};
}

ArchiveStats ToArchiveStats(const store::IndexStats& s) {
  return ArchiveStats{s.patients, s.studies, s.series, s.instances, s.bytes};
}

UserInfo ToUserInfo(const store::UserRecord& u) {
  return UserInfo{u.name, u.role, u.disabled, u.groups};
}

GroupRule ToGroupRule(const store::GroupRule& r) { return GroupRule{r.group, ToKind(r.kind), r.value}; }

store::GroupRule ToStoreRule(const GroupRule& r) {
  return store::GroupRule{r.group, ToStoreKind(r.kind), r.value};
}

GroupSummary ToGroupSummary(const store::GroupSummary& g) { return GroupSummary{g.name, g.studies}; }

Result<std::vector<security::Peer>> LoadPeers(store::PolicyIndex& policy) {
  TRESOR_ASSIGN_OR_RETURN(std::vector<store::PeerRecord> records, policy.ListPeers());
  std::vector<security::Peer> peers;
  for (const auto& r : records) {
    // A stored grant list that does not parse is damage, not "no grants": refuse to
    // decide on a peer table we cannot read.
    auto services = security::ParseServices(r.services == "none" ? "" : r.services);
    if (!services.ok()) {
      TRESOR_LOG(kError) << "peer '" << r.name << "' has unreadable services in the index: "
                         << services.status().message();
      return Internal("stored services of peer '" + r.name + "' are unreadable");
    }
    peers.push_back({r.name, r.ae_title, r.host, r.port, *services, r.certificate_sha256,
                     r.require_identity, r.groups});
  }
  return peers;
}

store::PeerRecord ToPeerRecord(const security::Peer& peer) {
  return {peer.name, peer.ae_title, peer.host, peer.port, security::FormatServices(peer.services),
          peer.certificate_sha256, peer.require_identity, peer.groups};
}

}  // namespace tresor::archive
