// `tresor migrate`: copies an embedded archive (the SQLite index and the sealed files of
// a data directory) into the backends of a new data directory -- whatever its
// tresor.conf selects (a PostgreSQL index and an S3 or shared blob store, or SQLite and
// local files again) -- then verifies the copy. The copier itself is app/migrate.h.
//
// The source is left byte for byte as it was: it must be stopped (a running `tresor
// serve` holds DIR/serve.lock, which is tested with a shared lock that changes nothing);
// its index is read from a private copy of index.db (sealed pages: the copy holds no
// plaintext either), since even a read-only SQLite connection to a WAL database creates
// files beside it; its storage is only read.
//
// The target directory DIR is created with the source's key material (session signing
// key, audit signing key, TLS certificates: the same identity, and checkpoints that
// verify with the same public key), the configuration given (--config) or the source's,
// and its own master key (the blobs are sealed again under it). While DIR/migrating
// exists the migration is unfinished; running the same command again resumes it.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <iostream>
#include <memory>

#include "app/cli.h"
#include "app/data_dir.h"
#include "app/migrate.h"
#include "archive/audit.h"
#include "core/config.h"
#include "security/master_key.h"
#include "store/file_blob_store.h"
#include "store/sealed_blob.h"
#include "store/sqlite_index.h"

namespace tresor::app {
namespace {

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// A file descriptor closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      if (fd_ >= 0) close(fd_);
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// The progress of one phase: a bar redrawn on a terminal (stderr), nothing otherwise.
class Bar {
 public:
  Bar() : tty_(isatty(STDERR_FILENO) != 0) {}
  void Update(const char* what, uint64_t done, uint64_t total, bool final = false) {
    if (!tty_) return;
    constexpr int kWidth = 30;
    int filled = total ? static_cast<int>(kWidth * std::min(done, total) / total) : kWidth;
    std::fprintf(stderr, "\r%-10s [%s%s] %llu/%llu%s", what, std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, ' ').c_str(), static_cast<unsigned long long>(done),
                 static_cast<unsigned long long>(total), final ? "\n" : "");
  }

 private:
  bool tty_;
};

// Copies `from` to `to` (created 0600, replaced if present), synced.
Status CopyFile(const std::string& from, const std::string& to) {
  Fd in(open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return IoError(Errno("cannot read " + from));
  unlink(to.c_str());
  Fd out(open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (out.get() < 0) return IoError(Errno("cannot create " + to));
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = read(in.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError(Errno("cannot read " + from));
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(out.get(), buf.data() + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return IoError(Errno("cannot write " + to));
      off += w;
    }
  }
  if (fsync(out.get()) != 0) return IoError(Errno("cannot sync " + to));
  return Status::Ok();
}

Status MakePrivateDir(const std::string& path) {
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return IoError(Errno("cannot create " + path));
  return Status::Ok();
}

bool DirIsEmpty(const std::string& path) {
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return false;
  bool empty = true;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) empty = false;
  }
  closedir(d);
  return empty;
}

std::string Absolute(const std::string& path) {
  if (!path.empty() && path.front() == '/') return path;
  char cwd[4096];
  return std::string(getcwd(cwd, sizeof cwd) ? cwd : ".") + "/" + path;
}

// The source archive, opened so that nothing of it changes.
struct Source {
  Fd lock;  // shared lock on DIR/serve.lock (when it exists): no server can start
  std::unique_ptr<store::SqliteIndex> index;  // over a private copy of index.db
  std::unique_ptr<store::FileBlobStore> blobs;
  std::string db;        // the source's index.db
  std::string page_key;  // its page key
};

// Checks that the source can be read and nothing else uses it, and opens its storage;
// the index follows with OpenSourceIndex.
Result<Source> OpenSource(const std::string& dir, const std::string& master_key_flag) {
  if (!Exists(dir + "/tresor.conf")) return NotFound(dir + " is not a Tresor data directory");
  Source s;
  // `tresor serve` holds an exclusive lock on serve.lock; a shared one fails while it
  // runs and keeps it from starting meanwhile. Never created here (the source stays as
  // it is): a directory never served has none.
  const std::string lock_path = dir + "/serve.lock";
  if (Exists(lock_path)) {
    s.lock = Fd(open(lock_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (s.lock.get() < 0) return IoError(Errno("cannot open " + lock_path));
    if (flock(s.lock.get(), LOCK_SH | LOCK_NB) != 0) {
      return Unavailable("'tresor serve' is running on " + dir + ": stop it before migrating");
    }
  }
  const std::string db = dir + "/index.db";
  if (!Exists(db)) return NotFound(dir + " has no index (" + db + ")");
  for (const char* side : {"-wal", "-shm"}) {
    if (Exists(db + side)) {
      return Unavailable("the source index is in use or was not closed cleanly (" + db + side +
                         " exists): stop every tresor command on " + dir +
                         " (after a crash: start and stop 'tresor serve' once), then migrate");
    }
  }
  TRESOR_ASSIGN_OR_RETURN(Config config, LoadConfig(dir + "/tresor.conf"));
  auto ring = LoadKeyRing(MasterKeyPath(dir, config, master_key_flag));
  if (!ring.ok()) {
    return Status(ring.status().code(), "cannot open the source " + dir + ": " + ring.status().message());
  }
  TRESOR_ASSIGN_OR_RETURN(std::string page_key, IndexPageKey(dir, *ring));
  // Storage: opened only if it is complete (FileBlobStore::Make would otherwise create
  // what is missing).
  const std::string storage = dir + "/storage";
  if (!Exists(storage + "/sealed") || !Exists(storage + "/staging") || !Exists(storage + "/blobs/ff")) {
    return NotFound("the source storage " + storage + " is incomplete (no sealed marker or folders)");
  }
  TRESOR_ASSIGN_OR_RETURN(store::KeyRing keys, store::KeyRing::Make(std::move(ring).value()));
  TRESOR_ASSIGN_OR_RETURN(
      s.blobs, store::FileBlobStore::Make(
                   {storage, false, std::make_shared<const store::KeyRing>(std::move(keys))}));
  s.page_key = std::move(page_key);
  s.db = db;
  return s;
}

// Opens the source's index from a private copy in `copy_dir` (replaced if present).
Status OpenSourceIndex(Source& s, const std::string& copy_dir) {
  const std::string& db = s.db;
  TRESOR_RETURN_IF_ERROR(MakePrivateDir(copy_dir));
  const std::string copy = copy_dir + "/index.db";
  for (const char* side : {"-wal", "-shm"}) unlink((copy + side).c_str());
  TRESOR_RETURN_IF_ERROR(CopyFile(db, copy));
  // Checked again: a command that opened the index while it was copied makes the copy
  // suspect.
  for (const char* side : {"-wal", "-shm"}) {
    if (Exists(db + side)) return Unavailable("the source index was opened during the copy: retry");
  }
  TRESOR_ASSIGN_OR_RETURN(s.index, store::SqliteIndex::Open(
                                       {copy, store::SqliteIndexOptions::Sync::kOff, s.page_key}));
  return Status::Ok();
}

// Creates (or completes, when resuming) the target directory; see the file comment.
Status PrepareTarget(const std::string& source, const std::string& dir,
                     const std::string& config_file, const std::string& master_key_flag,
                     bool* fresh) {
  const std::string marker = dir + "/migrating";
  *fresh = false;
  if (!Exists(marker)) {
    if (Exists(dir + "/tresor.conf")) {
      return Status(Code::kAlreadyExists,
                    dir + " is already a Tresor data directory; migrate creates a new one "
                    "(choose another --to)");
    }
    if (Exists(dir) && !DirIsEmpty(dir)) {
      return Status(Code::kAlreadyExists, dir + " exists and is not empty (choose another --to)");
    }
    TRESOR_RETURN_IF_ERROR(MakePrivateDir(dir));
    TRESOR_RETURN_IF_ERROR(WritePrivateFile(marker, "tresor migrate from " + Absolute(source) + "\n", 0600));
    TRESOR_RETURN_IF_ERROR(SyncParentDir(marker));
    *fresh = true;
  } else {
    TRESOR_ASSIGN_OR_RETURN(std::string recorded, ReadTextFile(marker));
    if (recorded != "tresor migrate from " + Absolute(source) + "\n") {
      return Conflict(dir + " holds an unfinished migration of another source (" + marker + ")");
    }
  }
  TRESOR_RETURN_IF_ERROR(MakePrivateDir(dir + "/keys"));
  // The archive's identity: the same session, audit and TLS keys. Not index.key (a
  // SQLite target makes its own) and never the master key.
  for (const char* name : {"token.key", "audit-signing.key", "ca.key", "ca.pem", "server.key",
                           "server.pem"}) {
    const std::string from = source + "/keys/" + name, to = dir + "/keys/" + name;
    if (Exists(from) && !Exists(to)) {
      TRESOR_RETURN_IF_ERROR(CopyFile(from, to + ".new"));
      if (rename((to + ".new").c_str(), to.c_str()) != 0) return IoError(Errno("cannot install " + to));
    }
  }
  if (!Exists(dir + "/tresor.conf")) {
    std::string text;
    if (!config_file.empty()) {
      TRESOR_ASSIGN_OR_RETURN(text, ReadTextFile(config_file));
    } else {
      // The source's configuration; its master key file is not the target's.
      TRESOR_ASSIGN_OR_RETURN(text, ReadTextFile(source + "/tresor.conf"));
      text = SetConfigValue(text, "keys", "master_key_file", "\"\"");
    }
    if (!master_key_flag.empty()) {
      const std::string abs = Absolute(master_key_flag);
      if (abs.find('"') != std::string::npos) return InvalidArgument("--target-master-key path contains '\"'");
      text = SetConfigValue(text, "keys", "master_key_file", "\"" + abs + "\"");
    }
    const std::string staged = dir + "/tresor.conf.new";
    unlink(staged.c_str());
    TRESOR_RETURN_IF_ERROR(WritePrivateFile(staged, text, 0600));
    auto config = LoadConfig(staged);
    if (!config.ok()) {
      return Status(config.status().code(), "the target configuration: " + config.status().message());
    }
    const std::string key_path = MasterKeyPath(dir, *config, "");
    if (!Exists(key_path)) TRESOR_RETURN_IF_ERROR(security::CreateMasterKey(key_path).status());
    if (rename((dir + "/tresor.conf.new").c_str(), (dir + "/tresor.conf").c_str()) != 0) {
      return IoError(Errno("cannot install " + dir + "/tresor.conf"));
    }
    TRESOR_RETURN_IF_ERROR(SyncParentDir(dir + "/tresor.conf"));
  }
  return Status::Ok();
}

}  // namespace

int CmdMigrate(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {"to", "config", "target-master-key"}));
  if (!a.positional.empty() || a.Flag("to").empty()) {
    return Fail(InvalidArgument("usage: tresor migrate --to DIR [--config FILE] "
                                "[--target-master-key FILE] [--data SOURCE]"));
  }
  const std::string source = ResolveDataDir(a.Flag("data"));
  std::string target = a.Flag("to");
  while (target.size() > 1 && target.back() == '/') target.pop_back();
  {
    char s[PATH_MAX], t[PATH_MAX];
    if (realpath(source.c_str(), s) != nullptr && realpath(target.c_str(), t) != nullptr &&
        std::string(s) == t) {
      return Fail(InvalidArgument("--to must be another directory than the source"));
    }
  }
  if (!a.Flag("config").empty() && !Exists(a.Flag("config"))) {
    return Fail(NotFound("cannot read the target configuration " + a.Flag("config")));
  }
  // The source first: nothing is created while it cannot be read or is in use.
  if (!Exists(source + "/tresor.conf")) {
    return Fail(NotFound(source + " is not a Tresor data directory (--data SOURCE)"));
  }
  auto src = OpenSource(source, a.Flag("master-key"));
  if (!src.ok()) return Fail(src.status());
  bool fresh = false;
  TRESOR_RETURN_IF_ERROR_CLI(
      PrepareTarget(source, target, a.Flag("config"), a.Flag("target-master-key"), &fresh));
  TRESOR_RETURN_IF_ERROR_CLI(OpenSourceIndex(*src, target + "/migrate-source"));

  Fd target_lock(open((target + "/serve.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (target_lock.get() < 0 || flock(target_lock.get(), LOCK_EX | LOCK_NB) != 0) {
    return Fail(Unavailable("another 'tresor serve' or migrate is using " + target));
  }
  auto dst = OpenDataDir(target);
  if (!dst.ok()) return Fail(dst.status());
  OpenArchive& t = **dst;
  store::Index& target_index = *t.index;
  store::BlobStore& target_blobs = *t.blobs;
  if (fresh) {
    // A new directory may still point at a database or bucket that holds an archive.
    auto stats = target_index.Stats(security::AccessScope::Everything());
    auto users = target_index.ListUsers();
    auto head = target_index.AuditHead();
    if (!stats.ok()) return Fail(stats.status());
    if (!users.ok()) return Fail(users.status());
    if (!head.ok()) return Fail(head.status());
    if (stats->instances != 0 || !users->empty() || head->has_value()) {
      return Fail(Status(Code::kAlreadyExists,
                         "the target's index already holds an archive (" +
                             std::to_string(stats->instances) + " instances, " +
                             std::to_string(users->size()) +
                             " users): migrate only into an empty one"));
    }
  }
  // What an interrupted run left (staged blobs, unconfirmed rows) is cleaned up first.
  TRESOR_RETURN_IF_ERROR_CLI(t.archive->ingest().Recover());

  Bar bar;
  auto report = CopyArchive(*src->index, *src->blobs, target_index, target_blobs,
                            [&](const char* phase, uint64_t done, uint64_t total) {
                              bar.Update(phase, done, total);
                            });
  if (!report.ok()) return Fail(report.status());
  bar.Update("instances", report->instances, report->instances, true);
  std::cout << "migrate: " << report->instances << " instance(s) (" << report->instances_copied
            << " copied, " << report->bytes_copied << " bytes; " << report->instances_present
            << " already there), " << report->users << " user(s), " << report->api_tokens
            << " API token(s), " << report->peers << " peer(s), " << report->group_rules
            << " group rule(s), " << report->study_groups << " study group membership(s), "
            << report->audit_records << " audit record(s) and " << report->audit_checkpoints
            << " checkpoint(s)" << (report->audit_imported ? "" : " (imported before)") << ", "
            << report->forward_cursors << " forwarding cursor(s)\n";

  // Verification: what `tresor verify` checks, on the target, and the counts of both.
  const archive::Principal admin = archive::Principal::LocalAdmin();
  auto verified = t.archive->ingest().Verify(admin, [&](uint64_t done, uint64_t total) {
    if (done % 16 == 0) bar.Update("verifying", done, total);
  });
  if (!verified.ok()) return Fail(verified.status());
  bar.Update("verifying", verified->instances, verified->instances, true);
  int missing = 0, corrupted = 0, orphaned = 0;
  for (const archive::VerifyProblem& p : verified->problems) {
    const char* kind = p.kind == archive::VerifyProblem::Kind::kMissing     ? "missing  "
                       : p.kind == archive::VerifyProblem::Kind::kCorrupted ? "corrupted"
                                                                            : "orphaned ";
    (p.kind == archive::VerifyProblem::Kind::kMissing     ? missing
     : p.kind == archive::VerifyProblem::Kind::kCorrupted ? corrupted
                                                          : orphaned)++;
    std::cout << kind << " " << (p.sop_instance_uid.empty() ? "" : p.sop_instance_uid + " ")
              << "(blob " << p.blob << "): " << p.detail << "\n";
  }
  std::cout << "verify: " << verified->instances << " instance(s), " << verified->blobs
            << " blob(s), " << verified->bytes << " bytes checked: " << missing << " missing, "
            << corrupted << " corrupted, " << orphaned << " orphaned\n";
  int status = (missing ? 4 : 0) | (corrupted ? 8 : 0) | (orphaned ? 16 : 0);
  auto src_stats = src->index->Stats(security::AccessScope::Everything());
  auto dst_stats = target_index.Stats(security::AccessScope::Everything());
  if (!src_stats.ok()) return Fail(src_stats.status());
  if (!dst_stats.ok()) return Fail(dst_stats.status());
  auto counts = [](const store::IndexStats& s) {
    return std::to_string(s.patients) + " patients, " + std::to_string(s.studies) + " studies, " +
           std::to_string(s.series) + " series, " + std::to_string(s.instances) + " instances, " +
           std::to_string(s.bytes) + " bytes";
  };
  if (counts(*src_stats) != counts(*dst_stats)) {
    std::cout << "differs   source holds " << counts(*src_stats) << "; target "
              << counts(*dst_stats) << "\n";
    status |= 4;
  }
  auto src_groups = src->index->ListGroups();
  auto dst_groups = target_index.ListGroups();
  if (!src_groups.ok()) return Fail(src_groups.status());
  if (!dst_groups.ok()) return Fail(dst_groups.status());
  bool groups_same = src_groups->size() == dst_groups->size();
  for (size_t i = 0; groups_same && i < src_groups->size(); ++i) {
    groups_same = (*src_groups)[i].name == (*dst_groups)[i].name &&
                  (*src_groups)[i].studies == (*dst_groups)[i].studies;
  }
  if (!groups_same) {
    std::cout << "differs   the access groups' study counts differ between source and target\n";
    status |= 4;
  }
  auto audit = t.archive->audit().Verify(admin);
  if (!audit.ok()) return Fail(audit.status());
  if (!audit->intact) {
    std::cout << "audit     the target's trail does not verify at seq " << audit->first_bad_seq
              << ": " << audit->problem << "\n";
    status |= 8;
  } else {
    std::cout << "audit: " << audit->records << " record(s), " << audit->checkpoints
              << " checkpoint(s) verified on the target\n";
  }
  if (status != 0) {
    std::cout << "migrate: the target is NOT complete; " << target << "/migrating stays (run "
              << "the same command again to resume)\n";
    return status;
  }
  // Done: the target is an ordinary data directory from now on.
  archive::AuditEvent e;
  e.id = archive::AuditEventId::kImport;
  e.action = 'C';
  e.instances = static_cast<int64_t>(report->instances);
  e.summary = "archive migrated here (" + std::to_string(report->instances) + " instances, " +
              std::to_string(report->audit_records) + " audit records)";
  TRESOR_RETURN_IF_ERROR_CLI(t.archive->audit().Record(admin, e));
  src->index.reset();  // closed before its files go
  for (const char* name : {"/migrate-source/index.db", "/migrate-source/index.db-wal",
                           "/migrate-source/index.db-shm"}) {
    unlink((target + name).c_str());
  }
  rmdir((target + "/migrate-source").c_str());
  if (unlink((target + "/migrating").c_str()) != 0) {
    return Fail(IoError(Errno("cannot remove " + target + "/migrating")));
  }
  TRESOR_RETURN_IF_ERROR_CLI(SyncParentDir(target + "/migrating"));
  std::cout << "migrate: complete; serve the archive with: tresor serve --data " << target << "\n";
  return 0;
}

}  // namespace tresor::app
