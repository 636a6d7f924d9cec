#include "app/data_dir.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/log.h"
#include "core/random.h"
#include "security/jwt.h"
#include "security/password.h"
#include "security/tls_material.h"

namespace tresor::app {
namespace {

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

Status WriteFile(const std::string& path, const std::string& content, mode_t mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return IoError("cannot create " + path + ": " + std::strerror(errno));
  bool ok = write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ok = fsync(fd) == 0 && ok;
  ok = close(fd) == 0 && ok;
  if (!ok) {
    unlink(path.c_str());  // never leave a partial key or config behind
    return IoError("cannot write " + path);
  }
  return Status::Ok();
}

Status MakeDir(const std::string& path, mode_t mode) {
  if (mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return IoError("cannot create directory " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

bool SameFilesystem(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  return stat(a.c_str(), &sa) == 0 && stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev;
}

}  // namespace

// Interim derivation local to the data directory code: security/master_key's DeriveKey
// takes its place when it exists.
Result<std::string> IndexPageKey(const std::string& dir) {
  const std::string path = dir + "/keys/master.key";
  auto master = ReadTextFile(path);
  if (!master.ok()) return NotFound("no master key: cannot read " + path);
  if (master->size() != 32) return Internal(path + " is damaged (not 32 bytes)");
  std::string key(32, '\0');
  size_t len = key.size();
  static constexpr char kPurpose[] = "index-pages";
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr), EVP_PKEY_CTX_free);
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), reinterpret_cast<const unsigned char*>(master->data()),
                                 static_cast<int>(master->size())) <= 0 ||
      EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), reinterpret_cast<const unsigned char*>(kPurpose),
                                  sizeof kPurpose - 1) <= 0 ||
      EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(key.data()), &len) <= 0 ||
      len != key.size()) {
    return Internal("cannot derive the index key");
  }
  return key;
}

std::string InDataDir(const std::string& dir, const std::string& path) {
  return !path.empty() && path.front() == '/' ? path : dir + "/" + path;
}

Result<std::string> ReadTextFile(const std::string& path) {
  std::ifstream f(path);
  if (!f) return NotFound("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Status WritePrivateFile(const std::string& path, const std::string& content, mode_t mode) {
  return WriteFile(path, content, mode);
}

std::string ResolveDataDir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("TRESOR_DATA"); env && *env) return env;
  return "./var";
}

Result<std::string> InitDataDir(const std::string& dir) {
  if (Exists(dir + "/tresor.conf")) {
    return Status(Code::kAlreadyExists, dir + " is already a Tresor data directory");
  }
  TRESOR_RETURN_IF_ERROR(MakeDir(dir, 0700));
  TRESOR_RETURN_IF_ERROR(MakeDir(dir + "/keys", 0700));
  // The master key for encryption at rest; kept outside the index, readable by the
  // owner only.
  std::string key(32, '\0');
  RandomBytes(key.data(), key.size());
  TRESOR_RETURN_IF_ERROR(WriteFile(dir + "/keys/master.key", key, 0600));
  std::string token_key(32, '\0');
  RandomBytes(token_key.data(), token_key.size());
  TRESOR_RETURN_IF_ERROR(WriteFile(dir + "/keys/token.key", token_key, 0600));
  std::string audit_key(32, '\0');
  RandomBytes(audit_key.data(), audit_key.size());
  TRESOR_RETURN_IF_ERROR(WriteFile(dir + "/keys/audit-signing.key", audit_key, 0600));
  // A local CA and a server certificate for DICOM TLS (and HTTPS).
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  TRESOR_ASSIGN_OR_RETURN(security::KeyAndCertificate ca,
                          security::CreateCertificateAuthority(std::string("Tresor local CA ") + host));
  TRESOR_ASSIGN_OR_RETURN(security::KeyAndCertificate server,
                          security::IssueCertificate(ca, host, true, {"localhost", host},
                                                     {"127.0.0.1", "::1"}));
  TRESOR_RETURN_IF_ERROR(WriteFile(dir + "/keys/ca.key", ca.key_pem, 0600));
  TRESOR_RETURN_IF_ERROR(WriteFile(dir + "/keys/ca.pem", ca.certificate_pem, 0644));
  TRESOR_RETURN_IF_ERROR(WriteFile(dir + "/keys/server.key", server.key_pem, 0600));
  TRESOR_RETURN_IF_ERROR(WriteFile(dir + "/keys/server.pem", server.certificate_pem, 0644));
  TRESOR_ASSIGN_OR_RETURN(auto opened, [&]() -> Result<std::unique_ptr<OpenArchive>> {
    // The config file is written last so a failed init can simply be retried.
    TRESOR_RETURN_IF_ERROR(WriteFile(dir + "/tresor.conf.new", DefaultConfigText(), 0600));
    if (rename((dir + "/tresor.conf.new").c_str(), (dir + "/tresor.conf").c_str()) != 0) {
      return IoError("cannot install tresor.conf");
    }
    return OpenDataDir(dir);
  }());
  std::string password = security::GeneratePassword();
  TRESOR_RETURN_IF_ERROR(
      opened->archive->admin().CreateUser(archive::Principal::LocalAdmin(), "admin", "admin", password,
                                  {security::kAllStudiesGroup}));
  return password;
}

Result<std::unique_ptr<OpenArchive>> OpenDataDir(const std::string& dir) {
  if (!Exists(dir + "/tresor.conf")) {
    return NotFound(dir + " is not a Tresor data directory (run: tresor init --data " + dir + ")");
  }
  auto out = std::make_unique<OpenArchive>();
  out->dir = dir;
  TRESOR_ASSIGN_OR_RETURN(out->config, LoadConfig(dir + "/tresor.conf"));
  log::Level level;
  if (!log::ParseLevel(out->config.log_level, &level)) {
    return InvalidArgument("log.level must be debug, info, warn or error");
  }
  log::SetLevel(level);
  TRESOR_ASSIGN_OR_RETURN(out->blobs,
                          store::FileBlobStore::Make({dir + "/storage", out->config.fsync}));
  // One filesystem sync per group commit covers index and blobs only when both live on
  // the same filesystem; otherwise the index syncs its own commits.
  using Sync = store::SqliteIndexOptions::Sync;
  Sync sync = !out->config.fsync          ? Sync::kOff
              : SameFilesystem(dir, dir + "/storage/staging") ? Sync::kFilesystem
                                                               : Sync::kFull;
  // The index is always sealed at rest (docs/encryption.md, "The index").
  TRESOR_ASSIGN_OR_RETURN(std::string page_key, IndexPageKey(dir));
  TRESOR_ASSIGN_OR_RETURN(out->index,
                          store::SqliteIndex::Open({dir + "/index.db", sync, std::move(page_key)}));
  archive::ArchiveOptions options;
  options.ae_title = out->config.ae_title;
  options.limits.max_bytes = out->config.max_object_bytes;
  options.limits.max_sequence_depth = out->config.max_sequence_depth;
  options.max_object_bytes = out->config.max_object_bytes;
  options.commit_batch_max = out->config.commit_batch_max;
  options.max_find_results = static_cast<size_t>(out->config.max_find_results);
  options.max_failures = out->config.max_failures;
  options.failure_window_seconds = out->config.failure_window_seconds;
  options.backoff_seconds = out->config.backoff_seconds;
  options.max_backoff_seconds = out->config.max_backoff_seconds;
  options.session_idle_seconds = out->config.session_idle_seconds;
  options.session_max_minutes = out->config.session_max_minutes;
  // The session-token signing key (created by init; created here for older data dirs).
  // Without a durable key every token issued would stop verifying at the next start (or
  // never verify at all): the archive does not start instead.
  const std::string token_key_path = dir + "/keys/token.key";
  auto token_key = ReadTextFile(token_key_path);
  if (!token_key.ok()) {
    std::string fresh(security::kMinTokenKeyBytes, '\0');
    RandomBytes(fresh.data(), fresh.size());
    Status written = WriteFile(token_key_path, fresh, 0600);
    if (!written.ok()) {
      return Status(written.code(), "no session token key: " + written.message());
    }
    token_key = fresh;
  }
  if (token_key->size() < security::kMinTokenKeyBytes) {
    return Internal(token_key_path + " is damaged (shorter than " +
                    std::to_string(security::kMinTokenKeyBytes) +
                    " bytes); remove it to create a new one (signs out every session)");
  }
  options.token_key = *token_key;
  options.fuzzy_person_names = out->config.fuzzy_person_names;
  // The Ed25519 seed that signs audit checkpoints (created by init; here for older data
  // dirs). Kept in keys/, never in the index: whoever can rewrite the index cannot forge
  // a checkpoint without it.
  const std::string audit_key_path = dir + "/keys/audit-signing.key";
  auto audit_key = ReadTextFile(audit_key_path);
  if (!audit_key.ok()) {
    std::string fresh(32, '\0');
    RandomBytes(fresh.data(), fresh.size());
    Status written = WriteFile(audit_key_path, fresh, 0600);
    if (!written.ok()) return Status(written.code(), "no audit signing key: " + written.message());
    audit_key = fresh;
  }
  if (audit_key->size() != 32) {
    return Internal(audit_key_path + " is damaged (not 32 bytes); checkpoints signed with it "
                    "can only be checked with its public key (tresor audit verify --public-key)");
  }
  options.audit_signing_seed = *audit_key;
  out->archive = std::make_unique<archive::ArchiveService>(*out->index, *out->blobs, options,
                                                           core::SystemClock::Instance());
  return out;
}

}  // namespace tresor::app
