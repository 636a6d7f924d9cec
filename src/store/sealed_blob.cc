#include "store/sealed_blob.h"

#include <cstring>

#include "core/hex.h"
#include "core/random.h"

namespace tresor::store {
namespace {

constexpr size_t kImmutableBytes = 40;
constexpr size_t kNonceBytes = 12;
constexpr size_t kDataKeyBytes = 32;
constexpr uint16_t kVersion = 1;

void PutU16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v & 0xFF);
  p[1] = static_cast<char>(v >> 8);
}
void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
void PutU32Be(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (24 - 8 * i));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
uint16_t GetU16(const char* p) {
  return static_cast<uint16_t>(static_cast<unsigned char>(p[0]) |
                               (static_cast<unsigned char>(p[1]) << 8));
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

// One-shot AES-256-GCM: `in` -> `out` (same length) and `tag` (encrypt), or checks `tag`
// (decrypt). False on any failure, including a tag that does not match.
bool Gcm(bool encrypt, const std::string& key, const unsigned char* nonce, const std::string& aad,
         const unsigned char* in, size_t n, unsigned char* out, unsigned char* tag) {
  CtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return false;
  int len = 0;
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  bool ok = EVP_CipherInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, k, nonce, encrypt ? 1 : 0) == 1;
  ok = ok && EVP_CipherUpdate(ctx.get(), nullptr, &len,
                              reinterpret_cast<const unsigned char*>(aad.data()),
                              static_cast<int>(aad.size())) == 1;
  ok = ok && EVP_CipherUpdate(ctx.get(), out, &len, in, static_cast<int>(n)) == 1;
  if (!ok) return false;
  if (!encrypt && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag) != 1) {
    return false;
  }
  if (EVP_CipherFinal_ex(ctx.get(), out + len, &len) != 1) return false;
  return !encrypt || EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, tag) == 1;
}

bool SlotEmpty(const char* slot) {
  for (size_t i = 0; i < security::kKeyIdBytes; ++i) {
    if (slot[i] != 0) return false;
  }
  return true;
}

// Writes a wrap of `data_key` under `master` into `slot`.
Status WrapInto(const std::string& immutable, const security::MasterKey& master,
                const std::string& wrap_key, const std::string& data_key, char* slot) {
  std::memcpy(slot, master.id.data(), security::kKeyIdBytes);
  auto* nonce = reinterpret_cast<unsigned char*>(slot + 8);
  RandomBytes(nonce, kNonceBytes);
  auto* out = reinterpret_cast<unsigned char*>(slot + 8 + kNonceBytes);
  if (!Gcm(true, wrap_key, nonce, immutable + master.id,
           reinterpret_cast<const unsigned char*>(data_key.data()), kDataKeyBytes, out,
           out + kDataKeyBytes)) {
    return Internal("cannot wrap a blob data key");
  }
  return Status::Ok();
}

// The data key from the first slot that unwraps under a key of the ring, and that slot.
Result<std::pair<std::string, int>> Unwrap(const KeyRing& keys, const std::string& header) {
  std::string immutable = header.substr(0, kImmutableBytes);
  bool known_key = false;
  for (int s = 0; s < 2; ++s) {
    const char* slot = header.data() + kKeySlotOffset + s * kKeySlotBytes;
    if (SlotEmpty(slot)) continue;
    std::string id(slot, security::kKeyIdBytes);
    const std::string* wrap_key = keys.WrapKey(id);
    if (!wrap_key) continue;
    known_key = true;
    std::string data_key(kDataKeyBytes, '\0');
    auto* in = reinterpret_cast<unsigned char*>(const_cast<char*>(slot + 8 + kNonceBytes));
    if (Gcm(false, *wrap_key, reinterpret_cast<const unsigned char*>(slot + 8), immutable + id, in,
            kDataKeyBytes, reinterpret_cast<unsigned char*>(data_key.data()), in + kDataKeyBytes)) {
      return std::make_pair(std::move(data_key), s);
    }
  }
  if (!known_key) {
    return Status(Code::kDataLoss,
                  "integrity error: blob is sealed under a master key that is not loaded "
                  "(wrong master key, or its header was modified)");
  }
  return Status(Code::kDataLoss, "integrity error: blob header does not authenticate (modified)");
}

Status CheckHeader(const std::string& blob_id, const std::string& header) {
  if (header.size() < kSealedHeaderBytes || std::memcmp(header.data(), kSealedMagic, 8) != 0) {
    return Status(Code::kDataLoss, "integrity error: not a sealed blob (header missing or modified)");
  }
  if (GetU16(header.data() + 8) != kVersion) {
    return Status(Code::kDataLoss, "integrity error: unknown sealed blob version");
  }
  uint32_t seg = GetU32(header.data() + 12);
  if (seg < 4096 || seg > (16u << 20)) {
    return Status(Code::kDataLoss, "integrity error: sealed blob header modified");
  }
  if (blob_id.size() != 16 || std::memcmp(header.data() + 16, blob_id.data(), 16) != 0) {
    return Status(Code::kDataLoss,
                  "integrity error: blob header belongs to another blob (files swapped?)");
  }
  return Status::Ok();
}

}  // namespace

Result<KeyRing> KeyRing::Make(std::vector<security::MasterKey> keys) {
  if (keys.empty()) return InvalidArgument("a key ring needs a master key");
  KeyRing ring;
  for (const security::MasterKey& k : keys) {
    TRESOR_ASSIGN_OR_RETURN(std::string wrap, security::DeriveKey(k.bytes, "blob-key-wrap"));
    ring.wrap_keys_.push_back(std::move(wrap));
  }
  ring.keys_ = std::move(keys);
  return ring;
}

const std::string* KeyRing::WrapKey(const std::string& key_id) const {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i].id == key_id) return &wrap_keys_[i];
  }
  return nullptr;
}

bool KeyRing::HasKeyIdHex(const std::string& hex) const {
  for (const security::MasterKey& k : keys_) {
    if (k.IdHex() == hex) return true;
  }
  return false;
}

BlobCipher::~BlobCipher() { EVP_CIPHER_CTX_free(ctx_); }

Status BlobCipher::Init(const std::string& data_key, bool encrypt) {
  encrypt_ = encrypt;
  ctx_ = EVP_CIPHER_CTX_new();
  if (!ctx_) return Internal("cannot create a cipher context");
  // The key schedule is set once; each segment only sets its nonce.
  if (EVP_CipherInit_ex(ctx_, EVP_aes_256_gcm(), nullptr,
                        reinterpret_cast<const unsigned char*>(data_key.data()), nullptr,
                        encrypt ? 1 : 0) != 1) {
    return Internal("cannot initialize AES-256-GCM");
  }
  return Status::Ok();
}

Result<std::unique_ptr<BlobCipher>> BlobCipher::Create(const KeyRing& keys,
                                                       const std::string& blob_id,
                                                       std::string* header) {
  if (blob_id.size() != 16) return InvalidArgument("a blob id is 16 bytes");
  std::string h(kSealedHeaderBytes, '\0');
  std::memcpy(h.data(), kSealedMagic, 8);
  PutU16(h.data() + 8, kVersion);
  PutU32(h.data() + 12, kSegmentBytes);
  std::memcpy(h.data() + 16, blob_id.data(), 16);
  RandomBytes(h.data() + 32, 8);
  std::string data_key(kDataKeyBytes, '\0');
  RandomBytes(data_key.data(), data_key.size());
  std::unique_ptr<BlobCipher> c(new BlobCipher());
  c->immutable_ = h.substr(0, kImmutableBytes);
  c->segment_bytes_ = kSegmentBytes;
  const security::MasterKey& master = keys.current();
  TRESOR_RETURN_IF_ERROR(
      WrapInto(c->immutable_, master, *keys.WrapKey(master.id), data_key, h.data() + kKeySlotOffset));
  TRESOR_RETURN_IF_ERROR(c->Init(data_key, true));
  OPENSSL_cleanse(data_key.data(), data_key.size());
  *header = std::move(h);
  return c;
}

Result<std::unique_ptr<BlobCipher>> BlobCipher::Open(const KeyRing& keys, const std::string& blob_id,
                                                     const char* header, size_t n) {
  std::string h(header, std::min(n, kSealedHeaderBytes));
  TRESOR_RETURN_IF_ERROR(CheckHeader(blob_id, h));
  TRESOR_ASSIGN_OR_RETURN(auto unwrapped, Unwrap(keys, h));
  std::unique_ptr<BlobCipher> c(new BlobCipher());
  c->immutable_ = h.substr(0, kImmutableBytes);
  c->segment_bytes_ = GetU32(h.data() + 12);
  TRESOR_RETURN_IF_ERROR(c->Init(unwrapped.first, false));
  OPENSSL_cleanse(unwrapped.first.data(), unwrapped.first.size());
  return c;
}

namespace {
// Nonce and AAD of segment `index`.
void SegmentParams(const std::string& immutable, uint32_t index, bool final,
                   unsigned char nonce[kNonceBytes], unsigned char aad[kImmutableBytes + 5]) {
  std::memcpy(nonce, immutable.data() + 32, 8);
  PutU32Be(nonce + 8, index);
  std::memcpy(aad, immutable.data(), kImmutableBytes);
  PutU32Be(aad + kImmutableBytes, index);
  aad[kImmutableBytes + 4] = final ? 1 : 0;
}
}  // namespace

Status BlobCipher::Seal(uint32_t index, bool final, const char* in, size_t n, char* out) {
  if (!encrypt_ || n > segment_bytes_) return Internal("misuse of a blob cipher");
  unsigned char nonce[kNonceBytes], aad[kImmutableBytes + 5];
  SegmentParams(immutable_, index, final, nonce, aad);
  int len = 0;
  auto* o = reinterpret_cast<unsigned char*>(out);
  bool ok = EVP_EncryptInit_ex(ctx_, nullptr, nullptr, nullptr, nonce) == 1 &&
            EVP_EncryptUpdate(ctx_, nullptr, &len, aad, sizeof aad) == 1 &&
            EVP_EncryptUpdate(ctx_, o, &len, reinterpret_cast<const unsigned char*>(in),
                              static_cast<int>(n)) == 1 &&
            EVP_EncryptFinal_ex(ctx_, o + len, &len) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_GET_TAG, kTagBytes, o + n) == 1;
  return ok ? Status::Ok() : Internal("AES-256-GCM sealing failed");
}

Status BlobCipher::Unseal(uint32_t index, bool final, const char* in, size_t n, char* out) {
  if (encrypt_ || n < kTagBytes || n - kTagBytes > segment_bytes_) {
    return Status(Code::kDataLoss, "integrity error: sealed segment of impossible size");
  }
  unsigned char nonce[kNonceBytes], aad[kImmutableBytes + 5];
  SegmentParams(immutable_, index, final, nonce, aad);
  size_t plain = n - kTagBytes;
  int len = 0;
  auto* o = reinterpret_cast<unsigned char*>(out);
  unsigned char tag[kTagBytes];
  std::memcpy(tag, in + plain, kTagBytes);
  bool ok = EVP_DecryptInit_ex(ctx_, nullptr, nullptr, nullptr, nonce) == 1 &&
            EVP_DecryptUpdate(ctx_, nullptr, &len, aad, sizeof aad) == 1 &&
            EVP_DecryptUpdate(ctx_, o, &len, reinterpret_cast<const unsigned char*>(in),
                              static_cast<int>(plain)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag) == 1 &&
            EVP_DecryptFinal_ex(ctx_, o + len, &len) == 1;
  if (!ok) {
    // Nothing of a segment that does not authenticate may be used.
    OPENSSL_cleanse(out, plain);
    return Status(Code::kDataLoss, "integrity error: segment " + std::to_string(index) +
                                       " of a blob does not authenticate (modified, truncated "
                                       "or reordered)");
  }
  return Status::Ok();
}

uint64_t SealedSize(uint64_t plain, uint32_t segment_bytes) {
  uint64_t segments = plain == 0 ? 1 : (plain + segment_bytes - 1) / segment_bytes;
  return kSealedHeaderBytes + plain + segments * kTagBytes;
}

Result<uint64_t> PlainSize(uint64_t sealed, uint32_t segment_bytes) {
  if (sealed < kSealedHeaderBytes + kTagBytes) {
    return Status(Code::kDataLoss, "integrity error: sealed blob truncated");
  }
  uint64_t body = sealed - kSealedHeaderBytes;
  uint64_t full = segment_bytes + kTagBytes;
  uint64_t segments = (body + full - 1) / full;
  uint64_t last = body - (segments - 1) * full;
  if (last < kTagBytes) return Status(Code::kDataLoss, "integrity error: sealed blob truncated");
  uint64_t plain = body - segments * kTagBytes;
  // An empty final segment is only written for an empty blob.
  if (last == kTagBytes && segments > 1) {
    return Status(Code::kDataLoss, "integrity error: sealed blob truncated or extended");
  }
  return plain;
}

uint32_t HeaderSegmentBytes(const char* header) { return GetU32(header + 12); }

Result<int> RewrapHeader(const KeyRing& keys, const std::string& blob_id, RewrapStep step,
                         std::string* header) {
  TRESOR_RETURN_IF_ERROR(CheckHeader(blob_id, *header));
  TRESOR_ASSIGN_OR_RETURN(auto unwrapped, Unwrap(keys, *header));
  const std::string& current = keys.current().id;
  int current_slot = -1;
  for (int s = 0; s < 2; ++s) {
    if (std::memcmp(header->data() + kKeySlotOffset + s * kKeySlotBytes, current.data(),
                    security::kKeyIdBytes) == 0) {
      current_slot = s;
    }
  }
  int changed = -1;
  if (step == RewrapStep::kAddCurrent && current_slot < 0) {
    changed = 1 - unwrapped.second;
    TRESOR_RETURN_IF_ERROR(WrapInto(header->substr(0, kImmutableBytes), keys.current(),
                                    *keys.WrapKey(current), unwrapped.first,
                                    header->data() + kKeySlotOffset + changed * kKeySlotBytes));
  } else if (step == RewrapStep::kDropOthers && current_slot >= 0) {
    char* other = header->data() + kKeySlotOffset + (1 - current_slot) * kKeySlotBytes;
    if (!SlotEmpty(other)) {
      std::memset(other, 0, kKeySlotBytes);
      changed = 1 - current_slot;
    }
  }
  OPENSSL_cleanse(unwrapped.first.data(), unwrapped.first.size());
  return changed;
}

bool IsBlobName(const std::string& name) {
  if (name.size() != 32) return false;
  for (char c : name) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string BlobIdOfName(const std::string& name) {
  std::string id(16, '\0');
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (size_t i = 0; i < 16; ++i) {
    id[i] = static_cast<char>((nibble(name[2 * i]) << 4) | nibble(name[2 * i + 1]));
  }
  return id;
}

namespace {
constexpr char kSealedMarkerFirstLine[] = "tresor sealed storage 1";
}  // namespace

std::string SealedMarkerText(const std::string& key_id) {
  return std::string(kSealedMarkerFirstLine) + "\nkey " + HexEncode(key_id.data(), key_id.size()) +
         "\n";
}

Status CheckSealedMarker(const std::string& text, const std::string& where, const KeyRing* keys) {
  const size_t nl = text.find('\n');
  const std::string first = text.substr(0, nl);
  std::string key_line;
  if (nl != std::string::npos) key_line = text.substr(nl + 1, text.find('\n', nl + 1) - nl - 1);
  if (first != kSealedMarkerFirstLine || key_line.rfind("key ", 0) != 0) {
    return DataLoss("integrity error: " + where + " is damaged");
  }
  if (keys == nullptr) {
    return PermissionDenied("the storage at " + where +
                            " is encrypted; it cannot be opened without its master key");
  }
  const std::string recorded = key_line.substr(4);
  if (!keys->HasKeyIdHex(recorded)) {
    return PermissionDenied("master key " + keys->current().IdHex() +
                            " is not this archive's: its objects are sealed under master key " +
                            recorded + " (wrong key file? see docs/encryption.md)");
  }
  return Status::Ok();
}

}  // namespace tresor::store
