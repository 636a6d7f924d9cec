// Media types as DICOMweb clients send them: Content-Type of STOW-RS bodies and parts, and
// Accept headers of retrievals (PS3.18 8.7). Tolerant of what real clients do: quoted or
// unquoted parameter values, a `type` whose value carries its own parameters, repeated
// `transfer-syntax` parameters, q-values, several ranges and `*/*`.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace tresor::dicomweb {

// One media type with its parameters. Type and parameter names are lower case; values are
// unquoted (backslash escapes resolved) and keep their case.
struct MediaType {
  std::string type;  // "multipart/related", "application/dicom", "*/*", "image/*"
  std::vector<std::pair<std::string, std::string>> params;  // in order, repeats kept

  // The first value of parameter `name` (lower case), or empty.
  std::string Param(std::string_view name) const;
  // Every value of parameter `name`, in order.
  std::vector<std::string> Params(std::string_view name) const;
};

// Parses one media type ("type/subtype *( ; name=value )"). kInvalidArgument when there is
// no "type/subtype", a parameter has no name, or a quoted string does not end.
Result<MediaType> ParseMediaType(std::string_view text);

// One range of an Accept header with its quality.
struct MediaRange {
  MediaType media;
  double q = 1.0;  // the `q` parameter (removed from media.params); 0 means "not this"
};

// Parses an Accept header: the ranges, best first (higher q first, ties in header order).
// An empty or absent header yields one range "*/*". kInvalidArgument when a range does not
// parse or a q-value is not a number in [0, 1].
Result<std::vector<MediaRange>> ParseAccept(std::string_view header);

// True if `range` ("*/*", "image/*" or a type) covers media type `type` (lower case).
bool Covers(std::string_view range, std::string_view type);

}  // namespace tresor::dicomweb
