// The index conformance suite (store/testing/index_conformance.h) for SqliteIndex, under
// each sync mode; with TRESOR_TEST_SEALED_INDEX=1 (unit.store_sealed) through the
// page-sealing VFS.
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/testing/temp_dir.h"
#include "store/sqlite_index.h"
#include "store/testing/index_conformance.h"

namespace tresor::store::testing {
namespace {

using Sync = SqliteIndexOptions::Sync;

// One database file in a temporary directory, removed with the factory.
class SqliteFactory : public IndexFactory {
 public:
  explicit SqliteFactory(Sync sync) : sync_(sync) {}
  Result<std::unique_ptr<Index>> Open() override {
    SqliteIndexOptions options{dir_.path() + "/index.db", sync_};
    const char* sealed = std::getenv("TRESOR_TEST_SEALED_INDEX");
    if (sealed != nullptr && std::string(sealed) == "1") options.page_key = std::string(32, 'k');
    TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<SqliteIndex> index, SqliteIndex::Open(options));
    return std::unique_ptr<Index>(std::move(index));
  }

 private:
  const Sync sync_;
  ::tresor::testing::TempDir dir_;
};

IndexBackend Sqlite(const std::string& name, Sync sync) {
  return {name, [sync]() -> Result<std::unique_ptr<IndexFactory>> {
            return std::unique_ptr<IndexFactory>(std::make_unique<SqliteFactory>(sync));
          }};
}

INSTANTIATE_TEST_SUITE_P(Sqlite, IndexConformanceTest,
                         ::testing::Values(Sqlite("Full", Sync::kFull),
                                           Sqlite("Filesystem", Sync::kFilesystem),
                                           Sqlite("Off", Sync::kOff)),
                         IndexBackendName);

}  // namespace
}  // namespace tresor::store::testing
