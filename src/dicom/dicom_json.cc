#include "dicom/dicom_json.h"

#include <zlib.h>

#include <charconv>
#include <cmath>
#include <cstring>

#include "dicom/dictionary.h"
#include "dicom/instance.h"
#include "dicom/part10.h"

namespace tresor::dicom {
namespace {

constexpr TagKey kSpecificCharacterSet = MakeTag(0x0008, 0x0005);
constexpr TagKey kPixelRepresentation = MakeTag(0x0028, 0x0103);

bool VrIs(const char* vr, const char* name) { return vr[0] == name[0] && vr[1] == name[1]; }

bool IsOneOf(const char* vr, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (VrIs(vr, n)) return true;
  }
  return false;
}

bool IsBinaryVr(const char* vr) {
  return IsOneOf(vr, {"OB", "OD", "OF", "OL", "OV", "OW", "UN"});
}
bool IsBinaryNumberVr(const char* vr) {
  return IsOneOf(vr, {"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV", "AT"});
}
// Text whose characters follow the Specific Character Set.
bool IsCharsetVr(const char* vr) { return IsOneOf(vr, {"SH", "LO", "ST", "LT", "UC", "UT", "PN"}); }
// Text that is never multi-valued (backslash is a character) and keeps leading spaces.
bool IsSingleTextVr(const char* vr) { return IsOneOf(vr, {"ST", "LT", "UT", "UR"}); }
bool IsKnownVr(const char* vr) {
  return IsBinaryVr(vr) || IsBinaryNumberVr(vr) || IsCharsetVr(vr) ||
         IsOneOf(vr, {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR", "SQ"});
}

void HexTag(std::string* out, TagKey tag) {
  static const char kHex[] = "0123456789ABCDEF";
  for (int shift = 28; shift >= 0; shift -= 4) out->push_back(kHex[(tag >> shift) & 0xF]);
}

// Appends `s` (valid UTF-8) as a JSON string.
void JsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      default:
        if (u < 0x20) {
          static const char kHex[] = "0123456789abcdef";
          *out += "\\u00";
          out->push_back(kHex[u >> 4]);
          out->push_back(kHex[u & 0xF]);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

std::string_view TrimSpaces(std::string_view s, bool leading) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
  while (leading && !s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

// Splits at '\'.
std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
}

template <typename T>
void Number(std::string* out, T v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) {
    *out += "null";
    return;
  }
  out->append(buf, end);
}

void Float(std::string* out, double v, bool single) {
  if (!std::isfinite(v)) {
    *out += "null";
    return;
  }
  if (single) {
    Number(out, static_cast<float>(v));
  } else {
    Number(out, v);
  }
}

// An IS or DS component as a JSON number, or as a string when it is not one.
void DecimalString(std::string* out, std::string_view text, bool integer) {
  std::string_view t = text;
  if (!t.empty() && t.front() == '+') t.remove_prefix(1);
  if (integer) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec == std::errc() && end == t.data() + t.size() && !t.empty()) {
      Number(out, v);
      return;
    }
  }
  double d = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), d);
  if (ec == std::errc() && end == t.data() + t.size() && !t.empty() && std::isfinite(d)) {
    if (integer && d == std::floor(d) && std::fabs(d) < 9e15) {
      Number(out, static_cast<int64_t>(d));
    } else {
      Number(out, d);
    }
    return;
  }
  JsonString(out, text);
}

uint64_t Unsigned(const unsigned char* p, int size, bool big) {
  uint64_t v = 0;
  for (int i = 0; i < size; ++i) v = v << 8 | p[big ? i : size - 1 - i];
  return v;
}

}  // namespace

struct DicomJsonWriter::Impl {
  struct Level {
    enum Kind { kObject, kSequence, kEncapsulated, kSkipped } kind;
    bool has_members = false;  // kObject
    uint32_t items = 0;        // kSequence
    TagKey tag = 0;            // kSequence: its tag (for paths)
    bool little = false;       // values inside are little endian (UN sequences)
  };

  Impl(Encoding encoding, DicomJsonOptions o)
      : big(encoding == Encoding::kExplicitBig), options(std::move(o)) {
    out.reserve(8192);
    out.push_back('{');
    levels.push_back({Level::kObject, false, 0, 0, !big});
  }

  bool Skipping() const {
    return levels.back().kind == Level::kEncapsulated || levels.back().kind == Level::kSkipped;
  }

  // Writes `"TTTTTTTT":` as the next member of the current object.
  void Member(TagKey tag) {
    Level& l = levels.back();
    if (l.has_members) out.push_back(',');
    l.has_members = true;
    out.push_back('"');
    HexTag(&out, tag);
    out += "\":";
  }

  void Vr(const char* vr) {
    out += "{\"vr\":\"";
    out.push_back(vr[0]);
    out.push_back(vr[1]);
    out.push_back('"');
  }

  void Bulk(TagKey tag) {
    out += ",\"BulkDataURI\":\"";
    out += options.bulk_data_uri_prefix;  // a relative URI: no JSON escaping needed
    for (const Level& l : levels) {
      if (l.kind != Level::kSequence) continue;
      HexTag(&out, l.tag);
      out.push_back('.');
      Number(&out, l.items - 1);
      out.push_back('.');
    }
    HexTag(&out, tag);
    out.push_back('"');
  }

  void ResolveVr(const ElementHead& e, char vr[2]) {
    if (e.vr[0] != 0) {
      vr[0] = e.vr[0];
      vr[1] = e.vr[1];
    } else {
      const char* name = ImplicitVr(e.tag, signed_pixels);
      vr[0] = name[0];
      vr[1] = name[1];
    }
    if (!IsKnownVr(vr)) vr[0] = 'U', vr[1] = 'N';
    if (VrIs(vr, "UN") && e.vr[0] != 0) {
      // A UN of a tag the dictionary knows holds that VR's value bytes (PS3.5 6.2.2):
      // write it as what it is, as DCMTK and pydicom read it (a sequence stays bulk).
      const char* known = ImplicitVr(e.tag, signed_pixels);
      if (!VrIs(known, "UN") && !VrIs(known, "SQ")) {
        vr[0] = known[0];
        vr[1] = known[1];
      }
    }
  }

  bool WantValue(const char* vr, uint32_t length) const {
    if (out.size() > options.soft_document_bytes) return false;
    if (IsBinaryVr(vr)) return false;
    if (IsBinaryNumberVr(vr)) return length <= options.bulk_threshold;
    return length <= options.max_inline_text;
  }

  void Value(const ElementHead& e, const char* vr, std::string_view value, bool* lossy) {
    const bool little = levels.back().little;
    if (e.depth == 0 && e.tag == kSpecificCharacterSet) {
      decoder = std::make_unique<TextDecoder>(
          NormalizeCharacterSet(TrimPadding(std::string(value))));
    }
    if (e.depth == 0 && e.tag == kPixelRepresentation && value.size() >= 2) {
      signed_pixels =
          Unsigned(reinterpret_cast<const unsigned char*>(value.data()), 2, !little) == 1;
    }
    if (IsBinaryNumberVr(vr)) {
      BinaryNumbers(vr, value, !little);
      return;
    }
    // Text.
    std::string converted;
    std::string_view text = value;
    bool charset = IsCharsetVr(vr);
    bool multi = !IsSingleTextVr(vr);
    if (!IsAsciiText(text)) {
      if (!decoder) decoder = std::make_unique<TextDecoder>("");
      const char* delimiters = VrIs(vr, "PN") ? "\\^=" : multi ? "\\" : "";
      if (charset) {
        if (!decoder->Decode(text, delimiters, &converted)) *lossy = true;
      } else {
        TextDecoder ascii("");
        ascii.Decode(text, delimiters, &converted);
        *lossy = true;
      }
      text = converted;
    }
    text = TrimSpaces(text, multi);
    if (text.empty()) return;
    std::vector<std::string_view> parts = multi ? Split(text, '\\')
                                                : std::vector<std::string_view>{text};
    out += ",\"Value\":[";
    bool first = true;
    for (std::string_view part : parts) {
      if (!first) out.push_back(',');
      first = false;
      part = TrimSpaces(part, multi);
      if (part.empty()) {
        out += "null";
      } else if (VrIs(vr, "PN")) {
        PersonName(part);
      } else if (VrIs(vr, "IS") || VrIs(vr, "DS")) {
        DecimalString(&out, part, VrIs(vr, "IS"));
      } else {
        JsonString(&out, part);
      }
    }
    out.push_back(']');
  }

  void PersonName(std::string_view name) {
    static const char* kGroups[] = {"Alphabetic", "Ideographic", "Phonetic"};
    std::vector<std::string_view> groups = Split(name, '=');
    out.push_back('{');
    bool first = true;
    for (size_t i = 0; i < groups.size() && i < 3; ++i) {
      std::string_view g = TrimSpaces(groups[i], false);
      if (g.empty()) continue;
      if (!first) out.push_back(',');
      first = false;
      out.push_back('"');
      out += kGroups[i];
      out += "\":";
      JsonString(&out, g);
    }
    out.push_back('}');
  }

  void BinaryNumbers(const char* vr, std::string_view value, bool big_values) {
    int size = IsOneOf(vr, {"US", "SS"}) ? 2 : IsOneOf(vr, {"FD", "UV", "SV"}) ? 8 : 4;
    size_t count = value.size() / size;
    if (count == 0) return;
    out += ",\"Value\":[";
    const auto* p = reinterpret_cast<const unsigned char*>(value.data());
    for (size_t i = 0; i < count; ++i, p += size) {
      if (i) out.push_back(',');
      uint64_t u = Unsigned(p, size, big_values);
      if (VrIs(vr, "AT")) {
        auto group = Unsigned(p, 2, big_values), element = Unsigned(p + 2, 2, big_values);
        out.push_back('"');
        HexTag(&out, static_cast<TagKey>(group << 16 | element));
        out.push_back('"');
      } else if (VrIs(vr, "US") || VrIs(vr, "UL") || VrIs(vr, "UV")) {
        Number(&out, u);
      } else if (VrIs(vr, "SS")) {
        Number(&out, static_cast<int16_t>(u));
      } else if (VrIs(vr, "SL")) {
        Number(&out, static_cast<int32_t>(u));
      } else if (VrIs(vr, "SV")) {
        Number(&out, static_cast<int64_t>(u));
      } else if (VrIs(vr, "FL")) {
        auto bits = static_cast<uint32_t>(u);
        float f;
        std::memcpy(&f, &bits, 4);
        Float(&out, f, true);
      } else {
        double d;
        std::memcpy(&d, &u, 8);
        Float(&out, d, false);
      }
    }
    out.push_back(']');
  }

  const bool big;
  const DicomJsonOptions options;
  std::string out;
  std::vector<Level> levels;
  std::unique_ptr<TextDecoder> decoder;
  bool signed_pixels = false;
  // The element whose value OnValue is to write.
  char pending_vr[2] = {0, 0};
};

DicomJsonWriter::DicomJsonWriter(Encoding encoding, DicomJsonOptions options)
    : impl_(std::make_unique<Impl>(encoding, std::move(options))) {}

DicomJsonWriter::~DicomJsonWriter() = default;

bool DicomJsonWriter::OnElement(const ElementHead& e) {
  Impl& m = *impl_;
  if (m.Skipping()) return false;
  if ((e.tag & 0xFFFF) == 0 || (e.tag >> 16) == 0x0002 || (e.tag >> 16) == 0x0000) return false;
  char vr[2];
  m.ResolveVr(e, vr);
  m.Member(e.tag);
  m.Vr(vr);
  if (e.length == 0) {
    m.out.push_back('}');
    return false;
  }
  if (!m.WantValue(vr, e.length)) {
    m.Bulk(e.tag);
    m.out.push_back('}');
    return false;
  }
  m.pending_vr[0] = vr[0];
  m.pending_vr[1] = vr[1];
  return true;
}

void DicomJsonWriter::OnValue(const ElementHead& e, std::string_view value) {
  Impl& m = *impl_;
  bool lossy = false;
  m.Value(e, m.pending_vr, value, &lossy);
  if (lossy) text_not_converted_ = true;
  m.out.push_back('}');
}

void DicomJsonWriter::OnContainerStart(const ElementHead& e, Container kind) {
  Impl& m = *impl_;
  using Level = Impl::Level;
  if (m.Skipping() || (e.tag & 0xFFFF) == 0 || (e.tag >> 16) <= 0x0002) {
    m.levels.push_back({Level::kSkipped, false, 0, 0, false});
    return;
  }
  m.Member(e.tag);
  if (kind == Container::kEncapsulated) {
    m.Vr(e.vr[0] ? e.vr : "OB");
    m.Bulk(e.tag);
    m.out.push_back('}');
    m.levels.push_back({Level::kEncapsulated, false, 0, e.tag, false});
    return;
  }
  m.Vr("SQ");
  bool little = kind == Container::kUnSequence || m.levels.back().little;
  m.levels.push_back({Level::kSequence, false, 0, e.tag, little});
}

void DicomJsonWriter::OnContainerEnd() {
  Impl& m = *impl_;
  Impl::Level l = m.levels.back();
  m.levels.pop_back();
  if (l.kind == Impl::Level::kSequence) {
    if (l.items > 0) m.out.push_back(']');
    m.out.push_back('}');
  }
}

void DicomJsonWriter::OnItemStart() {
  Impl& m = *impl_;
  using Level = Impl::Level;
  if (m.Skipping()) {
    m.levels.push_back({Level::kSkipped, false, 0, 0, false});
    return;
  }
  Level& seq = m.levels.back();
  m.out += seq.items == 0 ? ",\"Value\":[{" : ",{";
  ++seq.items;
  m.levels.push_back({Level::kObject, false, 0, 0, seq.little});
}

void DicomJsonWriter::OnItemEnd() {
  Impl& m = *impl_;
  Impl::Level l = m.levels.back();
  m.levels.pop_back();
  if (l.kind == Impl::Level::kObject) m.out.push_back('}');
}

void DicomJsonWriter::OnFragment(uint64_t, uint32_t) {}

Result<std::string> DicomJsonWriter::Finish() {
  Impl& m = *impl_;
  if (m.levels.size() != 1) return Internal("JSON writer finished inside a sequence");
  if (m.out.size() > m.options.max_document_bytes) {
    return ResourceExhausted("the data set's JSON exceeds " +
                             std::to_string(m.options.max_document_bytes) + " bytes");
  }
  m.out.push_back('}');
  return std::move(m.out);
}

Result<std::string> DataSetToJson(std::string_view dataset, Encoding encoding,
                                  const DicomJsonOptions& options, const ScanLimits& limits) {
  DicomJsonWriter writer(encoding, options);
  MemoryReader reader(dataset.data(), dataset.size());
  TRESOR_RETURN_IF_ERROR(ScanDataset(reader, encoding, limits, {}, &writer).status());
  return writer.Finish();
}

std::string FormatTagPath(const std::vector<TagPathStep>& sequences, TagKey tag) {
  std::string out;
  for (const TagPathStep& s : sequences) {
    HexTag(&out, s.tag);
    out.push_back('.');
    out += std::to_string(s.item);
    out.push_back('.');
  }
  HexTag(&out, tag);
  return out;
}

Result<std::pair<std::vector<TagPathStep>, TagKey>> ParseTagPath(std::string_view path) {
  std::vector<std::string_view> parts = Split(path, '.');
  if (parts.size() % 2 == 0 || parts.size() > 2 * 16 + 1) {
    return InvalidArgument("malformed tag path");
  }
  auto tag_of = [](std::string_view s, TagKey* tag) {
    if (s.size() != 8) return false;
    for (char c : s) {
      if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'))) {
        return false;
      }
    }
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *tag, 16);
    return ec == std::errc() && end == s.data() + s.size();
  };
  std::vector<TagPathStep> steps;
  for (size_t i = 0; i + 1 < parts.size(); i += 2) {
    TagPathStep step;
    if (!tag_of(parts[i], &step.tag)) return InvalidArgument("malformed tag in tag path");
    std::string_view n = parts[i + 1];
    auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), step.item);
    if (n.empty() || ec != std::errc() || end != n.data() + n.size() ||
        (n.size() > 1 && n[0] == '0')) {
      return InvalidArgument("malformed item index in tag path");
    }
    steps.push_back(step);
  }
  TagKey tag;
  if (!tag_of(parts.back(), &tag)) return InvalidArgument("malformed tag in tag path");
  return std::make_pair(std::move(steps), tag);
}

namespace {

// Follows the scan to the element at a tag path.
class Locator : public ScanVisitor {
 public:
  Locator(std::vector<TagPathStep> steps, TagKey tag) : steps_(std::move(steps)), tag_(tag) {}

  bool OnElement(const ElementHead& e) override {
    if (OnPath() && e.depth == static_cast<int>(steps_.size()) && e.tag == tag_ && !found_) {
      found_.emplace();
      found_->vr[0] = e.vr[0] ? e.vr[0] : ImplicitVr(e.tag, false)[0];
      found_->vr[1] = e.vr[0] ? e.vr[1] : ImplicitVr(e.tag, false)[1];
      found_->value_offset = e.value_offset;
      found_->value_length = e.length;
    }
    return false;
  }
  void OnValue(const ElementHead&, std::string_view) override {}
  void OnContainerStart(const ElementHead& e, Container kind) override {
    const size_t depth = static_cast<size_t>(e.depth);
    if (OnPath() && kind == Container::kEncapsulated && depth == steps_.size() && e.tag == tag_ &&
        !found_) {
      found_.emplace();
      found_->vr[0] = e.vr[0];
      found_->vr[1] = e.vr[1];
      found_->encapsulated = true;
      found_->value_offset = e.value_offset;
      collecting_ = true;
    }
    // Entering a sequence of the path at its depth.
    bool matches = OnPath() && depth < steps_.size() && steps_[depth].tag == e.tag &&
                   kind != Container::kEncapsulated;
    stack_.push_back({matches, 0, false});
  }
  void OnContainerEnd() override {
    if (!stack_.empty() && collecting_ && stack_.size() == steps_.size() + 1) collecting_ = false;
    stack_.pop_back();
  }
  void OnItemStart() override {
    Open& seq = stack_.back();
    seq.in_item = seq.on_path && seq.items == steps_[stack_.size() - 1].item;
    ++seq.items;
  }
  void OnItemEnd() override { stack_.back().in_item = false; }
  void OnFragment(uint64_t value_offset, uint32_t length) override {
    if (collecting_) found_->fragments.emplace_back(value_offset, length);
  }

  std::optional<LocatedValue> found() && { return std::move(found_); }

 private:
  struct Open {
    bool on_path;   // this sequence is the path's step at its depth
    uint32_t items;
    bool in_item;   // inside the item the path goes through
  };
  // True if the scan is inside every sequence and item of the path so far.
  bool OnPath() const {
    for (const Open& o : stack_) {
      if (!o.on_path || !o.in_item) return false;
    }
    return true;
  }

  const std::vector<TagPathStep> steps_;
  const TagKey tag_;
  std::vector<Open> stack_;
  std::optional<LocatedValue> found_;
  bool collecting_ = false;
};

}  // namespace

Result<std::optional<LocatedValue>> LocateValue(ByteReader& in, Encoding encoding,
                                                const ScanLimits& limits,
                                                std::string_view path) {
  TRESOR_ASSIGN_OR_RETURN(auto parsed, ParseTagPath(path));
  Locator locator(std::move(parsed.first), parsed.second);
  TRESOR_RETURN_IF_ERROR(ScanDataset(in, encoding, limits, {}, &locator).status());
  return std::move(locator).found();
}

std::string CompressDocument(std::string_view json) {
  std::string out(8, '\0');
  const auto size = static_cast<uint32_t>(json.size());
  const auto crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(json.data()), static_cast<uInt>(json.size())));
  for (int i = 0; i < 4; ++i) {
    out[i] = static_cast<char>(size >> (8 * i));
    out[4 + i] = static_cast<char>(crc >> (8 * i));
  }
  z_stream zs{};
  if (deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) return std::string();
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(json.data()));
  zs.avail_in = static_cast<uInt>(json.size());
  size_t header = out.size();
  out.resize(header + deflateBound(&zs, json.size()) + 16);
  zs.next_out = reinterpret_cast<Bytef*>(out.data() + header);
  zs.avail_out = static_cast<uInt>(out.size() - header);
  int rc = deflate(&zs, Z_SYNC_FLUSH);
  size_t produced = out.size() - header - zs.avail_out;
  deflateEnd(&zs);
  if (rc != Z_OK || zs.avail_in != 0) return std::string();
  out.resize(header + produced);
  return out;
}

Result<std::string> DecompressDocument(std::string_view stored, size_t max) {
  if (stored.size() < 8) return InvalidArgument("stored document too short");
  uint32_t size = 0, crc = 0;
  for (int i = 0; i < 4; ++i) {
    size |= uint32_t{static_cast<unsigned char>(stored[i])} << (8 * i);
    crc |= uint32_t{static_cast<unsigned char>(stored[4 + i])} << (8 * i);
  }
  if (size > max) return InvalidArgument("stored document larger than allowed");
  std::string out(size, '\0');
  z_stream zs{};
  if (inflateInit2(&zs, -15) != Z_OK) return Internal("inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(stored.data() + 8));
  zs.avail_in = static_cast<uInt>(stored.size() - 8);
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = size;
  int rc = size == 0 ? Z_OK : inflate(&zs, Z_SYNC_FLUSH);
  size_t produced = size - zs.avail_out;
  inflateEnd(&zs);
  if ((rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) || produced != size) {
    return InvalidArgument("stored document is corrupt");
  }
  if (crc32(0, reinterpret_cast<const Bytef*>(out.data()), size) != crc) {
    return InvalidArgument("stored document fails its checksum");
  }
  return out;
}

}  // namespace tresor::dicom
