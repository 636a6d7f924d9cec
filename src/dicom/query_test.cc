#include "dicom/query.h"

#include <gtest/gtest.h>

namespace tresor::dicom {
namespace {

TEST(FoldPersonNameTest, LowerCasesAsciiAndKeepsDelimiters) {
  EXPECT_EQ(FoldPersonName("DOE^JANE^^DR.="), "doe^jane^^dr.=");
  EXPECT_EQ(FoldPersonName(""), "");
}

TEST(FoldPersonNameTest, StripsAccentsOfLatinOne) {
  EXPECT_EQ(FoldPersonName("Müller^Jörg"), "muller^jorg");
  EXPECT_EQ(FoldPersonName("ÇELİK^Zoë"), "celik^zoe");
  EXPECT_EQ(FoldPersonName("Weiß"), "weis");
}

TEST(FoldPersonNameTest, FoldsLatinExtendedLetters) {
  EXPECT_EQ(FoldPersonName("Ōtsuka^Thị Hương"), "otsuka^thi huong");
  EXPECT_EQ(FoldPersonName("Ștefan^Đorđe"), "stefan^dorde");
  EXPECT_EQ(FoldPersonName("Ľubica^Łukasz"), "lubica^lukasz");
  EXPECT_EQ(FoldPersonName("Nguyễn^Yılmaz"), "nguyen^yilmaz");
  EXPECT_EQ(FoldPersonName("Þórsson^Ærø"), "torsson^aro");
}

TEST(FoldPersonNameTest, KeepsOtherScriptsAndSymbolsWhole) {
  EXPECT_EQ(FoldPersonName("Παπαδόπουλος^Νίκος"), "Παπαδόπουλος^Νίκος");
  EXPECT_EQ(FoldPersonName("Иванов^Пётр"), "Иванов^Пётр");
  EXPECT_EQ(FoldPersonName("山田^太郎"), "山田^太郎");
  EXPECT_EQ(FoldPersonName("a×b÷c"), "a×b÷c");  // no letters
}

TEST(FoldPersonNameTest, TruncatedSequenceIsKeptNotReadPast) {
  std::string cut = "ab\xC3";  // first byte of a two-byte sequence at the end
  EXPECT_EQ(FoldPersonName(cut), cut);
  std::string cut3 = "x\xE1\xBB";
  EXPECT_EQ(FoldPersonName(cut3), cut3);
}

}  // namespace
}  // namespace tresor::dicom
