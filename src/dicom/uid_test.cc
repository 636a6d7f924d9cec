#include "dicom/uid.h"

#include <gtest/gtest.h>

#include <string>

namespace tresor::dicom {
namespace {

TEST(UidTest, AcceptsValidUids) {
  EXPECT_TRUE(IsValidUid("1.2.840.10008.5.1.4.1.1.2"));
  EXPECT_TRUE(IsValidUid("2.25.329800735698586629295641978511506172918"));
  EXPECT_TRUE(IsValidUid("0.0"));
  EXPECT_TRUE(IsValidUid(std::string(32, '1') + "." + std::string(31, '2')));
}

TEST(UidTest, RefusesHostileOrMalformedUids) {
  for (std::string bad : {"", "../x", "..\\x", "/abs", "1.2.", ".1.2", "1..2", "1.02",
                          "1.2.a", "1.2 ", "1.2.3/../../etc", "１.2"}) {
    EXPECT_FALSE(IsValidUid(bad)) << bad;
  }
  EXPECT_FALSE(IsValidUid(std::string("1.2\0.3", 6)));
  EXPECT_FALSE(IsValidUid(std::string(65, '1')));
}

}  // namespace
}  // namespace tresor::dicom
