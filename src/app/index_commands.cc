// `tresor index sql`: read-only SQL on the (sealed) index, for maintenance and the test
// suites; the index files can be read by nothing else without the key.
#include <iostream>

#include "app/cli.h"
#include "app/data_dir.h"

namespace tresor::app {

int CmdIndex(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {}));
  if (a.positional.size() != 2 || a.positional[0] != "sql") {
    return Fail(InvalidArgument("usage: tresor index sql \"SELECT ...\""));
  }
  auto opened = OpenDataDir(ResolveDataDir(a.Flag("data")));
  if (!opened.ok()) return Fail(opened.status());
  auto rows = (*opened)->index->ReadOnlyQuery(a.positional[1]);
  if (!rows.ok()) return Fail(rows.status());
  for (const auto& row : *rows) {
    for (size_t c = 0; c < row.size(); ++c) std::cout << (c ? "|" : "") << row[c];
    std::cout << "\n";
  }
  return 0;
}

}  // namespace tresor::app
