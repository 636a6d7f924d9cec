#include "security/audit_chain.h"

#include <sodium.h>

#include "core/hex.h"
#include "core/sha256.h"

namespace tresor::security {

const char kAuditGenesisHash[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
bool SodiumReady() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}
}  // namespace

bool AuditHexDecode(std::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  out->clear();
  out->reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = HexValue(hex[i]), lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

std::string AuditCanonicalBytes(int64_t seq, int64_t time, std::string_view body) {
  std::string out = "tresor-audit-v1\n";
  out += std::to_string(seq);
  out += '\n';
  out += std::to_string(time);
  out += '\n';
  out.append(body.data(), body.size());
  return out;
}

std::string AuditChainHash(const std::string& prev_hash_hex, int64_t seq, int64_t time,
                           std::string_view body) {
  std::string prev;
  Sha256 h;
  if (prev_hash_hex.size() != 64 || !AuditHexDecode(prev_hash_hex, &prev)) {
    static const char kInvalid[] = "invalid previous hash";
    h.Update(kInvalid, sizeof kInvalid);
    prev.assign(32, '\0');
  }
  h.Update(prev.data(), prev.size());
  std::string canonical = AuditCanonicalBytes(seq, time, body);
  h.Update(canonical.data(), canonical.size());
  return h.FinishHex();
}

Result<AuditSigningKey> AuditKeyFromSeed(const std::string& seed) {
  if (seed.size() != crypto_sign_SEEDBYTES) {
    return InvalidArgument("the audit signing key must have 32 bytes");
  }
  if (!SodiumReady()) return Internal("libsodium cannot be initialized");
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  if (crypto_sign_seed_keypair(pk, sk, reinterpret_cast<const unsigned char*>(seed.data())) != 0) {
    return Internal("cannot derive the audit signing key pair");
  }
  sodium_memzero(sk, sizeof sk);
  return AuditSigningKey{seed, std::string(reinterpret_cast<char*>(pk), sizeof pk)};
}

std::string AuditCheckpointMessage(int64_t seq, const std::string& hash_hex, int64_t time) {
  return "tresor-audit-checkpoint-v1\n" + std::to_string(seq) + "\n" + hash_hex + "\n" +
         std::to_string(time);
}

Result<std::string> SignAuditCheckpoint(const AuditSigningKey& key, int64_t seq,
                                        const std::string& hash_hex, int64_t time) {
  if (key.seed.size() != crypto_sign_SEEDBYTES) return InvalidArgument("no audit signing key");
  if (!SodiumReady()) return Internal("libsodium cannot be initialized");
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  if (crypto_sign_seed_keypair(pk, sk, reinterpret_cast<const unsigned char*>(key.seed.data())) != 0) {
    return Internal("cannot derive the audit signing key pair");
  }
  std::string message = AuditCheckpointMessage(seq, hash_hex, time);
  unsigned char sig[crypto_sign_BYTES];
  int rc = crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                                message.size(), sk);
  sodium_memzero(sk, sizeof sk);
  if (rc != 0) return Internal("cannot sign the audit checkpoint");
  return HexEncode(sig, sizeof sig);
}

bool VerifyAuditCheckpoint(const std::string& public_key, int64_t seq, const std::string& hash_hex,
                           int64_t time, const std::string& signature_hex) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES || !SodiumReady()) return false;
  std::string sig;
  if (!AuditHexDecode(signature_hex, &sig) || sig.size() != crypto_sign_BYTES) return false;
  std::string message = AuditCheckpointMessage(seq, hash_hex, time);
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(sig.data()),
                                     reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(),
                                     reinterpret_cast<const unsigned char*>(public_key.data())) == 0;
}

}  // namespace tresor::security
