#include "dimse/status_mapping.h"

namespace tresor::dimse {

uint16_t StoreStatusFor(const Status& status) {
  switch (status.code()) {
    case Code::kOk:
    case Code::kAlreadyExists:
      return kStatusSuccess;
    case Code::kInvalidArgument:
      return kStatusCannotUnderstand;
    case Code::kUnsupported:
      return kStatusDataSetMismatch;
    case Code::kConflict:
      return kStatusDuplicateSopInstance;
    case Code::kPermissionDenied:
    case Code::kUnauthenticated:
      return kStatusNotAuthorized;
    case Code::kResourceExhausted:
    case Code::kIoError:
    case Code::kUnavailable:
      return kStatusOutOfResources;
    case Code::kNotFound:
    case Code::kInternal:
    case Code::kDataLoss:
      return kStatusProcessingFailure;
  }
  return kStatusProcessingFailure;
}

uint16_t FindStatusFor(const Status& status) {
  switch (status.code()) {
    case Code::kOk:
    case Code::kAlreadyExists:
      return kStatusSuccess;
    case Code::kInvalidArgument:
    case Code::kUnsupported:
      return kStatusDataSetMismatch;
    case Code::kPermissionDenied:
    case Code::kUnauthenticated:
      return kStatusNotAuthorized;
    case Code::kResourceExhausted:
    case Code::kUnavailable:
      return kStatusOutOfResources;
    case Code::kConflict:
    case Code::kNotFound:
    case Code::kIoError:
    case Code::kInternal:
    case Code::kDataLoss:
      return kStatusCannotUnderstand;
  }
  return kStatusCannotUnderstand;
}

uint16_t RetrieveStatusFor(const Status& status) {
  if (status.code() == Code::kResourceExhausted || status.code() == Code::kUnavailable) {
    return kStatusRetrieveOutOfResources;
  }
  return FindStatusFor(status);
}

uint16_t MoveDestinationStatusFor(const Status& status) {
  if (status.code() == Code::kNotFound) return kStatusMoveDestinationUnknown;
  return RetrieveStatusFor(status);
}

T_ASC_RejectParameters RejectFor(AssociationRefusal refusal) {
  constexpr T_ASC_RejectParameters kCallingAeNotRecognized{
      ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
      ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED};
  constexpr T_ASC_RejectParameters kNoReason{ASC_RESULT_REJECTEDPERMANENT,
                                             ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_NOREASON};
  constexpr T_ASC_RejectParameters kCongestion{
      ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
      ASC_REASON_SP_PRES_TEMPORARYCONGESTION};
  switch (refusal) {
    case AssociationRefusal::kAdmissionFailed:
    case AssociationRefusal::kBlocked:
      return kCongestion;
    case AssociationRefusal::kUnknownCallingAe:
    case AssociationRefusal::kWrongHost:
    case AssociationRefusal::kWrongCertificate:
      return kCallingAeNotRecognized;
    case AssociationRefusal::kWrongCalledAe:
      return {ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
              ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED};
    case AssociationRefusal::kNoPresentationContext:
    case AssociationRefusal::kIdentityRejected:
      return kNoReason;
    case AssociationRefusal::kMalformedRequest:
      // PS3.8 9.2.2 AE-6: a request not acceptable to the service provider is rejected;
      // source: service provider (ACSE related), reason: no reason given.
      return {ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEPROVIDER_ACSE_RELATED,
              ASC_REASON_SP_ACSE_NOREASON};
    case AssociationRefusal::kPeerAssociationLimit:
      return {ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
              ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED};
  }
  return kNoReason;
}

}  // namespace tresor::dimse
