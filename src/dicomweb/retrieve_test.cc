#include "dicomweb/retrieve.h"

#include <gtest/gtest.h>

namespace tresor::dicomweb {
namespace {

TEST(ParseFrameList, CommaListsInOrder) {
  auto one = ParseFrameList("1");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, (std::vector<uint32_t>{1}));
  auto several = ParseFrameList("3,1,3");
  ASSERT_TRUE(several.ok());
  EXPECT_EQ(*several, (std::vector<uint32_t>{3, 1, 3}));
  auto escaped = ParseFrameList("2%2C5%2c7");
  ASSERT_TRUE(escaped.ok());
  EXPECT_EQ(*escaped, (std::vector<uint32_t>{2, 5, 7}));
}

TEST(ParseFrameList, RefusesMalformedLists) {
  for (const char* bad : {"", ",", "1,", ",1", "0", "1,0", "a", "1.5", "-1", "+1", " 1", "1;2",
                          "99999999999", "%2C"}) {
    EXPECT_FALSE(ParseFrameList(bad).ok()) << bad;
  }
  EXPECT_FALSE(ParseFrameList("1,2,3", 2).ok());
  EXPECT_TRUE(ParseFrameList("1,2", 2).ok());
}

}  // namespace
}  // namespace tresor::dicomweb
