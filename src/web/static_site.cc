#include "web/static_site.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/log.h"
#include "core/sha256.h"

namespace tresor::web {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsDotSegment(std::string_view s) { return s == "." || s == ".."; }

// An owned file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_;
};

class FileSource : public BodySource {
 public:
  explicit FileSource(Fd fd) : fd_(std::move(fd)) {}
  Result<size_t> Read(char* out, size_t n) override {
    while (true) {
      ssize_t got = ::read(fd_.get(), out, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno == EINTR) continue;
      return IoError(std::string("reading a site file: ") + std::strerror(errno));
    }
  }

 private:
  Fd fd_;
};

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

// True if the If-None-Match header lists `etag` (or is "*").
bool Matches(const HttpRequest& request, const std::string& etag) {
  std::string_view inm = request.Header("If-None-Match");
  if (inm.empty()) return false;
  if (inm == "*") return true;
  std::string_view weak_free = etag;
  if (weak_free.substr(0, 2) == "W/") weak_free.remove_prefix(2);
  size_t i = 0;
  while (i < inm.size()) {
    size_t end = inm.find(',', i);
    if (end == std::string_view::npos) end = inm.size();
    std::string_view tag = inm.substr(i, end - i);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);  // weak comparison (RFC 9110)
    if (tag == weak_free) return true;
    i = end + 1;
  }
  return false;
}

}  // namespace

Result<std::string> ResolveSitePath(std::string_view raw) {
  std::string decoded;
  std::vector<std::string_view> raw_segments;
  // Raw dot segments are refused too (a client or proxy may have normalized them away).
  size_t start = 0;
  while (start <= raw.size()) {
    size_t slash = raw.find('/', start);
    if (slash == std::string_view::npos) slash = raw.size();
    if (IsDotSegment(raw.substr(start, slash - start))) {
      return InvalidArgument("dot segment in path");
    }
    start = slash + 1;
  }
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '%') {
      if (i + 2 >= raw.size()) return InvalidArgument("broken percent escape");
      int hi = HexValue(raw[i + 1]);
      int lo = HexValue(raw[i + 2]);
      if (hi < 0 || lo < 0) return InvalidArgument("broken percent escape");
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '\\') return InvalidArgument("control character in path");
    decoded.push_back(c);
  }
  if (decoded.empty()) return decoded;
  size_t pos = 0;
  while (pos <= decoded.size()) {
    size_t slash = decoded.find('/', pos);
    if (slash == std::string::npos) slash = decoded.size();
    std::string_view segment(decoded.data() + pos, slash - pos);
    bool last = slash == decoded.size();
    if (segment.empty() && !last) return InvalidArgument("empty segment in path");
    if (IsDotSegment(segment)) return InvalidArgument("dot segment in path");
    pos = slash + 1;
  }
  return decoded;
}

bool HasExtension(std::string_view path) {
  size_t slash = path.rfind('/');
  std::string_view last = slash == std::string_view::npos ? path : path.substr(slash + 1);
  size_t dot = last.rfind('.');
  return dot != std::string_view::npos && dot > 0 && dot + 1 < last.size();
}

std::string MimeTypeFor(std::string_view path) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {"html", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"json", "application/json"},
      {"map", "application/json"},
      {"txt", "text/plain; charset=utf-8"},
      {"xml", "application/xml"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"ico", "image/x-icon"},
      {"wasm", "application/wasm"},
      {"woff", "font/woff"},
      {"woff2", "font/woff2"},
      {"ttf", "font/ttf"},
  };
  if (!HasExtension(path)) return "application/octet-stream";
  std::string ext(path.substr(path.rfind('.') + 1));
  for (char& c : ext) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  for (const auto& [e, type] : kTypes) {
    if (ext == e) return type;
  }
  return "application/octet-stream";
}

EmbeddedFiles::EmbeddedFiles(std::map<std::string, std::string_view> files)
    : files_(std::move(files)) {
  for (const auto& [path, bytes] : files_) {
    Sha256 hash;
    hash.Update(bytes.data(), bytes.size());
    etags_[path] = Quote(hash.FinishHex().substr(0, 32));
  }
}

Result<SiteFile> EmbeddedFiles::Open(const std::string& relative_path) const {
  auto it = files_.find(relative_path);
  if (it == files_.end()) return NotFound("no such file");
  SiteFile f;
  f.size = it->second.size();
  f.bytes = std::string(it->second);
  f.etag = etags_.at(relative_path);
  return f;
}

DirectoryFiles::DirectoryFiles(std::string root) : root_(std::move(root)) {}

Result<SiteFile> DirectoryFiles::Open(const std::string& relative_path) const {
  Fd dir(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.ok()) return NotFound("site directory missing");
  std::string_view rest = relative_path;
  if (rest.empty()) return NotFound("a directory");
  while (true) {
    size_t slash = rest.find('/');
    std::string name(rest.substr(0, slash));
    bool last = slash == std::string_view::npos;
    if (name.empty()) return NotFound("a directory");  // trailing slash: no listing
    int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (last ? O_NONBLOCK : O_DIRECTORY);
    Fd next(::openat(dir.get(), name.c_str(), flags));
    if (!next.ok()) {
      if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR || errno == EACCES) {
        return NotFound("no such file");
      }
      return IoError(std::string("opening a site file: ") + std::strerror(errno));
    }
    if (last) {
      struct stat st {};
      if (::fstat(next.get(), &st) != 0) return IoError("stat of a site file failed");
      if (!S_ISREG(st.st_mode)) return NotFound("not a regular file");
      int fl = ::fcntl(next.get(), F_GETFL);
      if (fl >= 0) ::fcntl(next.get(), F_SETFL, fl & ~O_NONBLOCK);
      SiteFile f;
      f.size = static_cast<uint64_t>(st.st_size);
      f.etag = "W/" + Quote(std::to_string(st.st_size) + "-" + std::to_string(st.st_mtim.tv_sec) +
                            "." + std::to_string(st.st_mtim.tv_nsec));
      f.stream = std::make_shared<FileSource>(std::move(next));
      return f;
    }
    dir = std::move(next);
    rest.remove_prefix(slash + 1);
  }
}

StaticSite::StaticSite(std::shared_ptr<const SiteFiles> files, StaticSiteOptions options)
    : files_(std::move(files)), options_(std::move(options)) {}

HttpResponse StaticSite::Error(int status, std::string_view message) const {
  HttpResponse r = HttpResponse::Error(status, message);
  for (const auto& h : options_.headers) r.headers.push_back(h);
  return r;
}

HttpResponse StaticSite::Serve(const HttpRequest& request, std::string_view raw_rest) const {
  auto path = ResolveSitePath(raw_rest);
  if (!path.ok()) return Error(404, "not found");
  std::string relative = *path;
  if (relative.empty() || relative.back() == '/') relative += options_.index;
  auto file = files_->Open(relative);
  if (!file.ok() && file.status().code() == Code::kNotFound && !HasExtension(relative)) {
    relative = options_.index;  // a route of the single-page application
    file = files_->Open(relative);
  }
  if (!file.ok()) {
    if (file.status().code() == Code::kNotFound) return Error(404, "not found");
    TRESOR_LOG(kError) << "static file: " << file.status().ToString();
    return Error(500, "internal error");
  }
  HttpResponse r;
  for (const auto& h : options_.headers) r.headers.push_back(h);
  r.headers.emplace_back("Cache-Control", options_.cache_control
                                              ? options_.cache_control(relative)
                                              : std::string("no-cache"));
  r.headers.emplace_back("ETag", file->etag);
  if (Matches(request, file->etag)) {
    r.status = 304;
    return r;
  }
  r.status = 200;
  r.content_type = MimeTypeFor(relative);
  if (file->stream) {
    r.stream = std::move(file->stream);
    r.stream_length = file->size;
  } else {
    r.body = std::move(file->bytes);
  }
  return r;
}

}  // namespace tresor::web
