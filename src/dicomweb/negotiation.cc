#include "dicomweb/negotiation.h"

#include <algorithm>
#include <cstdlib>

namespace tresor::dicomweb {
namespace {

constexpr size_t kMaxRanges = 64;
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
bool SplitOutsideQuotes(std::string_view text, char separator,
                        std::vector<std::string_view>* out) {
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

bool Covers(std::string_view range, std::string_view type) {
  if (range == "*/*") return true;
  if (range.size() >= 2 && range.substr(range.size() - 2) == "/*") {
    return type.substr(0, range.size() - 1) == range.substr(0, range.size() - 1);
  }
  return range == type;
}

}  // namespace tresor::dicomweb
