#include "dicomweb/negotiation.h"

#include <gtest/gtest.h>

#include "dicom/codecs.h"

namespace tresor::dicomweb {
namespace {

TEST(ParseMediaType, QuotedAndUnquotedParameters) {
  auto quoted = ParseMediaType(R"(Multipart/Related; type="application/dicom"; boundary="a b")");
  ASSERT_TRUE(quoted.ok());
  EXPECT_EQ(quoted->type, "multipart/related");
  EXPECT_EQ(quoted->Param("type"), "application/dicom");
  EXPECT_EQ(quoted->Param("boundary"), "a b");
  auto bare = ParseMediaType("multipart/related;type=application/dicom;boundary=xyz");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->Param("type"), "application/dicom");
  EXPECT_EQ(bare->Param("boundary"), "xyz");
}

TEST(ParseMediaType, TypeParameterCarryingItsOwnParameter) {
  auto m = ParseMediaType(
      R"(multipart/related; type="application/octet-stream; transfer-syntax=*")");
  ASSERT_TRUE(m.ok());
  auto inner = ParseMediaType(m->Param("type"));
  ASSERT_TRUE(inner.ok());
  EXPECT_EQ(inner->type, "application/octet-stream");
  EXPECT_EQ(inner->Param("transfer-syntax"), "*");
}

TEST(ParseMediaType, RefusesBrokenTypes) {
  EXPECT_FALSE(ParseMediaType("").ok());
  EXPECT_FALSE(ParseMediaType("application").ok());
  EXPECT_FALSE(ParseMediaType("/dicom").ok());
  EXPECT_FALSE(ParseMediaType("application/dicom; =x").ok());
  EXPECT_FALSE(ParseMediaType(R"(application/dicom; type="unterminated)").ok());
}

TEST(ParseAccept, RepeatedTransferSyntaxAndQValues) {
  auto ranges = ParseAccept(
      R"(image/jpeg;q=0.5, multipart/related; type="application/octet-stream"; transfer-syntax=*; transfer-syntax=1.2.840.10008.1.2.1, */*;q=0.1)");
  ASSERT_TRUE(ranges.ok());
  ASSERT_EQ(ranges->size(), 3u);
  EXPECT_EQ((*ranges)[0].media.type, "multipart/related");
  EXPECT_EQ((*ranges)[0].media.Params("transfer-syntax"),
            (std::vector<std::string>{"*", "1.2.840.10008.1.2.1"}));
  EXPECT_EQ((*ranges)[1].media.type, "image/jpeg");
  EXPECT_DOUBLE_EQ((*ranges)[1].q, 0.5);
  EXPECT_TRUE((*ranges)[1].media.params.empty());  // q is not a media parameter
  EXPECT_EQ((*ranges)[2].media.type, "*/*");
}

TEST(ParseAccept, EmptyMeansAnything) {
  auto ranges = ParseAccept("");
  ASSERT_TRUE(ranges.ok());
  ASSERT_EQ(ranges->size(), 1u);
  EXPECT_EQ((*ranges)[0].media.type, "*/*");
}

TEST(ParseAccept, RefusesBadQValues) {
  EXPECT_FALSE(ParseAccept("image/png;q=2").ok());
  EXPECT_FALSE(ParseAccept("image/png;q=abc").ok());
  EXPECT_FALSE(ParseAccept("image/png;q=").ok());
}

TEST(Covers, Wildcards) {
  EXPECT_TRUE(Covers("*/*", "application/dicom"));
  EXPECT_TRUE(Covers("image/*", "image/png"));
  EXPECT_FALSE(Covers("image/*", "application/dicom"));
  EXPECT_TRUE(Covers("image/png", "image/png"));
  EXPECT_FALSE(Covers("image/png", "image/jpeg"));
}

}  // namespace
}  // namespace tresor::dicomweb

// --- Retrieve renditions ------------------------------------------------------------------

namespace tresor::dicomweb {
namespace {

constexpr char kELE[] = "1.2.840.10008.1.2.1";
constexpr char kILE[] = "1.2.840.10008.1.2";
constexpr char kRLE[] = "1.2.840.10008.1.2.5";
constexpr char kJLS[] = "1.2.840.10008.1.2.4.80";
constexpr char kJpegBaseline[] = "1.2.840.10008.1.2.4.50";
constexpr char kJpegLossless[] = "1.2.840.10008.1.2.4.70";
constexpr char kJ2K[] = "1.2.840.10008.1.2.4.90";

// Accept: multipart/related application/dicom with transfer-syntax `ts`.
std::string DicomWith(const std::string& ts) {
  return R"(multipart/related; type="application/dicom"; transfer-syntax=)" + ts;
}

class Renditions : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dicom::RegisterCodecs(); }

  // The rendition for `accept` of an object stored in `stored`.
  static std::optional<Rendition> Choose(std::string_view accept, std::string_view stored,
                                         Resource resource = Resource::kInstances,
                                         bool single = true) {
    auto ranges = ParseAccept(accept);
    EXPECT_TRUE(ranges.ok()) << accept;
    if (!ranges.ok()) return std::nullopt;
    auto acceptable = AcceptableRenditions(*ranges, resource, single);
    EXPECT_TRUE(acceptable.ok()) << accept;
    if (!acceptable.ok()) return std::nullopt;
    return ChooseRendition(*acceptable, stored, resource);
  }
};

TEST_F(Renditions, NoAcceptMeansExplicitLittleEndian) {
  auto r = Choose("", kRLE);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->part_type, "application/dicom");
  EXPECT_EQ(r->transfer_syntax, kELE);
  EXPECT_FALSE(r->as_stored);
  EXPECT_TRUE(r->multipart);
  auto same = Choose("", kELE);
  ASSERT_TRUE(same);
  EXPECT_TRUE(same->as_stored);
  auto star = Choose("*/*", kILE);
  ASSERT_TRUE(star);
  EXPECT_EQ(star->transfer_syntax, kELE);
  EXPECT_FALSE(star->as_stored);
}

TEST_F(Renditions, LossyObjectsGoOutAsStoredByDefault) {
  auto r = Choose(R"(multipart/related; type="application/dicom")", kJpegBaseline);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->as_stored);
  EXPECT_EQ(r->transfer_syntax, kJpegBaseline);
  // Asked for explicitly, they are decoded.
  auto decoded = Choose(DicomWith(kELE), kJpegBaseline);
  ASSERT_TRUE(decoded);
  EXPECT_FALSE(decoded->as_stored);
  EXPECT_EQ(decoded->transfer_syntax, kELE);
}

TEST_F(Renditions, StarReturnsTheStoredSyntaxQuotedOrNot) {
  for (const char* accept :
       {R"(multipart/related; type="application/dicom"; transfer-syntax=*)",
        R"(multipart/related; type=application/dicom; transfer-syntax="*")",
        R"(multipart/related; type="application/dicom; transfer-syntax=*")",
        R"(Multipart/Related;Type="Application/DICOM";transfer-syntax=*)"}) {
    auto r = Choose(accept, kJLS);
    ASSERT_TRUE(r) << accept;
    EXPECT_TRUE(r->as_stored) << accept;
    EXPECT_EQ(r->transfer_syntax, kJLS) << accept;
    EXPECT_EQ(r->ContentType(), std::string("application/dicom; transfer-syntax=") + kJLS);
  }
}

TEST_F(Renditions, QValuesAndRepeatedSyntaxesInOrder) {
  auto r = Choose(
      DicomWith(kRLE) + "; q=0.5, " + DicomWith("*") + "; q=0.9",
      kJLS);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->as_stored);
  // J2K cannot be produced (no encoder): the next repeated value wins.
  auto next = Choose(
      DicomWith(kJ2K) + "; transfer-syntax=" + kELE,
      kRLE);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->transfer_syntax, kELE);
  // q=0 excludes a range.
  EXPECT_FALSE(Choose(R"(multipart/related; type="application/dicom"; q=0)", kELE));
}

TEST_F(Renditions, ImpossibleConversionsAreNotAcceptable) {
  const std::string j2k = DicomWith(kJ2K);
  EXPECT_FALSE(Choose(j2k, kELE));           // no JPEG 2000 encoder
  EXPECT_FALSE(Choose(DicomWith(kELE), kJ2K));  // nor decoder
  EXPECT_TRUE(Choose(j2k, kJ2K));            // but as stored it is fine
  // Lossy pixels are never relabelled lossless.
  EXPECT_FALSE(Choose(DicomWith(kJLS), kJpegBaseline));
  auto encoded = Choose(DicomWith(kJLS), kELE);
  ASSERT_TRUE(encoded);
  EXPECT_FALSE(encoded->as_stored);
}

TEST_F(Renditions, OtherTypesContributeNothing) {
  auto ranges = ParseAccept("application/json, text/html;q=0.8");
  ASSERT_TRUE(ranges.ok());
  auto acceptable = AcceptableRenditions(*ranges, Resource::kInstances, true);
  ASSERT_TRUE(acceptable.ok());
  EXPECT_TRUE(acceptable->empty());
  // A frame part type asked of an instance resource.
  EXPECT_FALSE(Choose(R"(multipart/related; type="application/octet-stream")", kELE));
}

TEST_F(Renditions, SinglePartOnlyForOneObject) {
  auto r = Choose("application/dicom", kELE, Resource::kInstances, true);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->multipart);
  EXPECT_FALSE(Choose("application/dicom", kELE, Resource::kInstances, false));
}

TEST_F(Renditions, MalformedParametersAreErrors) {
  for (const char* accept :
       {R"(multipart/related; type="application/dicom"; transfer-syntax=abc)",
        R"(multipart/related; type="application/dicom"; transfer-syntax=1.2.)",
        R"(multipart/related; type="nonsense")"}) {
    auto ranges = ParseAccept(accept);
    ASSERT_TRUE(ranges.ok()) << accept;
    EXPECT_FALSE(AcceptableRenditions(*ranges, Resource::kInstances, true).ok()) << accept;
  }
}

TEST_F(Renditions, FramesAsStoredAsOctetStream) {
  // OHIF's default Accept, quoted and with omitQuotationForMultipartRequest.
  for (const char* accept :
       {R"(multipart/related; type="application/octet-stream"; transfer-syntax=*)",
        R"(multipart/related; type=application/octet-stream; transfer-syntax=*)",
        R"(multipart/related; type="application/octet-stream"; transfer-syntax=*;)"
        R"( transfer-syntax=1.2.840.10008.1.2.4.80)"}) {
    auto r = Choose(accept, kRLE, Resource::kFrames);
    ASSERT_TRUE(r) << accept;
    EXPECT_TRUE(r->as_stored);
    EXPECT_EQ(r->ContentType(), std::string("application/octet-stream; transfer-syntax=") + kRLE);
  }
}

TEST_F(Renditions, FramesDecodedByDefault) {
  for (const char* accept : {"", "*/*", R"(multipart/related; type="application/octet-stream")",
                             "multipart/related"}) {
    auto r = Choose(accept, kJpegLossless, Resource::kFrames);
    ASSERT_TRUE(r) << accept;
    EXPECT_FALSE(r->as_stored) << accept;
    EXPECT_EQ(r->ContentType(), std::string("application/octet-stream; transfer-syntax=") + kELE);
  }
  // Native little endian frames need no codec either way.
  auto native = Choose("", kILE, Resource::kFrames);
  ASSERT_TRUE(native);
  EXPECT_EQ(native->transfer_syntax, kELE);
}

TEST_F(Renditions, FramesInCompressedMediaTypes) {
  auto jls = Choose(R"(multipart/related; type="image/jls")", kJLS, Resource::kFrames);
  ASSERT_TRUE(jls);
  EXPECT_TRUE(jls->as_stored);
  EXPECT_EQ(jls->ContentType(), std::string("image/jls; transfer-syntax=") + kJLS);
  auto rle = Choose(R"(multipart/related; type="image/x-dicom-rle")", kRLE, Resource::kFrames);
  ASSERT_TRUE(rle);
  EXPECT_EQ(rle->part_type, "image/x-dicom-rle");
  // image/jpeg defaults to JPEG lossless SV1; a JPEG-LS object is not re-encoded.
  EXPECT_FALSE(Choose(R"(multipart/related; type="image/jpeg")", kJLS, Resource::kFrames));
  EXPECT_TRUE(Choose(R"(multipart/related; type="image/jpeg")", kJpegLossless, Resource::kFrames));
  // A syntax the media type does not carry.
  const std::string jpeg_rle =
      R"(multipart/related; type="image/jpeg"; transfer-syntax=)" + std::string(kRLE);
  EXPECT_FALSE(Choose(jpeg_rle, kRLE, Resource::kFrames));
  // Single part for one frame.
  auto single = Choose("image/jls", kJLS, Resource::kFrames, true);
  ASSERT_TRUE(single);
  EXPECT_FALSE(single->multipart);
  EXPECT_FALSE(Choose("image/jls", kJLS, Resource::kFrames, false));
}

}  // namespace
}  // namespace tresor::dicomweb
