// JSON for the web layer without exceptions: bounded parsing of untrusted bodies and
// serialization that cannot throw on invalid UTF-8. Only web/ .cc files include this
// (it pulls in nlohmann/json).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/status.h"

namespace tresor::web {

// Parses `text` as one JSON value. kInvalidArgument for malformed JSON (including invalid
// UTF-8) or nesting deeper than `max_depth` (checked before parsing, so hostile nesting
// never reaches the parser).
Result<nlohmann::json> ParseJsonBody(std::string_view text, int max_depth = 32);

// Compact serialization; invalid UTF-8 in strings is replaced (U+FFFD), never thrown.
std::string DumpJson(const nlohmann::json& value);

}  // namespace tresor::web
