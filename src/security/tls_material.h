// TLS key material: a local certificate authority, the server's certificate, and client
// certificates for enrolled peers. Keys are EC P-256; certificates X.509 v3, PEM.
#pragma once

#include <openssl/x509.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace tresor::security {

struct KeyAndCertificate {
  std::string key_pem;          // PKCS#8 private key
  std::string certificate_pem;
};

// Both functions below check every OpenSSL call: any failure is a Status (kInternal for
// OpenSSL failures, kInvalidArgument for a name that does not fit a certificate: more
// than 64 characters or not UTF-8), never a partly built certificate. `libctx` is the
// OpenSSL library context generating and signing keys (nullptr: the process default;
// tests pass one without providers to make generation fail).

// A self-signed CA certificate for `name`, valid 10 years.
Result<KeyAndCertificate> CreateCertificateAuthority(const std::string& name,
                                                     OSSL_LIB_CTX* libctx = nullptr);

// A certificate for `common_name` signed by `ca`, valid 3 years. `server` selects the
// serverAuth extended key usage (else clientAuth); `dns_names` and `ip_addresses` go
// into the subject alternative name.
Result<KeyAndCertificate> IssueCertificate(const KeyAndCertificate& ca,
                                           const std::string& common_name, bool server,
                                           const std::vector<std::string>& dns_names,
                                           const std::vector<std::string>& ip_addresses,
                                           OSSL_LIB_CTX* libctx = nullptr);

// SHA-256 fingerprint of a certificate's DER encoding: 64 lowercase hex digits.
Result<std::string> CertificateFingerprint(const std::string& certificate_pem);
Result<std::string> CertificateFingerprint(X509* certificate);

// A certificate's validity period, in seconds since the epoch.
struct Validity {
  int64_t not_before = 0;
  int64_t not_after = 0;
};
Result<Validity> CertificateValidity(const std::string& certificate_pem);

// The same fingerprint in the colon-separated upper-case form tools print.
std::string DisplayFingerprint(const std::string& hex);

}  // namespace tresor::security
