#include "dimse/status_mapping.h"

#include <gtest/gtest.h>

#include <iterator>

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

// Every Code, in declaration order, so a new Code without a row fails these tables.
constexpr Code kAllCodes[] = {
    Code::kOk,          Code::kInvalidArgument, Code::kNotFound,        Code::kAlreadyExists,
    Code::kConflict,    Code::kPermissionDenied, Code::kUnauthenticated, Code::kResourceExhausted,
    Code::kUnsupported, Code::kIoError,          Code::kUnavailable,     Code::kInternal,
};

struct Row {
  Code code;
  uint16_t dimse;
};

// Checks `map` against `rows`, which must name every Code exactly once.
template <size_t N>
void ExpectTable(uint16_t (*map)(const Status&), const Row (&rows)[N], const char* table) {
  ASSERT_EQ(N, std::size(kAllCodes)) << table << ": one row per Code";
  for (size_t i = 0; i < N; ++i) {
    ASSERT_EQ(rows[i].code, kAllCodes[i]) << table << " row " << i;
    Status s = rows[i].code == Code::kOk ? Status::Ok() : Status(rows[i].code, "x");
    EXPECT_EQ(map(s), rows[i].dimse) << table << ": " << CodeName(rows[i].code);
  }
}

TEST(StatusMappingTest, FindTable) {
  const Row rows[] = {
      {Code::kOk, 0x0000},          {Code::kInvalidArgument, 0xA900},
      {Code::kNotFound, 0xC000},    {Code::kAlreadyExists, 0x0000},
      {Code::kConflict, 0xC000},    {Code::kPermissionDenied, 0x0124},
      {Code::kUnauthenticated, 0x0124}, {Code::kResourceExhausted, 0xA700},
      {Code::kUnsupported, 0xA900}, {Code::kIoError, 0xC000},
      {Code::kUnavailable, 0xA700}, {Code::kInternal, 0xC000},
  };
  ExpectTable(FindStatusFor, rows, "find");
}

TEST(StatusMappingTest, RetrieveTable) {
  const Row rows[] = {
      {Code::kOk, 0x0000},          {Code::kInvalidArgument, 0xA900},
      {Code::kNotFound, 0xC000},    {Code::kAlreadyExists, 0x0000},
      {Code::kConflict, 0xC000},    {Code::kPermissionDenied, 0x0124},
      {Code::kUnauthenticated, 0x0124}, {Code::kResourceExhausted, 0xA701},
      {Code::kUnsupported, 0xA900}, {Code::kIoError, 0xC000},
      {Code::kUnavailable, 0xA701}, {Code::kInternal, 0xC000},
  };
  ExpectTable(RetrieveStatusFor, rows, "retrieve");
}

TEST(StatusMappingTest, MoveDestinationTable) {
  const Row rows[] = {
      {Code::kOk, 0x0000},          {Code::kInvalidArgument, 0xA900},
      {Code::kNotFound, 0xA801},    {Code::kAlreadyExists, 0x0000},
      {Code::kConflict, 0xC000},    {Code::kPermissionDenied, 0x0124},
      {Code::kUnauthenticated, 0x0124}, {Code::kResourceExhausted, 0xA701},
      {Code::kUnsupported, 0xA900}, {Code::kIoError, 0xC000},
      {Code::kUnavailable, 0xA701}, {Code::kInternal, 0xC000},
  };
  ExpectTable(MoveDestinationStatusFor, rows, "move destination");
}

// A-ASSOCIATE-RJ (PS3.8 9.3.4): result 1 permanent / 2 transient; source 1 service user,
// 3 service provider (presentation); reasons as DCMTK encodes them (source << 8 | reason).
TEST(StatusMappingTest, AssociationRejectTable) {
  struct RejectRow {
    AssociationRefusal refusal;
    T_ASC_RejectParametersResult result;
    T_ASC_RejectParametersSource source;
    T_ASC_RejectParametersReason reason;
  } rows[] = {
      {AssociationRefusal::kAdmissionFailed, ASC_RESULT_REJECTEDTRANSIENT,
       ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED, ASC_REASON_SP_PRES_TEMPORARYCONGESTION},
      {AssociationRefusal::kUnknownCallingAe, ASC_RESULT_REJECTEDPERMANENT,
       ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED},
      {AssociationRefusal::kWrongHost, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
       ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED},
      {AssociationRefusal::kWrongCertificate, ASC_RESULT_REJECTEDPERMANENT,
       ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED},
      {AssociationRefusal::kBlocked, ASC_RESULT_REJECTEDTRANSIENT,
       ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED, ASC_REASON_SP_PRES_TEMPORARYCONGESTION},
      {AssociationRefusal::kWrongCalledAe, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
       ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED},
      {AssociationRefusal::kNoPresentationContext, ASC_RESULT_REJECTEDPERMANENT,
       ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_NOREASON},
      {AssociationRefusal::kIdentityRejected, ASC_RESULT_REJECTEDPERMANENT,
       ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_NOREASON},
      {AssociationRefusal::kPeerAssociationLimit, ASC_RESULT_REJECTEDTRANSIENT,
       ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED, ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED},
  };
  ASSERT_EQ(std::size(rows), static_cast<size_t>(AssociationRefusal::kPeerAssociationLimit) + 1)
      << "one row per refusal";
  for (size_t i = 0; i < std::size(rows); ++i) {
    ASSERT_EQ(static_cast<size_t>(rows[i].refusal), i) << "rows in declaration order";
    T_ASC_RejectParameters p = RejectFor(rows[i].refusal);
    EXPECT_EQ(p.result, rows[i].result) << "row " << i;
    EXPECT_EQ(p.source, rows[i].source) << "row " << i;
    EXPECT_EQ(p.reason, rows[i].reason) << "row " << i;
  }
  // The numeric values on the wire.
  EXPECT_EQ(static_cast<int>(ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED) & 0xFF, 3);
  EXPECT_EQ(static_cast<int>(ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED) & 0xFF, 7);
}

}  // namespace
}  // namespace tresor::dimse
