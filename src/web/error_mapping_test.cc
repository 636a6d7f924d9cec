#include "web/error_mapping.h"

#include <gtest/gtest.h>

namespace tresor::web {
namespace {

struct Row {
  Code code;
  int status;       // HttpStatus
  int body_status;  // HttpStatusForBody
};

constexpr Row kTable[] = {
    {Code::kOk, 200, 200},
    {Code::kInvalidArgument, 400, 400},
    {Code::kUnauthenticated, 401, 401},
    {Code::kPermissionDenied, 403, 403},
    {Code::kNotFound, 404, 404},
    {Code::kConflict, 409, 409},
    {Code::kAlreadyExists, 409, 409},
    {Code::kResourceExhausted, 429, 413},
    {Code::kUnsupported, 415, 415},
    {Code::kUnavailable, 503, 503},
    {Code::kIoError, 500, 500},
    {Code::kInternal, 500, 500},
};

TEST(ErrorMappingTest, Table) {
  for (const Row& row : kTable) {
    EXPECT_EQ(HttpStatus(row.code), row.status) << CodeName(row.code);
    EXPECT_EQ(HttpStatusForBody(row.code), row.body_status) << CodeName(row.code);
  }
}

TEST(ErrorMappingTest, TableCoversEveryCode) {
  // Every enumerator from kOk to kInternal appears exactly once.
  constexpr int kCodes = static_cast<int>(Code::kInternal) + 1;
  int seen[kCodes] = {};
  for (const Row& row : kTable) ++seen[static_cast<int>(row.code)];
  for (int i = 0; i < kCodes; ++i) EXPECT_EQ(seen[i], 1) << CodeName(static_cast<Code>(i));
}

}  // namespace
}  // namespace tresor::web
