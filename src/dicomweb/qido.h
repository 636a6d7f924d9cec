// QIDO-RS (PS3.18 10.6): the query parameters of a search, parsed into the same
// dicom::Query C-FIND builds (dicom::FindQueryAttribute, dicom::ParseMatchingValues), and
// the application/dicom+json body of its matches. The routes themselves are registered by
// AddQidoRoutes (routes.h). Everything here is pure (no I/O) and thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "dicom/query.h"
#include "dicomweb/dicomweb.h"

namespace tresor::dicomweb {

// The resource a search is addressed to.
enum class QidoTarget {
  kStudies,               // /studies
  kStudySeries,           // /studies/{study}/series
  kSeries,                // /series
  kStudySeriesInstances,  // /studies/{study}/series/{series}/instances
  kStudyInstances,        // /studies/{study}/instances
  kInstances,             // /instances
};

struct QidoRequest {
  dicom::Query query;                  // level, conditions, return tags, limit, offset, fuzzy
  std::vector<dicom::TagKey> attributes;  // the members of every result object, in tag order
  std::vector<std::string> ignored;    // includefield values the index cannot return
  size_t requested_limit = 0;          // `limit` as asked (0: none given)
};

// Parses the raw query string (after '?', percent-encoded) of a search on `target`;
// `study_uid` and `series_uid` are the path's UIDs (empty where the path has none).
// Supported parameters:
//  - {attribute}={value}: attribute by keyword ("PatientName") or tag ("00100010"); the
//    value percent-decoded UTF-8 with C-FIND's matching (single value, `*`/`?` wildcards,
//    date/time ranges, UID lists with `\` or `,`); several values (`a,b` or a repeated
//    parameter) match any of them; an empty value returns the attribute without matching;
//  - includefield={attribute}[,...] (repeatable), or `all`: attributes to return too;
//  - fuzzymatching=true|false; limit (at most options.qido_max_limit; default
//    options.qido_default_limit) and offset.
// kInvalidArgument, with a message naming the parameter or attribute, for anything else:
// unknown or unsupported attributes, attributes below the target's level, malformed
// values or escapes, invalid UTF-8, invalid path UIDs. An includefield naming a known
// attribute the index does not hold (or not at this level) is listed in `ignored`.
Result<QidoRequest> ParseQidoRequest(QidoTarget target, const std::string& study_uid,
                                     const std::string& series_uid,
                                     std::string_view query_string,
                                     const DicomWebOptions& options);

// The application/dicom+json body of `matches`: a JSON array with one object per match,
// holding request.attributes (values the index has none for are empty attributes).
std::string QidoResponseBody(const QidoRequest& request,
                             const std::vector<dicom::QueryMatch>& matches);

// Percent-decodes one query string component ('+' is a space). kInvalidArgument for a
// broken escape or a result that is not UTF-8.
Result<std::string> DecodeQueryComponent(std::string_view text);

}  // namespace tresor::dicomweb
