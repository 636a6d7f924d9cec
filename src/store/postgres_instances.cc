// PostgresIndex: the instance catalogue (store/instance_index.h).
#include "store/postgres_index.h"

#include "store/postgres_connection.h"

namespace tresor::store {

Result<std::vector<AddOutcome>> PostgresIndex::AddInstances(const std::vector<InstanceRecord>&, const AuditBuilder<AddOutcome>&) {
  return Unsupported("index: AddInstances is not implemented on PostgreSQL yet");
}

Result<std::vector<StoredInstance>> PostgresIndex::ListUnconfirmed() {
  return Unsupported("index: ListUnconfirmed is not implemented on PostgreSQL yet");
}

Result<std::vector<StoredInstance>> PostgresIndex::ListInstances(int64_t, size_t, int64_t*) {
  return Unsupported("index: ListInstances is not implemented on PostgreSQL yet");
}

Status PostgresIndex::RemoveUnconfirmed(const std::string&) {
  return Unsupported("index: RemoveUnconfirmed is not implemented on PostgreSQL yet");
}

Status PostgresIndex::ConfirmAll() {
  return Unsupported("index: ConfirmAll is not implemented on PostgreSQL yet");
}

Result<std::optional<StoredInstance>> PostgresIndex::FindInstance(const std::string&, const AccessScope&) {
  return Unsupported("index: FindInstance is not implemented on PostgreSQL yet");
}

Result<std::vector<dicom::QueryMatch>> PostgresIndex::Find(const dicom::Query&, const AccessScope&) {
  return Unsupported("index: Find is not implemented on PostgreSQL yet");
}

Result<std::optional<StoredDetails>> PostgresIndex::FindFrameLayout(const std::string&, const std::string&, const std::string&, const AccessScope&) {
  return Unsupported("index: FindFrameLayout is not implemented on PostgreSQL yet");
}

Result<std::vector<StoredDetails>> PostgresIndex::FindMetadata(const std::string&, const std::string&, const std::string&, const AccessScope&) {
  return Unsupported("index: FindMetadata is not implemented on PostgreSQL yet");
}

Result<bool> PostgresIndex::IsBlobReferenced(const std::string&) {
  return Unsupported("index: IsBlobReferenced is not implemented on PostgreSQL yet");
}

Result<IndexStats> PostgresIndex::Stats(const AccessScope&) {
  return Unsupported("index: Stats is not implemented on PostgreSQL yet");
}

}  // namespace tresor::store
