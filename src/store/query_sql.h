// Store-internal: the C-FIND / QIDO query builder shared by the index backends
// (SqliteIndex, PostgresIndex). One builder produces the statement for either SQL
// dialect; only what the dialects spell differently is chosen per dialect.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dicom/query.h"
#include "security/access_scope.h"

namespace tresor::store::query_sql {

enum class Dialect { kSqlite, kPostgres };

// How the scope condition is evaluated. kProbe checks each candidate study against
// study_groups (cheap when the other conditions are selective or the scope is large);
// kDrive first collects the scope's studies and matches only those (cheap when the
// scope is small and the query is broad).
enum class ScopePlan { kProbe, kDrive };

// A generated statement: its text, its parameters (texts, bound in order as ?1.. or
// $1..), and the tags of the selected columns in order.
struct FindSql {
  std::string text;
  std::vector<std::string> params;
  std::vector<dicom::TagKey> columns;
};

// True if some condition narrows the candidates through an index (a value, a list, a
// range, a wildcard with a literal prefix); false for "everything" queries.
bool Selective(Dialect dialect, const dicom::Query& query);

// For a broad query with a limited scope: a query probing every study until `limit`
// visible ones are found scans about limit * studies / scope studies rows; collecting
// the scope first costs about its size. Collecting (kDrive) wins while the scope has
// fewer than the returned sqrt((limit + 1 + offset) * studies) studies; `studies`
// estimates the number of studies (the highest study id).
int64_t DriveBound(const dicom::Query& query, int64_t studies);

// The statement for `query` within `scope`. `scope_groups` is the scope's groups as the
// dialect binds them (SQLite: a JSON array for json_each(); PostgreSQL: a text[]
// literal); unused when scope.all.
FindSql BuildFind(Dialect dialect, const dicom::Query& query, const security::AccessScope& scope,
                  ScopePlan plan, const std::string& scope_groups);

}  // namespace tresor::store::query_sql
