#include "security/password.h"

#include <sodium.h>

#include <cstdlib>

namespace tresor::security {
namespace {
void InitSodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) std::abort();
}
}  // namespace

Status CheckPasswordPolicy(const std::string& password) {
  if (password.size() < 12) return InvalidArgument("password must have at least 12 characters");
  if (password.size() > 1024) return InvalidArgument("password is too long");
  bool non_digit = false;
  for (char c : password) non_digit |= !(c >= '0' && c <= '9');
  if (!non_digit) return InvalidArgument("password must not be digits only");
  return Status::Ok();
}

Result<std::string> HashPassword(const std::string& password) {
  InitSodium();
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(),
                            crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return ResourceExhausted("out of memory while hashing a password");
  }
  return std::string(out);
}

bool VerifyPassword(const std::string& password, const std::string& encoded_hash) {
  InitSodium();
  return crypto_pwhash_str_verify(encoded_hash.c_str(), password.data(), password.size()) == 0;
}

std::string GeneratePassword() {
  InitSodium();
  static const char kAlphabet[] = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::string out;
  for (int i = 0; i < 24; ++i) {
    out.push_back(kAlphabet[randombytes_uniform(sizeof kAlphabet - 1)]);
  }
  return out;
}

}  // namespace tresor::security
