// The console's files (ui/console/ of the source tree), compiled into the binary by
// cmake/embed_files.cmake: relative path ("index.html", "js/app.js") -> bytes. The bytes
// live for the whole program.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace tresor::web {

std::map<std::string, std::string_view> ConsoleFiles();

}  // namespace tresor::web
