#include "app/data_dir.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "app/blob_backend.h"
#include "app/index_backend.h"
#include "core/log.h"
#include "core/random.h"
#include "security/jwt.h"
#include "security/password.h"
#include "security/tls_material.h"

namespace tresor::app {
namespace {

// BENCHMARK-ONLY SWITCH. True only in `tresor-plaintext`, the binary CMake builds with
// -DTRESOR_BENCH_PLAINTEXT=ON for bench/crypto (never installed or shipped): there, blobs
// are stored unsealed and the index without page encryption, to measure what encryption
// at rest costs. The `tresor` binary is always compiled with false; nothing in the
// configuration or on the command line changes it.
#ifdef TRESOR_BENCH_PLAINTEXT
constexpr bool kPlaintextForBenchmarks = true;
#else
constexpr bool kPlaintextForBenchmarks = false;
#endif

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

std::string MasterKeyPath(const std::string& dir, const Config& config, const std::string& flag) {
  if (!flag.empty()) return flag;
  if (!config.master_key_file.empty()) return InDataDir(dir, config.master_key_file);
  std::string abs = dir;
  if (abs.empty() || abs.front() != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd)) abs = std::string(cwd) + "/" + abs;
  }
  while (abs.size() > 1 && abs.back() == '/') abs.pop_back();
  // "x/." and "x/.." would name a sibling of the wrong directory: resolve them.
  if (char* real = realpath(abs.c_str(), nullptr)) {
    abs = real;
    free(real);
  }
  return abs + ".keys/master.key";
}

Result<std::vector<security::MasterKey>> LoadKeyRing(const std::string& key_path) {
  std::vector<security::MasterKey> ring;
  TRESOR_ASSIGN_OR_RETURN(security::MasterKey current, security::LoadMasterKey(key_path));
  ring.push_back(std::move(current));
  if (Exists(RotationKeyPath(key_path))) {
    TRESOR_ASSIGN_OR_RETURN(security::MasterKey next,
                            security::LoadMasterKey(RotationKeyPath(key_path)));
    ring.push_back(std::move(next));
  }
  return ring;
}

namespace {

constexpr char kIndexKeyMagic[] = "TIK1";  // + key id (8) + nonce (12) + key (32) + tag (16)
constexpr size_t kIndexKeyFileBytes = 4 + security::kKeyIdBytes + 12 + 32 + 16;

std::string IndexKeyPath(const std::string& dir) { return dir + "/keys/index.key"; }

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;


// AES-256-GCM of the 32-byte page key under the wrapping subkey of `master`; the magic and
// the key id are authenticated as additional data.
Result<std::string> SealIndexKey(const std::string& page_key, const security::MasterKey& master) {
  TRESOR_ASSIGN_OR_RETURN(std::string wrap, security::DeriveKey(master.bytes, "index-key-wrap"));
  std::string out = std::string(kIndexKeyMagic, 4) + master.id;
  std::string nonce(12, '\0');
  RandomBytes(nonce.data(), nonce.size());
  out += nonce;
  std::string sealed(32, '\0');
  unsigned char tag[16];
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  auto u = [](const std::string& x) { return reinterpret_cast<const unsigned char*>(x.data()); };
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, u(wrap), u(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, u(out), 4 + security::kKeyIdBytes) != 1 ||
      EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(sealed.data()), &len, u(page_key),
                        32) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), tag, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, tag) != 1) {
    return Internal("cannot seal the index key");
  }
  return out + sealed + std::string(reinterpret_cast<char*>(tag), 16);
}

Result<std::string> OpenIndexKey(const std::string& file, const std::vector<security::MasterKey>& ring) {
  if (file.size() != kIndexKeyFileBytes || file.compare(0, 4, kIndexKeyMagic) != 0) {
    return Status(Code::kDataLoss, "keys/index.key is damaged");
  }
  const std::string id = file.substr(4, security::kKeyIdBytes);
  const security::MasterKey* master = nullptr;
  for (const security::MasterKey& k : ring) {
    if (k.id == id) master = &k;
  }
  if (master == nullptr) {
    return Status(Code::kPermissionDenied,
                  "the index key is sealed with another master key than the one given");
  }
  TRESOR_ASSIGN_OR_RETURN(std::string wrap, security::DeriveKey(master->bytes, "index-key-wrap"));
  auto u = [](const char* x) { return reinterpret_cast<const unsigned char*>(x); };
  const char* nonce = file.data() + 4 + security::kKeyIdBytes;
  const char* sealed = nonce + 12;
  std::string tag(sealed + 32, 16);
  std::string key(32, '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, u(wrap.data()), u(nonce)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, u(file.data()), 4 + security::kKeyIdBytes) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(key.data()), &len, u(sealed), 32) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(key.data()) + len, &len) != 1) {
    return Status(Code::kDataLoss, "keys/index.key failed its integrity check");
  }
  return key;
}

}  // namespace

Status SyncParentDir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const std::string parent =
      slash == std::string::npos ? "." : path.substr(0, std::max<size_t>(slash, 1));
  int fd = open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open " + parent + ": " + std::strerror(errno));
  int rc = fsync(fd);
  close(fd);
  if (rc != 0) return IoError("cannot sync " + parent + ": " + std::strerror(errno));
  return Status::Ok();
}

Result<std::string> IndexPageKey(const std::string& dir, const std::vector<security::MasterKey>& ring) {
  const std::string path = IndexKeyPath(dir);
  if (!Exists(path)) {
    if (Exists(dir + "/index.db")) {
      return NotFound("the index key " + path + " is missing: the index cannot be opened");
    }
    // A new archive: its page key is made now, sealed under the current master key.
    std::string key(32, '\0');
    RandomBytes(key.data(), key.size());
    TRESOR_RETURN_IF_ERROR(SealIndexKeyFile(dir, key, ring.front()));
    return key;
  }
  TRESOR_ASSIGN_OR_RETURN(std::string file, ReadTextFile(path));
  return OpenIndexKey(file, ring);
}

Result<std::string> IndexPageKey(const std::string& dir) {
  TRESOR_ASSIGN_OR_RETURN(Config config, LoadConfig(dir + "/tresor.conf"));
  TRESOR_ASSIGN_OR_RETURN(std::vector<security::MasterKey> ring,
                          LoadKeyRing(MasterKeyPath(dir, config, "")));
  return IndexPageKey(dir, ring);
}

Status SealIndexKeyFile(const std::string& dir, const std::string& page_key,
                        const security::MasterKey& master) {
  TRESOR_ASSIGN_OR_RETURN(std::string file, SealIndexKey(page_key, master));
  const std::string path = IndexKeyPath(dir);
  TRESOR_RETURN_IF_ERROR(WriteFile(path + ".new", file, 0600));
  if (rename((path + ".new").c_str(), path.c_str()) != 0) {
    return IoError("cannot install " + path + ": " + std::strerror(errno));
  }
  return SyncParentDir(path);
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

namespace {

// `path` made absolute against the working directory.
std::string AbsolutePath(const std::string& path) {
  if (!path.empty() && path.front() == '/') return path;
  char cwd[4096];
  return std::string(getcwd(cwd, sizeof cwd) ? cwd : ".") + "/" + path;
}

// A PostgreSQL index named by `config` that already holds an archive (users) cannot get
// a second one: `init` refuses, and points at --join.
Status CheckIndexHoldsNoArchive(const Config& config) {
  if (config.index_backend != "postgresql") return Status::Ok();
  auto opened = OpenIndexBackend(config, "", "", store::SqliteIndexOptions::Sync::kFull);
  if (!opened.ok()) return opened.status();
  TRESOR_ASSIGN_OR_RETURN(auto users, opened->index->ListUsers());
  if (!users.empty()) {
    return Status(Code::kAlreadyExists,
                  "the PostgreSQL database of index.postgresql already holds an archive; add a "
                  "node to it with: tresor init --join FIRST_NODE_DIR --data DIR --node NAME");
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> InitDataDir(const std::string& dir, const std::string& master_key_file,
                                const std::string& given_config) {
  if (Exists(dir + "/tresor.conf")) {
    return Status(Code::kAlreadyExists, dir + " is already a Tresor data directory");
  }
  std::string config_text = given_config.empty() ? DefaultConfigText() : given_config;
  Config config;
  {
    auto parsed = ParseConfig(config_text);
    if (!parsed.ok()) return Status(parsed.status().code(), "--config: " + parsed.status().message());
    config = *parsed;
  }
  TRESOR_RETURN_IF_ERROR(CheckIndexHoldsNoArchive(config));
  TRESOR_RETURN_IF_ERROR(MakeDir(dir, 0700));
  // The master key of encryption at rest, outside the data directory (never
  // overwritten: an existing file may be the key of another archive or of a backup).
  std::string key_path = MasterKeyPath(dir, config, master_key_file);
  if (Exists(key_path)) {
    return Status(Code::kAlreadyExists,
                  "master key " + key_path + " already exists (the key of another or a removed "
                  "archive?); move it away, or choose another file with --master-key");
  }
  if (!master_key_file.empty()) {
    // Recorded absolute: the config is read from wherever the command runs.
    TRESOR_ASSIGN_OR_RETURN(std::string quoted, QuoteConfigString(AbsolutePath(master_key_file)));
    config_text = SetConfigValue(config_text, "keys", "master_key_file", quoted);
    key_path = AbsolutePath(master_key_file);
  }
  TRESOR_RETURN_IF_ERROR(MakeDir(dir + "/keys", 0700));
  TRESOR_RETURN_IF_ERROR(security::CreateMasterKey(key_path).status());
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
  TRESOR_RETURN_IF_ERROR(WriteFile(dir + "/keys/ca.pem", ca.certificate_pem, 0600));
  TRESOR_RETURN_IF_ERROR(WriteFile(dir + "/keys/server.key", server.key_pem, 0600));
  TRESOR_RETURN_IF_ERROR(WriteFile(dir + "/keys/server.pem", server.certificate_pem, 0600));
  TRESOR_ASSIGN_OR_RETURN(auto opened, [&]() -> Result<std::unique_ptr<OpenArchive>> {
    // The config file is written last so a failed init can simply be retried.
    TRESOR_RETURN_IF_ERROR(WriteFile(dir + "/tresor.conf.new", config_text, 0600));
    if (rename((dir + "/tresor.conf.new").c_str(), (dir + "/tresor.conf").c_str()) != 0) {
      return IoError("cannot install tresor.conf");
    }
    return OpenDataDir(dir, key_path);
  }());
  std::string password = security::GeneratePassword();
  TRESOR_RETURN_IF_ERROR(
      opened->archive->admin().CreateUser(archive::Principal::LocalAdmin(), "admin", "admin", password,
                                  {security::kAllStudiesGroup}));
  return password;
}

Status JoinDataDir(const std::string& first, const std::string& dir, const std::string& node,
                   const std::string& master_key_file) {
  if (!Exists(first + "/tresor.conf")) {
    return NotFound(first + " is not a Tresor data directory (--join DIR names the data "
                    "directory of a node of the archive)");
  }
  if (Exists(dir + "/tresor.conf")) {
    return Status(Code::kAlreadyExists, dir + " is already a Tresor data directory");
  }
  if (node.empty()) return InvalidArgument("--join needs --node NAME (this node's name)");
  TRESOR_ASSIGN_OR_RETURN(std::string text, ReadTextFile(first + "/tresor.conf"));
  TRESOR_ASSIGN_OR_RETURN(Config config, ParseConfig(text));
  if (config.index_backend != "postgresql" || config.storage_backend == "local") {
    return InvalidArgument("--join: the archive of " + first + " is not shared (index.backend = \"" +
                           config.index_backend + "\", storage.backend = \"" +
                           config.storage_backend + "\"); several nodes need index.backend = "
                           "\"postgresql\" and storage.backend = \"shared\" or \"s3\" "
                           "(docs/deployment.md)");
  }
  if (!NodeName(config).empty() && config.cluster_node == node) {
    return InvalidArgument("--node " + node + " is the name of the node of " + first +
                           "; every node needs its own");
  }
  TRESOR_ASSIGN_OR_RETURN(std::string node_value, QuoteConfigString(node));
  std::string changed = SetConfigValue(text, "cluster", "node", node_value);
  // Paths relative to the first data directory would point elsewhere from `dir`.
  if (!config.storage_path.empty() && config.storage_path.front() != '/') {
    TRESOR_ASSIGN_OR_RETURN(std::string q, QuoteConfigString(AbsolutePath(first + "/" + config.storage_path)));
    changed = SetConfigValue(changed, "storage", "path", q);
  }
  const std::string from_key = MasterKeyPath(first, config, "");
  std::string to_key;
  if (!master_key_file.empty()) {
    to_key = AbsolutePath(master_key_file);
    TRESOR_ASSIGN_OR_RETURN(std::string q, QuoteConfigString(to_key));
    changed = SetConfigValue(changed, "keys", "master_key_file", q);
  } else {
    changed = SetConfigValue(changed, "keys", "master_key_file", "\"\"");
    Config plain;
    to_key = MasterKeyPath(dir, plain, "");
  }
  if (Exists(to_key)) {
    return Status(Code::kAlreadyExists, "master key " + to_key + " already exists; move it away, "
                                        "or choose another file with --master-key");
  }
  TRESOR_ASSIGN_OR_RETURN(Config joined, ParseConfig(changed));
  (void)joined;
  TRESOR_RETURN_IF_ERROR(MakeDir(dir, 0700));
  TRESOR_RETURN_IF_ERROR(MakeDir(dir + "/keys", 0700));
  // The keys every node shares: the master key (the same blobs), the session token key
  // (a session of one node holds on every other), the audit signing key (one chain), and
  // the TLS identity (one name behind the load balancer).
  const size_t slash = to_key.rfind('/');
  if (slash != std::string::npos && slash > 0) TRESOR_RETURN_IF_ERROR(MakeDir(to_key.substr(0, slash), 0700));
  {
    TRESOR_ASSIGN_OR_RETURN(std::string bytes, ReadTextFile(from_key));
    TRESOR_RETURN_IF_ERROR(WriteFile(to_key, bytes, 0600));
  }
  for (const char* name : {"token.key", "audit-signing.key", "ca.key", "ca.pem", "server.key",
                           "server.pem"}) {
    const std::string from = first + "/keys/" + name;
    if (!Exists(from)) continue;
    TRESOR_ASSIGN_OR_RETURN(std::string bytes, ReadTextFile(from));
    TRESOR_RETURN_IF_ERROR(WriteFile(dir + "/keys/" + name, bytes, 0600));
  }
  // S3 credentials kept in the first data directory go along (absolute paths are the
  // operator's files, the same on every node).
  if (config.storage_backend == "s3" && !config.s3_credentials_file.empty() &&
      config.s3_credentials_file.front() != '/') {
    TRESOR_ASSIGN_OR_RETURN(std::string bytes, ReadTextFile(first + "/" + config.s3_credentials_file));
    const std::string to = dir + "/" + config.s3_credentials_file;
    const size_t cut = to.rfind('/');
    if (cut != std::string::npos && cut > dir.size()) TRESOR_RETURN_IF_ERROR(MakeDir(to.substr(0, cut), 0700));
    TRESOR_RETURN_IF_ERROR(WriteFile(to, bytes, 0600));
  }
  TRESOR_RETURN_IF_ERROR(WriteFile(dir + "/tresor.conf.new", changed, 0600));
  if (rename((dir + "/tresor.conf.new").c_str(), (dir + "/tresor.conf").c_str()) != 0) {
    return IoError("cannot install " + dir + "/tresor.conf");
  }
  TRESOR_RETURN_IF_ERROR(SyncParentDir(dir + "/tresor.conf"));
  // Opened once: the backends are reachable and the storage is sealed under this key.
  return OpenDataDir(dir, to_key).status();
}

namespace {
StoreDecorators& Decorators() {
  static StoreDecorators* decorators = new StoreDecorators;
  return *decorators;
}
}  // namespace

void SetStoreDecorators(StoreDecorators decorators) { Decorators() = std::move(decorators); }

Result<std::unique_ptr<OpenArchive>> OpenDataDir(const std::string& dir,
                                                 const std::string& master_key_file) {
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
  // Without its master key nothing stored can be read: refuse to open at all.
  out->master_key_path = MasterKeyPath(dir, out->config, master_key_file);
  auto ring = LoadKeyRing(out->master_key_path);
  if (!ring.ok()) {
    return Status(ring.status().code(), "cannot open " + dir + ": " + ring.status().message());
  }
  out->master_key = ring->front();
  const std::vector<security::MasterKey> ring_copy = *ring;
  TRESOR_ASSIGN_OR_RETURN(store::KeyRing keys, store::KeyRing::Make(std::move(ring).value()));
  std::shared_ptr<const store::KeyRing> blob_keys =
      std::make_shared<const store::KeyRing>(std::move(keys));
  if constexpr (kPlaintextForBenchmarks) {
    // tresor-plaintext only (see kPlaintextForBenchmarks): no key ring, plain blobs. A
    // sealed storage refuses to open this way, so it never mixes with a real archive.
    TRESOR_LOG(kWarn) << "tresor-plaintext: benchmark build, blobs and index are NOT encrypted";
    blob_keys = nullptr;
  }
  out->node = NodeName(out->config);
  auto blobs = OpenBlobBackend(out->config, dir, blob_keys, out->node);
  if (!blobs.ok()) {
    return Status(blobs.status().code(), "cannot open " + dir + ": " + blobs.status().message());
  }
  out->blobs = std::move(blobs).value();
  // Files of a data directory made before everything was created 0600 (the index, its
  // -wal and -shm took SQLite's 0644): tightened before the index is opened.
  for (const char* name : {"/index.db", "/index.db-wal", "/index.db-shm", "/keys/ca.pem",
                           "/keys/server.pem"}) {
    struct stat st {};
    const std::string path = dir + name;
    if (stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0 && chmod(path.c_str(), 0600) != 0) {
      return IoError("cannot make " + path + " private (mode 0600): " + std::strerror(errno));
    }
  }
  // An SQLite index is always sealed at rest (docs/encryption-index.md); its page key is
  // sealed under the master key (checked after the storage, whose error names the key
  // id). tresor-plaintext (benchmarks only) opens it without a page key: unencrypted.
  std::string page_key;
  store::SqliteIndexOptions::Sync sync = store::SqliteIndexOptions::Sync::kFull;
  if (out->config.index_backend == "sqlite") {
    if constexpr (!kPlaintextForBenchmarks) {
      TRESOR_ASSIGN_OR_RETURN(page_key, IndexPageKey(dir, ring_copy));
    }
    // One filesystem sync per group commit covers index and blobs only when both live on
    // the same filesystem; otherwise the index syncs its own commits.
    sync = SqliteSyncFor(out->config, out->config.storage_backend == "local" &&
                                          SameFilesystem(dir, dir + "/storage/staging"));
  }
  auto opened_index = OpenIndexBackend(out->config, dir, std::move(page_key), sync);
  if (!opened_index.ok()) {
    return Status(opened_index.status().code(),
                  "cannot open " + dir + ": " + opened_index.status().message());
  }
  out->sqlite = opened_index->sqlite;
  out->index = std::move(opened_index->index);
  archive::ArchiveOptions options;
  options.ae_title = out->config.ae_title;
  options.node = out->config.cluster_node;
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
  store::Index* index = out->index.get();
  store::BlobStore* blobs_used = out->blobs.get();
  if (Decorators().index) index = (out->decorated_index = Decorators().index(*index)).get();
  if (Decorators().blobs) {
    blobs_used = (out->decorated_blobs = Decorators().blobs(*blobs_used)).get();
  }
  out->archive = std::make_unique<archive::ArchiveService>(*index, *blobs_used, options,
                                                           core::SystemClock::Instance());
  return out;
}

}  // namespace tresor::app
