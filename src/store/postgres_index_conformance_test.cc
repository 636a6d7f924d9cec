// The index conformance suite (store/testing/index_conformance.h) for PostgresIndex, on
// the server named by TRESOR_TEST_PG (a libpq connection string whose role may create
// databases). Each test gets a database of its own, dropped afterwards. Without
// TRESOR_TEST_PG nothing is instantiated here; ctest's unit.index_conformance_pg
// (tests/unit/index_conformance_pg.sh) starts a private cluster, sets it and fails when
// the cluster cannot be started or no test ran.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "store/postgres_connection.h"
#include "store/postgres_index.h"
#include "store/testing/index_conformance.h"

namespace tresor::store::testing {
namespace {

const char* TestServer() {
  const char* v = std::getenv("TRESOR_TEST_PG");
  return v != nullptr && *v != '\0' ? v : nullptr;
}

// A fresh database on the test server for one test.
class PostgresFactory : public IndexFactory {
 public:
  static Result<std::unique_ptr<IndexFactory>> Make() {
    static std::atomic<int> counter{0};
    std::string name = "tresor_conformance_" + std::to_string(getpid()) + "_" + std::to_string(++counter);
    TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> admin, pg::Connection::Open(TestServer()));
    TRESOR_RETURN_IF_ERROR(admin->Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"));
    TRESOR_RETURN_IF_ERROR(admin->Exec("CREATE DATABASE " + name + " ENCODING 'UTF8' TEMPLATE template0"));
    return std::unique_ptr<IndexFactory>(new PostgresFactory(std::move(admin), name));
  }
  ~PostgresFactory() override { (void)admin_->Exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)"); }

  Result<std::unique_ptr<Index>> Open() override {
    PostgresIndexOptions options;
    // A later keyword wins in a libpq connection string.
    options.connection = std::string(TestServer()) + " dbname=" + name_;
    options.pool_size = 4;
    TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<PostgresIndex> index, PostgresIndex::Open(options));
    return std::unique_ptr<Index>(std::move(index));
  }

 private:
  PostgresFactory(std::unique_ptr<pg::Connection> admin, std::string name)
      : admin_(std::move(admin)), name_(std::move(name)) {}
  std::unique_ptr<pg::Connection> admin_;
  const std::string name_;
};

std::vector<IndexBackend> Backends() {
  if (TestServer() == nullptr) return {};
  return {{"Server", &PostgresFactory::Make}};
}

INSTANTIATE_TEST_SUITE_P(Postgres, IndexConformanceTest, ::testing::ValuesIn(Backends()),
                         IndexBackendName);

}  // namespace
}  // namespace tresor::store::testing
