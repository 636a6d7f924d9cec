#include "dimse/status_mapping.h"

#include <gtest/gtest.h>

namespace tresor::dimse {
namespace {

TEST(StatusMappingTest, StoreTable) {
  struct Row {
    Code code;
    uint16_t dimse;
  } rows[] = {
      {Code::kOk, 0x0000},
      {Code::kAlreadyExists, 0x0000},
      {Code::kInvalidArgument, 0xC000},
      {Code::kUnsupported, 0xA900},
      {Code::kConflict, 0x0111},
      {Code::kPermissionDenied, 0x0124},
      {Code::kUnauthenticated, 0x0124},
      {Code::kResourceExhausted, 0xA700},
      {Code::kIoError, 0xA700},
      {Code::kUnavailable, 0xA700},
      {Code::kNotFound, 0x0110},
      {Code::kInternal, 0x0110},
  };
  for (const Row& r : rows) {
    Status s = r.code == Code::kOk ? Status::Ok() : Status(r.code, "x");
    EXPECT_EQ(StoreStatusFor(s), r.dimse) << CodeName(r.code);
  }
}

TEST(StatusMappingTest, FindTable) {
  struct Row {
    Code code;
    uint16_t dimse;
  } rows[] = {
      {Code::kOk, 0x0000},           {Code::kInvalidArgument, 0xA900},
      {Code::kUnsupported, 0xA900},  {Code::kPermissionDenied, 0x0124},
      {Code::kResourceExhausted, 0xA700}, {Code::kIoError, 0xC000},
      {Code::kInternal, 0xC000},
  };
  for (const Row& r : rows) {
    Status s = r.code == Code::kOk ? Status::Ok() : Status(r.code, "x");
    EXPECT_EQ(FindStatusFor(s), r.dimse) << CodeName(r.code);
  }
}

}  // namespace
}  // namespace tresor::dimse
