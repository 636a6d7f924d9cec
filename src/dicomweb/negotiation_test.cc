#include "dicomweb/negotiation.h"

#include <gtest/gtest.h>

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
