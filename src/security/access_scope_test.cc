#include "security/access_scope.h"

#include <gtest/gtest.h>

namespace tresor::security {
namespace {

using Groups = std::vector<std::string>;

TEST(AccessScopeTest, MembershipOfAllMeansEveryStudy) {
  EXPECT_TRUE(AccessScope::Of({"x", "all"}).all);
  AccessScope s = AccessScope::Of({"b", "a", "b"});
  EXPECT_FALSE(s.all);
  EXPECT_EQ(s.groups, Groups({"a", "b"}));
  EXPECT_TRUE(AccessScope::Of({}).Empty());
}

TEST(AccessScopeTest, IntersectionKeepsWhatBothSee) {
  AccessScope ab = AccessScope::Of({"a", "b"}), bc = AccessScope::Of({"b", "c"});
  EXPECT_EQ(ab.Intersect(bc).groups, Groups({"b"}));
  EXPECT_EQ(AccessScope::Everything().Intersect(bc).groups, Groups({"b", "c"}));
  EXPECT_EQ(ab.Intersect(AccessScope::Everything()).groups, Groups({"a", "b"}));
  EXPECT_TRUE(AccessScope::Everything().Intersect(AccessScope::Everything()).all);
  EXPECT_TRUE(ab.Intersect(AccessScope::Of({"z"})).Empty());
}

TEST(AccessScopeTest, GroupListsAreParsedStrictly) {
  EXPECT_EQ(*ParseGroupList(" site-b, cardio ,site-b"), Groups({"cardio", "site-b"}));
  EXPECT_TRUE(ParseGroupList("")->empty());
  EXPECT_FALSE(ParseGroupList("a,,b").ok());
  EXPECT_FALSE(ParseGroupList("a b").ok());
  EXPECT_FALSE(ParseGroupList("x'; DROP TABLE studies; --").ok());
  EXPECT_FALSE(ParseGroupList(std::string(65, 'g')).ok());
  EXPECT_EQ(FormatGroupList({"a", "b"}), "a,b");
}

}  // namespace
}  // namespace tresor::security
