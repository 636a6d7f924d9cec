// store::Index: the catalogue of what the archive holds, and who may talk to it.
//
// The union of the narrow interfaces, one per seam: InstanceIndex (instances: ingest,
// recovery, queries), AccountIndex (users, API tokens, sessions) and PolicyIndex (peers,
// access group rules, study groups) and AuditIndex (the audit trail). A backend (SqliteIndex) implements Index; the
// composition root (archive::ArchiveService) hands each service only the narrow
// references it needs. Every method is thread-safe.
#pragma once

#include "store/account_index.h"
#include "store/audit_index.h"
#include "store/instance_index.h"
#include "store/policy_index.h"

namespace tresor::store {

class Index : public InstanceIndex, public AccountIndex, public PolicyIndex, public AuditIndex {
 public:
  ~Index() override = default;
};

}  // namespace tresor::store
