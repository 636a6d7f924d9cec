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
      return kStatusCannotUnderstand;
  }
  return kStatusCannotUnderstand;
}

uint16_t RetrieveStatusFor(const Status& status) {
  if (status.code() == Code::kResourceExhausted || status.code() == Code::kUnavailable) {
    return 0xA701;
  }
  return FindStatusFor(status);
}

}  // namespace tresor::dimse
