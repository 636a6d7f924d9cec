// SealedVfs: an SQLite VFS that seals every page of a database and of its write-ahead log
// with AES-256-GCM, so the index files on disk hold no readable row data. SQL sees
// plaintext pages, so every query (wildcards, fuzzy names, ranges) works unchanged.
//
// Page format (the database must be created with kSealReserveBytes reserved bytes per
// page, which SqliteIndex requests with SQLITE_FCNTL_RESERVE_BYTES before the first
// write). For a page of P bytes:
//   [0, P-32)      ciphertext of the page's usable bytes (SQLite's data)
//   [P-32, P-20)   nonce: 96 random bits, fresh for every write of the page
//   [P-20, P-4)    GCM tag
//   [P-4, P)       key check: the first 4 bytes of HMAC-SHA256(key, fixed label), which
//                  tells a wrong key apart from a damaged page (it reveals nothing of the
//                  key or the data)
// Page 1 keeps its first 24 bytes in plaintext ("SQLite format 3", page size, format
// versions, reserved-bytes count and payload fractions), because SQLite reads them before
// any page can be decrypted; they are authenticated as associated data. Everything else
// in page 1 (change counter, page count, schema cookie, the schema itself) is sealed.
//
// Associated data binds a page to its place: a kind tag (database or WAL), the page
// number and, for WAL frames, the frame header's commit size and salts, so a page cannot
// be moved to another position, another WAL generation or another file kind without
// failing authentication.
//
// WAL: the 32-byte WAL header and the 24-byte frame headers stay plaintext (page size,
// salts, page numbers, commit sizes, SQLite's checksums); each frame's page image is
// sealed like a database page. SQLite computes its WAL checksums over the plaintext it
// writes and verifies them over what xRead returns (plaintext again), so recovery after
// a crash works as without the VFS. A frame that fails authentication while SQLite scans
// the WAL in recovery (a torn last write) is returned with a zeroed image, so SQLite's
// checksum rejects it and recovery ends there, as it would for a torn plaintext frame.
//
// Other files: the -shm wal-index goes through xShmMap to the base VFS unchanged (it holds
// page numbers, frame numbers, salts and checksums, no row data). Every other file kind
// (rollback and super journals, temp databases, statement journals, transient files) is
// refused with SQLITE_CANTOPEN: the index runs with journal_mode=WAL (a new database is
// switched to WAL with an in-memory journal) and temp_store=MEMORY, so none is needed,
// and none can carry plaintext pages to disk.
//
// Errors: a page that fails authentication reads as SQLITE_IOERR_DATA (the statement
// fails; no wrong rows). Memory-mapped I/O is not offered, so every page goes through the
// decryption.
//
// Threads: the VFS object is immutable after Make() (key, names) apart from an atomic
// failure counter; each open file has its own cipher contexts and scratch buffer, used
// only by the connection that owns the file (SQLite serializes calls per connection).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace tresor::store {

// Reserved bytes per page a sealed database is created with.
constexpr int kSealReserveBytes = 32;
// Length of the page key.
constexpr size_t kSealKeyBytes = 32;

class SealedVfs {
 public:
  // Registers a new VFS (not the default) sealing with `key` (kSealKeyBytes bytes; any
  // other length is kInvalidArgument). Each SealedVfs has its own name.
  static Result<std::unique_ptr<SealedVfs>> Make(const std::string& key);
  // Unregisters the VFS. Every connection opened with it must be closed first.
  ~SealedVfs();
  SealedVfs(const SealedVfs&) = delete;
  SealedVfs& operator=(const SealedVfs&) = delete;

  // The name to pass to sqlite3_open_v2.
  const char* name() const;

  // Checks an existing database file before SQLite opens it, so the caller gets a clear
  // error instead of a generic SQLite one: Ok for a missing or empty file or a page 1
  // that decrypts; kPermissionDenied "cannot be decrypted with this key" for a sealed
  // database with another key; kUnsupported for a plaintext (unsealed) database;
  // kIoError for a damaged page 1 or a file that is not a database.
  Status CheckDatabase(const std::string& path) const;

  // Pages that failed authentication since Make() (database reads and WAL reads).
  uint64_t integrity_failures() const;
  // Files SQLite asked to open that the VFS refused (kinds that could carry pages).
  uint64_t refused_opens() const;

  struct State;  // the registered sqlite3_vfs and the key (defined in the .cc)

 private:
  SealedVfs() = default;
  std::unique_ptr<State> state_;
};

// For a database opened without a key: kPermissionDenied when `path` is a sealed
// database (so it is never read as garbage), Ok otherwise.
Status CheckNotSealed(const std::string& path);

}  // namespace tresor::store
