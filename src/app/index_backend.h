// The index a data directory's configuration selects ([index] backend, see
// docs/deployment.md): "sqlite" (DIR/index.db, page-sealed, one node) or "postgresql" (a
// database several nodes share). Nothing above src/app knows which one runs.
#pragma once

#include <memory>
#include <string>

#include "core/config.h"
#include "store/index.h"
#include "store/postgres_index.h"
#include "store/sqlite_index.h"

namespace tresor::app {

struct IndexBackend {
  std::unique_ptr<store::Index> index;
  // The same object when the backend is SQLite (maintenance SQL), else null.
  store::SqliteIndex* sqlite = nullptr;
};

// How an SQLite index makes its commits durable, given where the blobs live: one
// filesystem sync covers both only when the blobs are local files on the index's
// filesystem; with shared or S3 storage (or another filesystem) the index syncs itself.
store::SqliteIndexOptions::Sync SqliteSyncFor(const Config& config, bool blobs_on_index_filesystem);

// The PostgreSQL settings of `config` ([index] postgresql, require_tls, pool_size).
// kInvalidArgument when backend is "postgresql" and no connection is configured.
Result<store::PostgresIndexOptions> PostgresOptions(const Config& config);

// Opens the configured index of data directory `dir`. `page_key` seals DIR/index.db
// (SQLite only; empty only in the plaintext benchmark build). Errors say which setting
// is wrong or that the database is unreachable (kUnavailable) or of another schema
// version (kUnsupported: run `tresor index upgrade`).
Result<IndexBackend> OpenIndexBackend(const Config& config, const std::string& dir,
                                      std::string page_key, store::SqliteIndexOptions::Sync sync);

// This node's name: [cluster] node, else the host name reduced to the characters a node
// name may hold (else "node").
std::string NodeName(const Config& config);

}  // namespace tresor::app
