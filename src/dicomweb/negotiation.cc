#include "dicomweb/negotiation.h"

#include <algorithm>
#include <cstdlib>

#include "dicom/transcode.h"
#include "dicom/transfer_syntax.h"
#include "dicom/uid.h"

namespace tresor::dicomweb {
namespace {

constexpr size_t kMaxRanges = 64;
constexpr char kDicom[] = "application/dicom";
constexpr char kOctetStream[] = "application/octet-stream";

// Part types of compressed frames and the transfer syntaxes each carries, the default
// first (PS3.18 Table 8.7.3-5; the x- names are the older spellings, still sent).
struct FrameType {
  const char* type;
  std::vector<const char*> syntaxes;
};
const std::vector<FrameType>& FrameTypes() {
  static const std::vector<FrameType> types = {
      {"image/jpeg",
       {"1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.57"}},
      {"image/jls", {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}},
      {"image/x-jls", {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}},
      {"image/dicom-rle", {"1.2.840.10008.1.2.5"}},
      {"image/x-dicom-rle", {"1.2.840.10008.1.2.5"}},
      {"image/jp2", {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"}},
      {"image/jpx", {"1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93"}},
  };
  return types;
}
const FrameType* FindFrameType(std::string_view type) {
  for (const FrameType& t : FrameTypes()) {
    if (type == t.type) return &t;
  }
  return nullptr;
}

// Whether `resource` produces parts of media type `type`.
bool IsPartType(Resource resource, std::string_view type) {
  if (resource == Resource::kInstances) return type == kDicom;
  return type == kOctetStream || FindFrameType(type) != nullptr;
}

const char* DefaultPartType(Resource resource) {
  return resource == Resource::kInstances ? kDicom : kOctetStream;
}
constexpr size_t kMaxParams = 32;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits `text` at `separator` characters outside quoted strings. False if a quoted
// string does not end.
bool SplitOutsideQuotes(std::string_view text, char separator, std::vector<std::string_view>* out) {
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == separator) {
      out->push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  if (quoted) return false;
  out->push_back(text.substr(start));
  return true;
}

std::string Unquote(std::string_view value) {
  value = Trim(value);
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') return std::string(value);
  std::string out;
  for (size_t i = 1; i + 1 < value.size(); ++i) {
    if (value[i] == '\\' && i + 2 < value.size()) ++i;
    out.push_back(value[i]);
  }
  return out;
}

}  // namespace

std::string MediaType::Param(std::string_view name) const {
  for (const auto& [n, v] : params) {
    if (n == name) return v;
  }
  return {};
}

std::vector<std::string> MediaType::Params(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : params) {
    if (n == name) out.push_back(v);
  }
  return out;
}

Result<MediaType> ParseMediaType(std::string_view text) {
  std::vector<std::string_view> pieces;
  if (!SplitOutsideQuotes(text, ';', &pieces)) {
    return InvalidArgument("unterminated quoted string in media type");
  }
  MediaType media;
  std::string_view type = Trim(pieces.front());
  size_t slash = type.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == type.size() ||
      type.find_first_of(" \t\",", 0) != std::string_view::npos) {
    return InvalidArgument("a media type must be type/subtype");
  }
  media.type = Lower(type);
  if (pieces.size() - 1 > kMaxParams) return InvalidArgument("too many media type parameters");
  for (size_t i = 1; i < pieces.size(); ++i) {
    std::string_view piece = Trim(pieces[i]);
    if (piece.empty()) continue;  // "a/b;" or "a/b;;c=d"
    size_t equals = piece.find('=');
    std::string_view name = Trim(piece.substr(0, equals));
    if (name.empty()) return InvalidArgument("a media type parameter has no name");
    std::string value =
        equals == std::string_view::npos ? std::string() : Unquote(piece.substr(equals + 1));
    media.params.emplace_back(Lower(name), std::move(value));
  }
  return media;
}

Result<std::vector<MediaRange>> ParseAccept(std::string_view header) {
  std::vector<MediaRange> ranges;
  std::vector<std::string_view> pieces;
  if (!SplitOutsideQuotes(header, ',', &pieces)) {
    return InvalidArgument("unterminated quoted string in Accept");
  }
  for (std::string_view piece : pieces) {
    if (Trim(piece).empty()) continue;
    if (ranges.size() == kMaxRanges) return InvalidArgument("too many media ranges in Accept");
    auto media = ParseMediaType(piece);
    if (!media.ok()) return media.status();
    MediaRange range;
    for (auto it = media->params.begin(); it != media->params.end();) {
      if (it->first != "q") {
        ++it;
        continue;
      }
      char* end = nullptr;
      double q = std::strtod(it->second.c_str(), &end);
      if (it->second.empty() || end != it->second.c_str() + it->second.size() || !(q >= 0) ||
          q > 1) {
        return InvalidArgument("a q-value must be a number from 0 to 1");
      }
      range.q = q;
      it = media->params.erase(it);
    }
    range.media = std::move(media).value();
    ranges.push_back(std::move(range));
  }
  if (ranges.empty()) ranges.push_back(MediaRange{MediaType{"*/*", {}}, 1.0});
  std::stable_sort(ranges.begin(), ranges.end(),
                   [](const MediaRange& a, const MediaRange& b) { return a.q > b.q; });
  return ranges;
}

Result<std::vector<Acceptable>> AcceptableRenditions(const std::vector<MediaRange>& ranges,
                                                     Resource resource, bool single) {
  std::vector<Acceptable> out;
  for (const MediaRange& range : ranges) {
    if (range.q <= 0) continue;
    const std::string& type = range.media.type;
    std::vector<std::string> syntaxes = range.media.Params("transfer-syntax");
    Acceptable acceptable;
    if (type == "multipart/related") {
      std::string inner_text = range.media.Param("type");
      if (inner_text.empty()) {
        acceptable.part_type = DefaultPartType(resource);
      } else {
        auto inner = ParseMediaType(inner_text);
        if (!inner.ok()) return InvalidArgument("the type parameter is not a media type");
        acceptable.part_type = inner->type;
        for (std::string& ts : inner->Params("transfer-syntax")) syntaxes.push_back(std::move(ts));
      }
      // type="*/*" or "application/*": whatever the resource's parts are.
      if (acceptable.part_type.find('*') != std::string::npos &&
          Covers(acceptable.part_type, DefaultPartType(resource))) {
        acceptable.part_type = DefaultPartType(resource);
      }
    } else if (type == "multipart/*" || type == "*/*") {
      acceptable.part_type = DefaultPartType(resource);
    } else if (single && IsPartType(resource, type)) {
      acceptable.part_type = type;
      acceptable.multipart = false;
    } else {
      continue;
    }
    if (!IsPartType(resource, acceptable.part_type)) continue;
    for (const std::string& ts : syntaxes) {
      if (ts != "*" && !dicom::IsValidUid(ts)) {
        return InvalidArgument("a transfer-syntax value must be * or a UID");
      }
    }
    if (syntaxes.empty()) syntaxes.emplace_back();
    for (std::string& ts : syntaxes) {
      acceptable.transfer_syntax = std::move(ts);
      out.push_back(acceptable);
    }
  }
  return out;
}

std::string Rendition::ContentType() const {
  return part_type + "; transfer-syntax=" + transfer_syntax;
}

std::string DefaultTransferSyntax(std::string_view part_type) {
  if (part_type == kDicom || part_type == kOctetStream) return dicom::kExplicitVRLittleEndian;
  const FrameType* t = FindFrameType(part_type);
  return t ? t->syntaxes.front() : std::string();
}

bool PartTypeCarries(std::string_view part_type, std::string_view ts) {
  if (part_type == kDicom || part_type == kOctetStream) return true;
  const FrameType* t = FindFrameType(part_type);
  if (t == nullptr) return false;
  for (const char* s : t->syntaxes) {
    if (ts == s) return true;
  }
  return false;
}

std::optional<Rendition> ChooseRendition(const std::vector<Acceptable>& acceptable,
                                         std::string_view stored_ts, Resource resource) {
  for (const Acceptable& a : acceptable) {
    Rendition r;
    r.part_type = a.part_type;
    r.multipart = a.multipart;
    std::string ts = a.transfer_syntax;
    if (ts == "*" || (ts.empty() && dicom::IsLossyTransferSyntax(stored_ts))) {
      if (!PartTypeCarries(a.part_type, stored_ts)) continue;
      r.transfer_syntax = std::string(stored_ts);
      r.as_stored = true;
      return r;
    }
    if (ts.empty()) ts = DefaultTransferSyntax(a.part_type);
    if (!PartTypeCarries(a.part_type, ts)) continue;
    r.transfer_syntax = ts;
    if (ts == stored_ts) {
      r.as_stored = true;
      return r;
    }
    bool possible = resource == Resource::kInstances
                        ? dicom::CanTranscode(stored_ts, ts)
                        : ts == dicom::kExplicitVRLittleEndian && dicom::CanDecodeFrames(stored_ts);
    if (possible) return r;
  }
  return std::nullopt;
}

bool Covers(std::string_view range, std::string_view type) {
  if (range == "*/*") return true;
  if (range.size() >= 2 && range.substr(range.size() - 2) == "/*") {
    return type.substr(0, range.size() - 1) == range.substr(0, range.size() - 1);
  }
  return range == type;
}

}  // namespace tresor::dicomweb
