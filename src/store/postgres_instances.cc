// PostgresIndex: the instance catalogue (store/instance_index.h). Every query answers
// as SqliteIndex's does (same matching, scope, counts, order, limit and offset): the
// statements below follow sqlite_index.cc's, in PostgreSQL's dialect; Find's statement
// is the one both backends build (query_sql.h).
#include <algorithm>
#include <limits>

#include "dicom/query.h"
#include "security/access_scope.h"
#include "store/postgres_connection.h"
#include "store/postgres_index.h"
#include "store/query_sql.h"

namespace tresor::store {

namespace {

// The scope's groups as a text[] parameter. Group names are validated
// (security/access_scope.h); TextArray quotes them anyway.
std::string ScopeGroups(const AccessScope& scope) { return pg::TextArray(scope.groups); }

StoredInstance ReadStored(const pg::Rows& r, int row, int first) {
  StoredInstance out;
  out.sop_instance_uid = r.Text(row, first);
  out.sop_class_uid = r.Text(row, first + 1);
  out.study_instance_uid = r.Text(row, first + 2);
  out.transfer_syntax_uid = r.Text(row, first + 3);
  out.blob_name = r.Text(row, first + 4);
  out.blob_size = static_cast<uint64_t>(r.Int(row, first + 5));
  out.content_sha256 = r.Text(row, first + 6);
  return out;
}

}  // namespace

Result<std::vector<AddOutcome>> PostgresIndex::AddInstances(const std::vector<InstanceRecord>& records,
                                                            const AuditBuilder<AddOutcome>& audit) {
  constexpr char kAdd[] =
      "SELECT tresor_add_instance($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,"
      "$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30,$31,$32)";
  // The parameters do not depend on the outcome of earlier records: built once, so a
  // transaction that runs again does not fold the names again.
  std::vector<pg::Params> params;
  params.reserve(records.size());
  for (const InstanceRecord& r : records) {
    const dicom::InstanceAttributes& a = r.attrs;
    if (r.blob_size > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return InvalidArgument("index: blob size out of range");
    }
    pg::Params p;
    p.Text(a.patient_id).Text(a.issuer_of_patient_id).Text(a.patient_name)
        .Text(dicom::FoldPersonName(a.patient_name)).Text(a.patient_birth_date).Text(a.patient_sex)
        .Text(a.study_instance_uid).Text(a.study_date).Text(a.study_time).Text(a.accession_number)
        .Text(a.study_id).Text(a.study_description).Text(a.referring_physician_name)
        .Text(dicom::FoldPersonName(a.referring_physician_name)).Text(a.institution_name)
        .Text(a.series_instance_uid).Text(a.modality).Text(a.series_number)
        .Text(a.series_description).Text(a.body_part_examined).Text(a.sop_instance_uid)
        .Text(a.sop_class_uid).Text(a.instance_number).Text(r.transfer_syntax_uid)
        .Text(r.blob_name).Int(static_cast<int64_t>(r.blob_size)).Text(r.content_sha256)
        .Text(r.source_ae).Int(r.received_at).Text(r.source_peer).Bytes(r.metadata_document)
        .Bytes(r.frame_layout);
    params.push_back(std::move(p));
  }
  std::vector<AddOutcome> outcomes;
  TRESOR_RETURN_IF_ERROR(Transact([&](pg::Connection& c) -> Status {
    outcomes.clear();
    outcomes.reserve(records.size());
    // Pipelined: the records' outcomes are decided by the server, in order.
    TRESOR_ASSIGN_OR_RETURN(std::vector<pg::Rows> results, c.QueryEach(kAdd, params, "add instance"));
    for (const pg::Rows& r : results) {
      if (r.size() != 1) return Internal("index add instance: no outcome");
      switch (r.Int(0, 0)) {
        case 0: outcomes.push_back(AddOutcome::kAdded); break;
        case 1: outcomes.push_back(AddOutcome::kIdentical); break;
        case 2: outcomes.push_back(AddOutcome::kConflict); break;
        case 3: outcomes.push_back(AddOutcome::kInconsistent); break;
        default: return Internal("index add instance: unknown outcome");
      }
    }
    if (audit) TRESOR_RETURN_IF_ERROR(AppendAuditInTx(c, audit(outcomes)));
    return Status::Ok();
  }));
  return outcomes;
}

// Under kOnCommit nothing is ever unconfirmed: every AddInstances that returned Ok is
// committed.
Result<std::vector<StoredInstance>> PostgresIndex::ListUnconfirmed() {
  return std::vector<StoredInstance>();
}

Status PostgresIndex::RemoveUnconfirmed(const std::string&) { return Status::Ok(); }

Status PostgresIndex::ConfirmAll() { return Status::Ok(); }

Result<std::vector<StoredInstance>> PostgresIndex::ListInstances(int64_t after, size_t limit,
                                                                 int64_t* next) {
  std::vector<StoredInstance> out;
  *next = after;
  TRESOR_RETURN_IF_ERROR(Read([&](pg::Connection& c) -> Status {
    pg::Params p;
    p.Int(after).Int(static_cast<int64_t>(std::min<size_t>(limit, size_t{1} << 40)));
    TRESOR_ASSIGN_OR_RETURN(pg::Rows r, c.Query(
        "SELECT i.id, i.sop_uid, i.sop_class, '', i.transfer_syntax, i.blob, i.size, i.sha256 "
        "FROM instances i WHERE i.id > $1 ORDER BY i.id LIMIT $2", p, "list instances"));
    for (int row = 0; row < r.size(); ++row) {
      *next = r.Int(row, 0);
      out.push_back(ReadStored(r, row, 1));
    }
    return Status::Ok();
  }));
  return out;
}

Result<std::optional<StoredInstance>> PostgresIndex::FindInstance(const std::string& sop_instance_uid,
                                                                  const AccessScope& scope) {
  std::optional<StoredInstance> out;
  TRESOR_RETURN_IF_ERROR(Read([&](pg::Connection& c) -> Status {
    pg::Params p;
    p.Text(sop_instance_uid).Bool(scope.all).Text(ScopeGroups(scope));
    TRESOR_ASSIGN_OR_RETURN(pg::Rows r, c.Query(
        "SELECT i.sop_uid, i.sop_class, coalesce(st.study_uid, ''), i.transfer_syntax, i.blob, "
        "i.size, i.sha256 FROM instances i LEFT JOIN series se ON se.id=i.series "
        "LEFT JOIN studies st ON st.id=se.study WHERE i.sop_uid=$1 AND ($2 OR EXISTS "
        "(SELECT 1 FROM study_groups g WHERE g.study=st.id AND g.group_name = ANY($3::text[])))",
        p, "find instance"));
    if (r.size() > 0) out = ReadStored(r, 0, 0);
    return Status::Ok();
  }));
  return out;
}

Result<std::optional<StoredDetails>> PostgresIndex::FindFrameLayout(const std::string& study_uid,
                                                                    const std::string& series_uid,
                                                                    const std::string& sop_uid,
                                                                    const AccessScope& scope) {
  std::optional<StoredDetails> out;
  TRESOR_RETURN_IF_ERROR(Read([&](pg::Connection& c) -> Status {
    pg::Params p;
    p.Text(sop_uid).Text(series_uid).Text(study_uid).Bool(scope.all).Text(ScopeGroups(scope));
    TRESOR_ASSIGN_OR_RETURN(pg::Rows r, c.Query(
        "SELECT i.sop_uid, i.sop_class, st.study_uid, i.transfer_syntax, i.blob, i.size, i.sha256, "
        "se.series_uid, f.layout FROM instances i JOIN series se ON se.id=i.series "
        "JOIN studies st ON st.id=se.study LEFT JOIN instance_frames f ON f.instance=i.id "
        "WHERE i.sop_uid=$1 AND se.series_uid=$2 AND st.study_uid=$3 AND ($4 OR EXISTS "
        "(SELECT 1 FROM study_groups g WHERE g.study=st.id AND g.group_name = ANY($5::text[])))",
        p, "find frame layout"));
    if (r.size() == 0) return Status::Ok();
    StoredDetails d;
    d.instance = ReadStored(r, 0, 0);
    d.series_instance_uid = r.Text(0, 7);
    if (!r.IsNull(0, 8)) d.frame_layout = r.Bytes(0, 8);
    out = std::move(d);
    return Status::Ok();
  }));
  return out;
}

Result<std::vector<StoredDetails>> PostgresIndex::FindMetadata(const std::string& study_uid,
                                                               const std::string& series_uid,
                                                               const std::string& sop_uid,
                                                               const AccessScope& scope) {
  std::vector<StoredDetails> out;
  TRESOR_RETURN_IF_ERROR(Read([&](pg::Connection& c) -> Status {
    pg::Params p;
    p.Text(study_uid).Text(series_uid).Text(sop_uid).Bool(scope.all).Text(ScopeGroups(scope));
    TRESOR_ASSIGN_OR_RETURN(pg::Rows r, c.Query(
        "SELECT i.sop_uid, i.sop_class, st.study_uid, i.transfer_syntax, i.blob, i.size, i.sha256, "
        "se.series_uid, m.document FROM studies st JOIN series se ON se.study=st.id "
        "JOIN instances i ON i.series=se.id LEFT JOIN instance_metadata m ON m.instance=i.id "
        "WHERE st.study_uid=$1 AND ($2 = '' OR se.series_uid=$2) AND ($3 = '' OR i.sop_uid=$3) "
        "AND ($4 OR EXISTS (SELECT 1 FROM study_groups g WHERE g.study=st.id AND "
        "g.group_name = ANY($5::text[]))) ORDER BY se.id, i.id",
        p, "find metadata"));
    out.reserve(static_cast<size_t>(r.size()));
    for (int row = 0; row < r.size(); ++row) {
      StoredDetails d;
      d.instance = ReadStored(r, row, 0);
      d.series_instance_uid = r.Text(row, 7);
      if (!r.IsNull(row, 8)) d.metadata_document = r.Bytes(row, 8);
      out.push_back(std::move(d));
    }
    return Status::Ok();
  }));
  return out;
}

Result<bool> PostgresIndex::IsBlobReferenced(const std::string& name) {
  bool referenced = false;
  TRESOR_RETURN_IF_ERROR(Read([&](pg::Connection& c) -> Status {
    pg::Params p;
    p.Text(name);
    TRESOR_ASSIGN_OR_RETURN(pg::Rows r, c.Query("SELECT 1 FROM instances WHERE blob=$1", p,
                                                "blob lookup"));
    referenced = r.size() > 0;
    return Status::Ok();
  }));
  return referenced;
}

Result<IndexStats> PostgresIndex::Stats(const AccessScope& scope) {
  IndexStats st;
  TRESOR_RETURN_IF_ERROR(Read([&](pg::Connection& c) -> Status {
    pg::Params p;
    if (!scope.all) p.Text(ScopeGroups(scope));
    // The visible studies are collected once; everything else is counted from them.
    TRESOR_ASSIGN_OR_RETURN(pg::Rows r, c.Query(scope.all ?
        "SELECT (SELECT count(*) FROM patients), (SELECT count(*) FROM studies), "
        "(SELECT count(*) FROM series), (SELECT count(*) FROM instances), "
        "(SELECT coalesce(sum(size),0) FROM instances)" :
        "WITH v AS (SELECT DISTINCT study AS id FROM study_groups "
        "WHERE group_name = ANY($1::text[])) "
        "SELECT (SELECT count(DISTINCT s.patient) FROM studies s JOIN v ON v.id=s.id), "
        "(SELECT count(*) FROM v), "
        "(SELECT count(*) FROM series se JOIN v ON v.id=se.study), "
        "(SELECT count(*) FROM instances i JOIN series se ON se.id=i.series JOIN v ON v.id=se.study), "
        "(SELECT coalesce(sum(i.size),0) FROM instances i JOIN series se ON se.id=i.series "
        "JOIN v ON v.id=se.study)", p, "stats"));
    if (r.size() != 1) return Internal("index stats: no row");
    st.patients = r.Int(0, 0);
    st.studies = r.Int(0, 1);
    st.series = r.Int(0, 2);
    st.instances = r.Int(0, 3);
    st.bytes = static_cast<uint64_t>(r.Int(0, 4));
    return Status::Ok();
  }));
  return st;
}

// ---- Find ----

Result<std::vector<dicom::QueryMatch>> PostgresIndex::Find(const dicom::Query& query,
                                                          const AccessScope& scope) {
  std::vector<dicom::QueryMatch> out;
  TRESOR_RETURN_IF_ERROR(Read([&](pg::Connection& c) -> Status {
    using query_sql::Dialect;
    using query_sql::ScopePlan;
    ScopePlan plan = ScopePlan::kProbe;
    if (!scope.all && !query_sql::Selective(Dialect::kPostgres, query)) {
      // As in SqliteIndex: collecting the scope first wins below query_sql::DriveBound,
      // which a bounded count (index only) tells.
      TRESOR_ASSIGN_OR_RETURN(pg::Rows max_id,
                              c.Query("SELECT coalesce(max(id), 0) FROM studies", "query plan"));
      const int64_t bound = query_sql::DriveBound(query, max_id.Int(0, 0));
      pg::Params p;
      p.Text(ScopeGroups(scope)).Int(bound);
      TRESOR_ASSIGN_OR_RETURN(pg::Rows n, c.Query(
          "SELECT count(*) FROM (SELECT 1 FROM study_groups WHERE group_name = ANY($1::text[]) "
          "LIMIT $2) x", p, "query plan"));
      if (n.Int(0, 0) < bound) plan = ScopePlan::kDrive;
    }
    query_sql::FindSql sql = query_sql::BuildFind(
        Dialect::kPostgres, query, scope, plan, scope.all ? std::string() : ScopeGroups(scope));
    pg::Params params;
    for (const std::string& v : sql.params) params.Text(v);
    TRESOR_ASSIGN_OR_RETURN(pg::Rows r, c.Query(sql.text, params, "query"));
    out.reserve(static_cast<size_t>(r.size()));
    for (int row = 0; row < r.size(); ++row) {
      dicom::QueryMatch m;
      for (size_t col = 0; col < sql.columns.size(); ++col) {
        m.values[sql.columns[col]] = r.Text(row, static_cast<int>(col));
      }
      out.push_back(std::move(m));
    }
    return Status::Ok();
  }));
  return out;
}

}  // namespace tresor::store
