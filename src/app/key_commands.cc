// `tresor keys` (the master key of encryption at rest: show, rotate) and `tresor verify`
// (every object decrypts, matches its recorded hash and has its index row).
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "app/cli.h"
#include "app/data_dir.h"
#include "security/master_key.h"
#include "store/file_blob_store.h"

namespace tresor::app {
namespace {

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

// The storage opened with `ring`, and the names of all its blobs (listed before any is
// rewrapped, so the walk never sees its own writes).
struct StorageForRewrap {
  std::unique_ptr<store::FileBlobStore> blobs;
  std::vector<std::string> names;
};
Result<StorageForRewrap> OpenStorageForRewrap(const std::string& dir, bool fsync,
                                              std::vector<security::MasterKey> ring) {
  TRESOR_ASSIGN_OR_RETURN(store::KeyRing keys, store::KeyRing::Make(std::move(ring)));
  StorageForRewrap out;
  TRESOR_ASSIGN_OR_RETURN(out.blobs,
                          store::FileBlobStore::Make({dir + "/storage", fsync,
                                                      std::make_shared<const store::KeyRing>(std::move(keys))}));
  TRESOR_RETURN_IF_ERROR(out.blobs->List([&](const std::string& name, bool) {
    out.names.push_back(name);
    return Status::Ok();
  }));
  return out;
}

// One progress line: a bar on a terminal (redrawn), plain lines otherwise.
class Progress {
 public:
  explicit Progress(const char* what) : what_(what), tty_(isatty(STDERR_FILENO) != 0) {}
  void Update(uint64_t done, uint64_t total, bool final = false) {
    if (tty_) {
      if (!final && done % 16 != 0) return;
      constexpr int kWidth = 30;
      int filled = total ? static_cast<int>(kWidth * done / total) : kWidth;
      std::fprintf(stderr, "\r%s [%s%s] %llu/%llu%s", what_, std::string(filled, '#').c_str(),
                   std::string(kWidth - filled, ' ').c_str(),
                   static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                   final ? "\n" : "");
    } else if (final || done % 1000 == 0) {
      std::fprintf(stderr, "%s: %llu/%llu\n", what_, static_cast<unsigned long long>(done),
                   static_cast<unsigned long long>(total));
    }
  }

 private:
  const char* what_;
  const bool tty_;
};

}  // namespace

int CmdKeys(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {}));
  if (a.positional.size() != 1 || (a.positional[0] != "show" && a.positional[0] != "rotate")) {
    return Fail(InvalidArgument("usage: tresor keys show|rotate [--data DIR] [--master-key FILE]"));
  }
  const std::string dir = ResolveDataDir(a.Flag("data"));
  if (!Exists(dir + "/tresor.conf")) {
    return Fail(NotFound(dir + " is not a Tresor data directory (run: tresor init --data " + dir + ")"));
  }
  auto config = LoadConfig(dir + "/tresor.conf");
  if (!config.ok()) return Fail(config.status());
  const std::string key_path = MasterKeyPath(dir, *config, a.Flag("master-key"));
  const std::string next_path = RotationKeyPath(key_path);

  if (a.positional[0] == "show") {
    auto ring = LoadKeyRing(key_path);
    if (!ring.ok()) return Fail(ring.status());
    std::cout << "master key file: " << key_path << "\n"
              << "key id:          " << ring->front().IdHex() << "\n";
    if (ring->size() > 1) {
      std::cout << "rotation to key " << (*ring)[1].IdHex()
                << " was interrupted: run 'tresor keys rotate' to finish it\n";
    }
    return 0;
  }

  // Rotation rewrites every blob header and DIR/index.key while no server runs: that
  // holds for one node only. A shared archive would need every node stopped and the
  // shared store rewritten; not supported yet (docs/deployment.md).
  if (config->index_backend != "sqlite" || config->storage_backend != "local") {
    return Fail(Unsupported("tresor keys rotate rotates the master key of a single-node archive "
                            "(SQLite index, local storage); this archive is shared "
                            "(docs/deployment.md, \"Keys\")"));
  }
  // Rotation rewrites blob headers: no server may be writing blobs meanwhile.
  int lock_fd = open((dir + "/serve.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    return Fail(Unavailable("'tresor serve' is running on " + dir + "; stop it before rotating keys"));
  }
  auto old_key = security::LoadMasterKey(key_path);
  if (!old_key.ok()) return Fail(old_key.status());
  // 1. The new key, beside the old one (a rotation interrupted earlier resumes with its
  //    key). From here on, both keys open every blob.
  if (!Exists(next_path)) {
    auto created = security::CreateMasterKey(next_path);
    if (!created.ok()) return Fail(created.status());
  }
  auto new_key = security::LoadMasterKey(next_path);
  if (!new_key.ok()) return Fail(new_key.status());
  // 2. Every blob gets a wrap of its data key under the new key (in its free key slot),
  //    each synced; then the storage records the new key.
  {
    auto opened = OpenStorageForRewrap(dir, config->fsync, {*new_key, *old_key});
    if (!opened.ok()) return Fail(opened.status());
    auto& [blobs, names] = *opened;
    Progress progress("rewrapping");
    uint64_t done = 0;
    for (const std::string& name : names) {
      auto did = blobs->Rewrap(name, store::RewrapStep::kAddCurrent);
      if (!did.ok()) {
        return Fail(Status(did.status().code(),
                           did.status().message() + "; nothing lost: both keys are kept, "
                           "run 'tresor verify', then 'tresor keys rotate' again"));
      }
      progress.Update(++done, names.size());
    }
    progress.Update(done, names.size(), true);
    Status recorded = blobs->RecordSealingKey(new_key->id);
    if (!recorded.ok()) return Fail(recorded);
  }
  // 2b. The index page key is sealed again, under the new key (the index is untouched).
  {
    auto page_key = IndexPageKey(dir, {*old_key, *new_key});
    if (!page_key.ok()) return Fail(page_key.status());
    Status resealed = SealIndexKeyFile(dir, *page_key, *new_key);
    if (!resealed.ok()) return Fail(resealed);
  }
  // 3. The new key replaces the old one (atomic rename): the old key is gone.
  if (rename(next_path.c_str(), key_path.c_str()) != 0) {
    return Fail(IoError("cannot install the new master key: " + std::string(std::strerror(errno))));
  }
  Status synced = SyncParentDir(key_path);
  if (!synced.ok()) return Fail(synced);
  // 4. The old wraps are erased, so the old key opens nothing of the current storage.
  {
    auto opened = OpenStorageForRewrap(dir, config->fsync, {*new_key});
    if (!opened.ok()) return Fail(opened.status());
    auto& [blobs, names] = *opened;
    for (const std::string& name : names) {
      auto did = blobs->Rewrap(name, store::RewrapStep::kDropOthers);
      if (!did.ok()) return Fail(did.status());
    }
    std::cout << "rotated: " << names.size() << " object(s) now sealed under master key "
              << new_key->IdHex() << " (was " << old_key->IdHex() << ") in " << key_path
              << "\nBack up the new key now; the old one opens only older backups.\n";
  }
  return 0;
}

int CmdVerify(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {}));
  if (!a.positional.empty()) return Fail(InvalidArgument("usage: tresor verify [--data DIR]"));
  auto opened = OpenDataDir(ResolveDataDir(a.Flag("data")), a.Flag("master-key"));
  if (!opened.ok()) return Fail(opened.status());
  Progress progress("verifying");
  uint64_t last_total = 0;
  auto report = (*opened)->archive->ingest().Verify(
      archive::Principal::LocalAdmin(), [&](uint64_t done, uint64_t total) {
        last_total = total;
        progress.Update(done, total);
      });
  if (!report.ok()) return Fail(report.status());
  progress.Update(report->instances, std::max(last_total, report->instances), true);
  int missing = 0, corrupted = 0, orphaned = 0;
  for (const archive::VerifyProblem& p : report->problems) {
    switch (p.kind) {
      case archive::VerifyProblem::Kind::kMissing:
        ++missing;
        std::cout << "missing   " << p.sop_instance_uid << " (blob " << p.blob << "): " << p.detail << "\n";
        break;
      case archive::VerifyProblem::Kind::kCorrupted:
        ++corrupted;
        std::cout << "corrupted " << p.sop_instance_uid << " (blob " << p.blob << "): " << p.detail << "\n";
        break;
      case archive::VerifyProblem::Kind::kOrphaned:
        ++orphaned;
        std::cout << "orphaned  blob " << p.blob << ": " << p.detail << "\n";
        break;
    }
  }
  std::cout << "verify: " << report->instances << " instance(s), " << report->blobs
            << " blob(s), " << report->bytes << " bytes checked: " << missing << " missing, "
            << corrupted << " corrupted, " << orphaned << " orphaned\n";
  return (missing ? 4 : 0) | (corrupted ? 8 : 0) | (orphaned ? 16 : 0);
}

}  // namespace tresor::app
