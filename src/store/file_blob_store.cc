#include "store/file_blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/random.h"

namespace tresor::store {
namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// Deletes `path`; a file that is not there is deleted already.
Status Unlink(const std::string& path, const char* what) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return IoError(Errno(what));
  return Status::Ok();
}

Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return IoError(Errno("mkdir " + path));
  return Status::Ok();
}

bool IsBlobName(const std::string& name) {
  if (name.size() != 32) return false;
  for (char c : name) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

class FileBlobWriter : public BlobWriter {
 public:
  FileBlobWriter(std::string name, std::string path, int fd)
      : name_(std::move(name)), path_(std::move(path)), fd_(fd) {}
  ~FileBlobWriter() override {
    if (fd_ >= 0) close(fd_);
    if (!finished_) unlink(path_.c_str());
  }

  Status Append(const void* data, size_t n) override {
    size_ += n;
    // Small appends collect in a buffer; large ones go straight to the file.
    if (buf_.size() + n <= kBufferBytes) {
      buf_.append(static_cast<const char*>(data), n);
      return Status::Ok();
    }
    TRESOR_RETURN_IF_ERROR(Flush());
    if (n <= kBufferBytes) {
      buf_.append(static_cast<const char*>(data), n);
      return Status::Ok();
    }
    return WriteAll(data, n);
  }

  Result<std::string> Finish() override {
    TRESOR_RETURN_IF_ERROR(Flush());
    int fd = fd_;
    fd_ = -1;
    if (close(fd) != 0) return IoError(Errno("close blob"));
    finished_ = true;
    return name_;
  }

  uint64_t size() const override { return size_; }

 private:
  static constexpr size_t kBufferBytes = 256 * 1024;

  Status Flush() {
    Status s = WriteAll(buf_.data(), buf_.size());
    buf_.clear();
    return s;
  }

  Status WriteAll(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t w = write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return IoError(Errno("write blob"));
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return Status::Ok();
  }

  std::string buf_;
  std::string name_;
  std::string path_;
  int fd_;
  uint64_t size_ = 0;
  bool finished_ = false;
};

class FileBlobReader : public BlobReader {
 public:
  FileBlobReader(int fd, uint64_t size) : fd_(fd), size_(size) {}
  ~FileBlobReader() override { close(fd_); }
  uint64_t size() const override { return size_; }
  Result<size_t> ReadAt(void* out, size_t n, uint64_t offset) override {
    while (true) {
      ssize_t got = pread(fd_, out, n, static_cast<off_t>(offset));
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) return IoError(Errno("read blob"));
    }
  }

 private:
  int fd_;
  uint64_t size_;
};

}  // namespace

FileBlobStore::FileBlobStore(FileBlobStoreOptions options) : options_(std::move(options)) {}

FileBlobStore::~FileBlobStore() {
  if (staging_fd_ >= 0) close(staging_fd_);
}

Result<std::unique_ptr<FileBlobStore>> FileBlobStore::Make(const FileBlobStoreOptions& options) {
  TRESOR_RETURN_IF_ERROR(MakeDir(options.root));
  TRESOR_RETURN_IF_ERROR(MakeDir(options.root + "/blobs"));
  TRESOR_RETURN_IF_ERROR(MakeDir(options.root + "/staging"));
  // 256 shard directories, created once: with random names each holds 1/256 of the
  // blobs (about 4,000 files per directory at a million instances).
  static const char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 256; ++i) {
    std::string shard{kHex[i >> 4], kHex[i & 15]};
    TRESOR_RETURN_IF_ERROR(MakeDir(options.root + "/blobs/" + shard));
  }
  std::unique_ptr<FileBlobStore> store(new FileBlobStore(options));
  store->staging_fd_ = open((options.root + "/staging").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (store->staging_fd_ < 0) return IoError(Errno("open staging directory"));
  return store;
}

std::string FileBlobStore::StagingPath(const std::string& name) const {
  return options_.root + "/staging/" + name;
}

std::string FileBlobStore::FinalPath(const std::string& name) const {
  return options_.root + "/blobs/" + name.substr(0, 2) + "/" + name;
}

Result<std::unique_ptr<BlobWriter>> FileBlobStore::Create() {
  std::string name = RandomHex(16);
  std::string path = StagingPath(name);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return IoError(Errno("create blob"));
  return std::unique_ptr<BlobWriter>(new FileBlobWriter(name, path, fd));
}

Status FileBlobStore::Persist(const std::vector<std::string>& staged) {
  if (!options_.fsync || staged.empty()) return Status::Ok();
  // One syncfs() makes every staged blob of the batch durable at the cost of one
  // journal commit, instead of one fsync per blob.
  if (syncfs(staging_fd_) != 0) return IoError(Errno("syncfs"));
  return Status::Ok();
}

Status FileBlobStore::Publish(const std::string& name) {
  if (!IsBlobName(name)) return InvalidArgument("not a blob name");
  if (rename(StagingPath(name).c_str(), FinalPath(name).c_str()) != 0) {
    return IoError(Errno("publish blob"));
  }
  return Status::Ok();
}

Status FileBlobStore::Discard(const std::string& name) {
  if (!IsBlobName(name)) return InvalidArgument("not a blob name");
  return Unlink(StagingPath(name), "discard blob");
}

Status FileBlobStore::Remove(const std::string& name) {
  if (!IsBlobName(name)) return InvalidArgument("not a blob name");
  Status staged = Unlink(StagingPath(name), "remove staged blob");
  Status published = Unlink(FinalPath(name), "remove blob");
  return staged.ok() ? published : staged;
}

Result<std::unique_ptr<BlobReader>> FileBlobStore::Open(const std::string& name) {
  if (!IsBlobName(name)) return InvalidArgument("not a blob name");
  int fd = open(FinalPath(name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) fd = open(StagingPath(name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound("blob missing from storage");
    return IoError(Errno("open blob"));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    close(fd);
    return IoError(Errno("stat blob"));
  }
  return std::unique_ptr<BlobReader>(new FileBlobReader(fd, static_cast<uint64_t>(st.st_size)));
}

Status FileBlobStore::Recover(
    const std::function<Result<bool>(const std::string&)>& is_referenced) {
  DIR* dir = opendir((options_.root + "/staging").c_str());
  if (!dir) return IoError(Errno("open staging directory"));
  std::vector<std::string> names;
  while (dirent* e = readdir(dir)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(dir);
  int published = 0, removed = 0, left = 0;
  for (const std::string& n : names) {
    bool keep = false;
    if (IsBlobName(n)) {
      TRESOR_ASSIGN_OR_RETURN(keep, is_referenced(n));
    }
    if (keep) {
      TRESOR_RETURN_IF_ERROR(Publish(n));
      ++published;
    } else if (Status gone = Unlink(StagingPath(n), "remove staged file"); gone.ok()) {
      ++removed;
    } else {
      // Unreferenced, so harmless where it is; the next recovery tries again.
      TRESOR_LOG(kError) << "storage recovery: " << gone.ToString() << " (staging/" << n << ")";
      ++left;
    }
  }
  if (published || removed || left) {
    TRESOR_LOG(kInfo) << "storage recovery: published " << published
                      << " committed blob(s), removed " << removed << " unacknowledged one(s)"
                      << (left ? ", could not remove " + std::to_string(left) : std::string());
  }
  // The publications must be durable before serving: a renamed blob whose directory
  // entry is lost would be missing under a committed index row.
  if (options_.fsync && syncfs(staging_fd_) != 0) return IoError(Errno("syncfs after recovery"));
  return Status::Ok();
}

}  // namespace tresor::store
