// The one table from Tresor's error codes to HTTP statuses (the web layer's counterpart
// of dimse/status_mapping).
//
// kResourceExhausted means two different things to an HTTP client: a rate limit or
// lockout ("try again later", 429) or a request body beyond a size limit (413). The code
// alone cannot tell them apart, so the caller says which one its call can produce:
// HttpStatus() for everything except consuming a request body, HttpStatusForBody() for
// the calls that consume one (an upload's Write/Commit), where the limit is a size.
#pragma once

#include "core/status.h"

namespace tresor::web {

// HTTP status for `code`; kResourceExhausted is a rate limit or lockout (429).
// kOk maps to 200.
int HttpStatus(Code code);

// HTTP status for `code` from a call that consumes a request body; kResourceExhausted is
// a size limit (413). Every other code maps as in HttpStatus().
int HttpStatusForBody(Code code);

}  // namespace tresor::web
