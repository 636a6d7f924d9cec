#include "store/query_sql.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace tresor::store::query_sql {
namespace {

using dicom::Condition;
using dicom::QueryLevel;
using dicom::ValueType;

constexpr dicom::TagKey kPatientName = dicom::MakeTag(0x0010, 0x0010);
constexpr dicom::TagKey kReferringName = dicom::MakeTag(0x0008, 0x0090);
constexpr dicom::TagKey kModalitiesInStudy = dicom::MakeTag(0x0008, 0x0061);
constexpr dicom::TagKey kSopClassesInStudy = dicom::MakeTag(0x0008, 0x0062);
constexpr dicom::TagKey kStudySeries = dicom::MakeTag(0x0020, 0x1206);
constexpr dicom::TagKey kStudyInstances = dicom::MakeTag(0x0020, 0x1208);

// A study aggregate (its counts, ModalitiesInStudy), computed or stored.
bool IsStudyAggregate(dicom::TagKey tag) {
  return tag == kModalitiesInStudy || tag == kStudySeries || tag == kStudyInstances;
}

// Where an attribute lives in the schema: a column expression over the aliases
// p (patients), s (studies), se (series), i (instances). `study_filter` ("" or
// " AND <condition on studies y>") limits the patient-level counts to visible studies.
std::string ColumnOf(Dialect d, dicom::TagKey tag, const std::string& study_filter = "") {
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
  // SQLite stores a study's counts and modalities with the study (kept by triggers,
  // store/sqlite_index.cc); PostgreSQL computes them.
  if (d == Dialect::kSqlite) {
    if (tag == kModalitiesInStudy) return "s.modalities";
    if (tag == kStudySeries) return "s.num_series";
    if (tag == kStudyInstances) return "s.num_instances";
  }
  // Distinct values, byte order, backslash-separated.
  if (tag == kModalitiesInStudy) {
    return "(SELECT string_agg(DISTINCT modality, '\\' ORDER BY modality) FROM series "
           "WHERE study=s.id AND modality<>'')";
  }
  if (tag == kSopClassesInStudy) {
    return d == Dialect::kSqlite
               ? "(SELECT group_concat(c, '\\') FROM (SELECT z.sop_class AS c FROM instances z "
                 "JOIN series x ON x.id=z.series WHERE x.study=s.id GROUP BY z.sop_class))"
               : "(SELECT string_agg(DISTINCT z.sop_class, '\\' ORDER BY z.sop_class) FROM "
                 "instances z JOIN series x ON x.id=z.series WHERE x.study=s.id)";
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
      {kStudySeries, "(SELECT count(*) FROM series WHERE study=s.id)"},
      {kStudyInstances,
       "(SELECT count(*) FROM instances z JOIN series x ON x.id=z.series WHERE x.study=s.id)"},
      {dicom::MakeTag(0x0020, 0x1209), "(SELECT count(*) FROM instances WHERE series=se.id)"},
  };
  auto it = kColumns.find(tag);
  return it == kColumns.end() ? std::string() : it->second;
}

// The folded form of person name column `column` (fuzzy matching). SQLite folds on the
// fly (tresor_fold(), registered by SqliteIndex) except for the stored p.name_folded;
// PostgreSQL has stored folded columns for both person names it matches.
std::string FoldedColumn(Dialect d, dicom::TagKey tag, const std::string& column) {
  if (tag == kPatientName) return "p.name_folded";
  if (d == Dialect::kSqlite) return "tresor_fold(" + column + ")";
  if (tag == kReferringName) return "s.referring_folded";
  return column;
}

// The set of rows of a computed list attribute, for matching (ModalitiesInStudy,
// SOPClassesInStudy): "EXISTS (... AND <value-column> <op>)".
std::string ListExists(dicom::TagKey tag) {
  if (tag == kModalitiesInStudy) {
    return "EXISTS (SELECT 1 FROM series x WHERE x.study=s.id AND x.modality ";
  }
  return "EXISTS (SELECT 1 FROM instances z JOIN series x ON x.id=z.series "
         "WHERE x.study=s.id AND z.sop_class ";
}

// "<op> <pattern>" matching DICOM wildcards (* and ?), `param` binding the pattern.
// SQLite: GLOB (its own '[' escaped), the pattern as an expression rather than a bare
// variable: SQLite marks a statement whose GLOB pattern is a bare variable for
// re-preparation whenever it is bound (to try its LIKE/GLOB index optimization), which
// would parse every cached Find statement again; the index range is added explicitly
// instead (PrefixRange). PostgreSQL: LIKE (escape character '\'), LIKE's own % and _
// and the escape character escaped; `_` matches one character (not byte) of the UTF-8
// text, as GLOB's `?` does.
template <typename Param>
std::string WildcardMatch(Dialect d, const std::string& value, Param&& param) {
  std::string out;
  if (d == Dialect::kSqlite) {
    for (char c : value) {
      if (c == '[') out += "[[]";
      else out.push_back(c);
    }
    return "GLOB (" + param(out) + " || '')";
  }
  for (char c : value) {
    switch (c) {
      case '*': out += '%'; break;
      case '?': out += '_'; break;
      case '%': case '_': case '\\': out += '\\'; out += c; break;
      default: out += c;
    }
  }
  return "LIKE " + param(out);
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
// with that prefix: lets the planner use an index for "Mü*". SQLite compares bytes: the
// prefix with its last byte below 0xFF incremented. PostgreSQL needs valid UTF-8: the
// prefix with its last character replaced by the next code point (UTF-8 byte order is
// code point order).
bool PrefixRange(Dialect d, const std::string& pattern, std::string* low, std::string* high) {
  size_t n = pattern.find_first_of("*?");
  if (n == 0 || n == std::string::npos) return false;
  *low = pattern.substr(0, n);
  if (d == Dialect::kSqlite) {
    *high = *low;
    while (!high->empty() && static_cast<unsigned char>(high->back()) == 0xFF) high->pop_back();
    if (high->empty()) return false;
    high->back() = static_cast<char>(static_cast<unsigned char>(high->back()) + 1);
    return true;
  }
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

// "<column> <membership in the groups bound as `param`>".
std::string InGroups(Dialect d, const std::string& param) {
  return d == Dialect::kSqlite ? "IN (SELECT value FROM json_each(" + param + "))"
                               : "= ANY(" + param + ")";
}

// Integer String sort value: SQLite's CAST(x AS INTEGER) (the leading integer after
// spaces, 0 if there is none), computed the same way on PostgreSQL.
std::string IntegerOf(Dialect d, const std::string& column) {
  if (d == Dialect::kSqlite) return "CAST(" + column + " AS INTEGER)";
  return "coalesce(substring(" + column + " from '^[[:space:]]*([+-]?[0-9]{1,18})')::bigint, 0)";
}

bool Available(const dicom::QueryAttribute& a, QueryLevel level) {
  return static_cast<int>(a.level) <= static_cast<int>(level);
}

// "n" for LIMIT n: the query's limit plus one (saturating: kNoLimit fetches all).
std::string LimitOf(Dialect d, const dicom::Query& query) {
  constexpr size_t kMax = static_cast<size_t>(std::numeric_limits<int64_t>::max()) - 1;
  if (query.limit >= kMax) return d == Dialect::kSqlite ? "-1" : "ALL";
  return std::to_string(static_cast<int64_t>(query.limit) + 1);
}
constexpr size_t kMaxOffset = size_t{1} << 62;

}  // namespace

bool Selective(Dialect dialect, const dicom::Query& query) {
  for (const Condition& c : query.conditions) {
    if (!Available(*c.attribute, query.level) || c.attribute->type == ValueType::kList) continue;
    std::string low, high;
    if (c.kind != Condition::Kind::kWildcard || PrefixRange(dialect, c.value, &low, &high)) {
      return true;
    }
  }
  return false;
}

int64_t DriveBound(const dicom::Query& query, int64_t studies) {
  return static_cast<int64_t>(
      std::sqrt((static_cast<double>(query.limit) + 1.0 + static_cast<double>(query.offset)) *
                static_cast<double>(studies)));
}

FindSql BuildFind(Dialect d, const dicom::Query& query, const security::AccessScope& scope,
                  ScopePlan plan, const std::string& scope_groups) {
  FindSql sql;
  auto param = [&](const std::string& v) {
    sql.params.push_back(v);
    return (d == Dialect::kSqlite ? "?" : "$") + std::to_string(sql.params.size());
  };
  // Outside the scope a study does not exist: not matched, not counted.
  std::string scope_param =
      scope.all ? "" : param(scope_groups) + (d == Dialect::kSqlite ? "" : "::text[]");
  auto study_in_scope = [&](const std::string& alias) {
    return "EXISTS (SELECT 1 FROM study_groups g WHERE g.study=" + alias + " AND g.group_name " +
           InGroups(d, scope_param) + ")";
  };
  std::string study_filter = scope.all ? "" : " AND " + study_in_scope("y.id");
  std::string select;
  // Some column is a correlated subquery (counts, lists) or a stored study aggregate:
  // a query that returns such columns is a study list, usually paged.
  bool computed = false;
  for (dicom::TagKey tag : query.return_tags) {
    const dicom::QueryAttribute* a = dicom::FindQueryAttribute(tag);
    if (!a || !Available(*a, query.level)) continue;
    std::string column = ColumnOf(d, tag, study_filter);
    computed = computed || (!column.empty() && column.front() == '(') || IsStudyAggregate(tag);
    select += (select.empty() ? "" : ", ") + column;
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
            : study_in_scope("s.id"));
  } else if (!scope.all) {
    std::string scoped_studies =
        "SELECT study FROM study_groups WHERE group_name " + InGroups(d, scope_param);
    add(query.level == QueryLevel::kPatient
            ? "p.id IN (SELECT y.patient FROM studies y WHERE y.id IN (" + scoped_studies + "))"
            : "s.id IN (" + scoped_studies + ")");
  }
  for (const Condition& c : query.conditions) {
    const dicom::QueryAttribute& a = *c.attribute;
    if (!Available(a, query.level)) continue;  // keys below the query level do not apply
    bool fold = query.fuzzy_person_names && a.type == ValueType::kPersonName;
    std::string column = ColumnOf(d, a.tag, study_filter);
    if (fold) column = FoldedColumn(d, a.tag, column);
    std::string value = fold ? dicom::FoldPersonName(c.value) : c.value;
    if (a.type == ValueType::kList) {
      std::string exists = ListExists(a.tag);
      if (c.kind == Condition::Kind::kWildcard) {
        add(exists + WildcardMatch(d, value, param) + ")");
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
        if (PrefixRange(d, value, &low, &high)) {
          add(column + " >= " + param(low));
          add(column + " < " + param(high));
        }
        add(column + " " + WildcardMatch(d, value, param));
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
  // One row beyond the limit tells the caller that more exist; the order (row ids, which
  // only grow) is stable, so consecutive offsets page through the matches. Requested sort
  // keys come first and the row id stays last (in the last key's direction, so an index
  // on the one sort column serves both): the order is total, paging stays consistent.
  std::string sort;
  bool descending = false;
  for (const dicom::SortKey& key : query.order_by) {
    if (!key.attribute || !dicom::IsSortable(*key.attribute, query.level)) continue;
    std::string column = key.attribute->tag == kPatientName ? std::string("p.name_folded")
                                                            : ColumnOf(d, key.attribute->tag);
    if (column.empty()) continue;
    // Integer Strings compare as numbers (an empty value as 0).
    if (key.attribute->tag == dicom::MakeTag(0x0020, 0x0011) ||
        key.attribute->tag == dicom::MakeTag(0x0020, 0x0013)) {
      column = IntegerOf(d, column);
    }
    descending = key.descending;
    sort += column + (descending ? " DESC, " : ", ");
  }
  const std::string key = order;  // the level's row id
  order = sort + order + (descending ? " DESC" : "");
  std::string page = (where.empty() ? "" : " WHERE " + where) + " ORDER BY " + order +
                     " LIMIT " + LimitOf(d, query) + " OFFSET " +
                     std::to_string(std::min<size_t>(query.offset, kMaxOffset));
  if (!computed) {
    sql.text = "SELECT " + select + " FROM " + from + page;
    return sql;
  }
  // Computed columns are evaluated, and rows read, for the returned page only: the inner
  // statement picks the page's row ids (from covering indexes where it can), the outer
  // one reads those rows by id and evaluates the columns. Without this SQLite evaluates
  // them for every match before sorting ("Mü*" on 100k instances: 348 matches for a page
  // of 102), and sorts whole rows.
  sql.text = "SELECT " + select + " FROM " + from + " WHERE " + key + " IN (SELECT " + key +
             " FROM " + from + page + ") ORDER BY " + order;
  return sql;
}

}  // namespace tresor::store::query_sql
