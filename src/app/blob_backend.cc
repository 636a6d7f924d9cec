#include "app/blob_backend.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "store/file_blob_store.h"

namespace tresor::app {
namespace {

std::string InDir(const std::string& dir, const std::string& path) {
  return path.empty() || path.front() == '/' ? path : dir + "/" + path;
}

// "ACCESS\nSECRET\n" from a file only its owner may read.
Status ReadCredentials(const std::string& path, std::string* access, std::string* secret) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return NotFound("storage.s3_credentials_file " + path + " does not exist");
  }
  if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
    return PermissionDenied("storage.s3_credentials_file " + path +
                            " must be a regular file readable by its owner only (chmod 600)");
  }
  std::ifstream in(path);
  if (!in) return IoError("cannot read storage.s3_credentials_file " + path);
  std::getline(in, *access);
  std::getline(in, *secret);
  auto trim = [](std::string* s) {
    while (!s->empty() && (s->back() == '\r' || s->back() == ' ')) s->pop_back();
  };
  trim(access);
  trim(secret);
  if (access->empty() || secret->empty()) {
    return InvalidArgument("storage.s3_credentials_file " + path +
                           " must hold two lines: the access key id, then the secret key");
  }
  return Status::Ok();
}

}  // namespace

Result<store::S3BlobStoreOptions> S3BackendOptions(const Config& config, const std::string& dir,
                                                   std::shared_ptr<const store::KeyRing> keys,
                                                   const std::string& node) {
  if (config.s3_endpoint.empty() || config.s3_bucket.empty()) {
    return InvalidArgument("storage.backend = \"s3\" needs storage.s3_endpoint and storage.s3_bucket");
  }
  store::S3BlobStoreOptions o;
  o.s3.endpoint = config.s3_endpoint;
  o.s3.bucket = config.s3_bucket;
  o.s3.region = config.s3_region;
  o.s3.ca_file = InDir(dir, config.s3_ca_file);
  o.s3.allow_http = config.s3_allow_http;
  o.s3.max_attempts = config.s3_max_attempts;
  if (!config.s3_credentials_file.empty()) {
    TRESOR_RETURN_IF_ERROR(ReadCredentials(InDir(dir, config.s3_credentials_file),
                                           &o.s3.access_key, &o.s3.secret_key));
  } else {
    const char* a = std::getenv("AWS_ACCESS_KEY_ID");
    const char* s = std::getenv("AWS_SECRET_ACCESS_KEY");
    if (!a || !*a || !s || !*s) {
      return InvalidArgument(
          "storage.backend = \"s3\" needs credentials: storage.s3_credentials_file, or "
          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment");
    }
    o.s3.access_key = a;
    o.s3.secret_key = s;
  }
  o.prefix = config.s3_prefix;
  o.node = node;
  o.keys = std::move(keys);
  o.part_bytes = static_cast<size_t>(config.s3_part_mib) << 20;
  return o;
}

Result<std::unique_ptr<store::BlobStore>> OpenBlobBackend(const Config& config,
                                                          const std::string& dir,
                                                          std::shared_ptr<const store::KeyRing> keys,
                                                          const std::string& node) {
  if (config.storage_backend == "local") {
    TRESOR_ASSIGN_OR_RETURN(auto store,
                            store::FileBlobStore::Make({dir + "/storage", config.fsync, keys}));
    return std::unique_ptr<store::BlobStore>(std::move(store));
  }
  if (!keys) {
    return Unsupported("storage.backend = \"" + config.storage_backend +
                       "\" is always encrypted: this build has no master key");
  }
  if (node.empty()) {
    return InvalidArgument("storage.backend = \"" + config.storage_backend +
                           "\" needs a node name ([cluster] node)");
  }
  if (config.storage_backend == "shared") {
    if (config.storage_path.empty()) {
      return InvalidArgument("storage.backend = \"shared\" needs storage.path (the shared directory)");
    }
    TRESOR_ASSIGN_OR_RETURN(auto store,
                            store::FileBlobStore::MakeShared(
                                {InDir(dir, config.storage_path), config.fsync, keys}, node));
    return std::unique_ptr<store::BlobStore>(std::move(store));
  }
  if (config.storage_backend == "s3") {
    TRESOR_ASSIGN_OR_RETURN(store::S3BlobStoreOptions o, S3BackendOptions(config, dir, keys, node));
    TRESOR_ASSIGN_OR_RETURN(auto store, store::S3BlobStore::Make(std::move(o)));
    return std::unique_ptr<store::BlobStore>(std::move(store));
  }
  return InvalidArgument("storage.backend must be \"local\", \"shared\" or \"s3\", not \"" +
                         config.storage_backend + "\"");
}

}  // namespace tresor::app
