#include "app/index_backend.h"

#include <unistd.h>

namespace tresor::app {

store::SqliteIndexOptions::Sync SqliteSyncFor(const Config& config, bool blobs_on_index_filesystem) {
  using Sync = store::SqliteIndexOptions::Sync;
  if (!config.fsync) return Sync::kOff;
  if (config.storage_backend == "local" && blobs_on_index_filesystem) return Sync::kFilesystem;
  return Sync::kFull;
}

Result<store::PostgresIndexOptions> PostgresOptions(const Config& config) {
  if (config.index_postgresql.empty()) {
    return InvalidArgument("index.backend = \"postgresql\" needs index.postgresql (a libpq "
                           "connection string or \"service=NAME\")");
  }
  store::PostgresIndexOptions o;
  o.connection = config.index_postgresql;
  o.pool_size = static_cast<size_t>(config.index_pool_size);
  o.require_tls = config.index_require_tls;
  return o;
}

Result<IndexBackend> OpenIndexBackend(const Config& config, const std::string& dir,
                                      std::string page_key, store::SqliteIndexOptions::Sync sync) {
  IndexBackend out;
  if (config.index_backend == "sqlite") {
    TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<store::SqliteIndex> sqlite,
                            store::SqliteIndex::Open({dir + "/index.db", sync, std::move(page_key)}));
    out.sqlite = sqlite.get();
    out.index = std::move(sqlite);
    return out;
  }
  if (config.index_backend == "postgresql") {
    TRESOR_ASSIGN_OR_RETURN(store::PostgresIndexOptions options, PostgresOptions(config));
    auto pg = store::PostgresIndex::Open(options);
    if (!pg.ok()) {
      return Status(pg.status().code(), "index (PostgreSQL): " + pg.status().message());
    }
    out.index = std::move(pg).value();
    return out;
  }
  return InvalidArgument("unknown index.backend \"" + config.index_backend + "\"");
}

std::string NodeName(const Config& config) {
  if (!config.cluster_node.empty()) return config.cluster_node;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::string name;
  for (const char* p = host; *p && *p != '.' && name.size() < 32; ++p) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (ok) name += c;
  }
  return name.empty() ? "node" : name;
}

}  // namespace tresor::app
