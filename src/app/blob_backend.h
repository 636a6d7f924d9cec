// The blob store a data directory's configuration selects ([storage] backend, see
// docs/storage.md): "local" (DIR/storage), "shared" (a directory several nodes share,
// staging per node) or "s3" (an S3-compatible bucket). Whichever it is, blobs are sealed
// with `keys` (null only in the plaintext benchmark build, and then only "local" opens).
#pragma once

#include <memory>
#include <string>

#include "core/config.h"
#include "store/blob_store.h"
#include "store/s3_blob_store.h"
#include "store/sealed_blob.h"

namespace tresor::app {

// Opens the configured blob store of data directory `dir` as node `node` (the [cluster]
// node name; required by "shared" and "s3", which stage per node). Errors say which
// setting is wrong; an unreachable S3 server is kUnavailable naming the endpoint.
Result<std::unique_ptr<store::BlobStore>> OpenBlobBackend(const Config& config,
                                                          const std::string& dir,
                                                          std::shared_ptr<const store::KeyRing> keys,
                                                          const std::string& node);

// The S3 settings of `config` (credentials read from storage.s3_credentials_file, which
// must be readable by its owner only, or from $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY).
// For tools and tests that talk to the same bucket.
Result<store::S3BlobStoreOptions> S3BackendOptions(const Config& config, const std::string& dir,
                                                   std::shared_ptr<const store::KeyRing> keys,
                                                   const std::string& node);

}  // namespace tresor::app
