// Password hashing (Argon2id via libsodium), generation and policy.
#pragma once

#include <string>

#include "core/status.h"

namespace tresor::security {

// The minimum password policy: at least 12 characters, not all one character class
// of digits-only. Returns kInvalidArgument naming the rule that failed.
Status CheckPasswordPolicy(const std::string& password);
// An Argon2id encoded hash ("$argon2id$v=19$...") of `password`.
Result<std::string> HashPassword(const std::string& password);
// True if `password` matches `encoded_hash`.
bool VerifyPassword(const std::string& password, const std::string& encoded_hash);
// A random password of 24 characters from an unambiguous alphabet; meets the policy.
std::string GeneratePassword();

}  // namespace tresor::security
