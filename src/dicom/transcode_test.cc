#include "dicom/transcode.h"

#include <gtest/gtest.h>

#include <cstring>

#include "dicom/byte_reader.h"
#include "dicom/codecs.h"
#include "dicom/part10.h"
#include "dicom/render.h"
#include "dicom/transfer_syntax.h"

namespace tresor::dicom {
namespace {

constexpr char kRle[] = "1.2.840.10008.1.2.5";
constexpr char kJls[] = "1.2.840.10008.1.2.4.80";
constexpr char kJpegBaseline[] = "1.2.840.10008.1.2.4.50";
constexpr char kJ2k[] = "1.2.840.10008.1.2.4.90";
constexpr uint16_t kRows = 3, kColumns = 4;
constexpr int kFrames = 2;

void U16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v & 0xFF));
  out.push_back(static_cast<char>(v >> 8));
}
void U32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
// One explicit VR little endian element with a short length field.
void Element(std::string& out, uint16_t group, uint16_t element, const char* vr,
             std::string value) {
  if (value.size() % 2) value.push_back(std::strcmp(vr, "UI") == 0 ? '\0' : ' ');
  U16(out, group);
  U16(out, element);
  out.append(vr, 2);
  U16(out, static_cast<uint16_t>(value.size()));
  out += value;
}
void Us(std::string& out, uint16_t element, uint16_t v) {
  std::string value;
  U16(value, v);
  Element(out, 0x0028, element, "US", value);
}

// The native pixels of frame `f`: 16-bit samples, distinct per frame.
std::string NativeFrame(int f) {
  std::string out;
  for (int i = 0; i < kRows * kColumns; ++i)
    U16(out, static_cast<uint16_t>(1000 * (f + 1) + 37 * i));
  return out;
}

// RLE (PS3.5 G.3) of a 16-bit frame: two segments (high bytes, then low bytes), each one
// literal run.
std::string RleFrame(const std::string& native) {
  size_t pixels = native.size() / 2;
  std::string segments[2];
  for (int s = 0; s < 2; ++s) {
    segments[s].push_back(static_cast<char>(pixels - 1));
    for (size_t p = 0; p < pixels; ++p) segments[s].push_back(native[2 * p + (s == 0 ? 1 : 0)]);
    if (segments[s].size() % 2) segments[s].push_back('\0');
  }
  std::string out;
  U32(out, 2);
  U32(out, 64);
  U32(out, static_cast<uint32_t>(64 + segments[0].size()));
  for (int i = 3; i < 16; ++i) U32(out, 0);
  return out + segments[0] + segments[1];
}

// A 16-bit monochrome object of kRows x kColumns as a Part 10 file in the encapsulated
// transfer syntax `ts`, one frame per fragment.
std::string EncapsulatedObject(const char* ts, const std::vector<std::string>& fragments) {
  std::string ds;
  Element(ds, 0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.7.3");
  Element(ds, 0x0008, 0x0018, "UI", "2.25.1234");
  Us(ds, 0x0002, 1);
  Element(ds, 0x0028, 0x0004, "CS", "MONOCHROME2");
  Element(ds, 0x0028, 0x0008, "IS", std::to_string(fragments.size()));
  Us(ds, 0x0010, kRows);
  Us(ds, 0x0011, kColumns);
  Us(ds, 0x0100, 16);
  Us(ds, 0x0101, 16);
  Us(ds, 0x0102, 15);
  Us(ds, 0x0103, 0);
  U16(ds, 0x7FE0);
  U16(ds, 0x0010);
  ds += "OB";
  U16(ds, 0);
  U32(ds, 0xFFFFFFFF);
  auto item = [&](std::string value) {
    if (value.size() % 2) value.push_back('\0');
    U16(ds, 0xFFFE);
    U16(ds, 0xE000);
    U32(ds, static_cast<uint32_t>(value.size()));
    ds += value;
  };
  item("");
  for (const std::string& fragment : fragments) item(fragment);
  U16(ds, 0xFFFE);
  U16(ds, 0xE0DD);
  U32(ds, 0);
  FileMeta meta;
  meta.sop_class_uid = "1.2.840.10008.5.1.4.1.1.7.3";
  meta.sop_instance_uid = "2.25.1234";
  meta.transfer_syntax_uid = ts;
  return BuildFileMetaHeader(meta) + ds;
}

// A two-frame 16-bit RLE object as a Part 10 file; `fragments` receives each frame's
// fragment.
std::string RleObject(std::vector<std::string>* fragments) {
  for (int f = 0; f < kFrames; ++f) fragments->push_back(RleFrame(NativeFrame(f)));
  return EncapsulatedObject(kRle, *fragments);
}

class Transcode : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { RegisterCodecs(); }
};

TEST_F(Transcode, CapabilityTable) {
  EXPECT_TRUE(CanTranscode(kRle, kExplicitVRLittleEndian));
  EXPECT_TRUE(CanTranscode(kExplicitVRLittleEndian, kJls));
  EXPECT_TRUE(CanTranscode(kRle, kJls));  // decode, then encode
  EXPECT_TRUE(CanTranscode(kImplicitVRLittleEndian, kExplicitVRBigEndian));
  EXPECT_TRUE(CanTranscode(kJpegBaseline, kExplicitVRLittleEndian));
  EXPECT_FALSE(CanTranscode(kJpegBaseline, kJls));  // lossy never becomes "lossless"
  EXPECT_FALSE(CanTranscode(kJ2k, kExplicitVRLittleEndian));
  EXPECT_FALSE(CanTranscode(kExplicitVRLittleEndian, kJ2k));
  EXPECT_FALSE(CanTranscode("1.2.3.4", kExplicitVRLittleEndian));
  EXPECT_TRUE(CanTranscode(kJ2k, kJ2k));
  EXPECT_TRUE(CanDecodeFrames(kRle));
  EXPECT_TRUE(CanDecodeFrames(kExplicitVRBigEndian));
  EXPECT_FALSE(CanDecodeFrames(kJ2k));
  EXPECT_TRUE(IsLossyTransferSyntax(kJpegBaseline));
  EXPECT_FALSE(IsLossyTransferSyntax(kJls));
  EXPECT_TRUE(IsEncapsulatedTransferSyntax(kRle));
  EXPECT_FALSE(IsEncapsulatedTransferSyntax(kExplicitVRLittleEndian));
}

TEST_F(Transcode, DecodesOneFrameOfAFile) {
  std::vector<std::string> fragments;
  std::string file = RleObject(&fragments);
  for (int f = 0; f < kFrames; ++f) {
    auto frame = DecodeFrameOfFile(file, f);
    ASSERT_TRUE(frame.ok()) << frame.status().message();
    EXPECT_EQ(*frame, NativeFrame(f)) << "frame " << f;
  }
  auto missing = DecodeFrameOfFile(file, kFrames);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

TEST_F(Transcode, DecodesFragmentsWithTheHeaderOnly) {
  std::vector<std::string> fragments;
  std::string file = RleObject(&fragments);
  // The header: everything up to the Pixel Data element and into it (as a reader that
  // stops at the first fragment gets it).
  std::string header = file.substr(0, file.find(fragments[0]));
  auto second = DecodeFrameFragments(header, kRle, {fragments[1]});
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(*second, NativeFrame(1));
  EXPECT_FALSE(DecodeFrameFragments(header, kJls, {fragments[1]}).ok());  // not its syntax
  EXPECT_FALSE(DecodeFrameFragments(header, kRle, {}).ok());
}

TEST_F(Transcode, TranscodesAFileWithAFreshMetaHeader) {
  std::vector<std::string> fragments;
  std::string file = RleObject(&fragments);
  auto native = TranscodePart10(file, kExplicitVRLittleEndian);
  ASSERT_TRUE(native.ok()) << native.status().message();
  MemoryReader reader(native->data(), native->size());
  auto meta = ReadFileMeta(reader);
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->transfer_syntax_uid, kExplicitVRLittleEndian);
  EXPECT_EQ(meta->sop_instance_uid, "2.25.1234");
  EXPECT_NE(native->find(NativeFrame(0) + NativeFrame(1)), std::string::npos);
  // And back through JPEG-LS: lossless, so the same pixels.
  auto jls = TranscodePart10(*native, kJls);
  ASSERT_TRUE(jls.ok()) << jls.status().message();
  auto frame = DecodeFrameOfFile(*jls, 1);
  ASSERT_TRUE(frame.ok()) << frame.status().message();
  EXPECT_EQ(*frame, NativeFrame(1));
  auto refused = TranscodePart10(file, kJ2k);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kUnsupported);
  EXPECT_FALSE(TranscodePart10("not dicom", kExplicitVRLittleEndian).ok());
}

// Streams that turn DCMTK's decoders against the server (found by fuzzing) are refused by
// every path that decodes, before DCMTK reads them: without the check, the first makes
// the JPEG decoder loop forever and the second makes the RLE decoder read out of bounds.
TEST_F(Transcode, HostileStreamsAreRefusedBeforeAnyDecoderReadsThem) {
  const char kJpegExtended[] = "1.2.840.10008.1.2.4.51";
  std::string tem("\xFF\xD8\xFF\x01", 4);  // SOI, then TEM before any frame header
  tem += std::string(60, '\x42');
  std::string bad_rle = RleFrame(NativeFrame(0));
  bad_rle[8] = '\x7F';  // the second segment starts far beyond the fragment
  bad_rle[9] = '\x7F';
  for (const std::string& file :
       {EncapsulatedObject(kJpegExtended, {tem}), EncapsulatedObject(kRle, {bad_rle})}) {
    auto frame = DecodeFrameOfFile(file, 0);
    ASSERT_FALSE(frame.ok());
    EXPECT_EQ(frame.status().code(), Code::kInvalidArgument) << frame.status().message();
    auto native = TranscodePart10(file, kExplicitVRLittleEndian);
    ASSERT_FALSE(native.ok());
    EXPECT_EQ(native.status().code(), Code::kInvalidArgument) << native.status().message();
    RenderOptions options;
    auto rendered = RenderPixels(file, options);
    ASSERT_FALSE(rendered.ok());
    EXPECT_EQ(rendered.status().code(), Code::kInvalidArgument) << rendered.status().message();
  }
  auto header = EncapsulatedObject(kJpegExtended, {tem});
  header.resize(header.find(tem));
  auto fragments = DecodeFrameFragments(header, kJpegExtended, {tem});
  ASSERT_FALSE(fragments.ok());
  EXPECT_EQ(fragments.status().code(), Code::kInvalidArgument);
  EXPECT_NE(fragments.status().message().find("TEM"), std::string::npos)
      << fragments.status().message();
}

// What DCMTK's own JPEG encoder writes passes the checks and decodes.
TEST_F(Transcode, RealJpegStreamsPassTheChecks) {
  std::vector<std::string> fragments;
  auto native = TranscodePart10(RleObject(&fragments), kExplicitVRLittleEndian);
  ASSERT_TRUE(native.ok()) << native.status().message();
  auto lossless = TranscodePart10(*native, "1.2.840.10008.1.2.4.70");
  ASSERT_TRUE(lossless.ok()) << lossless.status().message();
  for (int f = 0; f < kFrames; ++f) {
    auto frame = DecodeFrameOfFile(*lossless, f);
    ASSERT_TRUE(frame.ok()) << frame.status().message();
    EXPECT_EQ(*frame, NativeFrame(f));
  }
  auto back = TranscodePart10(*lossless, kExplicitVRLittleEndian);
  ASSERT_TRUE(back.ok()) << back.status().message();
}

}  // namespace
}  // namespace tresor::dicom
