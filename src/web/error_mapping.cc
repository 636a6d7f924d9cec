#include "web/error_mapping.h"

namespace tresor::web {

int HttpStatus(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument: return 400;
    case Code::kUnauthenticated: return 401;
    case Code::kPermissionDenied: return 403;
    case Code::kNotFound: return 404;
    case Code::kAlreadyExists: return 409;
    case Code::kConflict: return 409;
    case Code::kResourceExhausted: return 429;
    case Code::kUnsupported: return 415;
    case Code::kUnavailable: return 503;
    case Code::kIoError: return 500;
    case Code::kInternal: return 500;
    case Code::kDataLoss: return 500;
  }
  return 500;
}

int HttpStatusForBody(Code code) {
  return code == Code::kResourceExhausted ? 413 : HttpStatus(code);
}

}  // namespace tresor::web
