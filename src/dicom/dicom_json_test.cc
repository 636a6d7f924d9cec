#include "dicom/dicom_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "dicom/byte_reader.h"
#include "dicom/instance.h"
#include "dicom/testing/data_set_builder.h"

namespace tresor::dicom {
namespace {

using nlohmann::json;
using testing::DataSetBuilder;

std::string U16(uint16_t v) {
  return std::string{static_cast<char>(v & 0xFF), static_cast<char>(v >> 8)};
}
std::string U32(uint32_t v) { return U16(v & 0xFFFF) + U16(v >> 16); }

DicomJsonOptions Options() {
  DicomJsonOptions o;
  o.bulk_data_uri_prefix = "instances/1.2.3/bulk/";
  return o;
}

json ToJson(const DataSetBuilder& b, Encoding encoding = Encoding::kExplicitLittle,
            DicomJsonOptions options = Options()) {
  auto text = DataSetToJson(b.bytes(), encoding, options);
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  if (!text.ok()) return json();
  auto parsed = json::parse(*text, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << *text;
  return parsed;
}

TEST(DicomJsonTest, PersonNameGroupsAndLatin1) {
  DataSetBuilder b(Encoding::kExplicitLittle);
  b.Element(MakeTag(0x0008, 0x0005), "CS", "ISO_IR 100")
      .Element(MakeTag(0x0010, 0x0010), "PN", "M\xFCller^J\xFCrgen=\\Smith^John");
  json j = ToJson(b);
  EXPECT_EQ(j["00080005"]["vr"], "CS");
  EXPECT_EQ(j["00080005"]["Value"][0], "ISO_IR 100");
  const json& pn = j["00100010"];
  EXPECT_EQ(pn["vr"], "PN");
  ASSERT_EQ(pn["Value"].size(), 2u);
  EXPECT_EQ(pn["Value"][0]["Alphabetic"], "M\u00fcller^J\u00fcrgen");
  EXPECT_FALSE(pn["Value"][0].contains("Ideographic"));
  EXPECT_EQ(pn["Value"][1]["Alphabetic"], "Smith^John");
}

TEST(DicomJsonTest, PersonNameIdeographicAndPhonetic) {
  DataSetBuilder b(Encoding::kExplicitLittle);
  b.Element(MakeTag(0x0008, 0x0005), "CS", "ISO_IR 192")
      .Element(MakeTag(0x0010, 0x0010), "PN",
               "Yamada^Tarou=\xE5\xB1\xB1\xE7\x94\xB0^\xE5\xA4\xAA\xE9\x83\x8E="
               "\xE3\x82\x84\xE3\x81\xBE\xE3\x81\xA0^\xE3\x81\x9F\xE3\x82\x8D\xE3\x81\x86");
  json j = ToJson(b);
  const json& v = j["00100010"]["Value"][0];
  EXPECT_EQ(v["Alphabetic"], "Yamada^Tarou");
  EXPECT_EQ(v["Ideographic"], "\u5c71\u7530^\u592a\u90ce");
  EXPECT_EQ(v["Phonetic"], "\u3084\u307e\u3060^\u305f\u308d\u3046");
}

TEST(DicomJsonTest, GreekAndCyrillicAreConverted) {
  DataSetBuilder greek(Encoding::kExplicitLittle);
  greek.Element(MakeTag(0x0008, 0x0005), "CS", "ISO_IR 126")
      .Element(MakeTag(0x0008, 0x1030), "LO", "\xC4\xE9\xEF\xED\xF5\xF3\xE9\xEF\xF2");
  EXPECT_EQ(ToJson(greek)["00081030"]["Value"][0], "\u0394\u03b9\u03bf\u03bd\u03c5\u03c3\u03b9\u03bf\u03c2");
  DataSetBuilder cyrillic(Encoding::kExplicitLittle);
  cyrillic.Element(MakeTag(0x0008, 0x0005), "CS", "ISO_IR 144")
      .Element(MakeTag(0x0010, 0x0010), "PN", "\xBB\xEE\xDA\xE1\xD5\xDC\xD1\xE3\xE0\xD3");
  EXPECT_EQ(ToJson(cyrillic)["00100010"]["Value"][0]["Alphabetic"],
            "\u041b\u044e\u043a\u0441\u0435\u043c\u0431\u0443\u0440\u0433");
}

TEST(DicomJsonTest, InvalidUtf8IsReplaced) {
  DataSetBuilder b(Encoding::kExplicitLittle);
  b.Element(MakeTag(0x0008, 0x0005), "CS", "ISO_IR 192")
      .Element(MakeTag(0x0008, 0x1030), "LO", "bad\xFF");
  auto text = DataSetToJson(b.bytes(), Encoding::kExplicitLittle, Options());
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(json::parse(*text)["00081030"]["Value"][0], "bad?");
}

TEST(DicomJsonTest, NumbersFollowTheirVr) {
  DataSetBuilder b(Encoding::kExplicitLittle);
  float fl = 1.5f;
  double fd = -2.25;
  std::string fl_bytes(4, '\0'), fd_bytes(8, '\0');
  std::memcpy(fl_bytes.data(), &fl, 4);
  std::memcpy(fd_bytes.data(), &fd, 8);
  b.Element(MakeTag(0x0018, 0x0050), "DS", "2.50\\ -1e3")
      .Element(MakeTag(0x0020, 0x0013), "IS", "+12")
      .Element(MakeTag(0x0020, 0x0037), "DS", "abc")
      .Element(MakeTag(0x0028, 0x0010), "US", U16(512))
      .Element(MakeTag(0x0028, 0x0106), "SS", U16(0xFFFE))
      .Element(MakeTag(0x0028, 0x1050), "DS", "")
      .Element(MakeTag(0x0018, 0x9087), "FD", fd_bytes)
      .Element(MakeTag(0x0018, 0x9306), "FL", fl_bytes)
      .Element(MakeTag(0x0020, 0x9165), "AT", U16(0x0010) + U16(0x0020))
      .Element(MakeTag(0x0028, 0x9001), "UL", U32(70000))
      .Element(MakeTag(0x0018, 0x6020), "SL", U32(0xFFFFFFFF));
  json j = ToJson(b);
  EXPECT_EQ(j["00180050"]["Value"], json::array({2.5, -1000.0}));
  EXPECT_EQ(j["00200013"]["Value"], json::array({12}));
  EXPECT_EQ(j["00200037"]["Value"], json::array({"abc"}));
  EXPECT_EQ(j["00280010"]["Value"], json::array({512}));
  EXPECT_EQ(j["00280106"]["Value"], json::array({-2}));
  EXPECT_EQ(j["00281050"], json({{"vr", "DS"}}));  // empty: no Value
  EXPECT_EQ(j["00189087"]["Value"], json::array({-2.25}));
  EXPECT_EQ(j["00189306"]["Value"], json::array({1.5}));
  EXPECT_EQ(j["00209165"]["Value"], json::array({"00100020"}));
  EXPECT_EQ(j["00289001"]["Value"], json::array({70000}));
  EXPECT_EQ(j["00186020"]["Value"], json::array({-1}));
}

TEST(DicomJsonTest, EmptyValuesAndMultiValuedStrings) {
  DataSetBuilder b(Encoding::kExplicitLittle);
  b.Element(MakeTag(0x0008, 0x0008), "CS", "ORIGINAL\\\\AXIAL")
      .Element(MakeTag(0x0008, 0x0050), "SH", "")
      .Element(MakeTag(0x0010, 0x0010), "PN", "")
      .Element(MakeTag(0x0020, 0x4000), "LT", "  line one\\still one  ");
  json j = ToJson(b);
  EXPECT_EQ(j["00080008"]["Value"], json::array({"ORIGINAL", nullptr, "AXIAL"}));
  EXPECT_EQ(j["00080050"], json({{"vr", "SH"}}));
  EXPECT_EQ(j["00100010"], json({{"vr", "PN"}}));
  EXPECT_EQ(j["00204000"]["Value"], json::array({"  line one\\still one"}));
}

TEST(DicomJsonTest, SequencesNestAndBulkPathsNameTheirItems) {
  DataSetBuilder b(Encoding::kExplicitLittle);
  b.Header(MakeTag(0x0008, 0x1115), "SQ", kUndefinedLength)
      .Item()
      .Element(MakeTag(0x0020, 0x000E), "UI", "1.2.3")
      .ItemEnd()
      .Item()
      .Element(MakeTag(0x0028, 0x1201), "OW", std::string(8, '\x01'))
      .ItemEnd()
      .SequenceEnd()
      .Header(MakeTag(0x0040, 0x0275), "SQ", 0)
      .Element(MakeTag(0x7FE0, 0x0010), "OW", std::string(16, '\0'));
  json j = ToJson(b);
  const json& seq = j["00081115"];
  EXPECT_EQ(seq["vr"], "SQ");
  ASSERT_EQ(seq["Value"].size(), 2u);
  EXPECT_EQ(seq["Value"][0]["0020000E"]["Value"][0], "1.2.3");
  EXPECT_EQ(seq["Value"][1]["00281201"]["BulkDataURI"],
            "instances/1.2.3/bulk/00081115.1.00281201");
  EXPECT_EQ(j["00400275"], json({{"vr", "SQ"}}));
  EXPECT_EQ(j["7FE00010"], json({{"vr", "OW"}, {"BulkDataURI", "instances/1.2.3/bulk/7FE00010"}}));
}

TEST(DicomJsonTest, BulkThresholdAndEncapsulatedPixelData) {
  DataSetBuilder b(Encoding::kExplicitLittle);
  std::string lut(2048, '\0');
  b.Element(MakeTag(0x0028, 0x3006), "US", lut)
      .Element(MakeTag(0x0028, 0x3002), "US", U16(4096) + U16(0) + U16(16))
      .Header(MakeTag(0x7FE0, 0x0010), "OB", kUndefinedLength)
      .Item(0)
      .Item(4).Raw("abcd")
      .SequenceEnd();
  json j = ToJson(b);
  EXPECT_EQ(j["00283006"]["BulkDataURI"], "instances/1.2.3/bulk/00283006");
  EXPECT_FALSE(j["00283006"].contains("Value"));
  EXPECT_EQ(j["00283002"]["Value"], json::array({4096, 0, 16}));
  EXPECT_EQ(j["7FE00010"]["BulkDataURI"], "instances/1.2.3/bulk/7FE00010");
  EXPECT_EQ(j["7FE00010"]["vr"], "OB");
}

TEST(DicomJsonTest, ImplicitVrUsesTheDictionaryAndSkipsGroupLengths) {
  DataSetBuilder b(Encoding::kImplicitLittle);
  b.Element(MakeTag(0x0008, 0x0000), "", U32(10))
      .Element(MakeTag(0x0008, 0x0060), "", "MR")
      .Element(MakeTag(0x0028, 0x0010), "", U16(256))
      .Element(MakeTag(0x0029, 0x0010), "", "SIEMENS ")
      .Element(MakeTag(0x0029, 0x1010), "", "????");
  json j = ToJson(b, Encoding::kImplicitLittle);
  EXPECT_FALSE(j.contains("00080000"));
  EXPECT_EQ(j["00080060"], json({{"vr", "CS"}, {"Value", {"MR"}}}));
  EXPECT_EQ(j["00280010"]["Value"], json::array({256}));
  EXPECT_EQ(j["00290010"]["vr"], "LO");
  EXPECT_EQ(j["00291010"]["vr"], "UN");
  EXPECT_EQ(j["00291010"]["BulkDataURI"], "instances/1.2.3/bulk/00291010");
}

TEST(DicomJsonTest, BigEndianNumbers) {
  DataSetBuilder b(Encoding::kExplicitBig);
  b.Element(MakeTag(0x0028, 0x0010), "US", std::string("\x02\x00", 2));
  EXPECT_EQ(ToJson(b, Encoding::kExplicitBig)["00280010"]["Value"], json::array({512}));
}

TEST(DicomJsonTest, DocumentLimitRefuses) {
  DataSetBuilder b(Encoding::kExplicitLittle);
  b.Element(MakeTag(0x0020, 0x4000), "LT", std::string(3000, 'x'));
  DicomJsonOptions o = Options();
  o.max_document_bytes = 1000;
  EXPECT_EQ(DataSetToJson(b.bytes(), Encoding::kExplicitLittle, o).status().code(),
            Code::kResourceExhausted);
  o.max_document_bytes = 1u << 20;
  o.max_inline_text = 1000;  // too long for inline: bulk
  auto text = DataSetToJson(b.bytes(), Encoding::kExplicitLittle, o);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(json::parse(*text)["00204000"]["BulkDataURI"], "instances/1.2.3/bulk/00204000");
}

TEST(DicomJsonTest, TagPathsParseAndLocateValues) {
  auto top = ParseTagPath("7FE00010");
  ASSERT_TRUE(top.ok());
  EXPECT_TRUE(top->first.empty());
  EXPECT_EQ(top->second, MakeTag(0x7FE0, 0x0010));
  auto nested = ParseTagPath("00081115.1.00281201");
  ASSERT_TRUE(nested.ok());
  ASSERT_EQ(nested->first.size(), 1u);
  EXPECT_EQ(nested->first[0].item, 1u);
  EXPECT_EQ(FormatTagPath(nested->first, nested->second), "00081115.1.00281201");
  for (const char* bad : {"", "7FE0001", "7FE00010.", "00081115.1", "00081115.01.00281201",
                          "00081115.x.00281201", "zzzzzzzz", "../etc"}) {
    EXPECT_FALSE(ParseTagPath(bad).ok()) << bad;
  }

  DataSetBuilder b(Encoding::kExplicitLittle);
  b.Header(MakeTag(0x0008, 0x1115), "SQ", kUndefinedLength)
      .Item()
      .Element(MakeTag(0x0028, 0x1201), "OW", std::string(8, 'a'))
      .ItemEnd()
      .Item()
      .Element(MakeTag(0x0028, 0x1201), "OW", std::string(8, 'b'))
      .ItemEnd()
      .SequenceEnd()
      .Element(MakeTag(0x0028, 0x1201), "OW", std::string(4, 'c'))
      .Header(MakeTag(0x7FE0, 0x0010), "OB", kUndefinedLength)
      .Item(0)
      .Item(4).Raw("abcd")
      .SequenceEnd();
  auto locate = [&](const char* path) {
    MemoryReader reader(b.bytes().data(), b.bytes().size());
    auto found = LocateValue(reader, Encoding::kExplicitLittle, ScanLimits{}, path);
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    return found.ok() ? *found : std::nullopt;
  };
  auto value = [&](const std::optional<LocatedValue>& v) {
    return v ? b.bytes().substr(v->value_offset, v->value_length) : std::string("<none>");
  };
  EXPECT_EQ(value(locate("00081115.1.00281201")), std::string(8, 'b'));
  EXPECT_EQ(value(locate("00081115.0.00281201")), std::string(8, 'a'));
  EXPECT_EQ(value(locate("00281201")), std::string(4, 'c'));
  EXPECT_FALSE(locate("00081115.2.00281201"));
  EXPECT_FALSE(locate("00100010"));
  auto pixels = locate("7FE00010");
  ASSERT_TRUE(pixels);
  EXPECT_TRUE(pixels->encapsulated);
  ASSERT_EQ(pixels->fragments.size(), 2u);
  EXPECT_EQ(b.bytes().substr(pixels->fragments[1].first, pixels->fragments[1].second), "abcd");
}

// Text passed on as UTF-8 is valid by RFC 3629, as JSON parsers require (found by
// fuzzing: an overlong form in a declared-UTF-8 value made DICOM JSON unparsable).
TEST(DicomJsonUtf8, OnlyStrictUtf8PassesAsUtf8) {
  EXPECT_TRUE(IsValidUtf8("L\xc3\xb3" "d\xc5\xba"));          // "Lódź"
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x98\x80"));              // U+1F600
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));              // U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xc0\x80"));                      // overlong NUL
  EXPECT_FALSE(IsValidUtf8("\xc1\x81"));                      // overlong 'A'
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\x80"));                  // overlong 3-byte
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));                  // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xf0\x80\x80\x80"));              // overlong 4-byte
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));              // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xf5\x80\x80\x80"));
  for (const char* bad : {"\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80"}) {
    EXPECT_TRUE(nlohmann::json::parse(std::string("\"") + bad + "\"", nullptr, false).is_discarded())
        << "the JSON parser agrees that this is not UTF-8";
  }
}

}  // namespace
}  // namespace tresor::dicom
