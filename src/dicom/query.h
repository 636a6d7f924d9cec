// dicom::Query: one query against the archive's index, independent of the protocol it
// came from. C-FIND (dimse/) and QIDO-RS (dicomweb/) parse into it; store::Index
// answers it from the index alone; archive::ArchiveService applies access and limits.
//
// Matching follows PS3.4 C.2.2.2: universal (empty value), single value, wildcard
// (`*`, `?`), range (dates and times, `a-b`, `a-`, `-b`) and UID list (`a\b\c`).
// Text is UTF-8 throughout.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "dicom/dataset_scanner.h"

namespace tresor::dicom {

enum class QueryLevel { kPatient = 0, kStudy, kSeries, kImage };

// How an attribute's values are matched.
enum class ValueType {
  kText,        // LO, SH, CS, IS: single value and wildcard, case-sensitive
  kPersonName,  // PN: like kText; optionally case- and accent-insensitive
  kDate,        // DA: single value and range
  kTime,        // TM: single value and range
  kUid,         // UI: single value and UID list
  kCount,       // computed count (IS): return only
  kList,        // computed multi-valued CS/UI (ModalitiesInStudy, SOPClassesInStudy):
                // single value or wildcard matches if any value matches it; several
                // values (`CT\MR`) match if any value is one of them
};

struct QueryAttribute {
  TagKey tag;
  const char* keyword;
  QueryLevel level;  // the level of the entity it describes
  ValueType type;
};

// Every attribute the index can match or return, in tag order.
const std::vector<QueryAttribute>& QueryAttributes();
// The attribute for `tag`, or nullptr if the index does not hold it.
const QueryAttribute* FindQueryAttribute(TagKey tag);
// The attribute called `keyword` (e.g. "PatientName"), or nullptr if the index does not
// hold it.
const QueryAttribute* FindQueryAttribute(std::string_view keyword);
// The tag of any attribute of the DICOM data dictionary called `keyword`, or nullopt if
// the dictionary has none (thread-safe).
std::optional<TagKey> DictionaryTag(std::string_view keyword);

struct Condition {
  enum class Kind { kSingle, kWildcard, kRange, kList };
  const QueryAttribute* attribute = nullptr;
  Kind kind = Kind::kSingle;
  std::string value;             // kSingle, kWildcard
  std::string low, high;         // kRange; either may be empty (open)
  std::vector<std::string> list; // kList
};

// Parses the matching value `value` (UTF-8, padding trimmed) of `attribute`. Returns
// kInvalidArgument for values that cannot be matched (e.g. a malformed range).
// An empty value is universal matching and yields no condition (check `matches`).
struct ParsedKey {
  bool matches = false;  // false: universal matching (return key only)
  Condition condition;
};
Result<ParsedKey> ParseMatchingKey(const QueryAttribute& attribute, const std::string& value);

// Parses several alternative matching values of one attribute (QIDO-RS `key=a,b` or a
// repeated key): the entity matches if any of them matches. One value is
// ParseMatchingKey; several become one kList condition, for UIDs, single text, names,
// dates and times and for list attributes (ModalitiesInStudy); any universal value makes
// the whole key universal; a value that is itself a list (`a\b`) adds its members.
// kInvalidArgument (naming the attribute) when a value does not parse or cannot be part
// of a list (wildcards, ranges).
Result<ParsedKey> ParseMatchingValues(const QueryAttribute& attribute,
                                      const std::vector<std::string>& values);

// One key of a requested result order (QIDO-RS `orderby`, a Tresor extension): matches
// are sorted by the attribute's value, ascending or descending. Values compare as UTF-8
// bytes, except Series and Instance Number (as integers) and Patient Name, which compares
// folded (FoldPersonName: case and Latin accents ignored); empty values sort first
// ascending, last descending.
struct SortKey {
  const QueryAttribute* attribute = nullptr;
  bool descending = false;
};
// True if matches at `level` can be ordered by `attribute`: a stored value available at
// that level (its own or a higher level), not a computed count or list.
bool IsSortable(const QueryAttribute& attribute, QueryLevel level);

struct Query {
  QueryLevel level = QueryLevel::kStudy;
  bool patient_root = false;          // Patient Root model (else Study Root)
  std::vector<Condition> conditions;  // all must match
  std::vector<TagKey> return_tags;    // attributes to return (index-held ones get values)
  static constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();
  size_t limit = kNoLimit;            // at most this many matches are returned (the archive
                                      // lowers it to its configured result limit)
  size_t offset = 0;                  // the first this many matches (in the index's stable
                                      // order) are skipped: paging (QIDO-RS `offset`)
  bool fuzzy_person_names = false;    // PN matching ignores case and accents
  // The result order: these keys in turn (each IsSortable at `level`), then the index's
  // stable order as the last key (in the direction of the last key given), so the order
  // is total and consecutive offsets page through it. Applied before offset and limit.
  // Empty: the stable order alone (C-FIND and QIDO-RS without orderby).
  static constexpr size_t kMaxSortKeys = 4;
  std::vector<SortKey> order_by;      // at most kMaxSortKeys
};

// One matching entity: values by tag, UTF-8; absent tags have no value.
struct QueryMatch {
  TagValues values;
};

// Lower-cases and strips accents of Latin letters (UTF-8), for fuzzy PN matching:
// "Müller^Jörg" -> "muller^jorg", "Ōtsuka^Thị" -> "otsuka^thi", "Łukasz" -> "lukasz".
// Covers ASCII, Latin-1 Supplement, Latin Extended-A/B and Latin Extended Additional;
// other scripts are kept as they are. Changing the mapping changes stored folded names:
// bump SqliteIndex's fold version so that existing archives are refolded.
std::string FoldPersonName(const std::string& utf8);

}  // namespace tresor::dicom
