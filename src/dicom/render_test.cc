#include "dicom/render.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dicom/codecs.h"

namespace tresor::dicom {
namespace {

// Builds an Explicit VR Little Endian Part 10 file by hand, so the test data does not
// depend on the library under test.
class Part10 {
 public:
  void Add(uint16_t group, uint16_t element, const char* vr, std::string value) {
    elements_[(uint32_t{group} << 16) | element] = {vr, std::move(value)};
  }
  void Us(uint16_t g, uint16_t e, std::vector<uint16_t> values) {
    std::string v;
    for (uint16_t x : values) v += Le16(x);
    Add(g, e, "US", v);
  }
  void Text(uint16_t g, uint16_t e, const char* vr, const std::string& v) { Add(g, e, vr, v); }

  std::string Build() const {
    std::string meta;
    meta += Element(0x0002, 0x0001, "OB", std::string("\0\1", 2));
    meta += Element(0x0002, 0x0002, "UI", "1.2.840.10008.5.1.4.1.1.7");
    meta += Element(0x0002, 0x0003, "UI", "1.2.3.4.5");
    meta += Element(0x0002, 0x0010, "UI", "1.2.840.10008.1.2.1");
    std::string out(128, '\0');
    out += "DICM";
    out += Element(0x0002, 0x0000, "UL", Le32(static_cast<uint32_t>(meta.size())));
    out += meta;
    for (const auto& [tag, e] : elements_) {
      out += Element(static_cast<uint16_t>(tag >> 16), static_cast<uint16_t>(tag), e.first,
                     e.second);
    }
    return out;
  }

  static std::string Le16(uint16_t v) {
    return std::string{static_cast<char>(v & 0xFF), static_cast<char>(v >> 8)};
  }
  static std::string Le32(uint32_t v) { return Le16(v & 0xFFFF) + Le16(v >> 16); }

  // One item of a sequence holding `elements` (encoded with Element, in tag order).
  static std::string Item(const std::string& elements) {
    return Le16(0xFFFE) + Le16(0xE000) + Le32(static_cast<uint32_t>(elements.size())) + elements;
  }
  static std::string Element(uint16_t g, uint16_t e, const std::string& vr, std::string value) {
    if (value.size() % 2) value += (vr == "UI" || vr == "OB" || vr == "OW") ? '\0' : ' ';
    std::string out = Le16(g) + Le16(e) + vr;
    if (vr == "OB" || vr == "OW" || vr == "SQ" || vr == "UN" || vr == "UT") {
      out += std::string(2, '\0') + Le32(static_cast<uint32_t>(value.size()));
    } else {
      out += Le16(static_cast<uint16_t>(value.size()));
    }
    return out + value;
  }

 private:
  std::map<uint32_t, std::pair<std::string, std::string>> elements_;
};

// An image with the common attributes; pixel data added by the caller.
Part10 Image(int rows, int columns, int samples, int bits, const std::string& photometric) {
  Part10 p;
  p.Text(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.7");
  p.Text(0x0008, 0x0018, "UI", "1.2.3.4.5");
  p.Us(0x0028, 0x0002, {static_cast<uint16_t>(samples)});
  p.Text(0x0028, 0x0004, "CS", photometric);
  p.Us(0x0028, 0x0010, {static_cast<uint16_t>(rows)});
  p.Us(0x0028, 0x0011, {static_cast<uint16_t>(columns)});
  p.Us(0x0028, 0x0100, {static_cast<uint16_t>(bits)});
  p.Us(0x0028, 0x0101, {static_cast<uint16_t>(bits)});
  p.Us(0x0028, 0x0102, {static_cast<uint16_t>(bits - 1)});
  p.Us(0x0028, 0x0103, {0});
  return p;
}

std::string Words(const std::vector<int>& values) {
  std::string out;
  for (int v : values) out += Part10::Le16(static_cast<uint16_t>(v));
  return out;
}

// The reference of PS3.3 C.11.2.1.2.1 (LINEAR), written out independently.
int LinearRef(double x, double c, double w) {
  double y;
  if (x <= c - 0.5 - (w - 1) / 2) y = 0;
  else if (x > c - 0.5 + (w - 1) / 2) y = 255;
  else y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255;
  return static_cast<int>(std::lround(y));
}

// Largest absolute difference between two pixel arrays.
int MaxDiff(const std::vector<uint8_t>& got, const std::vector<int>& want) {
  EXPECT_EQ(got.size(), want.size());
  int worst = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    worst = std::max(worst, std::abs(int{got[i]} - want[i]));
  }
  return worst;
}

class RenderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { RegisterCodecs(); }
};

// A 16-bit CT: stored 0..4095, rescale -1024, window from the object (center 40, width 400).
// (64 x 64 pixels over 4096 values: the lookup-table path; the signed test below has
// fewer pixels than values and takes the per-pixel path.)
TEST_F(RenderTest, SixteenBitCtUsesObjectWindowAndRescale) {
  const int rows = 64, cols = 64;
  Part10 p = Image(rows, cols, 1, 16, "MONOCHROME2");
  p.Us(0x0028, 0x0101, {12});
  p.Us(0x0028, 0x0102, {11});
  p.Text(0x0028, 0x1050, "DS", "40\\100");
  p.Text(0x0028, 0x1051, "DS", "400\\50");
  p.Text(0x0028, 0x1052, "DS", "-1024");
  p.Text(0x0028, 0x1053, "DS", "1");
  std::vector<int> stored, want;
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < cols; ++x) {
      int v = (x * 97 + y * 31) % 4096;
      if (x < 4) v = 800 + x * 60;  // a band around the window edges
      stored.push_back(v);
      want.push_back(LinearRef(v - 1024.0, 40, 400));
    }
  }
  p.Add(0x7FE0, 0x0010, "OW", Words(stored));
  auto got = RenderPixels(p.Build(), {});
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->width, uint32_t{cols});
  EXPECT_EQ(got->height, uint32_t{rows});
  EXPECT_EQ(got->channels, 1);
  EXPECT_LE(MaxDiff(got->data, want), 1);
}

TEST_F(RenderTest, SignedPixelsWithSlopeAndWindowParameter) {
  const int rows = 16, cols = 16;
  Part10 p = Image(rows, cols, 1, 16, "MONOCHROME2");
  p.Us(0x0028, 0x0103, {1});
  p.Text(0x0028, 0x1052, "DS", "10");
  p.Text(0x0028, 0x1053, "DS", "0.5");
  std::vector<int> stored, want;
  VoiWindow w{-100, 1000, VoiFunction::kLinearExact};
  for (int i = 0; i < rows * cols; ++i) {
    int v = (i * 211) % 4001 - 2000;  // -2000..2000
    stored.push_back(v);
    double x = v * 0.5 + 10;
    double y = x <= w.center - w.width / 2   ? 0
               : x > w.center + w.width / 2 ? 255
                                             : ((x - w.center) / w.width + 0.5) * 255;
    want.push_back(static_cast<int>(std::lround(y)));
  }
  p.Add(0x7FE0, 0x0010, "OW", Words(stored));
  RenderOptions o;
  o.window = w;
  auto got = RenderPixels(p.Build(), o);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_LE(MaxDiff(got->data, want), 1);
}

TEST_F(RenderTest, Monochrome1IsInvertedAndMinMaxWithoutWindow) {
  Part10 p = Image(2, 4, 1, 8, "MONOCHROME1");
  p.Add(0x7FE0, 0x0010, "OW", std::string{10, 20, 30, 40, 50, 60, 70, 110});
  auto got = RenderPixels(p.Build(), {});
  ASSERT_TRUE(got.ok()) << got.status().message();
  // min-max: 10 -> 0, 110 -> 255, inverted for MONOCHROME1.
  EXPECT_EQ(got->data.front(), 255);
  EXPECT_EQ(got->data.back(), 0);
  EXPECT_EQ(got->data[4], 255 - std::lround((50 - 10) / 100.0 * 255));

  Part10 m2 = Image(2, 4, 1, 8, "MONOCHROME2");
  m2.Add(0x7FE0, 0x0010, "OW", std::string{10, 20, 30, 40, 50, 60, 70, 110});
  auto plain = RenderPixels(m2.Build(), {});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->data.front(), 0);
  EXPECT_EQ(plain->data.back(), 255);
}

TEST_F(RenderTest, SigmoidWindow) {
  Part10 p = Image(1, 4, 1, 8, "MONOCHROME2");
  p.Add(0x7FE0, 0x0010, "OW", std::string{0, 100, static_cast<char>(128), static_cast<char>(200)});
  RenderOptions o;
  o.window = VoiWindow{128, 64, VoiFunction::kSigmoid};
  auto got = RenderPixels(p.Build(), o);
  ASSERT_TRUE(got.ok());
  const double xs[] = {0, 100, 128, 200};
  for (int i = 0; i < 4; ++i) {
    double want = 255 / (1 + std::exp(-4 * (xs[i] - 128) / 64));
    EXPECT_NEAR(got->data[i], want, 0.51) << i;
  }
}

TEST_F(RenderTest, RgbPassesThrough) {
  Part10 p = Image(2, 2, 3, 8, "RGB");
  p.Us(0x0028, 0x0006, {0});
  std::string rgb = {1, 2, 3, 40, 50, 60, 70, 80, 90, 100, 110, 120};
  p.Add(0x7FE0, 0x0010, "OB", rgb);
  auto got = RenderPixels(p.Build(), {});
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->channels, 3);
  EXPECT_EQ(std::string(got->data.begin(), got->data.end()), rgb);
}

// PS3.3 C.7.6.3.1.2: YBR_FULL to RGB.
std::vector<int> YbrToRgb(int y, int cb, int cr) {
  auto c = [](double v) { return static_cast<int>(std::clamp(std::lround(v), 0L, 255L)); };
  return {c(y + 1.402 * (cr - 128)), c(y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128)),
          c(y + 1.772 * (cb - 128))};
}

TEST_F(RenderTest, YbrFullIsConvertedToRgb) {
  Part10 p = Image(1, 3, 3, 8, "YBR_FULL");
  p.Us(0x0028, 0x0006, {0});
  const int ybr[3][3] = {{76, 85, 255}, {150, 44, 21}, {128, 128, 128}};
  std::string data;
  std::vector<int> want;
  for (const auto& px : ybr) {
    for (int v : px) data += static_cast<char>(v);
    for (int v : YbrToRgb(px[0], px[1], px[2])) want.push_back(v);
  }
  p.Add(0x7FE0, 0x0010, "OB", data);  // padded to even length with a zero
  auto got = RenderPixels(p.Build(), {});
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_LE(MaxDiff(got->data, want), 2);
}

TEST_F(RenderTest, YbrFull422IsConvertedToRgb) {
  Part10 p = Image(1, 2, 3, 8, "YBR_FULL_422");
  p.Us(0x0028, 0x0006, {0});
  // Two pixels share Cb, Cr: Y1 Y2 Cb Cr.
  p.Add(0x7FE0, 0x0010, "OB", std::string{100, static_cast<char>(200), 90, static_cast<char>(160)});
  std::vector<int> want = YbrToRgb(100, 90, 160);
  for (int v : YbrToRgb(200, 90, 160)) want.push_back(v);
  auto got = RenderPixels(p.Build(), {});
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_LE(MaxDiff(got->data, want), 2);
}

TEST_F(RenderTest, PaletteColorLooksUpEachIndex) {
  Part10 p = Image(1, 4, 1, 8, "PALETTE COLOR");
  // 256 entries, first mapped value 0, 16-bit entries.
  for (uint16_t e : {0x1101, 0x1102, 0x1103}) p.Us(0x0028, e, {256, 0, 16});
  std::vector<int> red, green, blue;
  for (int i = 0; i < 256; ++i) {
    red.push_back(i << 8);
    green.push_back((255 - i) << 8);
    blue.push_back(((i * 7) % 256) << 8);
  }
  p.Add(0x0028, 0x1201, "OW", Words(red));
  p.Add(0x0028, 0x1202, "OW", Words(green));
  p.Add(0x0028, 0x1203, "OW", Words(blue));
  p.Add(0x7FE0, 0x0010, "OB", std::string{0, 1, 100, static_cast<char>(255)});
  auto got = RenderPixels(p.Build(), {});
  ASSERT_TRUE(got.ok()) << got.status().message();
  std::vector<int> want;
  for (int i : {0, 1, 100, 255}) {
    want.push_back(i);
    want.push_back(255 - i);
    want.push_back((i * 7) % 256);
  }
  EXPECT_LE(MaxDiff(got->data, want), 1);
}

TEST_F(RenderTest, FramesAreSelectedAndRangeChecked) {
  Part10 p = Image(2, 2, 1, 8, "MONOCHROME2");
  p.Text(0x0028, 0x0008, "IS", "3");
  p.Text(0x0028, 0x1050, "DS", "128");
  p.Text(0x0028, 0x1051, "DS", "256");
  p.Add(0x7FE0, 0x0010, "OW",
        std::string{0, 0, 0, 0, 100, 100, 100, 100, static_cast<char>(255),
                    static_cast<char>(255), static_cast<char>(255), static_cast<char>(255)});
  std::string file = p.Build();
  RenderOptions o;
  o.frame = 2;
  auto second = RenderPixels(file, o);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(second->data[0], LinearRef(100, 128, 256));
  o.frame = 3;
  auto third = RenderPixels(file, o);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->data[0], 255);
  o.frame = 4;
  EXPECT_EQ(RenderPixels(file, o).status().code(), Code::kInvalidArgument);
  o.frame = 0;
  EXPECT_EQ(RenderPixels(file, o).status().code(), Code::kInvalidArgument);
}

// Enhanced objects: rescale from the shared Pixel Value Transformation group, window from
// each frame's Frame VOI LUT group (the top level has neither).
TEST_F(RenderTest, EnhancedObjectsUseTheFrameFunctionalGroups) {
  Part10 p = Image(1, 4, 1, 16, "MONOCHROME2");
  p.Text(0x0028, 0x0008, "IS", "2");
  auto voi = [](const char* center, const char* width) {
    std::string window = Part10::Element(0x0028, 0x1050, "DS", center) +
                         Part10::Element(0x0028, 0x1051, "DS", width);
    return Part10::Item(Part10::Element(0x0028, 0x9132, "SQ", Part10::Item(window)));
  };
  std::string transform = Part10::Element(
      0x0028, 0x9145, "SQ",
      Part10::Item(Part10::Element(0x0028, 0x1052, "DS", "-100") +
                   Part10::Element(0x0028, 0x1053, "DS", "2")));
  p.Add(0x5200, 0x9229, "SQ", Part10::Item(transform));
  p.Add(0x5200, 0x9230, "SQ", voi("0", "201") + voi("300", "101"));
  const std::vector<int> stored = {0, 50, 100, 150, 200, 250, 300, 350};
  p.Add(0x7FE0, 0x0010, "OW", Words(stored));
  std::string file = p.Build();
  for (uint32_t frame : {1u, 2u}) {
    RenderOptions o;
    o.frame = frame;
    auto got = RenderPixels(file, o);
    ASSERT_TRUE(got.ok()) << got.status().message();
    std::vector<int> want;
    for (int i = 0; i < 4; ++i) {
      double x = stored[(frame - 1) * 4 + i] * 2.0 - 100;
      want.push_back(frame == 1 ? LinearRef(x, 0, 201) : LinearRef(x, 300, 101));
    }
    EXPECT_LE(MaxDiff(got->data, want), 1) << "frame " << frame;
  }
}

TEST_F(RenderTest, DecodedSizeIsCappedBeforeDecoding) {
  // 60000 x 60000 declared, 4 bytes of pixel data: refused on the attributes alone.
  Part10 p = Image(60000, 60000, 1, 16, "MONOCHROME2");
  p.Add(0x7FE0, 0x0010, "OW", std::string(4, '\0'));
  auto got = RenderPixels(p.Build(), {});
  EXPECT_EQ(got.status().code(), Code::kResourceExhausted);
  EXPECT_NE(got.status().message().find("render limit"), std::string::npos);

  Part10 small = Image(4, 4, 1, 8, "MONOCHROME2");
  small.Add(0x7FE0, 0x0010, "OW", std::string(16, '\1'));
  RenderOptions o;
  o.max_samples = 15;
  EXPECT_EQ(RenderPixels(small.Build(), o).status().code(), Code::kResourceExhausted);
  o.max_samples = 16;
  EXPECT_TRUE(RenderPixels(small.Build(), o).ok());
}

TEST_F(RenderTest, NonsenseIsRefused) {
  Part10 no_pixels = Image(4, 4, 1, 8, "MONOCHROME2");
  EXPECT_EQ(RenderPixels(no_pixels.Build(), {}).status().code(), Code::kInvalidArgument);
  Part10 zero = Image(0, 4, 1, 8, "MONOCHROME2");
  zero.Add(0x7FE0, 0x0010, "OW", std::string(16, '\1'));
  EXPECT_EQ(RenderPixels(zero.Build(), {}).status().code(), Code::kInvalidArgument);
  Part10 bits = Image(4, 4, 1, 12, "MONOCHROME2");
  bits.Add(0x7FE0, 0x0010, "OW", std::string(32, '\1'));
  EXPECT_EQ(RenderPixels(bits.Build(), {}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(RenderPixels("not dicom at all", {}).status().code(), Code::kInvalidArgument);
}

TEST_F(RenderTest, ScalesToFitKeepingAspect) {
  Part10 p = Image(256, 128, 1, 8, "MONOCHROME2");
  p.Add(0x7FE0, 0x0010, "OW", std::string(256 * 128, '\x40'));
  RenderOptions o;
  o.fit_width = 64;
  o.fit_height = 64;
  auto got = RenderPixels(p.Build(), o);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->width, 32u);
  EXPECT_EQ(got->height, 64u);
  o.fit_width = o.fit_height = 1024;
  o.enlarge = false;
  got = RenderPixels(p.Build(), o);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->width, 128u);
  EXPECT_EQ(got->height, 256u);
}

uint32_t Be32(const std::string& s, size_t at) {
  return (uint32_t{static_cast<uint8_t>(s[at])} << 24) |
         (uint32_t{static_cast<uint8_t>(s[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(s[at + 2])} << 8) | static_cast<uint8_t>(s[at + 3]);
}

TEST_F(RenderTest, EncodesPngAndJpeg) {
  Pixels8 px;
  px.width = 40;
  px.height = 30;
  px.channels = 1;
  for (uint32_t i = 0; i < px.width * px.height; ++i) px.data.push_back(i % 251);
  auto png = EncodeImage(px, ImageFormat::kPng, 90);
  ASSERT_TRUE(png.ok());
  ASSERT_GT(png->size(), 33u);
  EXPECT_EQ(png->substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(png->substr(12, 4), "IHDR");
  EXPECT_EQ(Be32(*png, 16), 40u);
  EXPECT_EQ(Be32(*png, 20), 30u);

  px.channels = 3;
  px.data.assign(px.width * px.height * 3, 0x80);
  auto jpeg = EncodeImage(px, ImageFormat::kJpeg, 80);
  ASSERT_TRUE(jpeg.ok());
  EXPECT_EQ(jpeg->substr(0, 2), "\xFF\xD8");
  EXPECT_EQ(jpeg->substr(jpeg->size() - 2), "\xFF\xD9");
  size_t sof = jpeg->find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  EXPECT_EQ((static_cast<uint8_t>((*jpeg)[sof + 5]) << 8) | static_cast<uint8_t>((*jpeg)[sof + 6]),
            30);
  EXPECT_EQ((static_cast<uint8_t>((*jpeg)[sof + 7]) << 8) | static_cast<uint8_t>((*jpeg)[sof + 8]),
            40);
  px.data.pop_back();
  EXPECT_FALSE(EncodeImage(px, ImageFormat::kJpeg, 80).ok());
}

TEST(ParseWindowTest, AcceptsThePs318Forms) {
  auto w = ParseWindow("40,400");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->center, 40);
  EXPECT_EQ(w->width, 400);
  EXPECT_EQ(w->function, VoiFunction::kLinear);
  w = ParseWindow("-600.5, 1500 ,linear-exact");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->center, -600.5);
  EXPECT_EQ(w->function, VoiFunction::kLinearExact);
  ASSERT_TRUE(ParseWindow("0,1,SIGMOID").ok());
  EXPECT_EQ(ParseWindow("0,1,SIGMOID")->function, VoiFunction::kSigmoid);
  for (const char* bad : {"", "40", "40,", "a,400", "40,400,cubic", "40,0.5", "40,0,sigmoid",
                          "1,2,linear,4", "40,nan"}) {
    EXPECT_FALSE(ParseWindow(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace tresor::dicom
