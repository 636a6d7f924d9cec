#include "store/sealed_vfs.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/openssl_handles.h"

namespace tresor::store {
namespace {

constexpr int kNonceBytes = 12;
constexpr int kTagBytes = 16;
constexpr int kCheckBytes = 4;
static_assert(kNonceBytes + kTagBytes + kCheckBytes == kSealReserveBytes);
constexpr int kPage1PlainBytes = 24;  // magic, page size .. leaf payload fraction
constexpr int kWalHeaderBytes = 32;
constexpr int kFrameHeaderBytes = 24;
constexpr int kFrameBoundBytes = 16;  // page number, commit size, salt-1, salt-2
constexpr char kMagic[] = "SQLite format 3";  // with its NUL: 16 bytes
constexpr char kCheckLabel[] = "tresor index page key check v1";
constexpr unsigned char kKindDatabase[4] = {'T', 'D', 'B', '1'};
constexpr unsigned char kKindWal[4] = {'T', 'W', 'L', '1'};

using CipherCtxPtr =
    std::unique_ptr<EVP_CIPHER_CTX, ossl::Deleter<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>>;

uint32_t Get32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

void Put32(unsigned char* p, uint32_t v) {
  p[0] = static_cast<unsigned char>(v >> 24);
  p[1] = static_cast<unsigned char>(v >> 16);
  p[2] = static_cast<unsigned char>(v >> 8);
  p[3] = static_cast<unsigned char>(v);
}

bool ValidPageSize(int64_t n) { return n >= 512 && n <= 65536 && (n & (n - 1)) == 0; }

// The page size recorded at offsets 16..17 of a database header (1 means 65536), or 0.
int HeaderPageSize(const unsigned char* header) {
  int v = (header[16] << 8) | header[17];
  if (v == 1) v = 65536;
  return ValidPageSize(v) ? v : 0;
}

// Associated data of a page: kind tag, then the binding of its position, then (page 1
// of the database only) the plaintext header prefix.
struct Aad {
  unsigned char bytes[4 + kFrameBoundBytes + kPage1PlainBytes];
  int size = 0;
};

Aad DatabaseAad(uint32_t pgno, const unsigned char* page) {
  Aad a;
  std::memcpy(a.bytes, kKindDatabase, 4);
  Put32(a.bytes + 4, pgno);
  a.size = 8;
  if (pgno == 1) {
    std::memcpy(a.bytes + a.size, page, kPage1PlainBytes);
    a.size += kPage1PlainBytes;
  }
  return a;
}

Aad WalAad(const unsigned char* frame_header) {
  Aad a;
  std::memcpy(a.bytes, kKindWal, 4);
  std::memcpy(a.bytes + 4, frame_header, kFrameBoundBytes);
  a.size = 4 + kFrameBoundBytes;
  return a;
}

// One file's AES-256-GCM contexts, keyed once; each Seal/Unseal only sets a new nonce.
class PageCipher {
 public:
  bool Init(const unsigned char* key) {
    enc_.reset(EVP_CIPHER_CTX_new());
    dec_.reset(EVP_CIPHER_CTX_new());
    return enc_ && dec_ &&
           EVP_EncryptInit_ex(enc_.get(), EVP_aes_256_gcm(), nullptr, key, nullptr) == 1 &&
           EVP_DecryptInit_ex(dec_.get(), EVP_aes_256_gcm(), nullptr, key, nullptr) == 1;
  }

  // Seals the `size`-byte page `in` into `out` (distinct buffers): bytes [0, plain) are
  // copied and authenticated, [plain, size - reserve) encrypted, the trailer written.
  bool Seal(const unsigned char* in, unsigned char* out, int size, int plain, const Aad& aad,
            const unsigned char* check) {
    unsigned char* trailer = out + size - kSealReserveBytes;
    if (RAND_bytes(trailer, kNonceBytes) != 1) return false;
    std::memcpy(out, in, static_cast<size_t>(plain));
    int len = 0;
    const int body = size - kSealReserveBytes - plain;
    EVP_CIPHER_CTX* c = enc_.get();
    if (EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, trailer) != 1 ||
        EVP_EncryptUpdate(c, nullptr, &len, aad.bytes, aad.size) != 1 ||
        (plain > 0 && EVP_EncryptUpdate(c, nullptr, &len, in, plain) != 1) ||
        EVP_EncryptUpdate(c, out + plain, &len, in + plain, body) != 1 ||
        EVP_EncryptFinal_ex(c, out + plain + len, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, kTagBytes, trailer + kNonceBytes) != 1) {
      return false;
    }
    std::memcpy(trailer + kNonceBytes + kTagBytes, check, kCheckBytes);
    return true;
  }

  // Opens a sealed page from `in` into `out` (the same buffer or distinct ones); the
  // reserved bytes of `out` read as zeros. On failure the body of `out` is zeroed:
  // unauthenticated plaintext never reaches SQLite.
  bool Unseal(const unsigned char* in, unsigned char* out, int size, int plain, const Aad& aad) {
    const unsigned char* trailer = in + size - kSealReserveBytes;
    unsigned char tag[kTagBytes];
    std::memcpy(tag, trailer + kNonceBytes, kTagBytes);
    int len = 0;
    const int body = size - kSealReserveBytes - plain;
    EVP_CIPHER_CTX* c = dec_.get();
    bool ok = EVP_DecryptInit_ex(c, nullptr, nullptr, nullptr, trailer) == 1 &&
              EVP_DecryptUpdate(c, nullptr, &len, aad.bytes, aad.size) == 1 &&
              (plain == 0 || EVP_DecryptUpdate(c, nullptr, &len, in, plain) == 1) &&
              EVP_DecryptUpdate(c, out + plain, &len, in + plain, body) == 1 &&
              EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag) == 1 &&
              EVP_DecryptFinal_ex(c, out + plain + len, &len) == 1;
    if (!ok) {
      std::memset(out + plain, 0, static_cast<size_t>(body));
      return false;
    }
    if (out != in) std::memcpy(out, in, static_cast<size_t>(plain));
    // SQLite gets zeros in the reserved bytes, as in every page it creates itself, so
    // the page it later writes (and checksums, in the WAL) has zeros there too.
    std::memset(out + size - kSealReserveBytes, 0, kSealReserveBytes);
    return true;
  }

 private:
  CipherCtxPtr enc_;
  CipherCtxPtr dec_;
};

}  // namespace

struct SealedVfs::State {
  sqlite3_vfs vfs{};  // the registered VFS; pAppData points back here
  sqlite3_vfs* base = nullptr;
  std::string name;
  unsigned char key[kSealKeyBytes] = {};
  unsigned char check[kCheckBytes] = {};
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> refused{0};
  bool registered = false;
  ~State() { OPENSSL_cleanse(key, sizeof key); }
};

namespace {

using State = SealedVfs::State;

State* StateOf(sqlite3_vfs* vfs) { return static_cast<State*>(vfs->pAppData); }

// An open database or WAL file: the base VFS's file lives right after this object.
// Opened pages of one file, kept with the exact bytes they were opened from. SQLite drops
// a connection's whole page cache whenever another connection has written the database
// (every C-FIND's audit record does), so without this every query would read and
// decrypt all its pages again. A page is served from here only when the bytes just read
// from the file at that offset are identical to the ones it was opened from (frame
// header included for the WAL, whose associated data it carries), so it is exactly what
// opening them again would give; anything else is opened (and authenticated) again.
// Bounded: least recently used pages are dropped beyond kMaxPages.
class OpenedPages {
 public:
  static constexpr size_t kMaxPages = 1024;

  // The plaintext opened from `raw` (`raw_size` bytes read at `offset`), or nullptr.
  const unsigned char* Find(sqlite3_int64 offset, const unsigned char* raw, size_t raw_size) {
    auto it = map_.find(offset);
    if (it == map_.end()) return nullptr;
    Entry& e = *it->second;
    if (e.raw.size() != raw_size || std::memcmp(e.raw.data(), raw, raw_size) != 0) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return e.plain.data();
  }

  // Remembers that `raw` opens to `plain` (`plain_size` bytes).
  void Put(sqlite3_int64 offset, const unsigned char* raw, size_t raw_size,
           const unsigned char* plain, size_t plain_size) {
    auto it = map_.find(offset);
    if (it == map_.end()) {
      if (map_.size() >= kMaxPages) {
        map_.erase(lru_.back().offset);
        lru_.pop_back();
      }
      lru_.emplace_front();
      it = map_.emplace(offset, lru_.begin()).first;
    } else {
      lru_.splice(lru_.begin(), lru_, it->second);
    }
    Entry& e = *it->second;
    e.offset = offset;
    e.raw.assign(raw, raw + raw_size);
    e.plain.assign(plain, plain + plain_size);
  }

  void Clear() {
    map_.clear();
    lru_.clear();
  }

 private:
  struct Entry {
    sqlite3_int64 offset = 0;
    std::vector<unsigned char> raw;
    std::vector<unsigned char> plain;
  };
  std::list<Entry> lru_;
  std::unordered_map<sqlite3_int64, std::list<Entry>::iterator> map_;
};

struct SealedFile {
  sqlite3_file base;  // first: SQLite sees this object as a sqlite3_file
  sqlite3_file* real = nullptr;
  State* state = nullptr;
  bool wal = false;
  int page_size = 0;  // database: from its header; WAL: from the WAL header; 0 unknown
  PageCipher cipher;
  std::vector<unsigned char> scratch;
  // The frame header written last, if the last write was one (its offset, else -1).
  sqlite3_int64 header_offset = -1;
  unsigned char header[kFrameHeaderBytes] = {};
  OpenedPages opened;
  std::vector<unsigned char> plain_scratch;

  unsigned char* Scratch(size_t n) {
    if (scratch.size() < n) scratch.resize(n);
    return scratch.data();
  }
  int RealRead(void* buf, int n, sqlite3_int64 offset) {
    return real->pMethods->xRead(real, buf, n, offset);
  }
  int RealWrite(const void* buf, int n, sqlite3_int64 offset) {
    return real->pMethods->xWrite(real, buf, n, offset);
  }
};

constexpr size_t kFileObjectBytes = (sizeof(SealedFile) + 15) & ~size_t{15};

SealedFile* FileOf(sqlite3_file* f) { return reinterpret_cast<SealedFile*>(f); }

// The page size of the database file, read from its plaintext header when not known yet.
// Returns SQLITE_OK with 0 for an empty file.
int DatabasePageSize(SealedFile* f, int* out) {
  if (f->page_size == 0) {
    unsigned char header[kPage1PlainBytes];
    int rc = f->RealRead(header, sizeof header, 0);
    if (rc == SQLITE_IOERR_SHORT_READ) {
      *out = 0;
      return SQLITE_OK;
    }
    if (rc != SQLITE_OK) return rc;
    const int size = HeaderPageSize(header);
    if (size == 0 || header[20] != kSealReserveBytes) return SQLITE_IOERR_DATA;
    f->page_size = size;
  }
  *out = f->page_size;
  return SQLITE_OK;
}

int WalPageSize(SealedFile* f, int* out) {
  if (f->page_size == 0) {
    unsigned char header[kWalHeaderBytes];
    int rc = f->RealRead(header, sizeof header, 0);
    if (rc == SQLITE_IOERR_SHORT_READ) {
      *out = 0;
      return SQLITE_OK;
    }
    if (rc != SQLITE_OK) return rc;
    const uint32_t size = Get32(header + 8);
    if (!ValidPageSize(size)) return SQLITE_IOERR_DATA;
    f->page_size = static_cast<int>(size);
  }
  *out = f->page_size;
  return SQLITE_OK;
}

// --- database file ---

int DatabaseRead(SealedFile* f, unsigned char* buf, int amount, sqlite3_int64 offset) {
  int size = 0;
  int rc = DatabasePageSize(f, &size);
  if (rc != SQLITE_OK) return rc;
  if (size == 0) return f->RealRead(buf, amount, offset);  // a new, empty database
  const sqlite3_int64 end = offset + amount;
  for (sqlite3_int64 pos = offset; pos < end;) {
    const sqlite3_int64 page_start = pos / size * size;
    const uint32_t pgno = static_cast<uint32_t>(page_start / size + 1);
    const int in_page = static_cast<int>(pos - page_start);
    const int n = static_cast<int>(std::min<sqlite3_int64>(end - pos, size - in_page));
    unsigned char* dest = buf + (pos - offset);
    unsigned char* page = f->Scratch(static_cast<size_t>(size));
    rc = f->RealRead(page, size, page_start);
    if (rc == SQLITE_IOERR_SHORT_READ) {
      // Past the end of the file (or a torn last page): reads as zeros, as SQLite expects.
      std::memset(dest, 0, static_cast<size_t>(end - pos));
      return SQLITE_IOERR_SHORT_READ;
    }
    if (rc != SQLITE_OK) return rc;
    const unsigned char* opened = f->opened.Find(page_start, page, static_cast<size_t>(size));
    if (opened == nullptr) {
      if (f->plain_scratch.size() < static_cast<size_t>(size)) f->plain_scratch.resize(size);
      unsigned char* plain_page = f->plain_scratch.data();
      const int plain = pgno == 1 ? kPage1PlainBytes : 0;
      if (!f->cipher.Unseal(page, plain_page, size, plain, DatabaseAad(pgno, page))) {
        f->state->failures.fetch_add(1);
        std::memset(dest, 0, static_cast<size_t>(n));
        return SQLITE_IOERR_DATA;
      }
      f->opened.Put(page_start, page, static_cast<size_t>(size), plain_page, static_cast<size_t>(size));
      opened = plain_page;
    }
    std::memcpy(dest, opened + in_page, static_cast<size_t>(n));
    pos += n;
  }
  return SQLITE_OK;
}

// SQLite writes whole pages to the database file; anything else is refused.
int DatabaseWrite(SealedFile* f, const unsigned char* buf, int amount, sqlite3_int64 offset) {
  if (!ValidPageSize(amount) || offset % amount != 0) return SQLITE_IOERR_WRITE;
  if (offset == 0) {
    // Page 1 carries the layout: it must be the page size written and reserve room for
    // the seal (a database created without the reserve would be overwritten).
    if (HeaderPageSize(buf) != amount || buf[20] != kSealReserveBytes) return SQLITE_IOERR_WRITE;
    f->page_size = amount;
  } else if (f->page_size != 0 && f->page_size != amount) {
    return SQLITE_IOERR_WRITE;
  }
  const uint32_t pgno = static_cast<uint32_t>(offset / amount + 1);
  unsigned char* out = f->Scratch(static_cast<size_t>(amount));
  const int plain = pgno == 1 ? kPage1PlainBytes : 0;
  if (!f->cipher.Seal(buf, out, amount, plain, DatabaseAad(pgno, buf), f->state->check)) {
    return SQLITE_IOERR_WRITE;
  }
  return f->RealWrite(out, amount, offset);
}

// --- WAL file ---

// The page image at `image_offset` of a frame, whose header is read with it.
int WalReadImage(SealedFile* f, unsigned char* buf, int size, sqlite3_int64 image_offset) {
  unsigned char* frame = f->Scratch(static_cast<size_t>(kFrameHeaderBytes + size));
  int rc = f->RealRead(frame, kFrameHeaderBytes + size, image_offset - kFrameHeaderBytes);
  if (rc == SQLITE_IOERR_SHORT_READ) {
    std::memset(buf, 0, static_cast<size_t>(size));
    return rc;
  }
  if (rc != SQLITE_OK) return rc;
  const size_t raw_size = static_cast<size_t>(kFrameHeaderBytes + size);
  if (const unsigned char* opened = f->opened.Find(image_offset, frame, raw_size)) {
    std::memcpy(buf, opened, static_cast<size_t>(size));
    return SQLITE_OK;
  }
  if (!f->cipher.Unseal(frame + kFrameHeaderBytes, buf, size, 0, WalAad(frame))) {
    f->state->failures.fetch_add(1);
    return SQLITE_IOERR_DATA;
  }
  f->opened.Put(image_offset, frame, raw_size, buf, static_cast<size_t>(size));
  return SQLITE_OK;
}

int WalRead(SealedFile* f, unsigned char* buf, int amount, sqlite3_int64 offset) {
  if (offset + amount <= kWalHeaderBytes) {
    int rc = f->RealRead(buf, amount, offset);
    if (rc == SQLITE_OK && offset == 0 && amount == kWalHeaderBytes) {
      const uint32_t size = Get32(buf + 8);
      if (ValidPageSize(size)) f->page_size = static_cast<int>(size);
    }
    return rc;
  }
  int size = 0;
  int rc = WalPageSize(f, &size);
  if (rc != SQLITE_OK) return rc;
  if (size == 0) return f->RealRead(buf, amount, offset);
  const sqlite3_int64 frame_bytes = kFrameHeaderBytes + size;
  // The page image alone (a reader, a checkpoint): authenticated or an error.
  if (amount == size && offset >= kWalHeaderBytes &&
      (offset - kWalHeaderBytes) % frame_bytes == kFrameHeaderBytes) {
    return WalReadImage(f, buf, size, offset);
  }
  // Anything else (SQLite's recovery reads whole frames): raw bytes first, then every
  // page image in the range is opened in place.
  rc = f->RealRead(buf, amount, offset);
  if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) return rc;
  sqlite3_int64 valid_end = offset + amount;
  if (rc == SQLITE_IOERR_SHORT_READ) {
    sqlite3_int64 file_size = 0;
    int size_rc = f->real->pMethods->xFileSize(f->real, &file_size);
    if (size_rc != SQLITE_OK) return size_rc;
    valid_end = std::min(valid_end, file_size);
  }
  const sqlite3_int64 end = offset + amount;
  sqlite3_int64 first = offset < kWalHeaderBytes ? 0 : (offset - kWalHeaderBytes) / frame_bytes;
  for (sqlite3_int64 k = first;; ++k) {
    const sqlite3_int64 header_at = kWalHeaderBytes + k * frame_bytes;
    const sqlite3_int64 image_at = header_at + kFrameHeaderBytes;
    if (image_at >= end) break;
    if (image_at + size <= offset) continue;
    if (image_at + size > valid_end) break;  // past the end: zeros, rejected by SQLite
    const bool image_inside = image_at >= offset && image_at + size <= end;
    if (image_inside && header_at >= offset) {
      // A whole frame: a torn or stale frame opens to a zeroed image, which fails
      // SQLite's checksum, so recovery stops there as it does for plaintext.
      unsigned char* image = buf + (image_at - offset);
      if (!f->cipher.Unseal(image, image, size, 0, WalAad(buf + (header_at - offset)))) {
        f->state->failures.fetch_add(1);
      }
      continue;
    }
    unsigned char* tmp = static_cast<unsigned char*>(sqlite3_malloc(size));
    if (tmp == nullptr) return SQLITE_NOMEM;
    int image_rc = WalReadImage(f, tmp, size, image_at);
    if (image_rc == SQLITE_OK) {
      const sqlite3_int64 from = std::max(offset, image_at);
      const sqlite3_int64 to = std::min(end, image_at + size);
      std::memcpy(buf + (from - offset), tmp + (from - image_at), static_cast<size_t>(to - from));
    }
    sqlite3_free(tmp);
    if (image_rc != SQLITE_OK) return image_rc;
  }
  return rc;
}

// SQLite writes the WAL header, frame headers and page images as separate writes; the
// images are sealed with their frame header as associated data. Other writes are refused.
int WalWrite(SealedFile* f, const unsigned char* buf, int amount, sqlite3_int64 offset) {
  const sqlite3_int64 last_header = f->header_offset;
  f->header_offset = -1;
  if (offset + amount <= kWalHeaderBytes) {
    if (offset == 0 && amount == kWalHeaderBytes) {
      const uint32_t size = Get32(buf + 8);
      if (!ValidPageSize(size)) return SQLITE_IOERR_WRITE;
      f->page_size = static_cast<int>(size);
    }
    return f->RealWrite(buf, amount, offset);
  }
  int size = 0;
  int rc = WalPageSize(f, &size);
  if (rc != SQLITE_OK) return rc;
  if (size == 0 || offset < kWalHeaderBytes) return SQLITE_IOERR_WRITE;
  const sqlite3_int64 frame_bytes = kFrameHeaderBytes + size;
  const sqlite3_int64 in_frame = (offset - kWalHeaderBytes) % frame_bytes;
  if (in_frame == 0 && amount == kFrameHeaderBytes) {
    rc = f->RealWrite(buf, amount, offset);
    if (rc == SQLITE_OK) {
      std::memcpy(f->header, buf, kFrameHeaderBytes);
      f->header_offset = offset;
    }
    return rc;
  }
  if (in_frame != kFrameHeaderBytes || amount != size) return SQLITE_IOERR_WRITE;
  unsigned char header[kFrameHeaderBytes];
  if (last_header == offset - kFrameHeaderBytes) {
    std::memcpy(header, f->header, sizeof header);
  } else {
    // An image rewritten in place (a page changed twice in one transaction): its header
    // is already on disk.
    rc = f->RealRead(header, sizeof header, offset - kFrameHeaderBytes);
    if (rc != SQLITE_OK) return SQLITE_IOERR_WRITE;
  }
  // SQLite's frame checksum covers the reserved bytes it wrote, and recovery sees zeros
  // there (Unseal): a page with other reserved bytes would be lost silently at recovery,
  // so it is refused instead. (SQLite's pages always have zeros there: see Unseal.)
  for (int i = size - kSealReserveBytes; i < size; ++i) {
    if (buf[i] != 0) return SQLITE_IOERR_WRITE;
  }
  unsigned char* out = f->Scratch(static_cast<size_t>(size));
  if (!f->cipher.Seal(buf, out, size, 0, WalAad(header), f->state->check)) return SQLITE_IOERR_WRITE;
  return f->RealWrite(out, size, offset);
}

// --- sqlite3_io_methods ---

int FileClose(sqlite3_file* file) {
  SealedFile* f = FileOf(file);
  int rc = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
  f->~SealedFile();
  return rc;
}

int FileRead(sqlite3_file* file, void* buf, int amount, sqlite3_int64 offset) {
  SealedFile* f = FileOf(file);
  auto* out = static_cast<unsigned char*>(buf);
  return f->wal ? WalRead(f, out, amount, offset) : DatabaseRead(f, out, amount, offset);
}

int FileWrite(sqlite3_file* file, const void* buf, int amount, sqlite3_int64 offset) {
  SealedFile* f = FileOf(file);
  const auto* in = static_cast<const unsigned char*>(buf);
  return f->wal ? WalWrite(f, in, amount, offset) : DatabaseWrite(f, in, amount, offset);
}

int FileTruncate(sqlite3_file* file, sqlite3_int64 size) {
  SealedFile* f = FileOf(file);
  return f->real->pMethods->xTruncate(f->real, size);
}

int FileSync(sqlite3_file* file, int flags) {
  SealedFile* f = FileOf(file);
  return f->real->pMethods->xSync(f->real, flags);
}

int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  SealedFile* f = FileOf(file);
  return f->real->pMethods->xFileSize(f->real, size);
}

int FileLock(sqlite3_file* file, int level) {
  SealedFile* f = FileOf(file);
  return f->real->pMethods->xLock(f->real, level);
}

int FileUnlock(sqlite3_file* file, int level) {
  SealedFile* f = FileOf(file);
  return f->real->pMethods->xUnlock(f->real, level);
}

int FileCheckReservedLock(sqlite3_file* file, int* out) {
  SealedFile* f = FileOf(file);
  return f->real->pMethods->xCheckReservedLock(f->real, out);
}

int FileControl(sqlite3_file* file, int op, void* arg) {
  SealedFile* f = FileOf(file);
  return f->real->pMethods->xFileControl(f->real, op, arg);
}

int FileSectorSize(sqlite3_file* file) {
  SealedFile* f = FileOf(file);
  return f->real->pMethods->xSectorSize(f->real);
}

int FileDeviceCharacteristics(sqlite3_file* file) {
  SealedFile* f = FileOf(file);
  // Batch-atomic writes would let SQLite skip the WAL; the VFS must see every page.
  return f->real->pMethods->xDeviceCharacteristics(f->real) & ~SQLITE_IOCAP_BATCH_ATOMIC;
}

int FileShmMap(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  SealedFile* f = FileOf(file);
  return f->real->pMethods->xShmMap(f->real, region, size, extend, out);
}

int FileShmLock(sqlite3_file* file, int offset, int n, int flags) {
  SealedFile* f = FileOf(file);
  return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

void FileShmBarrier(sqlite3_file* file) {
  SealedFile* f = FileOf(file);
  f->real->pMethods->xShmBarrier(f->real);
}

int FileShmUnmap(sqlite3_file* file, int delete_flag) {
  SealedFile* f = FileOf(file);
  return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

// Version 2: shared memory for the WAL, no memory-mapped page access (xFetch would hand
// SQLite the sealed bytes).
const sqlite3_io_methods kFileMethods = {
    2,           FileClose,          FileRead,     FileWrite,   FileTruncate,
    FileSync,    FileSize,           FileLock,     FileUnlock,  FileCheckReservedLock,
    FileControl, FileSectorSize,     FileDeviceCharacteristics, FileShmMap,
    FileShmLock, FileShmBarrier,     FileShmUnmap, nullptr,     nullptr};

// --- sqlite3_vfs ---

int VfsOpen(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  State* state = StateOf(vfs);
  file->pMethods = nullptr;
  if ((flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)) == 0 || name == nullptr) {
    state->refused.fetch_add(1);
    return SQLITE_CANTOPEN;
  }
  auto* f = new (file) SealedFile();
  f->state = state;
  f->wal = (flags & SQLITE_OPEN_WAL) != 0;
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kFileObjectBytes);
  f->real->pMethods = nullptr;
  if (!f->cipher.Init(state->key)) {
    f->~SealedFile();
    return SQLITE_NOMEM;
  }
  int rc = state->base->xOpen(state->base, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (f->real->pMethods) f->real->pMethods->xClose(f->real);
    f->~SealedFile();
    return rc;
  }
  if (f->real->pMethods->iVersion < 2) {  // no shared memory: WAL impossible
    f->real->pMethods->xClose(f->real);
    f->~SealedFile();
    return SQLITE_CANTOPEN;
  }
  f->base.pMethods = &kFileMethods;
  return SQLITE_OK;
}

sqlite3_vfs* Base(sqlite3_vfs* vfs) { return StateOf(vfs)->base; }

int VfsDelete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return Base(vfs)->xDelete(Base(vfs), name, sync_dir);
}
int VfsAccess(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return Base(vfs)->xAccess(Base(vfs), name, flags, out);
}
int VfsFullPathname(sqlite3_vfs* vfs, const char* name, int n, char* out) {
  return Base(vfs)->xFullPathname(Base(vfs), name, n, out);
}
void* VfsDlOpen(sqlite3_vfs* vfs, const char* name) { return Base(vfs)->xDlOpen(Base(vfs), name); }
void VfsDlError(sqlite3_vfs* vfs, int n, char* out) { Base(vfs)->xDlError(Base(vfs), n, out); }
void (*VfsDlSym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void) {
  return Base(vfs)->xDlSym(Base(vfs), handle, symbol);
}
void VfsDlClose(sqlite3_vfs* vfs, void* handle) { Base(vfs)->xDlClose(Base(vfs), handle); }
int VfsRandomness(sqlite3_vfs* vfs, int n, char* out) {
  return Base(vfs)->xRandomness(Base(vfs), n, out);
}
int VfsSleep(sqlite3_vfs* vfs, int micros) { return Base(vfs)->xSleep(Base(vfs), micros); }
int VfsCurrentTime(sqlite3_vfs* vfs, double* out) {
  return Base(vfs)->xCurrentTime(Base(vfs), out);
}
int VfsGetLastError(sqlite3_vfs* vfs, int n, char* out) {
  return Base(vfs)->xGetLastError ? Base(vfs)->xGetLastError(Base(vfs), n, out) : 0;
}
int VfsCurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return Base(vfs)->xCurrentTimeInt64(Base(vfs), out);
}

std::atomic<uint64_t> next_vfs_id{0};

// Reads the plaintext prefix of a database file: 0 bytes (missing or empty) or a
// recognised header. Fills `page1` with the whole first page when asked.
struct Peek {
  bool empty = true;
  bool sqlite = false;
  int page_size = 0;
  int reserve = 0;
  std::vector<unsigned char> page1;
};

Result<Peek> PeekDatabase(const std::string& path, bool want_page1) {
  Peek peek;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return peek;
    return IoError("cannot read index " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  unsigned char header[kPage1PlainBytes];
  ssize_t got = fstat(fd, &st) == 0 ? pread(fd, header, sizeof header, 0) : -1;
  if (got < 0) {
    close(fd);
    return IoError("cannot read index " + path);
  }
  if (got == 0) {
    close(fd);
    return peek;
  }
  peek.empty = false;
  peek.sqlite = got == static_cast<ssize_t>(sizeof header) &&
                std::memcmp(header, kMagic, sizeof kMagic) == 0;
  if (peek.sqlite) {
    peek.page_size = HeaderPageSize(header);
    peek.reserve = header[20];
  }
  if (peek.sqlite && want_page1 && peek.page_size > 0 && st.st_size >= peek.page_size) {
    peek.page1.resize(static_cast<size_t>(peek.page_size));
    if (pread(fd, peek.page1.data(), peek.page1.size(), 0) != static_cast<ssize_t>(peek.page1.size())) {
      peek.page1.clear();
    }
  }
  close(fd);
  return peek;
}

}  // namespace

Result<std::unique_ptr<SealedVfs>> SealedVfs::Make(const std::string& key) {
  if (key.size() != kSealKeyBytes) {
    return InvalidArgument("the index key must be " + std::to_string(kSealKeyBytes) + " bytes");
  }
  sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
  if (base == nullptr) return Internal("SQLite has no default VFS");
  std::unique_ptr<SealedVfs> out(new SealedVfs());
  out->state_ = std::make_unique<State>();
  State& s = *out->state_;
  s.base = base;
  s.name = "tresor-sealed-" + std::to_string(next_vfs_id.fetch_add(1));
  std::memcpy(s.key, key.data(), kSealKeyBytes);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), s.key, kSealKeyBytes, reinterpret_cast<const unsigned char*>(kCheckLabel),
           sizeof kCheckLabel - 1, mac, &mac_len) == nullptr ||
      mac_len < kCheckBytes) {
    return Internal("cannot derive the index key check");
  }
  std::memcpy(s.check, mac, kCheckBytes);
  OPENSSL_cleanse(mac, sizeof mac);
  sqlite3_vfs& v = s.vfs;
  v.iVersion = 2;
  v.szOsFile = static_cast<int>(kFileObjectBytes) + base->szOsFile;
  v.mxPathname = base->mxPathname;
  v.zName = s.name.c_str();
  v.pAppData = &s;
  v.xOpen = VfsOpen;
  v.xDelete = VfsDelete;
  v.xAccess = VfsAccess;
  v.xFullPathname = VfsFullPathname;
  v.xDlOpen = VfsDlOpen;
  v.xDlError = VfsDlError;
  v.xDlSym = VfsDlSym;
  v.xDlClose = VfsDlClose;
  v.xRandomness = VfsRandomness;
  v.xSleep = VfsSleep;
  v.xCurrentTime = VfsCurrentTime;
  v.xGetLastError = VfsGetLastError;
  v.xCurrentTimeInt64 = VfsCurrentTimeInt64;
  if (sqlite3_vfs_register(&v, 0) != SQLITE_OK) return Internal("cannot register the index VFS");
  s.registered = true;
  return out;
}

SealedVfs::~SealedVfs() {
  if (state_ && state_->registered) sqlite3_vfs_unregister(&state_->vfs);
}

const char* SealedVfs::name() const { return state_->name.c_str(); }
uint64_t SealedVfs::integrity_failures() const { return state_->failures.load(); }
uint64_t SealedVfs::refused_opens() const { return state_->refused.load(); }

Status SealedVfs::CheckDatabase(const std::string& path) const {
  TRESOR_ASSIGN_OR_RETURN(Peek peek, PeekDatabase(path, true));
  if (peek.empty) return Status::Ok();
  if (!peek.sqlite || peek.page_size == 0) return IoError("index " + path + " is not a database");
  if (peek.reserve != kSealReserveBytes) {
    return Unsupported("index " + path + " is not encrypted (created without page encryption)");
  }
  if (peek.page1.empty()) return IoError("index " + path + ": page 1 is truncated");
  const int size = peek.page_size;
  if (std::memcmp(peek.page1.data() + size - kCheckBytes, state_->check, kCheckBytes) != 0) {
    return PermissionDenied("the index " + path + " cannot be decrypted with this key");
  }
  PageCipher cipher;
  if (!cipher.Init(state_->key)) return Internal("cannot set up the index cipher");
  if (!cipher.Unseal(peek.page1.data(), peek.page1.data(), size, kPage1PlainBytes,
                     DatabaseAad(1, peek.page1.data()))) {
    state_->failures.fetch_add(1);
    return IoError("index " + path + ": page 1 failed its integrity check (damaged or altered)");
  }
  return Status::Ok();
}

Status CheckNotSealed(const std::string& path) {
  TRESOR_ASSIGN_OR_RETURN(Peek peek, PeekDatabase(path, false));
  if (peek.sqlite && peek.reserve == kSealReserveBytes) {
    return PermissionDenied("the index " + path + " is encrypted: it needs its key to be opened");
  }
  return Status::Ok();
}

}  // namespace tresor::store
