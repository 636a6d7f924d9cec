// Media types as DICOMweb clients send them: Content-Type of STOW-RS bodies and parts, and
// Accept headers of retrievals (PS3.18 8.7). Tolerant of what real clients do: quoted or
// unquoted parameter values, a `type` whose value carries its own parameters, repeated
// `transfer-syntax` parameters, q-values, several ranges and `*/*`.
#pragma once

#include <optional>
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

// --- Retrieve renditions (PS3.18 8.7.3, 8.7.5) -------------------------------------------

// What a WADO-RS retrieve resource returns.
enum class Resource {
  kInstances,  // study, series, instance: DICOM Part 10 objects (application/dicom)
  kFrames,     // frames: pixel data (application/octet-stream or a compressed media type)
};

// One rendition a client accepts: the media type of each part and a transfer syntax.
struct Acceptable {
  std::string part_type;        // "application/dicom", "application/octet-stream", "image/jls"
  std::string transfer_syntax;  // a UID, "*" (as stored) or empty (part_type's default)
  bool multipart = true;        // false: a single-part body (only when one part is asked for)
};

// The renditions `ranges` accept for `resource`, best first (q order, then header order,
// then the order of repeated transfer-syntax parameters, those of the range before those
// of its `type` value). Understood ranges: `multipart/related` with a `type` (quoted or
// not, its own parameters honoured; no `type`: the resource's part type), `multipart/*`,
// `*/*`, and, when `single` (one object or one frame is asked for), the part types
// themselves as single-part bodies. Ranges with q=0 and types the resource never produces
// contribute nothing; an empty result means 406. kInvalidArgument when a `type` value
// does not parse or a transfer-syntax value is neither "*" nor a UID.
Result<std::vector<Acceptable>> AcceptableRenditions(const std::vector<MediaRange>& ranges,
                                                     Resource resource, bool single);

// What is sent for one object or frame.
struct Rendition {
  std::string part_type;        // media type of the part (or of a single-part body)
  std::string transfer_syntax;  // the UID actually sent
  bool as_stored = false;       // the stored bytes go out unchanged (no codec runs)
  bool multipart = true;

  // The part's Content-Type: "<part_type>; transfer-syntax=<uid>".
  std::string ContentType() const;
};

// The default transfer syntax of a part type for `resource` (PS3.18 Tables 8.7.3-2 and
// 8.7.3-5): Explicit VR Little Endian for application/dicom and application/octet-stream,
// JPEG lossless SV1 for image/jpeg, JPEG-LS lossless for image/jls, RLE for
// image/dicom-rle, ...; empty for a type without one.
std::string DefaultTransferSyntax(std::string_view part_type);

// Whether frames in transfer syntax `ts` may be sent as `part_type` (octet-stream takes
// any; image/jpeg only the JPEG syntaxes, ...).
bool PartTypeCarries(std::string_view part_type, std::string_view ts);

// The first of `acceptable` that the archive can produce for an object (or frame) stored
// in `stored_ts`: "*" and the stored syntax itself are sent as stored; another syntax
// needs a conversion (dicom::CanTranscode for objects, decoding into Explicit VR Little
// Endian for frames). When the client names no syntax and the object is stored lossy,
// the stored form is sent (PS3.18 8.7.3: the default does not apply to pixel data the
// server holds only in lossy form). nullopt when none is possible (406).
std::optional<Rendition> ChooseRendition(const std::vector<Acceptable>& acceptable,
                                         std::string_view stored_ts, Resource resource);

}  // namespace tresor::dicomweb
