// Static files over HTTPS: the console (embedded in the binary or from a directory) and
// the OHIF viewer (from the folder scripts/install-viewer fills).
//
// Path safety. A request path's rest below the site's prefix is percent-decoded once and
// split on '/'; it is refused (404, never served) when it holds NUL or other control
// characters, a backslash, a broken %-escape, an empty segment ("a//b"), or a "." or ".."
// segment, before or after decoding. Files are then opened below the site's root one
// component at a time without following symbolic links (a symlink anywhere below the
// root is not served), and only regular files are served: a directory is never listed.
//
// Fallback. A path whose last segment has no extension ("/viewer/viewer", "/users")
// answers the site's index.html (single-page applications route in the browser); a
// missing file with an extension is a 404.
//
// Thread-safety: a StaticSite is immutable after construction; Serve is safe from any
// thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "web/http_message.h"

namespace tresor::web {

// The relative file path ("assets/a.png", "" for the site root) for the raw rest of a
// request path, or kInvalidArgument (see above).
Result<std::string> ResolveSitePath(std::string_view raw_rest);

// True if the last segment of `path` has an extension ("a.js"; not "viewer", ".hidden").
bool HasExtension(std::string_view path);

// The Content-Type for a file name by its extension (text types with charset=utf-8);
// application/octet-stream for unknown ones.
std::string MimeTypeFor(std::string_view path);

// One file of a site, ready to send.
struct SiteFile {
  uint64_t size = 0;
  std::string etag;                    // a strong or weak validator, quoted
  std::string bytes;                   // the content, when `stream` is null
  std::shared_ptr<BodySource> stream;  // the content, streamed from disk
};

// A read-only tree of files. Open returns kNotFound for anything that is not a regular
// file of the tree, kIoError when reading fails.
class SiteFiles {
 public:
  virtual ~SiteFiles() = default;
  virtual Result<SiteFile> Open(const std::string& relative_path) const = 0;
};

// Files compiled into the binary (path -> bytes); the bytes must outlive the object.
class EmbeddedFiles : public SiteFiles {
 public:
  explicit EmbeddedFiles(std::map<std::string, std::string_view> files);
  Result<SiteFile> Open(const std::string& relative_path) const override;

 private:
  std::map<std::string, std::string_view> files_;
  std::map<std::string, std::string> etags_;
};

// Files below a directory, streamed (64 KiB reads). ETag from size and modification time.
class DirectoryFiles : public SiteFiles {
 public:
  explicit DirectoryFiles(std::string root);
  Result<SiteFile> Open(const std::string& relative_path) const override;

 private:
  std::string root_;
};

struct StaticSiteOptions {
  std::string index = "index.html";  // the root document and the fallback
  HeaderList headers;                // added to every answer of the site (CSP, COOP, ...)
  // The Cache-Control of a served file by its relative path; unset: "no-cache" (the
  // browser revalidates with If-None-Match and gets 304 when unchanged).
  std::function<std::string(std::string_view relative_path)> cache_control;
};

class StaticSite {
 public:
  StaticSite(std::shared_ptr<const SiteFiles> files, StaticSiteOptions options);

  // Answers a GET for `raw_rest` (the path below the site prefix, not decoded): the file,
  // the fallback, 304 when If-None-Match names the current ETag, or a JSON 404. Errors get
  // the site's headers too (its CSP).
  HttpResponse Serve(const HttpRequest& request, std::string_view raw_rest) const;
  // A JSON error with the site's headers.
  HttpResponse Error(int status, std::string_view message) const;

 private:
  std::shared_ptr<const SiteFiles> files_;
  StaticSiteOptions options_;
};

}  // namespace tresor::web
