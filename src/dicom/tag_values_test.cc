#include "dicom/tag_values.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace tresor::dicom {
namespace {

std::vector<uint32_t> Tags(const TagValues& v) {
  std::vector<uint32_t> out;
  for (const auto& [tag, value] : v) out.push_back(tag);
  return out;
}

TEST(TagValuesTest, KeepsTagOrderWhateverTheInsertionOrder) {
  TagValues v;
  v[0x00200010] = "study id";
  v[0x00080020] = "20240101";
  v[0x00100010] = "Doe^Jane";
  v[0x00200013] = "7";
  EXPECT_EQ(Tags(v), (std::vector<uint32_t>{0x00080020, 0x00100010, 0x00200010, 0x00200013}));
  v[0x00100010] = "Roe^Richard";  // an existing tag is overwritten, not repeated
  EXPECT_EQ(v.size(), 4u);
  EXPECT_EQ(v.at(0x00100010), "Roe^Richard");
}

TEST(TagValuesTest, FindsPresentTagsOnly) {
  TagValues v{{0x00100020, "PID1"}, {0x00080050, "ACC"}, {0x00100020, "ignored repeat"}};
  ASSERT_EQ(v.size(), 2u);
  ASSERT_NE(v.find(0x00100020), v.end());
  EXPECT_EQ(v.find(0x00100020)->second, "PID1");
  EXPECT_EQ(v.find(0x00100010), v.end());  // between the two present tags
  EXPECT_EQ(v.find(0x00000001), v.end());  // before all
  EXPECT_EQ(v.find(0xFFFFFFFF), v.end());  // after all
  EXPECT_EQ(v.count(0x00080050), 1u);
  EXPECT_EQ(v.count(0x00080051), 0u);
  EXPECT_THROW(v.at(0x00080051), std::out_of_range);
  EXPECT_EQ(v, (TagValues{{0x00080050, "ACC"}, {0x00100020, "PID1"}}));
  EXPECT_NE(v, (TagValues{{0x00080050, "ACC"}}));
}

}  // namespace
}  // namespace tresor::dicom
