#include "store/s3_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <thread>

namespace tresor::store {

struct S3Client::Request {
  const char* method = "GET";  // GET, HEAD, PUT, POST, DELETE
  std::string key;             // empty: the bucket itself
  std::string query;           // canonical: sorted, URI-encoded, no leading '?'
  std::string range;           // "bytes=A-B" or empty
  const char* body = nullptr;  // PUT/POST payload
  size_t body_len = 0;
  // Receives a successful response's body; null: it is collected in Response::body.
  const std::function<Status(const char*, size_t)>* sink = nullptr;
  const std::function<void()>* restart = nullptr;
};

struct S3Client::Response {
  long status = 0;
  CURLcode curl = CURLE_OK;
  std::string curl_error;
  std::string body;  // the body of an error response, or of a success without a sink
  std::string etag;
  std::string content_range;
  std::string content_length;
  Status sink_status;
};

namespace {

constexpr size_t kMaxCollectedBody = 16 << 20;  // listings and error documents

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool ValidKey(const std::string& key) {
  if (key.empty() || key.size() > 1024 || key.front() == '/') return false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '/';
    if (!ok) return false;
  }
  // No empty, "." or ".." path segments (a server would normalise them away).
  const std::string path = "/" + key + "/";
  return path.find("//") == std::string::npos && path.find("/./") == std::string::npos &&
         path.find("/../") == std::string::npos;
}

// RFC 3986 unreserved characters stay; everything else is %XX (SigV4's UriEncode).
std::string UriEncode(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string XmlUnescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    static const std::pair<const char*, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    bool done = false;
    for (const auto& [entity, c] : kEntities) {
      size_t len = std::strlen(entity);
      if (s.compare(i, len, entity) == 0) {
        out += c;
        i += len - 1;
        done = true;
        break;
      }
    }
    if (!done) out += '&';
  }
  return out;
}

// The text of the first <tag>...</tag> at or after `*pos` (advanced past it); empty
// and *pos = npos when there is none.
std::string XmlTag(const std::string& xml, const std::string& tag, size_t* pos) {
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  size_t b = xml.find(open, *pos);
  if (b == std::string::npos) {
    *pos = std::string::npos;
    return "";
  }
  b += open.size();
  size_t e = xml.find(close, b);
  if (e == std::string::npos) {
    *pos = std::string::npos;
    return "";
  }
  *pos = e + close.size();
  return XmlUnescape(xml.substr(b, e - b));
}

std::string XmlTag(const std::string& xml, const std::string& tag) {
  size_t pos = 0;
  return XmlTag(xml, tag, &pos);
}

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "[::1]";
}

struct Transfer {
  S3Client::Request* request;
  S3Client::Response* response;
  CURL* handle;
  size_t sent = 0;
};

long StatusOf(CURL* h) {
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

size_t OnWrite(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  long status = StatusOf(t->handle);
  if (status >= 200 && status < 300 && t->request->sink) {
    Status s = (*t->request->sink)(data, len);
    if (!s.ok()) {
      t->response->sink_status = std::move(s);
      return 0;  // ends the transfer (CURLE_WRITE_ERROR)
    }
    return len;
  }
  if (t->response->body.size() + len > kMaxCollectedBody) return 0;
  t->response->body.append(data, len);
  return len;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  std::string line(data, len);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after 100 Continue)
    t->response->etag.clear();
    t->response->content_range.clear();
    t->response->content_length.clear();
    return len;
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return len;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  size_t v = line.find_first_not_of(' ', colon + 1);
  std::string value = v == std::string::npos ? "" : line.substr(v);
  if (name == "etag") t->response->etag = value;
  if (name == "content-range") t->response->content_range = value;
  if (name == "content-length") t->response->content_length = value;
  return len;
}

size_t OnRead(char* out, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t take = std::min(size * n, t->request->body_len - t->sent);
  if (take) std::memcpy(out, t->request->body + t->sent, take);
  t->sent += take;
  return take;
}

int OnSeek(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > t->request->body_len) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->sent = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

// Owns a curl_slist.
struct HeaderList {
  curl_slist* list = nullptr;
  ~HeaderList() { curl_slist_free_all(list); }
  bool Add(const std::string& h) {
    curl_slist* next = curl_slist_append(list, h.c_str());
    if (!next) return false;
    list = next;
    return true;
  }
};

}  // namespace

void S3Client::HandleDeleter::operator()(void* handle) const {
  curl_easy_cleanup(static_cast<CURL*>(handle));
}

S3Client::S3Client(S3Options options) : options_(std::move(options)) {
  std::string endpoint = options_.endpoint;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  base_url_ = endpoint + "/" + options_.bucket;
  sigv4_ = "aws:amz:" + options_.region + ":s3";
}

S3Client::~S3Client() = default;

Result<std::unique_ptr<S3Client>> S3Client::Make(S3Options options) {
  const std::string& e = options.endpoint;
  bool https = e.rfind("https://", 0) == 0;
  bool http = e.rfind("http://", 0) == 0;
  if (!https && !http) {
    return InvalidArgument("S3 endpoint must start with https:// (or http:// on loopback): " + e);
  }
  std::string rest = e.substr(https ? 8 : 7);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string::npos) {
    return InvalidArgument("S3 endpoint must be scheme://host[:port] with no path: " + e);
  }
  std::string host = rest;
  if (host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  if (http && !IsLoopbackHost(host) && !options.allow_http) {
    return InvalidArgument("S3 endpoint " + e +
                           " is plain http to another host: use https (or set "
                           "storage.s3_allow_http = true on a trusted network)");
  }
  const std::string& b = options.bucket;
  bool bucket_ok = b.size() >= 3 && b.size() <= 63;
  for (char c : b) {
    bucket_ok = bucket_ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-');
  }
  if (!bucket_ok) return InvalidArgument("not an S3 bucket name (3-63 of a-z 0-9 . -): '" + b + "'");
  if (options.access_key.empty() || options.secret_key.empty()) {
    return InvalidArgument("S3 access key and secret key must both be set");
  }
  if (options.region.empty() || options.region.find_first_of(":/ ") != std::string::npos) {
    return InvalidArgument("not an S3 region: '" + options.region + "'");
  }
  if (options.max_attempts < 1) options.max_attempts = 1;
  GlobalInit();
  return std::unique_ptr<S3Client>(new S3Client(std::move(options)));
}

S3Client::Handle S3Client::AcquireHandle() {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!pool_.empty()) {
      Handle h = std::move(pool_.back());
      pool_.pop_back();
      curl_easy_reset(static_cast<CURL*>(h.get()));
      return h;
    }
  }
  return Handle(curl_easy_init());
}

void S3Client::ReleaseHandle(Handle handle) {
  if (!handle) return;
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (pool_.size() < 16) pool_.push_back(std::move(handle));
}

bool S3Client::Retryable(int curl_code, long http_status) {
  switch (curl_code) {
    case CURLE_OK:
      return http_status == 500 || http_status == 502 || http_status == 503 ||
             http_status == 504 || http_status == 429;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return true;
    default:
      return false;
  }
}

std::chrono::milliseconds S3Client::Backoff(int attempt) const {
  auto wait = options_.first_backoff;
  for (int i = 1; i < attempt && wait < options_.max_backoff; ++i) wait *= 2;
  return std::min(wait, options_.max_backoff);
}

Result<S3Client::Response> S3Client::Attempt(Request& r, void* raw) {
  CURL* h = static_cast<CURL*>(raw);
  Response response;
  Transfer t{&r, &response, h};
  std::string url = base_url_;
  if (!r.key.empty()) url += "/" + r.key;
  if (!r.query.empty()) url += "?" + r.query;
  HeaderList headers;
  // The payload is not hashed into the signature: blobs are sealed (authenticated) before
  // they leave, and https protects the transfer. Content-Type is always sent so that the
  // header curl signs is the header the server receives.
  bool ok = headers.Add("x-amz-content-sha256: UNSIGNED-PAYLOAD") &&
            headers.Add("Content-Type: application/octet-stream") && headers.Add("Expect:");
  if (!r.range.empty()) ok = ok && headers.Add("Range: " + r.range);
  if (!ok) return Internal("out of memory building an S3 request");
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.list);
  curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4_.c_str());
  curl_easy_setopt(h, CURLOPT_USERNAME, options_.access_key.c_str());
  curl_easy_setopt(h, CURLOPT_PASSWORD, options_.secret_key.c_str());
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count() * 1000));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.stall_timeout.count()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnWrite);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  const std::string method = r.method;
  if (method == "PUT") {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(h, CURLOPT_READDATA, &t);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, OnSeek);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, &t);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(r.body_len));
  } else if (method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, r.body ? r.body : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body_len));
  } else if (method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (method == "DELETE") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  }
  response.curl = curl_easy_perform(h);
  response.status = StatusOf(h);
  if (response.curl != CURLE_OK) {
    response.curl_error = error[0] ? error : curl_easy_strerror(response.curl);
  }
  // Options point into this frame: clear them before the handle goes back to the pool.
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  return response;
}

Result<S3Client::Response> S3Client::Perform(Request& r) {
  const std::string what = std::string("S3 ") + r.method + " " +
                           (r.key.empty() ? "bucket " + options_.bucket : r.key);
  for (int attempt = 1;; ++attempt) {
    Handle handle = AcquireHandle();
    if (!handle) return Internal("curl_easy_init failed");
    TRESOR_ASSIGN_OR_RETURN(Response resp, Attempt(r, handle.get()));
    ReleaseHandle(std::move(handle));
    if (!resp.sink_status.ok()) return resp.sink_status;
    const bool success = resp.curl == CURLE_OK && resp.status >= 200 && resp.status < 300 &&
                         resp.body.find("<Error>") == std::string::npos;
    if (success) return resp;
    if (Retryable(resp.curl, resp.status) && attempt < options_.max_attempts) {
      auto wait = Backoff(attempt);
      if (options_.sleep) {
        options_.sleep(wait);
      } else {
        std::this_thread::sleep_for(wait);
      }
      if (r.restart && *r.restart) (*r.restart)();
      continue;
    }
    if (resp.curl != CURLE_OK) {
      std::string why = what + ": " + resp.curl_error + " (server " + options_.endpoint + ")";
      if (Retryable(resp.curl, 0)) {
        return Unavailable(why + "; gave up after " + std::to_string(attempt) + " attempt(s)");
      }
      return IoError(why);
    }
    std::string code = XmlTag(resp.body, "Code");
    std::string message = XmlTag(resp.body, "Message");
    std::string why = what + ": HTTP " + std::to_string(resp.status) +
                      (code.empty() ? "" : " " + code) + (message.empty() ? "" : ": " + message);
    if (resp.status == 404) return NotFound(why);
    if (resp.status == 401 || resp.status == 403) return PermissionDenied(why);
    if (Retryable(CURLE_OK, resp.status)) {
      return Unavailable(why + "; gave up after " + std::to_string(attempt) + " attempt(s)");
    }
    return IoError(why);
  }
}

Status S3Client::Put(const std::string& key, const char* data, size_t n) {
  if (!ValidKey(key)) return InvalidArgument("not a valid object key: " + key);
  Request r;
  r.method = "PUT";
  r.key = key;
  r.body = data;
  r.body_len = n;
  return Perform(r).status();
}

Result<uint64_t> S3Client::Head(const std::string& key) {
  if (!ValidKey(key)) return InvalidArgument("not a valid object key: " + key);
  Request r;
  r.method = "HEAD";
  r.key = key;
  TRESOR_ASSIGN_OR_RETURN(Response resp, Perform(r));
  char* end = nullptr;
  unsigned long long size = std::strtoull(resp.content_length.c_str(), &end, 10);
  if (resp.content_length.empty() || *end != '\0') {
    return IoError("S3 HEAD " + key + ": no Content-Length in the answer");
  }
  return uint64_t{size};
}

Status S3Client::Get(const std::string& key, uint64_t offset, uint64_t length,
                     const std::function<Status(const char*, size_t)>& sink,
                     const std::function<void()>& restart, uint64_t* object_size) {
  if (!ValidKey(key)) return InvalidArgument("not a valid object key: " + key);
  Request r;
  r.method = "GET";
  r.key = key;
  r.range = "bytes=" + std::to_string(offset) + "-" +
            (length ? std::to_string(offset + length - 1) : std::string());
  r.sink = &sink;
  r.restart = &restart;
  TRESOR_ASSIGN_OR_RETURN(Response resp, Perform(r));
  if (object_size) {
    // "bytes A-B/TOTAL"; a 200 (the server ignored the range) has none.
    size_t slash = resp.content_range.rfind('/');
    if (slash == std::string::npos) {
      return IoError("S3 GET " + key + ": the server did not answer the range request");
    }
    std::string total = resp.content_range.substr(slash + 1);
    char* end = nullptr;
    unsigned long long v = std::strtoull(total.c_str(), &end, 10);
    if (total.empty() || *end != '\0') {
      return IoError("S3 GET " + key + ": unreadable Content-Range '" + resp.content_range + "'");
    }
    *object_size = v;
  }
  return Status::Ok();
}

Status S3Client::Delete(const std::string& key) {
  if (!ValidKey(key)) return InvalidArgument("not a valid object key: " + key);
  Request r;
  r.method = "DELETE";
  r.key = key;
  Result<Response> resp = Perform(r);
  if (!resp.ok() && resp.status().code() == Code::kNotFound) return Status::Ok();
  return resp.status();
}

Status S3Client::List(const std::string& prefix,
                      const std::function<Status(const S3ObjectInfo&)>& visit) {
  std::string token;
  while (true) {
    Request r;
    r.method = "GET";
    // Canonical order: parameter names sorted.
    r.query = (token.empty() ? "" : "continuation-token=" + UriEncode(token) + "&") +
              "list-type=2&prefix=" + UriEncode(prefix);
    TRESOR_ASSIGN_OR_RETURN(Response resp, Perform(r));
    size_t pos = 0;
    while (true) {
      std::string item = XmlTag(resp.body, "Contents", &pos);
      if (pos == std::string::npos) break;
      S3ObjectInfo info;
      info.key = XmlTag(item, "Key");
      info.size = std::strtoull(XmlTag(item, "Size").c_str(), nullptr, 10);
      TRESOR_RETURN_IF_ERROR(visit(info));
    }
    if (XmlTag(resp.body, "IsTruncated") != "true") return Status::Ok();
    token = XmlTag(resp.body, "NextContinuationToken");
    if (token.empty()) return IoError("S3 list " + prefix + ": truncated listing without a token");
  }
}

Result<std::string> S3Client::StartMultipart(const std::string& key) {
  if (!ValidKey(key)) return InvalidArgument("not a valid object key: " + key);
  Request r;
  r.method = "POST";
  r.key = key;
  r.query = "uploads=";
  TRESOR_ASSIGN_OR_RETURN(Response resp, Perform(r));
  std::string id = XmlTag(resp.body, "UploadId");
  if (id.empty()) return IoError("S3 start multipart upload of " + key + ": no UploadId");
  return id;
}

Result<std::string> S3Client::UploadPart(const std::string& key, const std::string& upload_id,
                                         int part, const char* data, size_t n) {
  if (!ValidKey(key)) return InvalidArgument("not a valid object key: " + key);
  Request r;
  r.method = "PUT";
  r.key = key;
  r.query = "partNumber=" + std::to_string(part) + "&uploadId=" + UriEncode(upload_id);
  r.body = data;
  r.body_len = n;
  TRESOR_ASSIGN_OR_RETURN(Response resp, Perform(r));
  if (resp.etag.empty()) return IoError("S3 upload part of " + key + ": no ETag");
  return resp.etag;
}

Status S3Client::CompleteMultipart(const std::string& key, const std::string& upload_id,
                                   const std::vector<std::string>& etags) {
  if (!ValidKey(key)) return InvalidArgument("not a valid object key: " + key);
  std::string xml = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < etags.size(); ++i) {
    std::string etag;
    for (char c : etags[i]) {
      if (c == '"') etag += "&quot;";
      else if (c == '&') etag += "&amp;";
      else if (c == '<') etag += "&lt;";
      else etag += c;
    }
    xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + etag +
           "</ETag></Part>";
  }
  xml += "</CompleteMultipartUpload>";
  Request r;
  r.method = "POST";
  r.key = key;
  r.query = "uploadId=" + UriEncode(upload_id);
  r.body = xml.data();
  r.body_len = xml.size();
  return Perform(r).status();
}

Status S3Client::AbortMultipart(const std::string& key, const std::string& upload_id) {
  if (!ValidKey(key)) return InvalidArgument("not a valid object key: " + key);
  Request r;
  r.method = "DELETE";
  r.key = key;
  r.query = "uploadId=" + UriEncode(upload_id);
  return Perform(r).status();
}

}  // namespace tresor::store
