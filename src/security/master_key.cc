#include "security/master_key.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "core/hex.h"
#include "core/random.h"

namespace tresor::security {
namespace {

struct KdfFree {
  void operator()(EVP_KDF* k) const { EVP_KDF_free(k); }
};
struct KdfCtxFree {
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};

std::string Errno() { return std::strerror(errno); }

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::string MasterKey::IdHex() const { return HexEncode(id.data(), id.size()); }

Result<std::string> DeriveKey(const std::string& master, const std::string& purpose,
                              OSSL_LIB_CTX* libctx) {
  if (master.size() != kMasterKeyBytes) return InvalidArgument("a master key is 32 bytes");
  std::unique_ptr<EVP_KDF, KdfFree> kdf(EVP_KDF_fetch(libctx, "HKDF", nullptr));
  if (!kdf) return Internal("HKDF is not available");
  std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return Internal("cannot create an HKDF context");
  static const char kSalt[] = "tresor";
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(master.data()),
                                        master.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(kSalt),
                                        sizeof kSalt - 1),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(purpose.data()),
                                        purpose.size()),
      OSSL_PARAM_construct_end()};
  std::string out(kMasterKeyBytes, '\0');
  if (EVP_KDF_derive(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), out.size(),
                     params) != 1) {
    return Internal("HKDF derivation failed");
  }
  return out;
}

Result<MasterKey> MasterKeyFromBytes(const std::string& bytes, OSSL_LIB_CTX* libctx) {
  if (bytes.size() != kMasterKeyBytes) {
    return InvalidArgument("a master key is exactly 32 bytes, not " + std::to_string(bytes.size()));
  }
  TRESOR_ASSIGN_OR_RETURN(std::string id, DeriveKey(bytes, "key-id", libctx));
  MasterKey key;
  key.bytes = bytes;
  key.id = id.substr(0, kKeyIdBytes);
  return key;
}

Result<MasterKey> LoadMasterKey(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) {
      return NotFound("master key " + path +
                      " not found: the archive's objects cannot be decrypted without it "
                      "(see docs/encryption.md; set keys.master_key_file or --master-key)");
    }
    return IoError("cannot open master key " + path + ": " + Errno());
  }
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st {};
  if (fstat(fd, &st) != 0) return IoError("cannot stat master key " + path + ": " + Errno());
  if (!S_ISREG(st.st_mode)) return PermissionDenied("master key " + path + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    return PermissionDenied("master key " + path +
                            " is accessible to group or others; refusing to use it "
                            "(chmod 600 it, and consider it disclosed)");
  }
  if (st.st_uid != geteuid()) {
    return PermissionDenied("master key " + path + " belongs to another user");
  }
  std::string bytes(kMasterKeyBytes + 1, '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot read master key " + path + ": " + Errno());
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got != kMasterKeyBytes) {
    return InvalidArgument("master key " + path + " is damaged: a key file holds exactly 32 bytes");
  }
  bytes.resize(got);
  return MasterKeyFromBytes(bytes);
}

Result<MasterKey> CreateMasterKey(const std::string& path) {
  std::string dir = DirName(path);
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return IoError("cannot create key directory " + dir + ": " + Errno());
  }
  std::string bytes(kMasterKeyBytes, '\0');
  RandomBytes(bytes.data(), bytes.size());
  TRESOR_ASSIGN_OR_RETURN(MasterKey key, MasterKeyFromBytes(bytes));
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Status(Code::kAlreadyExists, "master key " + path + " already exists");
    return IoError("cannot create master key " + path + ": " + Errno());
  }
  bool ok = write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
  ok = fchmod(fd, 0600) == 0 && ok;  // whatever the umask
  ok = fsync(fd) == 0 && ok;
  ok = close(fd) == 0 && ok;
  if (ok) {
    int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ok = dfd >= 0 && fsync(dfd) == 0;
    if (dfd >= 0) close(dfd);
  }
  if (!ok) {
    unlink(path.c_str());
    return IoError("cannot write master key " + path);
  }
  return key;
}

}  // namespace tresor::security
