#include "dicomweb/stow.h"

#include <gtest/gtest.h>

namespace tresor::dicomweb {
namespace {

// The one table from the ingest path's Status codes to Failure Reasons (PS3.18 Table I.2-2).
TEST(StowFailureReason, MapsEveryRefusalOfTheIngestPath) {
  EXPECT_EQ(StowFailureReason(ResourceExhausted("object too large")), 0xA700);
  EXPECT_EQ(StowFailureReason(IoError("disk full")), 0xA700);
  EXPECT_EQ(StowFailureReason(InvalidArgument("malformed")), 0xC000);
  EXPECT_EQ(StowFailureReason(Unsupported("transfer syntax")), 0xC122);
  EXPECT_EQ(StowFailureReason(Conflict("same UID, other content")), 0x0111);
  EXPECT_EQ(StowFailureReason(PermissionDenied("no store grant")), 0x0124);
  EXPECT_EQ(StowFailureReason(Internal("bug")), 0x0110);
  EXPECT_EQ(StowFailureReason(NotFound("?")), 0x0110);
}

}  // namespace
}  // namespace tresor::dicomweb
