#include "store/file_blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>
#include <thread>
#include <utility>

#include "core/buffer_pool.h"
#include "core/hex.h"
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

// fsync() of the file or directory at `path`.
Status SyncPath(const std::string& path, bool directory) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) return IoError(Errno("open " + path + " to sync it"));
  int rc = fsync(fd);
  int saved = errno;
  close(fd);
  errno = saved;
  return rc == 0 ? Status::Ok() : IoError(Errno("fsync " + path));
}

// A node name usable as a directory name: 1-64 of [A-Za-z0-9._-], not "." or "..".
bool IsNodeName(const std::string& node) {
  if (node.empty() || node.size() > 64 || node == "." || node == "..") return false;
  for (char c : node) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// The subdirectories of `dir` (names only); none if it cannot be read.
std::vector<std::string> SubDirs(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st {};
    if (stat((dir + "/" + n).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}


// Reads exactly `n` bytes at `offset`; kDataLoss if the file ends first.
Status PreadAll(int fd, char* out, size_t n, uint64_t offset) {
  while (n > 0) {
    ssize_t got = pread(fd, out, n, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      return IoError(Errno("read blob"));
    }
    if (got == 0) return DataLoss("integrity error: sealed blob truncated");
    out += got;
    n -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
  return Status::Ok();
}

Status PwriteAll(int fd, const char* data, size_t n, uint64_t offset) {
  while (n > 0) {
    ssize_t w = pwrite(fd, data, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return IoError(Errno("write blob header"));
    }
    data += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return Status::Ok();
}

// The output buffer of a sealed writer, from the store's pool (core::BufferPool).
constexpr size_t kWriteBufferBytes = 256 * 1024;
// Writers' output buffers kept for reuse (4 MiB at most).
constexpr size_t kMaxPooledWriteBuffers = 16;

// Writes through a 256 KiB buffer. Sealed: the buffer holds sealed segments; the
// plaintext of the segment being filled waits in `pending_` (a segment is sealed once
// data beyond it arrives, or at Finish() as the final one); whole segments of a large
// append are sealed straight from the caller's bytes into the buffer.
// With `write_back`, every buffer written also starts its write-back to the disk
// (sync_file_range, not waiting), so the bytes are mostly on the disk by the time the
// group commit's sync makes them durable and that sync is short. The hint is not a
// durability point: a failed hint is dropped (the sync reports write-back errors).
class FileBlobWriter : public BlobWriter {
 public:
  // Sealed when `cipher` is set; its output buffer then comes from `buffers`.
  FileBlobWriter(std::string name, std::string path, int fd, bool write_back,
                 std::unique_ptr<BlobCipher> cipher = nullptr,
                 std::shared_ptr<core::BufferPool> buffers = nullptr)
      : name_(std::move(name)), path_(std::move(path)), fd_(fd), write_back_(write_back),
        cipher_(std::move(cipher)), buffers_(std::move(buffers)) {
    if (cipher_) {
      out_ = buffers_->Take();
      pending_.reset(new char[cipher_->segment_bytes()]);
    }
  }
  ~FileBlobWriter() override {
    if (fd_ >= 0) close(fd_);
    if (!finished_) unlink(path_.c_str());
    if (buffers_) buffers_->Give(std::move(out_));
  }

  // Sealed only: the header goes first.
  Status WriteHeader(const std::string& header) {
    std::memcpy(out_.get(), header.data(), header.size());
    out_len_ = header.size();
    return Status::Ok();
  }

  Status Append(const void* data, size_t n) override {
    if (cipher_) return AppendSealed(static_cast<const char*>(data), n);
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
    if (cipher_) {
      TRESOR_RETURN_IF_ERROR(SealSegment(pending_.get(), pending_len_, true));
      pending_len_ = 0;
      TRESOR_RETURN_IF_ERROR(FlushSealed());
    }
    TRESOR_RETURN_IF_ERROR(Flush());
    int fd = fd_;
    fd_ = -1;
    if (close(fd) != 0) return IoError(Errno("close blob"));
    finished_ = true;
    return name_;
  }

  uint64_t size() const override { return size_; }

 private:
  static constexpr size_t kBufferBytes = kWriteBufferBytes;

  Status Flush() {
    Status s = WriteAll(buf_.data(), buf_.size());
    buf_.clear();
    return s;
  }

  Status AppendSealed(const char* p, size_t n) {
    const size_t seg = cipher_->segment_bytes();
    size_ += n;
    while (n > 0) {
      if (pending_len_ == seg) {
        TRESOR_RETURN_IF_ERROR(SealSegment(pending_.get(), seg, false));
        pending_len_ = 0;
      }
      if (pending_len_ == 0 && n > seg) {
        // More follows this whole segment, so it is not the final one.
        TRESOR_RETURN_IF_ERROR(SealSegment(p, seg, false));
        p += seg;
        n -= seg;
        continue;
      }
      size_t take = std::min(seg - pending_len_, n);
      std::memcpy(pending_.get() + pending_len_, p, take);
      pending_len_ += take;
      p += take;
      n -= take;
    }
    return Status::Ok();
  }

  Status SealSegment(const char* plain, size_t n, bool final) {
    if (out_len_ + n + kTagBytes > kBufferBytes) TRESOR_RETURN_IF_ERROR(FlushSealed());
    TRESOR_RETURN_IF_ERROR(cipher_->Seal(segment_++, final, plain, n, out_.get() + out_len_));
    out_len_ += n + kTagBytes;
    return Status::Ok();
  }

  Status FlushSealed() {
    Status s = WriteAll(out_.get(), out_len_);
    out_len_ = 0;
    return s;
  }

  Status WriteAll(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    const uint64_t start = written_;
    while (n > 0) {
      ssize_t w = write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return IoError(Errno("write blob"));
      }
      p += w;
      n -= static_cast<size_t>(w);
      written_ += static_cast<uint64_t>(w);
    }
    if (write_back_ && written_ > start &&
        sync_file_range(fd_, static_cast<off_t>(start), static_cast<off_t>(written_ - start),
                        SYNC_FILE_RANGE_WRITE) != 0) {
      write_back_ = false;  // not supported here: the sync does all the work
    }
    return Status::Ok();
  }

  std::string buf_;
  std::string name_;
  std::string path_;
  int fd_;
  bool write_back_;
  uint64_t written_ = 0;  // bytes written to the file so far
  uint64_t size_ = 0;
  bool finished_ = false;
  // Sealed only.
  std::unique_ptr<BlobCipher> cipher_;
  std::shared_ptr<core::BufferPool> buffers_;  // where out_ came from and goes back to
  std::unique_ptr<char[]> out_;      // kBufferBytes of sealed bytes
  size_t out_len_ = 0;
  std::unique_ptr<char[]> pending_;  // plaintext of the segment being filled
  size_t pending_len_ = 0;
  uint32_t segment_ = 0;
};

// Reads a sealed blob: each read opens the segments it covers (straight into the
// caller's buffer when it wants a whole segment) and keeps the last partly read one, so
// sequential reads at any alignment open every segment once.
class SealedBlobReader : public BlobReader {
 public:
  SealedBlobReader(int fd, std::unique_ptr<BlobCipher> cipher, uint64_t plain_size)
      : fd_(fd), cipher_(std::move(cipher)), size_(plain_size),
        seg_(cipher_->segment_bytes()),
        segments_(plain_size == 0 ? 1 : (plain_size + seg_ - 1) / seg_),
        sealed_(new char[seg_ + kTagBytes]), cache_(new char[seg_]) {}
  ~SealedBlobReader() override { close(fd_); }
  uint64_t size() const override { return size_; }

  Result<size_t> ReadAt(void* out, size_t n, uint64_t offset) override {
    if (offset >= size_ || n == 0) return size_t{0};
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
    char* dst = static_cast<char*>(out);
    size_t done = 0;
    while (done < n) {
      uint64_t pos = offset + done;
      uint64_t index = pos / seg_;
      uint64_t start = index * seg_;
      size_t len = SegmentLength(index);
      size_t within = static_cast<size_t>(pos - start);
      size_t take = std::min(len - within, n - done);
      if (within == 0 && take == len) {
        TRESOR_RETURN_IF_ERROR(OpenSegment(index, len, dst + done));
      } else {
        if (cached_ != index) {
          cached_ = UINT64_MAX;
          TRESOR_RETURN_IF_ERROR(OpenSegment(index, len, cache_.get()));
          cached_ = index;
        }
        std::memcpy(dst + done, cache_.get() + within, take);
      }
      done += take;
    }
    return done;
  }

 private:
  size_t SegmentLength(uint64_t index) const {
    return index + 1 < segments_ ? seg_ : static_cast<size_t>(size_ - (segments_ - 1) * seg_);
  }
  Status OpenSegment(uint64_t index, size_t len, char* out) {
    uint64_t at = kSealedHeaderBytes + index * (uint64_t{seg_} + kTagBytes);
    TRESOR_RETURN_IF_ERROR(PreadAll(fd_, sealed_.get(), len + kTagBytes, at));
    return cipher_->Unseal(static_cast<uint32_t>(index), index + 1 == segments_, sealed_.get(),
                           len + kTagBytes, out);
  }

  int fd_;
  std::unique_ptr<BlobCipher> cipher_;
  const uint64_t size_;
  const uint32_t seg_;
  const uint64_t segments_;
  std::unique_ptr<char[]> sealed_;
  std::unique_ptr<char[]> cache_;
  uint64_t cached_ = UINT64_MAX;
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

// Empty, unnamed files (O_TMPFILE) in one directory, created ahead of demand by a thread
// this object owns, and named on request (see the header's comment). Thread-safe.
class UnnamedFiles {
 public:
  // Starts the thread that keeps `keep` files open and ready in `dir`.
  UnnamedFiles(std::string dir, size_t keep) : dir_(std::move(dir)), keep_(keep) {
    try {
      thread_ = std::thread([this] { Loop(); });
    } catch (const std::system_error& e) {
      TRESOR_LOG(kWarn) << "blob files are created one by one (no thread: " << e.what() << ")";
    }
  }
  // Stops and joins the thread and closes the files not taken (the kernel frees them).
  ~UnnamedFiles() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    for (int fd : ready_) close(fd);
  }
  UnnamedFiles(const UnnamedFiles&) = delete;
  UnnamedFiles& operator=(const UnnamedFiles&) = delete;

  // Links a ready file into this directory as `name` (which must not exist) and returns
  // its descriptor, open for writing; -1 if none is ready or it could not be named (the
  // caller then creates the file itself).
  int Take(const std::string& name) {
    int fd = -1;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (disabled_) return -1;
      if (ready_.empty()) {
        failing_ = false;  // the thread tries again; this file is made by the caller
      } else {
        fd = ready_.front();
        ready_.pop_front();
      }
    }
    cv_.notify_all();
    if (fd < 0) return -1;
    // Naming a file opened with O_TMPFILE by its /proc/self/fd link needs no privilege
    // (open(2)); AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH.
    const std::string link = "/proc/self/fd/" + std::to_string(fd);
    if (linkat(AT_FDCWD, link.c_str(), AT_FDCWD, (dir_ + "/" + name).c_str(),
               AT_SYMLINK_FOLLOW) != 0) {
      const int err = errno;
      close(fd);
      // No /proc, or a file system that refuses the link: for good. Anything else (a
      // full disk) fails this one file only.
      if (err == ENOENT || err == EPERM || err == EACCES || err == EXDEV || err == EOPNOTSUPP) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!disabled_) {
          disabled_ = true;
          TRESOR_LOG(kInfo) << "blob files are created one by one (naming a prepared file "
                            << "failed: " << std::strerror(err) << ")";
        }
        cv_.notify_all();
      }
      errno = err;
      return -1;
    }
    return fd;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] {
        return stop_ || disabled_ || (!failing_ && ready_.size() < keep_);
      });
      if (stop_ || disabled_) return;
      lock.unlock();
      int fd = open(dir_.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
      const int err = errno;
      lock.lock();
      if (fd >= 0) {
        ready_.push_back(fd);
      } else if (err == EOPNOTSUPP || err == EISDIR || err == EINVAL) {
        disabled_ = true;  // no O_TMPFILE here: for good
        TRESOR_LOG(kInfo) << "blob files are created one by one (no unnamed files here: "
                          << std::strerror(err) << ")";
      } else {
        failing_ = true;  // ENOSPC, EMFILE, ...: until the next Take finds none ready
      }
    }
  }

  const std::string dir_;
  const size_t keep_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<int> ready_;  // guarded by mu_
  bool stop_ = false;      // guarded by mu_
  bool failing_ = false;   // guarded by mu_: the last open failed
  bool disabled_ = false;  // guarded by mu_: unsupported here
  std::thread thread_;     // last: started once the rest exists
};

FileBlobStore::FileBlobStore(FileBlobStoreOptions options, std::string node)
    : options_(std::move(options)), node_(std::move(node)),
      buffers_(std::make_shared<core::BufferPool>(kWriteBufferBytes, kMaxPooledWriteBuffers)) {}

FileBlobStore::~FileBlobStore() {
  unnamed_.reset();  // joins its thread before the rest goes
  if (staging_fd_ >= 0) close(staging_fd_);
}

Result<std::unique_ptr<FileBlobStore>> FileBlobStore::Make(const FileBlobStoreOptions& options) {
  return MakeShared(options, "");
}

Result<std::unique_ptr<FileBlobStore>> FileBlobStore::MakeShared(const FileBlobStoreOptions& options,
                                                                 const std::string& node) {
  if (!node.empty() && !IsNodeName(node)) {
    return InvalidArgument("not a node name (1-64 of A-Z a-z 0-9 . _ -): '" + node + "'");
  }
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
  std::unique_ptr<FileBlobStore> store(new FileBlobStore(options, node));
  if (store->shared()) TRESOR_RETURN_IF_ERROR(MakeDir(store->StagingDir()));
  store->staging_fd_ = open(store->StagingDir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (store->staging_fd_ < 0) return IoError(Errno("open staging directory"));
  TRESOR_RETURN_IF_ERROR(store->CheckSealing());
  return store;
}

Status FileBlobStore::CheckSealing() {
  const std::string marker = options_.root + "/sealed";
  std::ifstream in(marker);
  if (!in) {
    if (!sealed()) return Status::Ok();  // plain storage (unit tests)
    bool any = false;
    Status listed = List([&](const std::string&, bool) {
      any = true;
      return Status(Code::kAlreadyExists, "stop");  // one is enough
    });
    if (!listed.ok() && listed.code() != Code::kAlreadyExists) return listed;
    if (any) {
      return Unsupported(
          "the storage in " + options_.root +
          " holds unencrypted objects written before encryption at rest; Tresor does not "
          "serve them. Move them into a new data directory: tresor init --data NEW, then "
          "tresor import --data NEW " + options_.root + "/blobs (see docs/encryption.md)");
    }
    return RecordSealingKey(options_.keys->current().id);
  }
  std::stringstream text;
  text << in.rdbuf();
  return CheckSealedMarker(text.str(), marker, options_.keys.get());  // no keys: refused
}

Status FileBlobStore::RecordSealingKey(const std::string& key_id) {
  const std::string marker = options_.root + "/sealed";
  const std::string tmp = marker + ".new";
  const std::string text = SealedMarkerText(key_id);
  unlink(tmp.c_str());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return IoError(Errno("create " + tmp));
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = (!options_.fsync || fsync(fd) == 0) && ok;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp.c_str(), marker.c_str()) != 0) {
    unlink(tmp.c_str());
    return IoError(Errno("write " + marker));
  }
  int dfd = open(options_.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return IoError(Errno("open " + options_.root));
  ok = !options_.fsync || fsync(dfd) == 0;
  close(dfd);
  return ok ? Status::Ok() : IoError(Errno("sync " + options_.root));
}

std::string FileBlobStore::StagingDir() const {
  return shared() ? options_.root + "/staging/" + node_ : options_.root + "/staging";
}

std::string FileBlobStore::StagingPath(const std::string& name) const {
  return StagingDir() + "/" + name;
}

int FileBlobStore::OpenAnywhere(const std::string& name, int flags) const {
  int fd = open(FinalPath(name).c_str(), flags | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) fd = open(StagingPath(name).c_str(), flags | O_CLOEXEC);
  if (fd >= 0 || errno != ENOENT || !shared()) return fd;
  // Committed by a node that has not published it (yet): its staging directory.
  for (const std::string& node : SubDirs(options_.root + "/staging")) {
    if (node == node_) continue;
    fd = open((options_.root + "/staging/" + node + "/" + name).c_str(), flags | O_CLOEXEC);
    if (fd >= 0 || errno != ENOENT) return fd;
  }
  // A node may have published it while we looked.
  return open(FinalPath(name).c_str(), flags | O_CLOEXEC);
}

std::string FileBlobStore::FinalPath(const std::string& name) const {
  return options_.root + "/blobs/" + name.substr(0, 2) + "/" + name;
}

// How many unnamed files are kept ready: more than the associations that usually store
// at once, few enough that they never matter to the inode count.
constexpr size_t kUnnamedFilesReady = 8;

int FileBlobStore::CreateStagingFile(const std::string& name) {
  std::call_once(unnamed_once_, [this] {
    unnamed_ = std::make_unique<UnnamedFiles>(StagingDir(), kUnnamedFilesReady);
  });
  int fd = unnamed_->Take(name);
  if (fd >= 0) return fd;
  return open(StagingPath(name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

Result<std::unique_ptr<BlobWriter>> FileBlobStore::Create() {
  std::string name = RandomHex(16);
  std::string path = StagingPath(name);
  int fd = CreateStagingFile(name);
  if (fd < 0) return IoError(Errno("create blob"));
  // The write-back hint is local-disk only: a network filesystem flushes on fsync().
  const bool write_back = options_.fsync && !shared();
  if (!sealed()) {
    return std::unique_ptr<BlobWriter>(new FileBlobWriter(name, path, fd, write_back));
  }
  std::string header;
  auto cipher = BlobCipher::Create(*options_.keys, BlobIdOfName(name), &header);
  if (!cipher.ok()) {
    close(fd);
    unlink(path.c_str());
    return cipher.status();
  }
  auto writer =
      std::make_unique<FileBlobWriter>(name, path, fd, write_back, std::move(cipher).value(), buffers_);
  TRESOR_RETURN_IF_ERROR(writer->WriteHeader(header));
  return std::unique_ptr<BlobWriter>(std::move(writer));
}

Status FileBlobStore::Persist(const std::vector<std::string>& staged) {
  if (!options_.fsync || staged.empty()) return Status::Ok();
  if (shared()) {
    // Each file, then the directory holding their entries.
    for (const std::string& name : staged) {
      if (!IsBlobName(name)) return InvalidArgument("not a blob name");
      TRESOR_RETURN_IF_ERROR(SyncPath(StagingPath(name), false));
    }
    if (fsync(staging_fd_) != 0) return IoError(Errno("fsync " + StagingDir()));
    return Status::Ok();
  }
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
  int fd = OpenAnywhere(name, O_RDONLY);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound("blob missing from storage");
    return IoError(Errno("open blob"));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    close(fd);
    return IoError(Errno("stat blob"));
  }
  if (!sealed()) {
    return std::unique_ptr<BlobReader>(new FileBlobReader(fd, static_cast<uint64_t>(st.st_size)));
  }
  auto reader = [&]() -> Result<std::unique_ptr<BlobReader>> {
    char header[kSealedHeaderBytes];
    TRESOR_RETURN_IF_ERROR(PreadAll(fd, header, sizeof header, 0));
    TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<BlobCipher> cipher,
                            BlobCipher::Open(*options_.keys, BlobIdOfName(name), header, sizeof header));
    TRESOR_ASSIGN_OR_RETURN(uint64_t plain, PlainSize(static_cast<uint64_t>(st.st_size),
                                                      cipher->segment_bytes()));
    return std::unique_ptr<BlobReader>(new SealedBlobReader(fd, std::move(cipher), plain));
  }();
  if (!reader.ok()) {
    close(fd);
    return Status(reader.status().code(), reader.status().message() + " (blob " + name + ")");
  }
  return reader;
}

Status FileBlobStore::List(const std::function<Status(const std::string&, bool staged)>& visit) {
  std::vector<std::string> dirs = {options_.root + "/staging"};
  size_t staged_dirs = 1;
  if (shared()) {
    // Every node's staging directory (blobs directly in staging/ are from before shared mode).
    for (const std::string& node : SubDirs(options_.root + "/staging")) {
      dirs.push_back(options_.root + "/staging/" + node);
    }
    staged_dirs = dirs.size();
  }
  static const char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 256; ++i) {
    dirs.push_back(options_.root + "/blobs/" + std::string{kHex[i >> 4], kHex[i & 15]});
  }
  for (const std::string& d : dirs) {
    DIR* dir = opendir(d.c_str());
    if (!dir) {
      if (errno == ENOENT) continue;
      return IoError(Errno("open " + d));
    }
    std::vector<std::string> names;
    while (dirent* e = readdir(dir)) {
      std::string n = e->d_name;
      if (IsBlobName(n)) names.push_back(n);
    }
    closedir(dir);
    std::sort(names.begin(), names.end());
    const bool staged = static_cast<size_t>(&d - dirs.data()) < staged_dirs;
    for (const std::string& n : names) TRESOR_RETURN_IF_ERROR(visit(n, staged));
  }
  return Status::Ok();
}

Result<bool> FileBlobStore::Rewrap(const std::string& name, RewrapStep step) {
  if (!sealed()) return InvalidArgument("the storage is not sealed");
  if (!IsBlobName(name)) return InvalidArgument("not a blob name");
  int fd = OpenAnywhere(name, O_RDWR);
  if (fd < 0) return IoError(Errno("open blob " + name));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  std::string header(kSealedHeaderBytes, '\0');
  TRESOR_RETURN_IF_ERROR(PreadAll(fd, header.data(), header.size(), 0));
  auto slot = RewrapHeader(*options_.keys, BlobIdOfName(name), step, &header);
  if (!slot.ok()) return Status(slot.status().code(), slot.status().message() + " (blob " + name + ")");
  if (*slot < 0) return false;
  size_t at = kKeySlotOffset + static_cast<size_t>(*slot) * kKeySlotBytes;
  // Only the slot not in use is written: a torn write cannot damage the other one.
  TRESOR_RETURN_IF_ERROR(PwriteAll(fd, header.data() + at, kKeySlotBytes, at));
  if (options_.fsync && fsync(fd) != 0) return IoError(Errno("sync blob " + name));
  return true;
}

Status FileBlobStore::Recover(
    const std::function<Result<bool>(const std::string&)>& is_referenced) {
  DIR* dir = opendir(StagingDir().c_str());
  if (!dir) return IoError(Errno("open staging directory"));
  std::vector<std::string> names;
  while (dirent* e = readdir(dir)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    // Directories are other nodes' staging areas (shared mode), never staged blobs.
    struct stat st {};
    if (stat((StagingDir() + "/" + n).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
    names.push_back(n);
  }
  closedir(dir);
  std::set<std::string> shards;  // directories that received a publication
  int published = 0, removed = 0, left = 0;
  for (const std::string& n : names) {
    bool keep = false;
    if (IsBlobName(n)) {
      TRESOR_ASSIGN_OR_RETURN(keep, is_referenced(n));
    }
    if (keep) {
      TRESOR_RETURN_IF_ERROR(Publish(n));
      shards.insert(n.substr(0, 2));
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
  if (!options_.fsync) return Status::Ok();
  if (shared()) {
    for (const std::string& shard : shards) {
      TRESOR_RETURN_IF_ERROR(SyncPath(options_.root + "/blobs/" + shard, true));
    }
    if (fsync(staging_fd_) != 0) return IoError(Errno("fsync " + StagingDir()));
    return Status::Ok();
  }
  if (syncfs(staging_fd_) != 0) return IoError(Errno("syncfs after recovery"));
  return Status::Ok();
}

}  // namespace tresor::store
