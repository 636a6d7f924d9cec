// Conversions between store records and the archive's own value types. Internal to
// archive/: no public archive header includes this one.
#pragma once

#include <vector>

#include "archive/types.h"
#include "core/status.h"
#include "security/peer_policy.h"
#include "store/account_index.h"
#include "store/instance_index.h"
#include "store/policy_index.h"

namespace tresor::archive {

InstanceInfo ToInstanceInfo(const store::StoredInstance& instance);
ArchiveStats ToArchiveStats(const store::IndexStats& stats);
UserInfo ToUserInfo(const store::UserRecord& user);
GroupRule ToGroupRule(const store::GroupRule& rule);
store::GroupRule ToStoreRule(const GroupRule& rule);
GroupSummary ToGroupSummary(const store::GroupSummary& group);

// Every registered peer (admission, move destinations, administration). A peer whose
// stored service list cannot be parsed is granted nothing.
Result<std::vector<security::Peer>> LoadPeers(store::PolicyIndex& policy);
store::PeerRecord ToPeerRecord(const security::Peer& peer);

}  // namespace tresor::archive
