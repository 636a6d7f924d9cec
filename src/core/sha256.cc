#include "core/sha256.h"

#include "core/hex.h"
#include "core/openssl_handles.h"

#include <cstdlib>

namespace tresor {

struct Sha256::Ctx {
  ossl::MdCtxPtr md{EVP_MD_CTX_new()};
};

// A digest that cannot be computed (no memory, no provider) would silently weaken every
// content check built on it: the process stops instead.
Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md.get(), EVP_sha256(), nullptr) != 1) std::abort();
}
Sha256::~Sha256() = default;

void Sha256::Update(const void* data, size_t n) {
  if (EVP_DigestUpdate(ctx_->md.get(), data, n) != 1) std::abort();
}

std::string Sha256::FinishHex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_->md.get(), digest, &len) != 1) std::abort();
  return HexEncode(digest, len);
}

}  // namespace tresor
