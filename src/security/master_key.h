// The master key of encryption at rest: 32 random bytes in a file of their own, kept
// outside the data directory by default (docs/encryption.md), and the subkeys derived
// from it.
//
// The key file holds exactly kMasterKeyBytes raw bytes, belongs to the user running
// Tresor and is readable by that user only (mode 0600 or stricter): a key file that the
// group or others may read is refused, never used. Nothing derived from the key other
// than its id (a one-way fingerprint) is ever logged or stored next to the data.
#pragma once

#include <openssl/types.h>

#include <string>

#include "core/status.h"

namespace tresor::security {

inline constexpr size_t kMasterKeyBytes = 32;
inline constexpr size_t kKeyIdBytes = 8;

struct MasterKey {
  std::string bytes;  // kMasterKeyBytes raw bytes
  std::string id;     // kKeyIdBytes raw bytes: names the key in sealed headers
  // The id as 16 lowercase hex digits (for messages and `tresor keys` output).
  std::string IdHex() const;
};

// `bytes` (exactly kMasterKeyBytes) as a MasterKey with its id. kInvalidArgument for
// another length; kInternal if the id cannot be derived.
Result<MasterKey> MasterKeyFromBytes(const std::string& bytes, OSSL_LIB_CTX* libctx = nullptr);

// Reads the key file at `path`. Errors, each naming the path: kNotFound (no such file:
// "a data directory without its master key cannot be opened"), kPermissionDenied (group
// or others may read or write it, or it is not a regular file), kInvalidArgument (not
// exactly kMasterKeyBytes long), kIoError.
Result<MasterKey> LoadMasterKey(const std::string& path);

// Creates a new random key at `path` (mode 0600; the file must not exist; its directory
// is created with mode 0700 if missing, one level only), written and fsynced along with
// its directory. kAlreadyExists if the file exists.
Result<MasterKey> CreateMasterKey(const std::string& path);

// A kMasterKeyBytes subkey of `master` for `purpose` (HKDF-SHA256, RFC 5869: salt
// "tresor", info = purpose). Distinct purposes give independent keys; the same master
// and purpose always give the same key. Purposes in use: "blob-key-wrap" (wrapping the
// per-blob data keys), "key-id" (the key id), "index-pages" (the SQLite index pages).
// kInternal if OpenSSL fails; `master` must be kMasterKeyBytes long (else
// kInvalidArgument).
Result<std::string> DeriveKey(const std::string& master, const std::string& purpose,
                              OSSL_LIB_CTX* libctx = nullptr);

}  // namespace tresor::security
