#include "dicomweb/qido.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <utility>

#include "core/log.h"
#include "dicom/uid.h"
#include "dicomweb/json_values.h"
#include "dicomweb/negotiation.h"
#include "dicomweb/routes.h"
#include "web/error_mapping.h"

namespace tresor::dicomweb {
namespace {

using dicom::MakeTag;
using dicom::QueryLevel;
using dicom::TagKey;

constexpr TagKey kSpecificCharacterSet = MakeTag(0x0008, 0x0005);
constexpr TagKey kInstanceAvailability = MakeTag(0x0008, 0x0056);
constexpr TagKey kStudyInstanceUid = MakeTag(0x0020, 0x000D);
constexpr TagKey kSeriesInstanceUid = MakeTag(0x0020, 0x000E);

// Values every result object carries that are not in the index: the JSON is UTF-8
// (F.2), and whatever is indexed is stored online.
const char* ConstantValue(TagKey tag) {
  if (tag == kSpecificCharacterSet) return "ISO_IR 192";
  if (tag == kInstanceAvailability) return "ONLINE";
  return nullptr;
}

// The VR of every attribute a QIDO-RS response can hold.
const char* VrOf(TagKey tag) {
  switch (tag) {
    case MakeTag(0x0008, 0x0005): return "CS";
    case MakeTag(0x0008, 0x0016): return "UI";
    case MakeTag(0x0008, 0x0018): return "UI";
    case MakeTag(0x0008, 0x0020): return "DA";
    case MakeTag(0x0008, 0x0030): return "TM";
    case MakeTag(0x0008, 0x0050): return "SH";
    case MakeTag(0x0008, 0x0056): return "CS";
    case MakeTag(0x0008, 0x0060): return "CS";
    case MakeTag(0x0008, 0x0061): return "CS";
    case MakeTag(0x0008, 0x0062): return "UI";
    case MakeTag(0x0008, 0x0080): return "LO";
    case MakeTag(0x0008, 0x0090): return "PN";
    case MakeTag(0x0008, 0x1030): return "LO";
    case MakeTag(0x0008, 0x103E): return "LO";
    case MakeTag(0x0010, 0x0010): return "PN";
    case MakeTag(0x0010, 0x0020): return "LO";
    case MakeTag(0x0010, 0x0021): return "LO";
    case MakeTag(0x0010, 0x0030): return "DA";
    case MakeTag(0x0010, 0x0040): return "CS";
    case MakeTag(0x0018, 0x0015): return "CS";
    case MakeTag(0x0020, 0x000D): return "UI";
    case MakeTag(0x0020, 0x000E): return "UI";
    case MakeTag(0x0020, 0x0010): return "SH";
    case MakeTag(0x0020, 0x0011): return "IS";
    case MakeTag(0x0020, 0x0013): return "IS";
    case MakeTag(0x0020, 0x1200): return "IS";
    case MakeTag(0x0020, 0x1202): return "IS";
    case MakeTag(0x0020, 0x1204): return "IS";
    case MakeTag(0x0020, 0x1206): return "IS";
    case MakeTag(0x0020, 0x1208): return "IS";
    case MakeTag(0x0020, 0x1209): return "IS";
    default: return nullptr;
  }
}

// Default return attributes (PS3.18 table 6.7.1-2 / 10.6.3-3..5), as far as the index
// holds them. RetrieveURL is left out: it would have to be built from the request's Host.
const std::vector<TagKey>& StudyDefaults() {
  static const auto* tags = new std::vector<TagKey>{
      kSpecificCharacterSet,      MakeTag(0x0008, 0x0020), MakeTag(0x0008, 0x0030),
      MakeTag(0x0008, 0x0050),    kInstanceAvailability,   MakeTag(0x0008, 0x0061),
      MakeTag(0x0008, 0x0090),    MakeTag(0x0010, 0x0010), MakeTag(0x0010, 0x0020),
      MakeTag(0x0010, 0x0030),    MakeTag(0x0010, 0x0040), kStudyInstanceUid,
      MakeTag(0x0020, 0x0010),    MakeTag(0x0020, 0x1206), MakeTag(0x0020, 0x1208)};
  return *tags;
}
const std::vector<TagKey>& SeriesDefaults() {
  static const auto* tags = new std::vector<TagKey>{
      kSpecificCharacterSet, kInstanceAvailability,   MakeTag(0x0008, 0x0060),
      MakeTag(0x0008, 0x103E), kStudyInstanceUid,     kSeriesInstanceUid,
      MakeTag(0x0020, 0x0011), MakeTag(0x0020, 0x1209)};
  return *tags;
}
const std::vector<TagKey>& InstanceDefaults() {
  static const auto* tags = new std::vector<TagKey>{
      kSpecificCharacterSet, MakeTag(0x0008, 0x0016), MakeTag(0x0008, 0x0018),
      kInstanceAvailability, kStudyInstanceUid,       kSeriesInstanceUid,
      MakeTag(0x0020, 0x0013)};
  return *tags;
}

QueryLevel LevelOf(QidoTarget target) {
  switch (target) {
    case QidoTarget::kStudies: return QueryLevel::kStudy;
    case QidoTarget::kStudySeries:
    case QidoTarget::kSeries: return QueryLevel::kSeries;
    default: return QueryLevel::kImage;
  }
}

const char* LevelWord(QueryLevel level) {
  switch (level) {
    case QueryLevel::kPatient: return "patient";
    case QueryLevel::kStudy: return "study";
    case QueryLevel::kSeries: return "series";
    case QueryLevel::kImage: return "instance";
  }
  return "?";
}

bool Available(const dicom::QueryAttribute& a, QueryLevel level) {
  return static_cast<int>(a.level) <= static_cast<int>(level);
}

std::string TagText(TagKey tag) {
  char text[16];
  std::snprintf(text, sizeof text, "%08X", static_cast<unsigned>(tag));
  return text;
}

// An attribute named in a parameter: by keyword or by 8 hex digits.
struct AttributeId {
  bool known = false;                        // a tag, or a keyword of the dictionary
  TagKey tag = 0;
  const dicom::QueryAttribute* attribute = nullptr;  // when the index holds it
  std::string name;                          // keyword, or the tag in upper-case hex
};

bool IsHexTag(std::string_view id) {
  return id.size() == 8 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

AttributeId Resolve(std::string_view id) {
  AttributeId out;
  if (IsHexTag(id)) {
    out.known = true;
    out.tag = static_cast<TagKey>(std::stoul(std::string(id), nullptr, 16));
    out.attribute = dicom::FindQueryAttribute(out.tag);
    out.name = out.attribute ? out.attribute->keyword : TagText(out.tag);
    return out;
  }
  if (const dicom::QueryAttribute* a = dicom::FindQueryAttribute(id)) {
    out.known = true;
    out.tag = a->tag;
    out.attribute = a;
    out.name = a->keyword;
    return out;
  }
  if (auto tag = dicom::DictionaryTag(id)) {
    out.known = true;
    out.tag = *tag;
    out.name = std::string(id);
  }
  return out;
}

// Only names made of keyword characters go into messages and headers as they are.
std::string Printable(std::string_view name) {
  bool plain = !name.empty() && name.size() <= 64 &&
               std::all_of(name.begin(), name.end(), [](char c) {
                 return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                        (c >= 'A' && c <= 'Z') || c == '.' || c == '_';
               });
  return plain ? std::string(name) : std::string("(unprintable name)");
}

bool EqualsLower(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (c != lower[i]) return false;
  }
  return true;
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t end = text.find(separator, start);
    out.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

Result<size_t> ParseCount(std::string_view name, std::string_view value) {
  if (value.empty() || value.size() > 9 ||
      !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return InvalidArgument(std::string(name) + " must be a non-negative integer below 10^9");
  }
  return static_cast<size_t>(std::stoul(std::string(value)));
}

bool ValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
             : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    if (n == 3) {
      unsigned char d = static_cast<unsigned char>(s[i + 1]);
      if ((c == 0xE0 && d < 0xA0) || (c == 0xED && d >= 0xA0)) return false;
    }
    if (n == 4) {
      unsigned char d = static_cast<unsigned char>(s[i + 1]);
      if ((c == 0xF0 && d < 0x90) || (c == 0xF4 && d >= 0x90)) return false;
    }
    i += n;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::string> DecodeQueryComponent(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size()) return InvalidArgument("broken percent escape");
      int hi = HexValue(text[i + 1]);
      int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return InvalidArgument("broken percent escape");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  if (!ValidUtf8(out)) return InvalidArgument("a query parameter is not valid UTF-8");
  return out;
}

Result<QidoRequest> ParseQidoRequest(QidoTarget target, const std::string& study_uid,
                                     const std::string& series_uid,
                                     std::string_view query_string,
                                     const DicomWebOptions& options) {
  QidoRequest out;
  dicom::Query& query = out.query;
  const QueryLevel level = LevelOf(target);
  query.level = level;
  query.patient_root = false;

  // The path's UIDs are conditions like any other.
  auto path_uid = [&](TagKey tag, const std::string& uid, const char* what) -> Status {
    if (!dicom::IsValidUid(uid)) return InvalidArgument(std::string("not a valid ") + what);
    dicom::Condition c;
    c.attribute = dicom::FindQueryAttribute(tag);
    c.kind = dicom::Condition::Kind::kSingle;
    c.value = uid;
    query.conditions.push_back(std::move(c));
    return Status::Ok();
  };
  bool study_in_path = target == QidoTarget::kStudySeries ||
                       target == QidoTarget::kStudySeriesInstances ||
                       target == QidoTarget::kStudyInstances;
  bool series_in_path = target == QidoTarget::kStudySeriesInstances;
  if (study_in_path) {
    TRESOR_RETURN_IF_ERROR(path_uid(kStudyInstanceUid, study_uid, "Study Instance UID"));
  }
  if (series_in_path) {
    TRESOR_RETURN_IF_ERROR(path_uid(kSeriesInstanceUid, series_uid, "Series Instance UID"));
  }

  std::vector<TagKey> attributes;
  auto add_attribute = [&](TagKey tag) {
    if (std::find(attributes.begin(), attributes.end(), tag) == attributes.end()) {
      attributes.push_back(tag);
    }
  };
  switch (target) {
    case QidoTarget::kStudies:
      for (TagKey t : StudyDefaults()) add_attribute(t);
      break;
    case QidoTarget::kSeries:
      for (TagKey t : StudyDefaults()) add_attribute(t);
      [[fallthrough]];
    case QidoTarget::kStudySeries:
      for (TagKey t : SeriesDefaults()) add_attribute(t);
      break;
    case QidoTarget::kInstances:
      for (TagKey t : StudyDefaults()) add_attribute(t);
      [[fallthrough]];
    case QidoTarget::kStudyInstances:
      for (TagKey t : SeriesDefaults()) add_attribute(t);
      [[fallthrough]];
    case QidoTarget::kStudySeriesInstances:
      for (TagKey t : InstanceDefaults()) add_attribute(t);
      break;
  }

  std::optional<size_t> limit, offset;
  std::optional<bool> fuzzy;
  bool include_all = false;
  // Matching keys in the order first given, with every value given for each.
  std::vector<std::pair<const dicom::QueryAttribute*, std::vector<std::string>>> keys;
  for (std::string_view part : Split(query_string, '&')) {
    if (part.empty()) continue;
    size_t eq = part.find('=');
    TRESOR_ASSIGN_OR_RETURN(std::string name, DecodeQueryComponent(part.substr(0, eq)));
    TRESOR_ASSIGN_OR_RETURN(std::string value,
                            DecodeQueryComponent(eq == std::string_view::npos
                                                     ? std::string_view()
                                                     : part.substr(eq + 1)));
    if (name.empty()) return InvalidArgument("a query parameter has no name");
    if (EqualsLower(name, "limit") || EqualsLower(name, "offset")) {
      bool is_limit = EqualsLower(name, "limit");
      std::optional<size_t>& slot = is_limit ? limit : offset;
      if (slot) return InvalidArgument(std::string(is_limit ? "limit" : "offset") + " is given twice");
      TRESOR_ASSIGN_OR_RETURN(size_t n, ParseCount(is_limit ? "limit" : "offset", value));
      if (is_limit && n == 0) return InvalidArgument("limit must be at least 1");
      slot = n;
      continue;
    }
    if (EqualsLower(name, "fuzzymatching")) {
      if (fuzzy) return InvalidArgument("fuzzymatching is given twice");
      if (EqualsLower(value, "true")) fuzzy = true;
      else if (EqualsLower(value, "false")) fuzzy = false;
      else return InvalidArgument("fuzzymatching must be true or false");
      continue;
    }
    if (EqualsLower(name, "orderby")) {
      // Tresor extension: `orderby=StudyDate`, `orderby=-StudyDate`, repeated or
      // comma-separated; applied by the index before offset and limit.
      for (std::string_view item : Split(value, ',')) {
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        bool descending = !item.empty() && item.front() == '-';
        if (!item.empty() && (item.front() == '-' || item.front() == '+')) item.remove_prefix(1);
        if (item.empty()) return InvalidArgument("orderby: an empty sort key");
        AttributeId id = Resolve(item);
        if (!id.known) return InvalidArgument("orderby: unknown attribute " + Printable(item));
        if (!id.attribute || !dicom::IsSortable(*id.attribute, level)) {
          return InvalidArgument("orderby: " + id.name + " cannot order a " + LevelWord(level) +
                                 " search");
        }
        if (std::any_of(query.order_by.begin(), query.order_by.end(),
                        [&](const dicom::SortKey& k) { return k.attribute == id.attribute; })) {
          return InvalidArgument("orderby: " + id.name + " is given twice");
        }
        if (query.order_by.size() >= dicom::Query::kMaxSortKeys) {
          return InvalidArgument("orderby: at most " + std::to_string(dicom::Query::kMaxSortKeys) +
                                 " sort keys");
        }
        query.order_by.push_back({id.attribute, descending});
      }
      continue;
    }
    if (EqualsLower(name, "includefield")) {
      for (std::string_view item : Split(value, ',')) {
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (item.empty()) continue;
        if (EqualsLower(item, "all")) {
          include_all = true;
          continue;
        }
        // A nested attribute (sequence.item): the index holds no sequences.
        bool nested = item.find('.') != std::string_view::npos;
        std::string printable;
        for (std::string_view step : Split(item, '.')) {
          AttributeId id = Resolve(step);
          if (!id.known) {
            return InvalidArgument("includefield: unknown attribute " + Printable(step));
          }
          printable += (printable.empty() ? "" : ".") + id.name;
        }
        AttributeId id = Resolve(item);
        if (!nested && ((id.attribute && Available(*id.attribute, level)) ||
                        ConstantValue(id.tag))) {
          add_attribute(id.tag);
        } else if (std::find(out.ignored.begin(), out.ignored.end(), printable) ==
                   out.ignored.end()) {
          out.ignored.push_back(printable);
        }
      }
      continue;
    }
    if (name.find('.') != std::string::npos) {
      return InvalidArgument("matching on nested attributes (" + Printable(name) +
                             ") is not supported");
    }
    AttributeId id = Resolve(name);
    if (!id.known) {
      return InvalidArgument("unknown query parameter or attribute " + Printable(name));
    }
    if (!id.attribute) {
      return InvalidArgument("attribute " + id.name + " (" + TagText(id.tag) +
                             ") cannot be matched: the index does not hold it");
    }
    if (!Available(*id.attribute, level)) {
      return InvalidArgument(std::string("attribute ") + id.attribute->keyword + " is a " +
                             LevelWord(id.attribute->level) +
                             "-level attribute: it cannot be matched in a " +
                             LevelWord(level) + " search");
    }
    auto it = std::find_if(keys.begin(), keys.end(),
                           [&](const auto& k) { return k.first == id.attribute; });
    if (it == keys.end()) {
      keys.emplace_back(id.attribute, std::vector<std::string>());
      it = keys.end() - 1;
    }
    // `a,b`: alternatives, like a repeated parameter.
    for (std::string_view v : Split(value, ',')) it->second.emplace_back(v);
  }

  for (const auto& [attribute, values] : keys) {
    add_attribute(attribute->tag);  // a matching key is returned
    TRESOR_ASSIGN_OR_RETURN(dicom::ParsedKey parsed, dicom::ParseMatchingValues(*attribute, values));
    if (parsed.matches) query.conditions.push_back(std::move(parsed.condition));
  }
  if (include_all) {
    for (const dicom::QueryAttribute& a : dicom::QueryAttributes()) {
      if (Available(a, level)) add_attribute(a.tag);
    }
  }
  std::sort(attributes.begin(), attributes.end());
  for (TagKey tag : attributes) {
    if (dicom::FindQueryAttribute(tag)) query.return_tags.push_back(tag);
  }
  out.attributes = std::move(attributes);

  out.requested_limit = limit.value_or(0);
  size_t max_limit = std::max<size_t>(options.qido_max_limit, 1);
  query.limit = std::min(limit.value_or(options.qido_default_limit), max_limit);
  if (query.limit == 0) query.limit = 1;
  query.offset = offset.value_or(0);
  query.fuzzy_person_names = fuzzy.value_or(false);
  return out;
}

std::string QidoResponseBody(const QidoRequest& request,
                             const std::vector<dicom::QueryMatch>& matches) {
  std::string out;
  out.reserve(64 + matches.size() * request.attributes.size() * 48);
  out.push_back('[');
  static const std::string kEmpty;
  for (size_t m = 0; m < matches.size(); ++m) {
    if (m) out.push_back(',');
    out.push_back('{');
    bool first = true;
    for (TagKey tag : request.attributes) {
      const char* vr = VrOf(tag);
      if (!vr) continue;
      if (!first) out.push_back(',');
      first = false;
      if (const char* constant = ConstantValue(tag)) {
        AppendJsonAttribute(out, tag, vr, constant);
        continue;
      }
      auto it = matches[m].values.find(tag);
      AppendJsonAttribute(out, tag, vr, it == matches[m].values.end() ? kEmpty : it->second);
    }
    out.push_back('}');
  }
  out.push_back(']');
  return out;
}

namespace {

constexpr char kDicomJson[] = "application/dicom+json";

// The media type to answer with: application/dicom+json unless the client accepts only
// application/json. Empty when the Accept header allows neither.
Result<std::string> Negotiate(std::string_view accept) {
  TRESOR_ASSIGN_OR_RETURN(std::vector<MediaRange> ranges, ParseAccept(accept));
  // A type explicitly refused (q=0) is not chosen through a wider range.
  auto refused = [&](std::string_view type) {
    return std::any_of(ranges.begin(), ranges.end(), [&](const MediaRange& r) {
      return r.q == 0 && r.media.type == type;
    });
  };
  for (const MediaRange& r : ranges) {
    if (r.q <= 0) continue;
    if (Covers(r.media.type, kDicomJson) && !refused(kDicomJson)) return std::string(kDicomJson);
    if (Covers(r.media.type, "application/json") && !refused("application/json")) {
      return std::string("application/json");
    }
  }
  return std::string();
}

// A Warning header (RFC 7234 5.5, as PS3.18 8.4.5 uses it). `text` holds no quotes.
void AddWarning(web::HttpResponse& response, const std::string& text) {
  response.headers.emplace_back("Warning", "299 tresor \"" + text + "\"");
}

web::HttpResponse Search(archive::ArchiveService& archive, const DicomWebOptions& options,
                         QidoTarget target, const web::HttpRequest& request,
                         const archive::Principal& who) {
  auto type = Negotiate(request.Header("Accept"));
  if (!type.ok()) return web::HttpResponse::Error(400, "malformed Accept header");
  if (type->empty()) {
    return web::HttpResponse::Error(406, "QIDO-RS answers application/dicom+json only");
  }
  auto path_value = [&](const char* name) {
    auto it = request.path_params.find(name);
    return it == request.path_params.end() ? std::string() : it->second;
  };
  auto parsed = ParseQidoRequest(target, path_value("study"), path_value("series"),
                                 request.query, options);
  if (!parsed.ok()) return web::HttpResponse::Error(400, parsed.status().message());
  size_t asked = parsed->query.limit;
  auto found = archive.catalog().Find(who, parsed->query);
  if (!found.ok()) {
    if (web::HttpStatus(found.status().code()) >= 500) {
      TRESOR_LOG(kError) << "QIDO-RS search failed: " << found.status().ToString();
    }
    return web::ErrorFromStatus(found.status());
  }
  web::HttpResponse response;
  response.status = 200;  // also for no match: an empty array (PS3.18 10.6.3.2, 2019 on)
  response.content_type = *type;
  response.body = QidoResponseBody(*parsed, found->matches);
  size_t effective = std::min(asked, archive.options().max_find_results);
  if (parsed->requested_limit > effective) {
    AddWarning(response, "The limit was lowered to the maximum of " + std::to_string(effective));
  }
  if (found->truncated) {
    AddWarning(response,
               "The number of results exceeded the limit of " + std::to_string(effective) +
                   ": there are more results; request them with offset=" +
                   std::to_string(parsed->query.offset + found->matches.size()));
  }
  if (!parsed->ignored.empty()) {
    std::string names;
    for (const std::string& n : parsed->ignored) names += (names.empty() ? "" : ", ") + n;
    AddWarning(response, "includefield ignored (not held by the index at this level): " + names);
  }
  return response;
}

}  // namespace

void AddQidoRoutes(web::Router& router, archive::ArchiveService& archive,
                   const DicomWebOptions& options) {
  struct Entry {
    const char* path;
    const char* summary;
    QidoTarget target;
  };
  static const Entry kEntries[] = {
      {"/studies", "QIDO-RS: search for studies", QidoTarget::kStudies},
      {"/studies/{study}/series", "QIDO-RS: search for the series of a study",
       QidoTarget::kStudySeries},
      {"/series", "QIDO-RS: search for series", QidoTarget::kSeries},
      {"/studies/{study}/series/{series}/instances",
       "QIDO-RS: search for the instances of a series", QidoTarget::kStudySeriesInstances},
      {"/studies/{study}/instances", "QIDO-RS: search for the instances of a study",
       QidoTarget::kStudyInstances},
      {"/instances", "QIDO-RS: search for instances", QidoTarget::kInstances},
  };
  for (const Entry& e : kEntries) {
    QidoTarget target = e.target;
    router.Add(web::Route::Authenticated(
        "GET", std::string(kRoot) + e.path, e.summary,
        [&archive, options, target](const web::HttpRequest& request,
                                    const archive::Principal& who) {
          return Search(archive, options, target, request, who);
        }));
  }
}

}  // namespace tresor::dicomweb
