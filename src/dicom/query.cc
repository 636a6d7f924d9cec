#include "dicom/query.h"

#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcdicent.h>

#include <algorithm>
#include <string_view>

namespace tresor::dicom {
namespace {

bool IsDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// DA: YYYYMMDD (also the older YYYY.MM.DD form).
bool IsDate(std::string& s) {
  if (s.size() == 10 && s[4] == '.' && s[7] == '.') s = s.substr(0, 4) + s.substr(5, 2) + s.substr(8, 2);
  return s.size() == 8 && IsDigits(s);
}

// TM: HH, HHMM, HHMMSS, HHMMSS.FFFFFF (also with colons).
bool IsTime(std::string& s) {
  s.erase(std::remove(s.begin(), s.end(), ':'), s.end());
  std::string whole = s.substr(0, s.find('.'));
  if (whole.size() < 2 || whole.size() > 6 || whole.size() % 2 || !IsDigits(whole)) return false;
  if (s.size() > whole.size() && !IsDigits(s.substr(whole.size() + 1))) return false;
  return true;
}

}  // namespace

const std::vector<QueryAttribute>& QueryAttributes() {
  static const auto* attributes = new std::vector<QueryAttribute>{
      {MakeTag(0x0008, 0x0016), "SOPClassUID", QueryLevel::kImage, ValueType::kUid},
      {MakeTag(0x0008, 0x0018), "SOPInstanceUID", QueryLevel::kImage, ValueType::kUid},
      {MakeTag(0x0008, 0x0020), "StudyDate", QueryLevel::kStudy, ValueType::kDate},
      {MakeTag(0x0008, 0x0030), "StudyTime", QueryLevel::kStudy, ValueType::kTime},
      {MakeTag(0x0008, 0x0050), "AccessionNumber", QueryLevel::kStudy, ValueType::kText},
      {MakeTag(0x0008, 0x0060), "Modality", QueryLevel::kSeries, ValueType::kText},
      {MakeTag(0x0008, 0x0061), "ModalitiesInStudy", QueryLevel::kStudy, ValueType::kList},
      {MakeTag(0x0008, 0x0062), "SOPClassesInStudy", QueryLevel::kStudy, ValueType::kList},
      {MakeTag(0x0008, 0x0080), "InstitutionName", QueryLevel::kStudy, ValueType::kText},
      {MakeTag(0x0008, 0x0090), "ReferringPhysicianName", QueryLevel::kStudy, ValueType::kPersonName},
      {MakeTag(0x0008, 0x1030), "StudyDescription", QueryLevel::kStudy, ValueType::kText},
      {MakeTag(0x0008, 0x103E), "SeriesDescription", QueryLevel::kSeries, ValueType::kText},
      {MakeTag(0x0010, 0x0010), "PatientName", QueryLevel::kPatient, ValueType::kPersonName},
      {MakeTag(0x0010, 0x0020), "PatientID", QueryLevel::kPatient, ValueType::kText},
      {MakeTag(0x0010, 0x0021), "IssuerOfPatientID", QueryLevel::kPatient, ValueType::kText},
      {MakeTag(0x0010, 0x0030), "PatientBirthDate", QueryLevel::kPatient, ValueType::kDate},
      {MakeTag(0x0010, 0x0040), "PatientSex", QueryLevel::kPatient, ValueType::kText},
      {MakeTag(0x0018, 0x0015), "BodyPartExamined", QueryLevel::kSeries, ValueType::kText},
      {MakeTag(0x0020, 0x000D), "StudyInstanceUID", QueryLevel::kStudy, ValueType::kUid},
      {MakeTag(0x0020, 0x000E), "SeriesInstanceUID", QueryLevel::kSeries, ValueType::kUid},
      {MakeTag(0x0020, 0x0010), "StudyID", QueryLevel::kStudy, ValueType::kText},
      {MakeTag(0x0020, 0x0011), "SeriesNumber", QueryLevel::kSeries, ValueType::kText},
      {MakeTag(0x0020, 0x0013), "InstanceNumber", QueryLevel::kImage, ValueType::kText},
      {MakeTag(0x0020, 0x1200), "NumberOfPatientRelatedStudies", QueryLevel::kPatient, ValueType::kCount},
      {MakeTag(0x0020, 0x1202), "NumberOfPatientRelatedSeries", QueryLevel::kPatient, ValueType::kCount},
      {MakeTag(0x0020, 0x1204), "NumberOfPatientRelatedInstances", QueryLevel::kPatient, ValueType::kCount},
      {MakeTag(0x0020, 0x1206), "NumberOfStudyRelatedSeries", QueryLevel::kStudy, ValueType::kCount},
      {MakeTag(0x0020, 0x1208), "NumberOfStudyRelatedInstances", QueryLevel::kStudy, ValueType::kCount},
      {MakeTag(0x0020, 0x1209), "NumberOfSeriesRelatedInstances", QueryLevel::kSeries, ValueType::kCount},
  };
  return *attributes;
}

const QueryAttribute* FindQueryAttribute(TagKey tag) {
  for (const QueryAttribute& a : QueryAttributes()) {
    if (a.tag == tag) return &a;
  }
  return nullptr;
}

const QueryAttribute* FindQueryAttribute(std::string_view keyword) {
  for (const QueryAttribute& a : QueryAttributes()) {
    if (keyword == a.keyword) return &a;
  }
  return nullptr;
}

bool IsSortable(const QueryAttribute& attribute, QueryLevel level) {
  return attribute.type != ValueType::kCount && attribute.type != ValueType::kList &&
         static_cast<int>(attribute.level) <= static_cast<int>(level);
}

std::optional<TagKey> DictionaryTag(std::string_view keyword) {
  if (keyword.empty() || keyword.size() > 64) return std::nullopt;
  std::string name(keyword);
  const DcmDataDictionary& dictionary = dcmDataDict.rdlock();
  const DcmDictEntry* entry = dictionary.findEntry(name.c_str());
  std::optional<TagKey> tag;
  // Repeating-group entries (curves, overlays) have no single tag.
  if (entry != nullptr && !entry->isRepeating()) {
    tag = MakeTag(entry->getGroup(), entry->getElement());
  }
  dcmDataDict.rdunlock();
  return tag;
}

Result<ParsedKey> ParseMatchingKey(const QueryAttribute& attribute, const std::string& raw) {
  ParsedKey out;
  std::string value = raw;
  if (value.empty() || value == "*") return out;  // universal matching
  Condition& c = out.condition;
  c.attribute = &attribute;
  out.matches = true;
  auto bad = [&](const char* what) {
    return InvalidArgument(std::string(attribute.keyword) + ": " + what);
  };
  switch (attribute.type) {
    case ValueType::kCount:
      return bad("computed attributes cannot be matched");
    case ValueType::kUid: {
      size_t start = 0;
      while (true) {
        size_t end = value.find('\\', start);
        std::string uid = value.substr(start, end == std::string::npos ? end : end - start);
        if (uid.empty() || uid.size() > 64) return bad("malformed UID list");
        c.list.push_back(uid);
        if (end == std::string::npos) break;
        start = end + 1;
      }
      c.kind = c.list.size() == 1 ? Condition::Kind::kSingle : Condition::Kind::kList;
      c.value = c.list.front();
      return out;
    }
    case ValueType::kDate:
    case ValueType::kTime: {
      auto check = [&](std::string& v) {
        return v.empty() || (attribute.type == ValueType::kDate ? IsDate(v) : IsTime(v));
      };
      size_t dash = value.find('-');
      if (dash == std::string::npos) {
        if (!check(value)) return bad("malformed date or time");
        c.kind = Condition::Kind::kSingle;
        c.value = value;
        return out;
      }
      c.kind = Condition::Kind::kRange;
      c.low = value.substr(0, dash);
      c.high = value.substr(dash + 1);
      if ((c.low.empty() && c.high.empty()) || !check(c.low) || !check(c.high)) {
        return bad("malformed range");
      }
      return out;
    }
    case ValueType::kList:
      if (value.find('\\') != std::string::npos) {  // several values: any of them
        size_t start = 0;
        while (start <= value.size()) {
          size_t end = std::min(value.find('\\', start), value.size());
          std::string one = value.substr(start, end - start);
          if (one.empty() || one.find_first_of("*?") != std::string::npos) {
            return bad("a list of values must not hold empty values or wildcards");
          }
          c.list.push_back(one);
          start = end + 1;
        }
        c.kind = Condition::Kind::kList;
        c.value = c.list.front();
        return out;
      }
      [[fallthrough]];
    case ValueType::kText:
    case ValueType::kPersonName:
      c.value = value;
      c.kind = value.find_first_of("*?") != std::string::npos ? Condition::Kind::kWildcard
                                                              : Condition::Kind::kSingle;
      return out;
  }
  return bad("unsupported attribute");
}

Result<ParsedKey> ParseMatchingValues(const QueryAttribute& attribute,
                                      const std::vector<std::string>& values) {
  if (values.size() == 1) return ParseMatchingKey(attribute, values.front());
  ParsedKey out;
  if (values.empty()) return out;
  auto bad = [&](const std::string& what) {
    return InvalidArgument(std::string(attribute.keyword) + ": " + what);
  };
  if (attribute.type == ValueType::kCount) return bad("computed attributes cannot be matched");
  Condition list;
  list.attribute = &attribute;
  list.kind = Condition::Kind::kList;
  for (const std::string& v : values) {
    TRESOR_ASSIGN_OR_RETURN(ParsedKey one, ParseMatchingKey(attribute, v));
    if (!one.matches) return out;  // one universal alternative matches everything
    switch (one.condition.kind) {
      case Condition::Kind::kSingle:
        list.list.push_back(one.condition.value);
        break;
      case Condition::Kind::kList:  // a UID list or a list of modalities
        list.list.insert(list.list.end(), one.condition.list.begin(), one.condition.list.end());
        break;
      case Condition::Kind::kWildcard:
        return bad("wildcards cannot be combined with other values");
      case Condition::Kind::kRange:
        return bad("ranges cannot be combined with other values");
    }
  }
  // Duplicates change nothing but the statement's size.
  std::vector<std::string> unique;
  for (std::string& v : list.list) {
    if (std::find(unique.begin(), unique.end(), v) == unique.end()) unique.push_back(std::move(v));
  }
  list.list = std::move(unique);
  list.value = list.list.front();
  if (list.list.size() == 1) list.kind = Condition::Kind::kSingle;
  out.matches = true;
  out.condition = std::move(list);
  return out;
}

namespace {

// Base letters of the Latin blocks, one character per code point ('.' where a code point
// is no letter with an ASCII base): lower case, diacritics removed, and the letters that
// have no decomposition mapped by their look (ß→s, æ→a, ø→o, đ→d, ł→l, þ→t, ...).
constexpr char32_t kLatinFrom = 0x00C0;  // Latin-1 Supplement to Latin Extended-B
constexpr std::string_view kLatin =
    "aaaaaaaceeeeiiiidnooooo.ouuuuytsaaaaaaaceeeeiiiidnooooo.ouuuuyty"   // U+00C0
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiii..jjkkklllllll"   // U+0100
    "lllnnnnnn.nnoooooooorrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs"   // U+0140
    "b.........................l.....oo.............uu..............."   // U+0180
    ".............aaiioouuuuuuuuuu.aaaa....ggkkoooo..j...gg..nnaa...."   // U+01C0
    "aaaaeeeeiiiioooorrrruuuusstt..hh......aaeeooooooooyy............"   // U+0200
    "......ee........";                                                  // U+0240
constexpr char32_t kExtendedFrom = 0x1E00;  // Latin Extended Additional (Vietnamese, ...)
constexpr std::string_view kExtended =
    "aabbbbbbccddddddddddeeeeeeeeeeffgghhhhhhhhhhiiiikkkkkkllllllllmm"   // U+1E00
    "mmmmnnnnnnnnoooooooopppprrrrrrrrssssssssssttttttttuuuuuuuuuuvvvv"   // U+1E40
    "wwwwwwwwwwxxxxyyzzzzzzhtwy......aaaaaaaaaaaaaaaaaaaaaaaaeeeeeeee"   // U+1E80
    "eeeeeeeeiiiioooooooooooooooooooooooouuuuuuuuuuuuuuyyyyyyyy......";  // U+1EC0
static_assert(kLatin.size() == 0x250 - kLatinFrom && kExtended.size() == 0x100);

// The base letter of code point `cp`, or 0 if it has none.
char LatinBase(char32_t cp) {
  if (cp >= kLatinFrom && cp - kLatinFrom < kLatin.size()) {
    char b = kLatin[cp - kLatinFrom];
    return b == '.' ? 0 : b;
  }
  if (cp >= kExtendedFrom && cp - kExtendedFrom < kExtended.size()) {
    char b = kExtended[cp - kExtendedFrom];
    return b == '.' ? 0 : b;
  }
  return 0;
}

}  // namespace

std::string FoldPersonName(const std::string& utf8) {
  std::string out;
  out.reserve(utf8.size());
  for (size_t i = 0; i < utf8.size();) {
    unsigned char c = static_cast<unsigned char>(utf8[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
      ++i;
      continue;
    }
    // Length of this sequence; the text is valid UTF-8 (converted at store time), but a
    // stray byte is kept as it is rather than read past.
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (i + n > utf8.size()) n = utf8.size() - i;
    char32_t cp = n == 2   ? ((c & 0x1Fu) << 6) | (utf8[i + 1] & 0x3Fu)
                  : n == 3 ? ((c & 0x0Fu) << 12) | ((utf8[i + 1] & 0x3Fu) << 6) |
                                 (utf8[i + 2] & 0x3Fu)
                           : 0;
    if (char b = LatinBase(cp); b != 0) {
      out.push_back(b);
    } else {
      out.append(utf8, i, n);  // other scripts (Greek, Cyrillic, ...) stay as they are
    }
    i += n;
  }
  return out;
}

}  // namespace tresor::dicom
