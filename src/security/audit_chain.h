// The audit trail's integrity primitives: the hash chain over its records and the
// Ed25519 signatures of checkpoints of the chain head. Pure functions; the store extends
// the chain (under its write lock), the archive verifies it.
//
// Record n (seq n >= 1) has
//   canonical bytes C(n) = "tresor-audit-v1\n" seq "\n" time "\n" body
//                          (seq and time in ASCII decimal, body the record's canonical
//                          JSON: UTF-8, keys sorted, no insignificant whitespace)
//   hash(n)              = SHA-256(hash(n-1) || C(n)), hash(0) = 32 zero bytes
// with hashes stored as 64 lowercase hex digits and hashed as their 32 raw bytes. So
// editing, deleting, inserting or reordering a record changes every later hash.
//
// A checkpoint signs the head: message "tresor-audit-checkpoint-v1\n" seq "\n" hash "\n"
// time with Ed25519 (libsodium crypto_sign). A chain recomputed after tampering no longer
// matches the signed hashes, and a cut tail ends before the last signed seq.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace tresor::security {

// hash(0): the previous hash of the first record.
extern const char kAuditGenesisHash[];  // 64 '0' digits

std::string AuditCanonicalBytes(int64_t seq, int64_t time, std::string_view body);
// hash(n) from hash(n-1) (hex). An invalid previous hash is hashed as 32 zero bytes after
// a mark, so it never collides with a valid chain.
std::string AuditChainHash(const std::string& prev_hash_hex, int64_t seq, int64_t time,
                           std::string_view body);

// An Ed25519 key pair for checkpoints. seed: 32 bytes (the secret, kept in a key file
// outside the index); public_key: 32 bytes.
struct AuditSigningKey {
  std::string seed;
  std::string public_key;
};
// kInvalidArgument unless `seed` has 32 bytes; kInternal if libsodium fails.
Result<AuditSigningKey> AuditKeyFromSeed(const std::string& seed);

std::string AuditCheckpointMessage(int64_t seq, const std::string& hash_hex, int64_t time);
// The detached signature (64 bytes, hex) of the checkpoint message.
Result<std::string> SignAuditCheckpoint(const AuditSigningKey& key, int64_t seq,
                                        const std::string& hash_hex, int64_t time);
// True iff `signature_hex` is a valid signature by `public_key` (32 raw bytes).
bool VerifyAuditCheckpoint(const std::string& public_key, int64_t seq, const std::string& hash_hex,
                           int64_t time, const std::string& signature_hex);

// Lowercase or uppercase hex to bytes; false on odd length or a non-hex digit.
bool AuditHexDecode(std::string_view hex, std::string* out);

}  // namespace tresor::security
