// NoCryptoContext: an OpenSSL library context holding only the "null" provider, so every
// algorithm fetched from it (MACs, key generation, signing, random) fails, as with a
// broken or missing provider installation. For tests that inject crypto failures through
// the `libctx` parameters of security/.
#pragma once

#include <openssl/provider.h>

#include "core/openssl_handles.h"

namespace tresor::security::testing {

class NoCryptoContext {
 public:
  NoCryptoContext() : ctx_(OSSL_LIB_CTX_new()) {
    if (ctx_) null_ = OSSL_PROVIDER_load(ctx_.get(), "null");
  }
  ~NoCryptoContext() {
    if (null_) OSSL_PROVIDER_unload(null_);
  }
  NoCryptoContext(const NoCryptoContext&) = delete;
  NoCryptoContext& operator=(const NoCryptoContext&) = delete;

  // nullptr if the context could not be set up (the test must then fail, not pass).
  OSSL_LIB_CTX* get() const { return null_ ? ctx_.get() : nullptr; }

 private:
  ossl::LibCtxPtr ctx_;
  OSSL_PROVIDER* null_ = nullptr;
};

}  // namespace tresor::security::testing
