// The data directory: configuration, key material, index and blob storage, and the
// wiring of the archive on top of them.
//
//   DIR/tresor.conf        documented configuration (see core/config.h)
//   DIR/keys/              key material, mode 0700; files 0600; never in the index
//                          (audit-signing.key: the Ed25519 seed of audit checkpoints)
//   DIR/index.db           the SQLite index
//   DIR/storage/           blobs (names chosen by the server) and the staging area
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "archive/archive_service.h"
#include "core/config.h"
#include "store/file_blob_store.h"
#include "store/sqlite_index.h"

namespace tresor::app {

// `path` if absolute, else `dir`/`path`.
std::string InDataDir(const std::string& dir, const std::string& path);
Result<std::string> ReadTextFile(const std::string& path);
// Creates `path` (which must not exist) with `mode`, writes and fsyncs it; on failure
// removes what it created.
Status WritePrivateFile(const std::string& path, const std::string& content, mode_t mode);

// The page key of DIR/index.db: HKDF-SHA256 of the 32-byte master key (DIR/keys/master.key,
// created by init) with the purpose "index-pages". kNotFound without the master key,
// kInternal for a damaged one.
Result<std::string> IndexPageKey(const std::string& dir);

// Resolves --data / $TRESOR_DATA / ./var.
std::string ResolveDataDir(const std::string& flag);

// Creates a new data directory. Fails if `dir` already holds one. Returns the
// administrator password, which is shown once and stored only as an Argon2id hash.
Result<std::string> InitDataDir(const std::string& dir);

// An opened data directory with its archive.
struct OpenArchive {
  std::string dir;
  Config config;
  std::unique_ptr<store::SqliteIndex> index;
  std::unique_ptr<store::FileBlobStore> blobs;
  std::unique_ptr<archive::ArchiveService> archive;
};

// Opens the data directory. Fails (the archive must not start) when the session token
// key is missing and cannot be created, or is shorter than security::kMinTokenKeyBytes.
Result<std::unique_ptr<OpenArchive>> OpenDataDir(const std::string& dir);

}  // namespace tresor::app
