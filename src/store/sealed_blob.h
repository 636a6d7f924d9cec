// The sealed blob format: how a blob's bytes are encrypted and authenticated at rest.
//
//   header (kSealedHeaderBytes)
//     0  magic "TRSRSEAL"                 8
//     8  format version (1), u16 LE       2
//    10  reserved (0)                     2
//    12  segment size, u32 LE             4   (kSegmentBytes)
//    16  blob id                         16   (the blob's random name, as bytes)
//    32  nonce prefix                     8   (random per blob)
//    40  key slot 0                      68
//   108  key slot 1                      68
//   segments: ciphertext of up to `segment size` plaintext bytes, then a 16-byte tag
//
// A key slot is: master key id (8; zero: empty slot), wrap nonce (12), the blob's 32-byte
// data key encrypted with AES-256-GCM under DeriveKey(master, "blob-key-wrap") (32), tag
// (16); its AAD is header bytes 0..39 and the key id. Rotation writes the other slot, so
// a torn write never damages the slot still in use.
//
// Segment i is AES-256-GCM under the data key with nonce = nonce prefix || i (u32 BE) and
// AAD = header bytes 0..39 || i (u32 BE) || final flag (1 byte). Every segment but the last
// holds exactly `segment size` bytes; the last one (final flag 1) holds 0..segment size
// bytes, so an empty blob still has one. Hence a flipped bit anywhere, a truncation (at a
// segment boundary or inside one), reordered or repeated segments, segments spliced from
// another blob and a blob renamed into another's place (the blob id is checked against
// the name) all fail authentication: Code::kDataLoss, never altered plaintext.
//
// Reading any byte range needs only the segments covering it.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "security/master_key.h"

namespace tresor::store {

inline constexpr size_t kSealedHeaderBytes = 176;
inline constexpr uint32_t kSegmentBytes = 64 * 1024;
inline constexpr size_t kTagBytes = 16;
inline constexpr char kSealedMagic[] = "TRSRSEAL";

// The master keys a store can unseal with. The first one seals new blobs.
class KeyRing {
 public:
  // `keys` must not be empty. kInternal if a wrap key cannot be derived.
  static Result<KeyRing> Make(std::vector<security::MasterKey> keys);
  const security::MasterKey& current() const { return keys_.front(); }
  // The wrap key of the master key with this id, or nullptr.
  const std::string* WrapKey(const std::string& key_id) const;
  // True if a key of the ring has this id (16 hex digits).
  bool HasKeyIdHex(const std::string& hex) const;
  const std::vector<security::MasterKey>& keys() const { return keys_; }

 private:
  std::vector<security::MasterKey> keys_;
  std::vector<std::string> wrap_keys_;
};

// The data-key cipher of one blob. Not thread-safe (one per writer or reader).
class BlobCipher {
 public:
  // A new blob named by `blob_id` (16 bytes): random data key and nonce prefix, wrapped
  // under the ring's current key. `header` receives kSealedHeaderBytes bytes.
  static Result<std::unique_ptr<BlobCipher>> Create(const KeyRing& keys, const std::string& blob_id,
                                                    std::string* header);
  // An existing blob from its header. kDataLoss if the header is not a sealed header of
  // `blob_id`, or no slot unwraps under a key of the ring.
  static Result<std::unique_ptr<BlobCipher>> Open(const KeyRing& keys, const std::string& blob_id,
                                                  const char* header, size_t n);
  ~BlobCipher();
  BlobCipher(const BlobCipher&) = delete;
  BlobCipher& operator=(const BlobCipher&) = delete;

  uint32_t segment_bytes() const { return segment_bytes_; }
  // Seals `n` (<= segment size) bytes of segment `index` into `out` (n + kTagBytes).
  Status Seal(uint32_t index, bool final, const char* in, size_t n, char* out);
  // Opens sealed segment `index` (`n` >= kTagBytes bytes) into `out` (n - kTagBytes);
  // kDataLoss if it does not authenticate.
  Status Unseal(uint32_t index, bool final, const char* in, size_t n, char* out);

 private:
  BlobCipher() = default;
  Status Init(const std::string& data_key, bool encrypt);
  std::string immutable_;  // header bytes 0..39
  uint32_t segment_bytes_ = kSegmentBytes;
  EVP_CIPHER_CTX* ctx_ = nullptr;
  bool encrypt_ = false;
};

// The sealed size of `plain` plaintext bytes (header included).
uint64_t SealedSize(uint64_t plain, uint32_t segment_bytes = kSegmentBytes);
// The plaintext size of a sealed blob of `sealed` bytes; kDataLoss if no plaintext size
// gives that size (a truncated or extended blob).
Result<uint64_t> PlainSize(uint64_t sealed, uint32_t segment_bytes = kSegmentBytes);
// The segment size recorded in a header (checked by BlobCipher::Open).
uint32_t HeaderSegmentBytes(const char* header);

// Key rotation of one header (`header`, kSealedHeaderBytes, of blob `blob_id`):
//   kAddCurrent: if no slot holds the ring's current key, the slot that does not hold
//     the key the data key is unwrapped with gets a wrap under the current key.
//   kDropOthers: every slot holding another key than the current one is zeroed (only
//     once a slot holds the current key).
// Returns the slot index changed (its bytes are in `header` at 40 + 68 x slot), or -1
// when nothing changed. kDataLoss as for BlobCipher::Open.
enum class RewrapStep { kAddCurrent, kDropOthers };
Result<int> RewrapHeader(const KeyRing& keys, const std::string& blob_id, RewrapStep step,
                         std::string* header);
inline constexpr size_t kKeySlotOffset = 40;
inline constexpr size_t kKeySlotBytes = 68;

// Blob names, as every store chooses them: 32 lowercase hex digits.
bool IsBlobName(const std::string& name);
// The 16 bytes a blob name spells: the blob id of its sealed header. `name` must pass
// IsBlobName.
std::string BlobIdOfName(const std::string& name);

// The `sealed` marker a store keeps beside its blobs: which master key sealed them.
//   line 1: "tresor sealed storage 1"; line 2: "key " + the key id in hex.
// SealedMarkerText writes it for `key_id` (raw bytes). CheckSealedMarker reads `text`
// (the marker at `where`, for messages): kDataLoss if it is damaged, kPermissionDenied if
// `keys` is null (a store opened without keys) or none of its keys has the recorded id.
std::string SealedMarkerText(const std::string& key_id);
Status CheckSealedMarker(const std::string& text, const std::string& where, const KeyRing* keys);

}  // namespace tresor::store
