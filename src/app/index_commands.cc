// `tresor index sql`: read-only SQL on the (sealed) SQLite index, for maintenance and the
// test suites; the index files can be read by nothing else without the key.
// `tresor index upgrade`: the explicit schema upgrade of a PostgreSQL index (a node never
// upgrades a shared database by itself: every node must run the new release first).
#include <iostream>

#include "app/cli.h"
#include "app/data_dir.h"
#include "app/index_backend.h"

namespace tresor::app {
namespace {

int IndexUpgrade(const std::string& dir) {
  auto config = LoadConfig(dir + "/tresor.conf");
  if (!config.ok()) return Fail(config.status());
  if (config->index_backend != "postgresql") {
    std::cout << "index: SQLite (" << dir << "/index.db) upgrades itself when opened; "
              << "nothing to do\n";
    return 0;
  }
  auto options = PostgresOptions(*config);
  if (!options.ok()) return Fail(options.status());
  auto found = store::PostgresIndex::Upgrade(*options);
  if (!found.ok()) return Fail(found.status());
  if (*found == store::PostgresIndex::kSchemaVersion) {
    std::cout << "index: PostgreSQL schema is at version " << *found << " already\n";
  } else if (*found == 0) {
    std::cout << "index: PostgreSQL schema created at version "
              << store::PostgresIndex::kSchemaVersion << "\n";
  } else {
    std::cout << "index: PostgreSQL schema upgraded from version " << *found << " to "
              << store::PostgresIndex::kSchemaVersion << "\n";
  }
  return 0;
}

}  // namespace

int CmdIndex(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {}));
  const std::string dir = ResolveDataDir(a.Flag("data"));
  if (a.positional.size() == 1 && a.positional[0] == "upgrade") return IndexUpgrade(dir);
  if (a.positional.size() != 2 || a.positional[0] != "sql") {
    return Fail(InvalidArgument("usage: tresor index sql \"SELECT ...\" | tresor index upgrade"));
  }
  auto opened = OpenDataDir(dir);
  if (!opened.ok()) return Fail(opened.status());
  if ((*opened)->sqlite == nullptr) {
    return Fail(Unsupported("tresor index sql reads the SQLite index; this archive's index is "
                            "PostgreSQL: query it with psql"));
  }
  auto rows = (*opened)->sqlite->ReadOnlyQuery(a.positional[1]);
  if (!rows.ok()) return Fail(rows.status());
  for (const auto& row : *rows) {
    for (size_t c = 0; c < row.size(); ++c) std::cout << (c ? "|" : "") << row[c];
    std::cout << "\n";
  }
  return 0;
}

}  // namespace tresor::app
