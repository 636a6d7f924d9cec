// PostgresIndex: the instance catalogue (store/instance_index.h). Every query answers
// as SqliteIndex's does (same matching, scope, counts, order, limit and offset): the
// statements below follow sqlite_index.cc's, in PostgreSQL's dialect.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "dicom/query.h"
#include "security/access_scope.h"
#include "store/postgres_connection.h"
#include "store/postgres_index.h"

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

namespace {

using dicom::Condition;
using dicom::QueryLevel;
using dicom::ValueType;

constexpr dicom::TagKey kPatientName = dicom::MakeTag(0x0010, 0x0010);
constexpr dicom::TagKey kReferringName = dicom::MakeTag(0x0008, 0x0090);

// Where an attribute lives in the schema: a column expression over the aliases
// p (patients), s (studies), se (series), i (instances). `study_filter` ("" or
// " AND <condition on studies y>") limits the patient-level counts to visible studies.
std::string ColumnOf(dicom::TagKey tag, const std::string& study_filter = "") {
  if (tag == dicom::MakeTag(0x0020, 0x1200)) {
    return "(SELECT count(*) FROM studies y WHERE y.patient=p.id" + study_filter + ")";
  }
  if (tag == dicom::MakeTag(0x0020, 0x1202)) {
    return "(SELECT count(*) FROM series x JOIN studies y ON y.id=x.study WHERE y.patient=p.id" +
           study_filter + ")";
  }
  if (tag == dicom::MakeTag(0x0020, 0x1204)) {
    return "(SELECT count(*) FROM instances z JOIN series x ON x.id=z.series "
           "JOIN studies y ON y.id=x.study WHERE y.patient=p.id" + study_filter + ")";
  }
  static const std::map<dicom::TagKey, std::string> kColumns = {
      {kPatientName, "p.name"},
      {dicom::MakeTag(0x0010, 0x0020), "p.patient_id"},
      {dicom::MakeTag(0x0010, 0x0021), "p.issuer"},
      {dicom::MakeTag(0x0010, 0x0030), "p.birth_date"},
      {dicom::MakeTag(0x0010, 0x0040), "p.sex"},
      {dicom::MakeTag(0x0020, 0x000D), "s.study_uid"},
      {dicom::MakeTag(0x0008, 0x0020), "s.study_date"},
      {dicom::MakeTag(0x0008, 0x0030), "s.study_time"},
      {dicom::MakeTag(0x0008, 0x0050), "s.accession"},
      {dicom::MakeTag(0x0020, 0x0010), "s.study_id"},
      {dicom::MakeTag(0x0008, 0x1030), "s.description"},
      {kReferringName, "s.referring"},
      {dicom::MakeTag(0x0008, 0x0080), "s.institution"},
      {dicom::MakeTag(0x0020, 0x000E), "se.series_uid"},
      {dicom::MakeTag(0x0008, 0x0060), "se.modality"},
      {dicom::MakeTag(0x0020, 0x0011), "se.series_number"},
      {dicom::MakeTag(0x0008, 0x103E), "se.description"},
      {dicom::MakeTag(0x0018, 0x0015), "se.body_part"},
      {dicom::MakeTag(0x0008, 0x0018), "i.sop_uid"},
      {dicom::MakeTag(0x0008, 0x0016), "i.sop_class"},
      {dicom::MakeTag(0x0020, 0x0013), "i.instance_number"},
      {dicom::MakeTag(0x0020, 0x1206), "(SELECT count(*) FROM series WHERE study=s.id)"},
      {dicom::MakeTag(0x0020, 0x1208),
       "(SELECT count(*) FROM instances z JOIN series x ON x.id=z.series WHERE x.study=s.id)"},
      {dicom::MakeTag(0x0020, 0x1209), "(SELECT count(*) FROM instances WHERE series=se.id)"},
      // Distinct values, byte order, backslash-separated (as SqliteIndex returns them).
      {dicom::MakeTag(0x0008, 0x0061),
       "(SELECT string_agg(DISTINCT modality, '\\' ORDER BY modality) FROM series "
       "WHERE study=s.id AND modality<>'')"},
      {dicom::MakeTag(0x0008, 0x0062),
       "(SELECT string_agg(DISTINCT z.sop_class, '\\' ORDER BY z.sop_class) FROM instances z "
       "JOIN series x ON x.id=z.series WHERE x.study=s.id)"},
  };
  auto it = kColumns.find(tag);
  return it == kColumns.end() ? std::string() : it->second;
}

// The stored folded form of a person name column (fuzzy matching), or "" if none.
std::string FoldedColumnOf(dicom::TagKey tag) {
  if (tag == kPatientName) return "p.name_folded";
  if (tag == kReferringName) return "s.referring_folded";
  return "";
}

// The set of rows of a computed list attribute, for matching (ModalitiesInStudy,
// SOPClassesInStudy): "EXISTS (... AND <value-column> <op>)".
std::string ListExists(dicom::TagKey tag) {
  if (tag == dicom::MakeTag(0x0008, 0x0061)) {
    return "EXISTS (SELECT 1 FROM series x WHERE x.study=s.id AND x.modality ";
  }
  return "EXISTS (SELECT 1 FROM instances z JOIN series x ON x.id=z.series "
         "WHERE x.study=s.id AND z.sop_class ";
}

// DICOM wildcards (* and ?) as a LIKE pattern (escape character '\'): LIKE's own % and
// _ and the escape character are escaped. `_` matches one character (not byte) of the
// UTF-8 text, as GLOB's `?` does.
std::string LikePattern(const std::string& value) {
  std::string out;
  for (char c : value) {
    switch (c) {
      case '*': out += '%'; break;
      case '?': out += '_'; break;
      case '%': case '_': case '\\': out += '\\'; out += c; break;
      default: out += c;
    }
  }
  return out;
}

// Appends code point `cp` as UTF-8.
void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// The literal prefix of a wildcard pattern, and the first string after all strings
// with that prefix (the prefix with its last character replaced by the next code point:
// UTF-8 byte order is code point order, and the bound stays valid UTF-8 for the
// server): lets the planner use an index for "Mü*".
bool PrefixRange(const std::string& pattern, std::string* low, std::string* high) {
  size_t n = pattern.find_first_of("*?");
  if (n == 0 || n == std::string::npos) return false;
  *low = pattern.substr(0, n);
  std::string rest = *low;
  while (!rest.empty()) {
    size_t start = rest.size() - 1;
    while (start > 0 && (static_cast<unsigned char>(rest[start]) & 0xC0) == 0x80) --start;
    const auto* s = reinterpret_cast<const unsigned char*>(rest.data()) + start;
    const size_t len = rest.size() - start;
    uint32_t cp = len == 1 ? s[0]
                  : len == 2 ? (s[0] & 0x1Fu) << 6 | (s[1] & 0x3Fu)
                  : len == 3 ? (s[0] & 0x0Fu) << 12 | (s[1] & 0x3Fu) << 6 | (s[2] & 0x3Fu)
                             : (s[0] & 0x07u) << 18 | (s[1] & 0x3Fu) << 12 | (s[2] & 0x3Fu) << 6 |
                                   (s[3] & 0x3Fu);
    rest.resize(start);
    if (len > 4 || cp >= 0x10FFFF) continue;  // no next code point: drop it
    ++cp;
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xE000;
    AppendUtf8(cp, &rest);
    *high = rest;
    return true;
  }
  return false;
}

bool Available(const dicom::QueryAttribute& a, QueryLevel level) {
  return static_cast<int>(a.level) <= static_cast<int>(level);
}

// "LIMIT n" for `query`: its limit plus one (saturating: kNoLimit fetches all).
std::string LimitClause(const dicom::Query& query) {
  constexpr size_t kMax = static_cast<size_t>(std::numeric_limits<int64_t>::max()) - 1;
  return query.limit >= kMax ? "ALL" : std::to_string(query.limit + 1);
}
constexpr size_t kMaxOffset = size_t{1} << 62;

struct Sql {
  std::string text;
  pg::Params params;
  std::vector<dicom::TagKey> columns;  // tags of the selected columns, in order
};

// True if some condition narrows the candidates through an index (a value, a list, a
// range, a wildcard with a literal prefix); false for "everything" queries.
bool Selective(const dicom::Query& query) {
  for (const Condition& c : query.conditions) {
    if (!Available(*c.attribute, query.level) || c.attribute->type == ValueType::kList) continue;
    std::string low, high;
    if (c.kind != Condition::Kind::kWildcard || PrefixRange(c.value, &low, &high)) return true;
  }
  return false;
}

// How the scope condition is evaluated (as in SqliteIndex): kProbe checks each candidate
// study against study_groups; kDrive first collects the scope's studies.
enum class ScopePlan { kProbe, kDrive };

// Integer String sort value as SQLite's CAST(x AS INTEGER) computes it: the leading
// integer (after spaces), 0 if there is none.
std::string IntegerOf(const std::string& column) {
  return "coalesce(substring(" + column + " from '^[[:space:]]*([+-]?[0-9]{1,18})')::bigint, 0)";
}

Sql BuildFind(const dicom::Query& query, const AccessScope& scope, ScopePlan plan) {
  Sql sql;
  size_t count = 0;
  auto param = [&](const std::string& v) {
    sql.params.Text(v);
    return "$" + std::to_string(++count);
  };
  // Outside the scope a study does not exist: not matched, not counted.
  std::string scope_param = scope.all ? "" : param(ScopeGroups(scope)) + "::text[]";
  std::string study_filter = scope.all ? ""
      : " AND EXISTS (SELECT 1 FROM study_groups g WHERE g.study=y.id AND g.group_name = ANY(" +
            scope_param + "))";
  std::string select;
  for (dicom::TagKey tag : query.return_tags) {
    const dicom::QueryAttribute* a = dicom::FindQueryAttribute(tag);
    if (!a || !Available(*a, query.level)) continue;
    select += (select.empty() ? "" : ", ") + ColumnOf(tag, study_filter);
    sql.columns.push_back(tag);
  }
  if (select.empty()) select = "1";
  std::string from;
  std::string order;
  switch (query.level) {
    case QueryLevel::kPatient:
      from = "patients p";
      order = "p.id";
      break;
    case QueryLevel::kStudy:
      from = "studies s JOIN patients p ON p.id=s.patient";
      order = "s.id";
      break;
    case QueryLevel::kSeries:
      from = "series se JOIN studies s ON s.id=se.study JOIN patients p ON p.id=s.patient";
      order = "se.id";
      break;
    case QueryLevel::kImage:
      from = "instances i JOIN series se ON se.id=i.series JOIN studies s ON s.id=se.study "
             "JOIN patients p ON p.id=s.patient";
      order = "i.id";
      break;
  }
  std::string where;
  auto add = [&](const std::string& clause) { where += (where.empty() ? "" : " AND ") + clause; };
  if (!scope.all && plan == ScopePlan::kProbe) {
    add(query.level == QueryLevel::kPatient
            ? "EXISTS (SELECT 1 FROM studies y WHERE y.patient=p.id" + study_filter + ")"
            : "EXISTS (SELECT 1 FROM study_groups g WHERE g.study=s.id AND g.group_name = ANY(" +
                  scope_param + "))");
  } else if (!scope.all) {
    std::string scoped_studies =
        "SELECT study FROM study_groups WHERE group_name = ANY(" + scope_param + ")";
    add(query.level == QueryLevel::kPatient
            ? "p.id IN (SELECT y.patient FROM studies y WHERE y.id IN (" + scoped_studies + "))"
            : "s.id IN (" + scoped_studies + ")");
  }
  for (const Condition& c : query.conditions) {
    const dicom::QueryAttribute& a = *c.attribute;
    if (!Available(a, query.level)) continue;  // keys below the query level do not apply
    bool fold = query.fuzzy_person_names && a.type == ValueType::kPersonName;
    std::string column = ColumnOf(a.tag, study_filter);
    if (fold && !FoldedColumnOf(a.tag).empty()) column = FoldedColumnOf(a.tag);
    std::string value = fold ? dicom::FoldPersonName(c.value) : c.value;
    if (a.type == ValueType::kList) {
      std::string exists = ListExists(a.tag);
      if (c.kind == Condition::Kind::kWildcard) {
        add(exists + "LIKE " + param(LikePattern(value)) + ")");
      } else if (c.kind == Condition::Kind::kList) {
        std::string in;
        for (const std::string& v : c.list) in += (in.empty() ? "" : ",") + param(v);
        add(exists + "IN (" + in + "))");
      } else {
        add(exists + "= " + param(value) + ")");
      }
      continue;
    }
    switch (c.kind) {
      case Condition::Kind::kSingle:
        add(column + " = " + param(value));
        break;
      case Condition::Kind::kWildcard: {
        std::string low, high;
        if (PrefixRange(value, &low, &high)) {
          add(column + " >= " + param(low));
          add(column + " < " + param(high));
        }
        add(column + " LIKE " + param(LikePattern(value)));
        break;
      }
      case Condition::Kind::kRange:
        add(column + " <> ''");
        if (!c.low.empty()) add(column + " >= " + param(c.low));
        if (!c.high.empty()) {
          // A time range's upper bound includes everything within its last unit:
          // "-1000" matches 10:00:59.
          std::string high = a.type == ValueType::kTime ? c.high + "\x7f" : c.high;
          add(column + " <= " + param(high));
        }
        break;
      case Condition::Kind::kList: {
        std::string in;
        for (const std::string& v : c.list) {
          in += (in.empty() ? "" : ",") + param(fold ? dicom::FoldPersonName(v) : v);
        }
        add(column + " IN (" + in + ")");
        break;
      }
    }
  }
  // Requested sort keys first, the row id last (in the last key's direction): a total,
  // stable order, so consecutive offsets page through the matches.
  std::string sort;
  bool descending = false;
  for (const dicom::SortKey& key : query.order_by) {
    if (!key.attribute || !dicom::IsSortable(*key.attribute, query.level)) continue;
    std::string column = key.attribute->tag == kPatientName ? std::string("p.name_folded")
                                                            : ColumnOf(key.attribute->tag);
    if (column.empty()) continue;
    // Integer Strings compare as numbers (an empty value as 0).
    if (key.attribute->tag == dicom::MakeTag(0x0020, 0x0011) ||
        key.attribute->tag == dicom::MakeTag(0x0020, 0x0013)) {
      column = IntegerOf(column);
    }
    descending = key.descending;
    sort += column + (descending ? " DESC, " : ", ");
  }
  order = sort + order + (descending ? " DESC" : "");
  sql.text = "SELECT " + select + " FROM " + from + (where.empty() ? "" : " WHERE " + where) +
             " ORDER BY " + order + " LIMIT " + LimitClause(query) + " OFFSET " +
             std::to_string(std::min<size_t>(query.offset, kMaxOffset));
  return sql;
}

}  // namespace

Result<std::vector<dicom::QueryMatch>> PostgresIndex::Find(const dicom::Query& query,
                                                          const AccessScope& scope) {
  std::vector<dicom::QueryMatch> out;
  TRESOR_RETURN_IF_ERROR(Read([&](pg::Connection& c) -> Status {
    ScopePlan plan = ScopePlan::kProbe;
    if (!scope.all && !Selective(query)) {
      // As in SqliteIndex: collecting the scope first wins while it has fewer than
      // sqrt(limit * studies) studies, which a bounded count (index only) tells.
      TRESOR_ASSIGN_OR_RETURN(pg::Rows max_id,
                              c.Query("SELECT coalesce(max(id), 0) FROM studies", "query plan"));
      const int64_t studies = max_id.Int(0, 0);
      auto bound = static_cast<int64_t>(
          std::sqrt((static_cast<double>(query.limit) + 1.0 + static_cast<double>(query.offset)) *
                    static_cast<double>(studies)));
      pg::Params p;
      p.Text(ScopeGroups(scope)).Int(bound);
      TRESOR_ASSIGN_OR_RETURN(pg::Rows n, c.Query(
          "SELECT count(*) FROM (SELECT 1 FROM study_groups WHERE group_name = ANY($1::text[]) "
          "LIMIT $2) x", p, "query plan"));
      if (n.Int(0, 0) < bound) plan = ScopePlan::kDrive;
    }
    Sql sql = BuildFind(query, scope, plan);
    TRESOR_ASSIGN_OR_RETURN(pg::Rows r, c.Query(sql.text, sql.params, "query"));
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
