// S3Client: the few S3 operations the blob store needs, over libcurl with SigV4 request
// signing (CURLOPT_AWS_SIGV4), path-style addressing (ENDPOINT/BUCKET/KEY).
//
// Contracts:
//   - Streaming: uploads send the caller's buffer (a whole object up to one part, or one
//     part of a multipart upload); downloads hand each received chunk to a sink. Nothing
//     buffers a whole object.
//   - Retries: a request that fails with a connection error, a timeout, HTTP 500/502/503/504
//     or 429 is sent again up to `max_attempts` times in all, after waiting first_backoff,
//     then twice that, ... capped at max_backoff. The wait goes through `sleep`, so tests
//     do not wait on real time. Other HTTP errors are not retried.
//   - Errors: kNotFound (404), kPermissionDenied (401/403), kUnavailable (the server could
//     not be reached or kept failing after every attempt), kIoError (any other failure).
//     Messages name the operation, the key and the server's error code; they never carry
//     the credentials.
//   - TLS: an https endpoint's certificate and host name are always verified (against
//     `ca_file` when given, else the system store). A plain http endpoint is refused unless
//     it is on the loopback interface or `allow_http` is set.
//   - Keys: only [A-Za-z0-9._/-] (no encoding needed, identical in the URL and the
//     signature); others are refused with kInvalidArgument.
// Thread-safe: every call may run concurrently (connections are pooled and reused).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"

namespace tresor::store {

struct S3Options {
  std::string endpoint;  // "https://host[:port]" (or http://, see allow_http)
  std::string bucket;
  std::string region = "us-east-1";
  std::string access_key;
  std::string secret_key;
  std::string ca_file;      // https: CA certificates to verify the server with; empty: system
  bool allow_http = false;  // plain http to a host that is not loopback
  std::chrono::seconds connect_timeout{10};
  // A transfer that moves no byte for this long fails (and is retried).
  std::chrono::seconds stall_timeout{60};
  int max_attempts = 5;
  std::chrono::milliseconds first_backoff{200};
  std::chrono::milliseconds max_backoff{10000};
  // How a retry waits; null: the calling thread sleeps.
  std::function<void(std::chrono::milliseconds)> sleep;
};

struct S3ObjectInfo {
  std::string key;
  uint64_t size = 0;
};

class S3Client {
 public:
  // Checks the options (endpoint scheme, bucket, credentials); does not contact the server.
  static Result<std::unique_ptr<S3Client>> Make(S3Options options);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // Stores `n` bytes as `key` (one request; S3 allows up to 5 GiB).
  Status Put(const std::string& key, const char* data, size_t n);
  // The object's size; kNotFound if there is none.
  Result<uint64_t> Head(const std::string& key);
  // Streams bytes [offset, offset + length) of `key` into `sink` (length 0: to the end).
  // Before a retried attempt `restart` is called: the sink then receives the range again
  // from `offset`. An error from `sink` ends the transfer and is returned as is. Sets
  // `*object_size` (if given) from the server's Content-Range.
  Status Get(const std::string& key, uint64_t offset, uint64_t length,
             const std::function<Status(const char*, size_t)>& sink,
             const std::function<void()>& restart, uint64_t* object_size = nullptr);
  // Deletes `key`; Ok if it is not there.
  Status Delete(const std::string& key);
  // Calls `visit` for every object whose key starts with `prefix`, in key order (pages of
  // up to 1,000 keys); stops at the first error `visit` returns.
  Status List(const std::string& prefix, const std::function<Status(const S3ObjectInfo&)>& visit);

  // Multipart upload: Start, then parts 1, 2, ... (each but the last >= 5 MiB), then
  // Complete with the parts' ETags in order. Abort discards the parts (best effort: not
  // every S3-compatible server implements it; see docs/storage.md).
  Result<std::string> StartMultipart(const std::string& key);
  Result<std::string> UploadPart(const std::string& key, const std::string& upload_id, int part,
                                 const char* data, size_t n);
  Status CompleteMultipart(const std::string& key, const std::string& upload_id,
                           const std::vector<std::string>& etags);
  Status AbortMultipart(const std::string& key, const std::string& upload_id);

  const S3Options& options() const { return options_; }

  // Exposed for tests: whether an attempt that ended with this libcurl code (0: none) and
  // HTTP status (0: no response) is retried.
  static bool Retryable(int curl_code, long http_status);
  // The wait before attempt `attempt` + 1 (attempt >= 1).
  std::chrono::milliseconds Backoff(int attempt) const;

  struct Request;
  struct Response;

 private:
  explicit S3Client(S3Options options);
  Result<Response> Perform(Request& request);
  // Owns one CURL easy handle (curl_easy_cleanup on destruction).
  struct HandleDeleter {
    void operator()(void* handle) const;
  };
  using Handle = std::unique_ptr<void, HandleDeleter>;
  Result<Response> Attempt(Request& request, void* handle);
  Handle AcquireHandle();
  void ReleaseHandle(Handle handle);

  const S3Options options_;
  std::string base_url_;  // endpoint + "/" + bucket
  std::string sigv4_;     // "aws:amz:REGION:s3"
  std::mutex pool_mu_;
  std::vector<Handle> pool_;  // idle handles, keeping their connections open
};

}  // namespace tresor::store
