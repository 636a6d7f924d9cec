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

// Validity periods, counted from notBefore (one hour before issue, for clock skew) to
// notAfter. Server certificates stay within 825 days, the longest period TLS clients
// such as Apple's accept for a certificate from a private CA; `tresor tls renew` issues
// the next one from the local CA.
inline constexpr long kCaCertificateDays = 3650;
inline constexpr long kServerCertificateDays = 825;
inline constexpr long kClientCertificateDays = 825;

// A self-signed CA certificate for `name`, valid kCaCertificateDays.
Result<KeyAndCertificate> CreateCertificateAuthority(const std::string& name,
                                                     OSSL_LIB_CTX* libctx = nullptr);

// A certificate for `common_name` signed by `ca`, valid kServerCertificateDays (server)
// or kClientCertificateDays. `server` selects the serverAuth extended key usage (else
// clientAuth); `dns_names` and `ip_addresses` go into the subject alternative name.
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

// The DNS names and IP addresses (text form) of a certificate's subject alternative
// name, and its common name: what a renewal needs to issue the same identity again.
struct CertificateNames {
  std::string common_name;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
};
Result<CertificateNames> CertificateNamesOf(const std::string& certificate_pem);

// The same fingerprint in the colon-separated upper-case form tools print.
std::string DisplayFingerprint(const std::string& hex);

}  // namespace tresor::security
