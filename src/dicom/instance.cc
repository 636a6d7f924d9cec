#include "dicom/instance.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcspchrs.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <memory>

#include "dicom/part10.h"
#include "dicom/uid.h"

namespace tresor::dicom {
namespace {

struct Field {
  TagKey tag;
  std::string InstanceAttributes::*member;
  bool is_text;  // may hold non-ASCII characters: convert from the character set
};

const Field kFields[] = {
    {MakeTag(0x0010, 0x0010), &InstanceAttributes::patient_name, true},
    {MakeTag(0x0010, 0x0020), &InstanceAttributes::patient_id, true},
    {MakeTag(0x0010, 0x0021), &InstanceAttributes::issuer_of_patient_id, true},
    {MakeTag(0x0010, 0x0030), &InstanceAttributes::patient_birth_date, false},
    {MakeTag(0x0010, 0x0040), &InstanceAttributes::patient_sex, false},
    {MakeTag(0x0020, 0x000D), &InstanceAttributes::study_instance_uid, false},
    {MakeTag(0x0008, 0x0020), &InstanceAttributes::study_date, false},
    {MakeTag(0x0008, 0x0030), &InstanceAttributes::study_time, false},
    {MakeTag(0x0008, 0x0050), &InstanceAttributes::accession_number, true},
    {MakeTag(0x0020, 0x0010), &InstanceAttributes::study_id, true},
    {MakeTag(0x0008, 0x1030), &InstanceAttributes::study_description, true},
    {MakeTag(0x0008, 0x0090), &InstanceAttributes::referring_physician_name, true},
    {MakeTag(0x0008, 0x0080), &InstanceAttributes::institution_name, true},
    {MakeTag(0x0020, 0x000E), &InstanceAttributes::series_instance_uid, false},
    {MakeTag(0x0008, 0x0060), &InstanceAttributes::modality, false},
    {MakeTag(0x0020, 0x0011), &InstanceAttributes::series_number, false},
    {MakeTag(0x0008, 0x103E), &InstanceAttributes::series_description, true},
    {MakeTag(0x0018, 0x0015), &InstanceAttributes::body_part_examined, false},
    {MakeTag(0x0008, 0x0016), &InstanceAttributes::sop_class_uid, false},
    {MakeTag(0x0008, 0x0018), &InstanceAttributes::sop_instance_uid, false},
    {MakeTag(0x0020, 0x0013), &InstanceAttributes::instance_number, false},
};
constexpr TagKey kSpecificCharacterSet = MakeTag(0x0008, 0x0005);

// Replaces every byte outside printable ASCII (and ISO 2022 escape sequences) by '?'.
std::string AsciiOnly(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x80 || u == 0x1B) c = '?';
  }
  return out;
}

}  // namespace

bool IsAsciiText(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80 || c == 0x1B) return false;
  }
  return true;
}

bool IsValidUtf8(std::string_view s) {
  // RFC 3629: no overlong forms, no surrogates (U+D800-DFFF), nothing above U+10FFFF --
  // what JSON parsers and browsers accept, so that text passed on as UTF-8 always is.
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
    if (c < 0x80) n = 1;
    else if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    }
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      unsigned char b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b >> 6) != 0x2) return false;
    }
    i += n;
  }
  return true;
}

struct TextDecoder::Converter {
  DcmSpecificCharacterSet dcmtk;
};

TextDecoder::TextDecoder(std::string character_set)
    : character_set_(std::move(character_set)),
      ascii_(character_set_.empty() || character_set_ == "ISO_IR 6"),
      utf8_(character_set_ == "ISO_IR 192") {}

TextDecoder::~TextDecoder() = default;

bool TextDecoder::Decode(std::string_view raw, const char* delimiters, std::string* out) {
  if (IsAsciiText(raw)) {
    out->assign(raw);
    return true;
  }
  if (ascii_ || utf8_) {
    // Declared ASCII but not, or declared UTF-8 but invalid: never pass such bytes on as
    // UTF-8.
    if (utf8_ && IsValidUtf8(raw)) {
      out->assign(raw);
      return true;
    }
    *out = AsciiOnly(raw);
    return false;
  }
  if (!converter_ && !converter_failed_) {
    converter_ = std::make_unique<Converter>();
    converter_failed_ = converter_->dcmtk.selectCharacterSet(character_set_.c_str()).bad();
  }
  OFString converted;
  if (!converter_failed_ &&
      converter_->dcmtk.convertString(raw.data(), raw.size(), converted, delimiters).good() &&
      IsValidUtf8(std::string_view(converted.c_str(), converted.size()))) {
    out->assign(converted.c_str(), converted.size());
    return true;
  }
  *out = AsciiOnly(raw);
  return false;
}

std::string NormalizeCharacterSet(const std::string& value) {
  // A single ISO 2022 term of a one-byte character set ("ISO 2022 IR 100") names the
  // same repertoire as its ISO_IR form, which iconv-based converters accept.
  static const char kPrefix[] = "ISO 2022 IR ";
  if (value.rfind(kPrefix, 0) != 0 || value.find('\\') != std::string::npos) return value;
  std::string number = value.substr(sizeof kPrefix - 1);
  if (number == "87" || number == "159" || number == "149" || number == "58" || number == "6") {
    return value;  // multi-byte sets keep their ISO 2022 form
  }
  return "ISO_IR " + number;
}

const std::set<TagKey>& IndexedTags() {
  static const auto* tags = [] {
    auto* s = new std::set<TagKey>{kSpecificCharacterSet};
    for (const Field& f : kFields) s->insert(f.tag);
    return s;
  }();
  return *tags;
}

Result<InstanceAttributes> ExtractAttributes(const ScanResult& scan) {
  InstanceAttributes a;
  auto get = [&](TagKey tag) -> std::string {
    auto it = scan.values.find(tag);
    return it == scan.values.end() ? std::string() : it->second;
  };
  a.specific_character_set = NormalizeCharacterSet(TrimPadding(get(kSpecificCharacterSet)));
  TextDecoder decoder(a.specific_character_set);
  for (const Field& f : kFields) {
    std::string raw = get(f.tag);
    std::string value;
    if (f.is_text) {
      // PN values use '=' and '^' as delimiters; both are ASCII and survive conversion.
      bool is_pn = f.member == &InstanceAttributes::patient_name ||
                   f.member == &InstanceAttributes::referring_physician_name;
      if (!decoder.Decode(raw, is_pn ? "^=" : "", &value)) a.text_not_converted = true;
      value = TrimPadding(value);
    } else {
      // CS, DA, TM, IS and UI hold the default repertoire only (PS3.5 6.2); other bytes
      // would reach the index and JSON output as invalid UTF-8.
      value = TrimPadding(raw);
      if (!IsAsciiText(value)) {
        value = AsciiOnly(value);
        a.text_not_converted = true;
      }
    }
    a.*(f.member) = std::move(value);
  }
  struct {
    const char* name;
    const std::string& value;
  } uids[] = {{"SOP Class UID", a.sop_class_uid},
              {"SOP Instance UID", a.sop_instance_uid},
              {"Study Instance UID", a.study_instance_uid},
              {"Series Instance UID", a.series_instance_uid}};
  // Objects of non-patient storage classes (color palettes, hanging protocols, ...)
  // belong to no study; every other object must name its study and series.
  bool patient_object = !a.sop_class_uid.empty() &&
                        !dcmIsaStorageSOPClassUID(a.sop_class_uid.c_str(), ESSC_NonPatient);
  for (const auto& u : uids) {
    bool required = patient_object || (&u.value != &a.study_instance_uid &&
                                       &u.value != &a.series_instance_uid);
    if (u.value.empty()) {
      if (required) return InvalidArgument(std::string(u.name) + " is missing");
      continue;
    }
    if (!IsValidUid(u.value)) return InvalidArgument(std::string(u.name) + " is not a valid UID");
  }
  if (a.study_instance_uid.empty() != a.series_instance_uid.empty()) {
    return InvalidArgument("Study and Series Instance UID must both be present or both absent");
  }
  return a;
}

}  // namespace tresor::dicom
