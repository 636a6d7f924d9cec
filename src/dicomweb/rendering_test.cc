#include "dicomweb/rendering.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <utility>

namespace tresor::dicomweb {
namespace {

using std::chrono::milliseconds;

TEST(RenderSlotsTest, AtMostTheConfiguredNumberAreHeld) {
  RenderSlots slots(2);
  auto a = slots.Acquire(milliseconds(0));
  auto b = slots.Acquire(milliseconds(0));
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(slots.in_use(), 2);
  EXPECT_FALSE(slots.Acquire(milliseconds(0)).has_value());  // no wait, no slot
  a.reset();                                                 // released on destruction
  EXPECT_EQ(slots.in_use(), 1);
  auto c = slots.Acquire(milliseconds(0));
  EXPECT_TRUE(c.has_value());
  EXPECT_EQ(slots.in_use(), 2);
}

TEST(RenderSlotsTest, MovedPermitsReleaseOnce) {
  RenderSlots slots(1);
  {
    auto a = slots.Acquire(milliseconds(0));
    ASSERT_TRUE(a.has_value());
    RenderSlots::Permit moved = std::move(*a);
    a.reset();
    EXPECT_EQ(slots.in_use(), 1);
  }
  EXPECT_EQ(slots.in_use(), 0);
  EXPECT_TRUE(slots.Acquire(milliseconds(0)).has_value());
}

TEST(RenderSlotsTest, NonPositiveCountsMeanOne) {
  RenderSlots slots(0);
  auto a = slots.Acquire(milliseconds(0));
  EXPECT_TRUE(a.has_value());
  EXPECT_FALSE(slots.Acquire(milliseconds(0)).has_value());
}

TEST(RenderErrorTest, StatusesAsThePs318RoutesAnswer) {
  EXPECT_EQ(RenderError(NotFound("no such instance 1.2.3")).status, 404);
  EXPECT_EQ(RenderError(NotFound("x")).body, RenderError(NotFound("y")).body);
  EXPECT_EQ(RenderError(InvalidArgument("frame 3 is out of range")).status, 400);
  EXPECT_EQ(RenderError(ResourceExhausted("more than the render limit")).status, 413);
  EXPECT_EQ(RenderError(TryAgainLater("busy", 2)).status, 429);
  EXPECT_EQ(RenderError(Unsupported("JPEG 2000")).status, 406);
  web::HttpResponse busy = RenderError(Unavailable("too many renders"));
  EXPECT_EQ(busy.status, 503);
  bool retry_after = false;
  for (const auto& [name, value] : busy.headers) retry_after |= name == "Retry-After";
  EXPECT_TRUE(retry_after);
  EXPECT_EQ(RenderError(Internal("/secret/path")).status, 500);
  EXPECT_EQ(RenderError(Internal("/secret/path")).body.find("/secret"), std::string::npos);
}

}  // namespace
}  // namespace tresor::dicomweb

namespace tresor::dicomweb {
namespace {

TEST(ChooseMediaTypeTest, BestRangeFirstAndExplicitRefusals) {
  const std::vector<std::string> offered = {"image/jpeg", "image/png"};
  EXPECT_EQ(*ChooseMediaType("", offered), "image/jpeg");
  EXPECT_EQ(*ChooseMediaType("*/*", offered), "image/jpeg");
  EXPECT_EQ(*ChooseMediaType("image/png", offered), "image/png");
  EXPECT_EQ(*ChooseMediaType("image/jpeg;q=0.4, image/png;q=0.9", offered), "image/png");
  EXPECT_EQ(*ChooseMediaType("image/jpeg;q=0, */*", offered), "image/png");
  EXPECT_EQ(*ChooseMediaType("image/gif, image/*;q=0.1", offered), "image/jpeg");
  EXPECT_EQ(ChooseMediaType("image/gif", offered).status().code(), Code::kUnsupported);
  EXPECT_EQ(ChooseMediaType("image/jpeg;q=0, image/png;q=0", offered).status().code(),
            Code::kUnsupported);
  EXPECT_EQ(ChooseMediaType("image/jpeg;q=2", offered).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace tresor::dicomweb
