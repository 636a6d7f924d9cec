#include "dicom/frames.h"

#include <gtest/gtest.h>

#include <string>

#include "dicom/byte_reader.h"
#include "dicom/testing/data_set_builder.h"

namespace tresor::dicom {
namespace {

using testing::DataSetBuilder;

constexpr TagKey kPixelData = MakeTag(0x7FE0, 0x0010);

std::string U16(uint16_t v) { return std::string{static_cast<char>(v & 0xFF), static_cast<char>(v >> 8)}; }
std::string U32(uint32_t v) { return U16(v & 0xFFFF) + U16(v >> 16); }

DataSetBuilder& PixelModule(DataSetBuilder& b, const std::string& frames) {
  return b.Element(MakeTag(0x0028, 0x0002), "US", U16(1))
      .Element(MakeTag(0x0028, 0x0008), "IS", frames)
      .Element(MakeTag(0x0028, 0x0010), "US", U16(2))
      .Element(MakeTag(0x0028, 0x0011), "US", U16(3))
      .Element(MakeTag(0x0028, 0x0100), "US", U16(16));
}

std::optional<FrameLayout> Layout(const std::string& bytes, uint64_t base = 0) {
  MemoryReader reader(bytes.data(), bytes.size());
  auto scan = ScanDataset(reader, Encoding::kExplicitLittle, ScanLimits{}, FrameLayoutTags());
  EXPECT_TRUE(scan.ok()) << scan.status().ToString();
  if (!scan.ok()) return std::nullopt;
  return BuildFrameLayout(*scan, Encoding::kExplicitLittle, base);
}

// The bytes of the frame's ranges, concatenated.
std::string FrameBytes(const std::string& bytes, const std::vector<FrameLayout::Range>& ranges) {
  std::string out;
  for (const auto& r : ranges) out += bytes.substr(r.offset, r.length);
  return out;
}

TEST(FrameLayoutTest, NativeMultiFrame) {
  DataSetBuilder b(Encoding::kExplicitLittle);
  PixelModule(b, "3").Element(kPixelData, "OW", std::string(12, 'a') + std::string(12, 'b') +
                                                    std::string(12, 'c'));
  auto layout = Layout(b.bytes());
  ASSERT_TRUE(layout);
  EXPECT_FALSE(layout->encapsulated);
  EXPECT_EQ(layout->rows, 2);
  EXPECT_EQ(layout->columns, 3);
  EXPECT_EQ(layout->bits_allocated, 16);
  ASSERT_EQ(layout->frames.size(), 3u);
  EXPECT_EQ(FrameBytes(b.bytes(), layout->frames[0]), std::string(12, 'a'));
  EXPECT_EQ(FrameBytes(b.bytes(), layout->frames[2]), std::string(12, 'c'));
  // Offsets shift by the base (the file meta header in front of the data set).
  auto shifted = Layout(b.bytes(), 1000);
  EXPECT_EQ(shifted->frames[1][0].offset, layout->frames[1][0].offset + 1000);
}

TEST(FrameLayoutTest, NativeFramesBeyondTheValueAreLeftOut) {
  DataSetBuilder b(Encoding::kExplicitLittle);
  PixelModule(b, "3").Element(kPixelData, "OW", std::string(20, 'a'));
  auto layout = Layout(b.bytes());
  ASSERT_TRUE(layout);
  EXPECT_EQ(layout->frames.size(), 1u);
}

TEST(FrameLayoutTest, NoPixelData) {
  DataSetBuilder b(Encoding::kExplicitLittle);
  PixelModule(b, "1");
  EXPECT_FALSE(Layout(b.bytes()));
}

TEST(FrameLayoutTest, EncapsulatedWithBasicOffsetTable) {
  // Frame 1: two fragments (4 + 2 bytes), frame 2: one fragment. Offsets count from the
  // first fragment's item tag: 0 and (8 + 4) + (8 + 2) = 22.
  DataSetBuilder b(Encoding::kExplicitLittle);
  PixelModule(b, "2")
      .Header(kPixelData, "OB", kUndefinedLength)
      .Item(8).Raw(U32(0) + U32(22))
      .Item(4).Raw("AAAA")
      .Item(2).Raw("BB")
      .Item(4).Raw("CCCC")
      .SequenceEnd();
  auto layout = Layout(b.bytes());
  ASSERT_TRUE(layout);
  EXPECT_TRUE(layout->encapsulated);
  ASSERT_EQ(layout->frames.size(), 2u);
  EXPECT_EQ(layout->frames[0].size(), 2u);
  EXPECT_EQ(FrameBytes(b.bytes(), layout->frames[0]), "AAAABB");
  EXPECT_EQ(FrameBytes(b.bytes(), layout->frames[1]), "CCCC");
}

TEST(FrameLayoutTest, EncapsulatedWithoutOffsetTableOneFragmentPerFrame) {
  DataSetBuilder b(Encoding::kExplicitLittle);
  PixelModule(b, "3")
      .Header(kPixelData, "OB", kUndefinedLength)
      .Item(0)
      .Item(2).Raw("AA")
      .Item(2).Raw("BB")
      .Item(4).Raw("CCCC")
      .SequenceEnd();
  auto layout = Layout(b.bytes());
  ASSERT_TRUE(layout);
  ASSERT_EQ(layout->frames.size(), 3u);
  EXPECT_EQ(FrameBytes(b.bytes(), layout->frames[2]), "CCCC");
}

TEST(FrameLayoutTest, EncapsulatedSingleFrameOfSeveralFragments) {
  DataSetBuilder b(Encoding::kExplicitLittle);
  PixelModule(b, "1")
      .Header(kPixelData, "OB", kUndefinedLength)
      .Item(0)
      .Item(2).Raw("AA")
      .Item(2).Raw("BB")
      .SequenceEnd();
  auto layout = Layout(b.bytes());
  ASSERT_TRUE(layout);
  ASSERT_EQ(layout->frames.size(), 1u);
  EXPECT_EQ(FrameBytes(b.bytes(), layout->frames[0]), "AABB");
}

TEST(FrameLayoutTest, EncapsulatedAmbiguousGivesNoFrames) {
  DataSetBuilder b(Encoding::kExplicitLittle);
  PixelModule(b, "2")
      .Header(kPixelData, "OB", kUndefinedLength)
      .Item(0)
      .Item(2).Raw("AA")
      .Item(2).Raw("BB")
      .Item(2).Raw("CC")
      .SequenceEnd();
  auto layout = Layout(b.bytes());
  ASSERT_TRUE(layout);
  EXPECT_TRUE(layout->frames.empty());
}

TEST(FrameLayoutTest, ExtendedOffsetTable) {
  std::string eot = U32(0) + U32(0) + U32(20) + U32(0);  // two 64-bit offsets: 0, 20
  DataSetBuilder b(Encoding::kExplicitLittle);
  PixelModule(b, "2")
      .Element(MakeTag(0x7FE0, 0x0001), "OV", eot)
      .Header(kPixelData, "OB", kUndefinedLength)
      .Item(0)
      .Item(2).Raw("AA")
      .Item(2).Raw("BB")
      .Item(2).Raw("CC")
      .SequenceEnd();
  auto layout = Layout(b.bytes());
  ASSERT_TRUE(layout);
  ASSERT_EQ(layout->frames.size(), 2u);
  EXPECT_EQ(FrameBytes(b.bytes(), layout->frames[0]), "AABB");
  EXPECT_EQ(FrameBytes(b.bytes(), layout->frames[1]), "CC");
}

TEST(FrameLayoutTest, BadOffsetTableFallsBack) {
  // An offset pointing inside a fragment: ignored, one fragment per frame applies.
  DataSetBuilder b(Encoding::kExplicitLittle);
  PixelModule(b, "2")
      .Header(kPixelData, "OB", kUndefinedLength)
      .Item(8).Raw(U32(0) + U32(3))
      .Item(2).Raw("AA")
      .Item(2).Raw("BB")
      .SequenceEnd();
  auto layout = Layout(b.bytes());
  ASSERT_TRUE(layout);
  ASSERT_EQ(layout->frames.size(), 2u);
  EXPECT_EQ(FrameBytes(b.bytes(), layout->frames[1]), "BB");
}

TEST(FrameLayoutTest, SerializesAndParses) {
  FrameLayout layout;
  layout.encapsulated = true;
  layout.rows = 512;
  layout.columns = 256;
  layout.samples_per_pixel = 3;
  layout.bits_allocated = 8;
  layout.number_of_frames = 2;
  layout.frames = {{{100, 5}, {5000000000ull, 7}}, {{300, 0}}};
  std::string bytes = SerializeFrameLayout(layout);
  auto parsed = ParseFrameLayout(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->rows, 512);
  EXPECT_EQ(parsed->samples_per_pixel, 3);
  ASSERT_EQ(parsed->frames.size(), 2u);
  EXPECT_EQ(parsed->frames[0][1].offset, 5000000000ull);
  EXPECT_EQ(parsed->frames[0][1].length, 7u);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(ParseFrameLayout(bytes.substr(0, cut)).ok()) << cut;
  }
  EXPECT_FALSE(ParseFrameLayout(bytes + "x").ok());
}

}  // namespace
}  // namespace tresor::dicom
