// Working with archived objects from the command line: import, send, stats, cat.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "app/cli.h"
#include "app/data_dir.h"
#include "dicom/byte_reader.h"
#include "dicom/codecs.h"
#include "dicom/dictionary.h"
#include "dicom/part10.h"
#include "dimse/peer_sender.h"

namespace tresor::app {

namespace {

// Stores one Part 10 file through the archive.
Result<archive::StoreOutcome> ImportFile(archive::ArchiveService& archive,
                                         const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError(std::string("cannot open: ") + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st {};
  if (fstat(fd, &st) != 0) return IoError(std::string("cannot stat: ") + std::strerror(errno));
  dicom::FileRangeReader whole(fd, 0, static_cast<uint64_t>(st.st_size));
  TRESOR_ASSIGN_OR_RETURN(dicom::FileMeta meta, dicom::ReadFileMeta(whole));
  TRESOR_ASSIGN_OR_RETURN(
      std::unique_ptr<archive::Upload> upload,
      archive.ingest().BeginStore(archive::Principal::LocalAdmin(),
                         {meta.sop_class_uid, meta.sop_instance_uid, meta.transfer_syntax_uid}));
  std::vector<char> buf(1 << 20);
  uint64_t offset = meta.dataset_offset;
  while (offset < static_cast<uint64_t>(st.st_size)) {
    ssize_t got = pread(fd, buf.data(), buf.size(), static_cast<off_t>(offset));
    if (got < 0) return IoError(std::string("read failed: ") + std::strerror(errno));
    if (got == 0) break;
    TRESOR_RETURN_IF_ERROR(upload->Write(buf.data(), static_cast<size_t>(got)));
    offset += static_cast<uint64_t>(got);
  }
  return upload->Commit();
}

}  // namespace

int CmdImport(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {}));
  if (a.positional.empty()) return Fail(InvalidArgument("import needs at least one PATH"));
  auto opened = OpenDataDir(ResolveDataDir(a.Flag("data")), a.Flag("master-key"));
  if (!opened.ok()) return Fail(opened.status());
  Status st = dicom::CheckDictionaryLoaded();
  if (!st.ok()) return Fail(st);
  archive::ArchiveService& archive = *(*opened)->archive;

  std::vector<std::string> files;
  for (const std::string& p : a.positional) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      for (auto it = std::filesystem::recursive_directory_iterator(p, ec);
           it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (it->is_regular_file(ec)) files.push_back(it->path().string());
      }
    } else if (std::filesystem::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      std::cerr << "tresor: " << p << ": no such file or directory\n";
      return 1;
    }
  }
  std::sort(files.begin(), files.end());

  std::atomic<size_t> next{0}, done{0}, stored{0}, duplicate{0};
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> rejected;  // guarded by mu
  bool tty = isatty(STDERR_FILENO);
  auto progress = [&](bool final) {
    size_t d = done.load(), total = files.size();
    std::lock_guard<std::mutex> lock(mu);
    size_t rej = rejected.size();
    if (tty) {
      int width = 30;
      int filled = total ? static_cast<int>(width * d / total) : width;
      std::fprintf(stderr, "\r[%s%s] %zu/%zu  stored %zu  duplicate %zu  rejected %zu%s",
                   std::string(filled, '#').c_str(), std::string(width - filled, ' ').c_str(), d,
                   total, stored.load(), duplicate.load(), rej, final ? "\n" : "");
    } else if (final || d % 500 == 0) {
      std::fprintf(stderr, "import: %zu/%zu files\n", d, total);
    }
  };
  // A fixed pool: enough to overlap reading and validation with the group commit.
  constexpr int threads = 4;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < files.size();) {
        auto r = ImportFile(archive, files[i]);
        if (r.ok()) {
          (*r == archive::StoreOutcome::kStored ? stored : duplicate)++;
        } else {
          std::lock_guard<std::mutex> lock(mu);
          rejected.emplace_back(files[i], r.status().message());
        }
        size_t d = ++done;
        if (tty ? d % 16 == 0 : d % 500 == 0) progress(false);
      }
    });
  }
  for (auto& t : pool) t.join();
  progress(true);
  std::sort(rejected.begin(), rejected.end());
  for (const auto& [file, why] : rejected) std::cout << "rejected " << file << ": " << why << "\n";
  std::cout << "import: " << files.size() << " files: " << stored << " stored, " << duplicate
            << " duplicate, " << rejected.size() << " rejected\n";
  return rejected.empty() ? 0 : 1;
}

int CmdSend(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {"to", "retries"}));
  if (a.Flag("to").empty() || a.positional.empty()) {
    return Fail(InvalidArgument("usage: tresor send --to PEER UID..."));
  }
  auto retries_flag = IntFlag(a, "retries", 2);
  if (!retries_flag.ok()) return Fail(retries_flag.status());
  const int retries = *retries_flag;
  auto opened = OpenDataDir(ResolveDataDir(a.Flag("data")), a.Flag("master-key"));
  if (!opened.ok()) return Fail(opened.status());
  Status st = dicom::CheckDictionaryLoaded();
  if (!st.ok()) return Fail(st);
  dicom::RegisterCodecs();
  archive::ArchiveService& archive = *(*opened)->archive;
  auto admin = archive::Principal::LocalAdmin();
  auto peers = archive.admin().ListPeers(admin);
  if (!peers.ok()) return Fail(peers.status());
  const security::Peer* peer = nullptr;
  for (const auto& p : *peers) {
    if (p.name == a.Flag("to")) peer = &p;
  }
  if (!peer) return Fail(NotFound("no peer named " + a.Flag("to") + " (see tresor peer list)"));

  // Each UID may name a study, a series or an instance.
  std::map<std::string, archive::InstanceInfo> todo;
  for (dicom::TagKey tag : {dicom::MakeTag(0x0020, 0x000D), dicom::MakeTag(0x0020, 0x000E),
                            dicom::MakeTag(0x0008, 0x0018)}) {
    dicom::Condition c;
    c.attribute = dicom::FindQueryAttribute(tag);
    c.kind = dicom::Condition::Kind::kList;
    c.list = a.positional;
    dicom::Query q;
    q.conditions.push_back(c);
    auto found = archive.catalog().ResolveRetrieve(admin, q, security::kMove);
    if (!found.ok()) return Fail(found.status());
    for (auto& i : *found) todo.emplace(i.sop_instance_uid, i);
  }
  if (todo.empty()) return Fail(NotFound("no archived instance matches the given UIDs"));

  dimse::PeerSendOptions options;
  options.calling_ae = (*opened)->config.ae_title;
  std::map<std::string, std::string> failures;  // uid -> last reason
  size_t sent = 0;
  for (int attempt = 0; attempt <= retries && !todo.empty(); ++attempt) {
    if (attempt > 0) {
      std::cerr << "retrying " << todo.size() << " instance(s) (attempt " << attempt + 1 << ")\n";
    }
    std::vector<archive::InstanceInfo> batch;
    for (const auto& [uid, i] : todo) batch.push_back(i);
    dimse::SendObserver observer;
    observer.sent = [&](const archive::InstanceInfo& i, const Result<uint16_t>& status) {
      if (status.ok() && (*status == 0 || (*status & 0xF000) == 0xB000)) {
        std::cout << "sent " << i.sop_instance_uid << "\n";
        failures.erase(i.sop_instance_uid);
        ++sent;
        todo.erase(i.sop_instance_uid);
      } else {
        char hex[8];
        std::snprintf(hex, sizeof hex, "%04x", status.ok() ? *status : 0);
        failures[i.sop_instance_uid] =
            status.ok() ? std::string("refused with status 0x") + hex : status.status().message();
      }
      return true;
    };
    Status connected = dimse::SendToPeer(archive.catalog(), *peer, options, batch, observer);
    if (!connected.ok()) {
      for (const auto& [uid, i] : todo) failures[uid] = connected.message();
    }
  }
  for (const auto& [uid, why] : failures) std::cout << "failed " << uid << ": " << why << "\n";
  std::cout << "send: " << sent << " sent, " << failures.size() << " failed, to " << peer->name
            << " (" << peer->ae_title << " at " << peer->host << ":" << peer->port << ")\n";
  return failures.empty() ? 0 : 1;
}

int CmdStats(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {}));
  auto opened = OpenDataDir(ResolveDataDir(a.Flag("data")), a.Flag("master-key"));
  if (!opened.ok()) return Fail(opened.status());
  auto s = (*opened)->archive->catalog().Stats(archive::Principal::LocalAdmin());
  if (!s.ok()) return Fail(s.status());
  std::cout << "patients:  " << s->patients << "\n"
            << "studies:   " << s->studies << "\n"
            << "series:    " << s->series << "\n"
            << "instances: " << s->instances << "\n"
            << "bytes:     " << s->bytes << " (" << (s->bytes / (1024.0 * 1024.0)) << " MiB)\n";
  return 0;
}

int CmdCat(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {}));
  if (a.positional.size() != 1) return Fail(InvalidArgument("usage: tresor cat SOP_INSTANCE_UID"));
  auto opened = OpenDataDir(ResolveDataDir(a.Flag("data")), a.Flag("master-key"));
  if (!opened.ok()) return Fail(opened.status());
  auto obj = (*opened)->archive->catalog().OpenInstance(archive::Principal::LocalAdmin(), a.positional[0]);
  if (!obj.ok()) return Fail(obj.status());
  std::vector<char> buf(1 << 20);
  for (uint64_t off = 0; off < (*obj)->size();) {
    auto got = (*obj)->ReadAt(buf.data(), buf.size(), off);
    if (!got.ok()) return Fail(got.status());
    if (*got == 0) break;
    if (std::fwrite(buf.data(), 1, *got, stdout) != *got) return Fail(IoError("write failed"));
    off += *got;
  }
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace tresor::app
