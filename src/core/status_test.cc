#include "core/status.h"

#include <gtest/gtest.h>

#include <string>

namespace tresor {
namespace {

Result<int> Parse(bool fail) {
  if (fail) return InvalidArgument("bad");
  return 7;
}

TEST(ResultTest, HoldsAValueOrAnError) {
  Result<int> good = Parse(false);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 7);
  EXPECT_TRUE(good.status().ok());
  Result<int> bad = Parse(true);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
}

// A Result made from an ok Status would be neither a value nor an error; that is a bug,
// and the process must stop instead of carrying on with a value that was never set. The
// check holds in release builds too (this suite runs in RelWithDebInfo, NDEBUG set).
TEST(ResultDeathTest, FromOkStatusAbortsInEveryBuild) {
  EXPECT_DEATH(
      {
        Result<std::string> r = Status::Ok();
        (void)r;
      },
      "");
}

}  // namespace
}  // namespace tresor
