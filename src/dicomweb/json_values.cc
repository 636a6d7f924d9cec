#include "dicomweb/json_values.h"

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace tresor::dicomweb {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence at text[i], or 0 if none starts there (overlong
// forms, surrogates and code points beyond U+10FFFF are invalid).
size_t Utf8Length(std::string_view text, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char c = byte(i);
  auto cont = [&](size_t k) { return k < text.size() && (byte(k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    unsigned char d = byte(i + 1);
    if (c == 0xE0 && d < 0xA0) return 0;  // overlong
    if (c == 0xED && d >= 0xA0) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    unsigned char d = byte(i + 1);
    if (c == 0xF0 && d < 0x90) return 0;  // overlong
    if (c == 0xF4 && d >= 0x90) return 0;  // beyond U+10FFFF
    return 4;
  }
  return 0;
}

bool IsInteger(std::string_view v) {
  size_t i = (!v.empty() && (v[0] == '+' || v[0] == '-')) ? 1 : 0;
  if (i == v.size() || v.size() - i > 18) return false;  // fits in int64 whatever it is
  for (; i < v.size(); ++i) {
    if (v[i] < '0' || v[i] > '9') return false;
  }
  return true;
}

// A DS: [+-] digits [. digits] [eE [+-] digits], at least one digit before the exponent.
bool IsDecimal(std::string_view v) {
  size_t i = 0, digits = 0;
  if (i < v.size() && (v[i] == '+' || v[i] == '-')) ++i;
  while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++digits;
  if (i < v.size() && v[i] == '.') {
    ++i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
    ++i;
    if (i < v.size() && (v[i] == '+' || v[i] == '-')) ++i;
    size_t exp = 0;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++exp;
    if (exp == 0) return false;
  }
  return i == v.size() && v.size() <= 16;
}

std::string_view Trim(std::string_view v) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  return v;
}

// JSON has no leading '+' and no leading zeros in numbers ("007" is not JSON).
void AppendNumber(std::string& out, std::string_view v, bool integer) {
  if (v.front() == '+') v.remove_prefix(1);
  if (integer) {
    long long n = 0;
    std::from_chars(v.data(), v.data() + v.size(), n);
    out += std::to_string(n);
    return;
  }
  std::string text(v);
  double d = std::strtod(text.c_str(), nullptr);
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", d);
  out += buffer;
}

void AppendPersonName(std::string& out, std::string_view v) {
  static const char* const kGroups[] = {"Alphabetic", "Ideographic", "Phonetic"};
  const size_t begin = out.size();
  size_t start = 0;
  for (int g = 0; g < 3 && start <= v.size(); ++g) {
    size_t end = g == 2 ? v.size() : std::min(v.find('=', start), v.size());
    std::string_view group = v.substr(start, end - start);
    if (!group.empty()) {
      out += out.size() == begin ? "{" : ",";
      out += '"';
      out += kGroups[g];
      out += "\":";
      AppendJsonString(out, group);
    }
    start = end + 1;
  }
  out += out.size() == begin ? "null" : "}";
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view text) {
  static const char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (size_t i = 0; i < text.size();) {
    // A run of printable ASCII without quotes or backslashes is copied in one append.
    size_t run = i;
    while (run < text.size()) {
      unsigned char r = static_cast<unsigned char>(text[run]);
      if (r < 0x20 || r >= 0x7F || r == '"' || r == '\\') break;
      ++run;
    }
    if (run > i) {
      out.append(text.data() + i, run - i);
      i = run;
      continue;
    }
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || c == 0x7F) {
            out += "\\u00";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xF]);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    size_t n = Utf8Length(text, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(text.data() + i, n);
      i += n;
    }
  }
  out.push_back('"');
}

void AppendJsonAttribute(std::string& out, dicom::TagKey tag, std::string_view vr,
                         std::string_view value) {
  static const char kHex[] = "0123456789ABCDEF";
  char key[11] = {'"', 0, 0, 0, 0, 0, 0, 0, 0, '"', ':'};
  for (int i = 0; i < 8; ++i) key[1 + i] = kHex[(tag >> (28 - 4 * i)) & 0xF];
  out.append(key, sizeof key);
  out += "{\"vr\":\"";
  out += vr;
  out += '"';
  if (value.empty()) {
    out += '}';
    return;
  }
  out += ",\"Value\":[";
  bool number_vr = vr == "IS" || vr == "DS";
  size_t start = 0;
  for (bool first = true; start <= value.size(); first = false) {
    size_t end = std::min(value.find('\\', start), value.size());
    std::string_view one = value.substr(start, end - start);
    if (!first) out += ',';
    if (number_vr) one = Trim(one);
    if (one.empty()) {
      out += "null";
    } else if (vr == "PN") {
      AppendPersonName(out, one);
    } else if (number_vr && IsInteger(one)) {
      AppendNumber(out, one, true);
    } else if (vr == "DS" && IsDecimal(one)) {
      AppendNumber(out, one, false);
    } else {
      AppendJsonString(out, one);
    }
    start = end + 1;
  }
  out += "]}";
}

}  // namespace tresor::dicomweb
