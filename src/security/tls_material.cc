#include "security/tls_material.h"

#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <memory>

#include "core/hex.h"
#include "core/openssl_handles.h"
#include "core/random.h"

namespace tresor::security {
namespace {

using ossl::BignumPtr;
using ossl::BioPtr;
using ossl::CertPtr;
using ossl::ExtensionPtr;
using ossl::KeyPtr;

// `ok` or kInternal naming the step that failed: every OpenSSL call that builds key
// material is checked, so a failure yields an error and never a half-made certificate.
Status Check(bool ok, const char* what) {
  return ok ? Status::Ok() : Internal(std::string("certificate generation: ") + what + " failed");
}

Result<std::string> BioString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  if (n <= 0 || !data) return Internal("certificate generation: empty PEM output");
  return std::string(data, static_cast<size_t>(n));
}

Result<std::string> KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  TRESOR_RETURN_IF_ERROR(Check(bio != nullptr, "BIO_new"));
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return Internal("cannot encode private key");
  }
  return BioString(bio.get());
}

Result<std::string> CertPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  TRESOR_RETURN_IF_ERROR(Check(bio != nullptr, "BIO_new"));
  if (!PEM_write_bio_X509(bio.get(), cert)) return Internal("cannot encode certificate");
  return BioString(bio.get());
}

Result<KeyPtr> ReadKey(const std::string& pem, OSSL_LIB_CTX* libctx) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  TRESOR_RETURN_IF_ERROR(Check(bio != nullptr, "BIO_new_mem_buf"));
  KeyPtr key(PEM_read_bio_PrivateKey_ex(bio.get(), nullptr, nullptr, nullptr, libctx, nullptr));
  if (!key) return InvalidArgument("not a PEM private key");
  return key;
}

Result<CertPtr> ReadCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  TRESOR_RETURN_IF_ERROR(Check(bio != nullptr, "BIO_new_mem_buf"));
  CertPtr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return InvalidArgument("not a PEM certificate");
  return cert;
}

Result<KeyPtr> NewKey(OSSL_LIB_CTX* libctx) {
  KeyPtr key(EVP_PKEY_Q_keygen(libctx, nullptr, "EC", "P-256"));
  if (!key) return Internal("cannot generate a key");
  return key;
}

Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext) return Internal("cannot build certificate extension");
  return Check(X509_add_ext(cert, ext.get(), -1) == 1, "X509_add_ext");
}

// A certificate for `key`, named `cn` (at most 64 characters of UTF-8), valid `days`,
// with a random 127-bit serial.
Result<CertPtr> NewCert(EVP_PKEY* key, const std::string& cn, long days, OSSL_LIB_CTX* libctx) {
  CertPtr cert(X509_new_ex(libctx, nullptr));
  TRESOR_RETURN_IF_ERROR(Check(cert != nullptr, "X509_new"));
  TRESOR_RETURN_IF_ERROR(Check(X509_set_version(cert.get(), X509_VERSION_3) == 1, "X509_set_version"));
  unsigned char serial[16];
  RandomBytes(serial, sizeof serial);  // aborts without an entropy source
  serial[0] &= 0x7F;
  BignumPtr bn(BN_bin2bn(serial, sizeof serial, nullptr));
  TRESOR_RETURN_IF_ERROR(Check(bn != nullptr, "BN_bin2bn"));
  TRESOR_RETURN_IF_ERROR(Check(
      BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) != nullptr, "serial number"));
  // notBefore an hour back for clock skew; notAfter exactly `days` after notBefore.
  TRESOR_RETURN_IF_ERROR(Check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr,
                               "notBefore"));
  TRESOR_RETURN_IF_ERROR(Check(
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), days * 24 * 3600 - 3600) != nullptr, "notAfter"));
  TRESOR_RETURN_IF_ERROR(Check(X509_set_pubkey(cert.get(), key) == 1, "X509_set_pubkey"));
  X509_NAME* name = X509_get_subject_name(cert.get());
  TRESOR_RETURN_IF_ERROR(Check(name != nullptr, "X509_get_subject_name"));
  TRESOR_RETURN_IF_ERROR(Check(
      X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>("Tresor"), -1, -1, 0) == 1,
      "organization name"));
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1) {
    return InvalidArgument("common name must be 1-64 characters of UTF-8");
  }
  return cert;
}

}  // namespace

Result<KeyAndCertificate> CreateCertificateAuthority(const std::string& name,
                                                     OSSL_LIB_CTX* libctx) {
  TRESOR_ASSIGN_OR_RETURN(KeyPtr key, NewKey(libctx));
  TRESOR_ASSIGN_OR_RETURN(CertPtr cert, NewCert(key.get(), name, kCaCertificateDays, libctx));
  TRESOR_RETURN_IF_ERROR(Check(
      X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) == 1, "issuer name"));
  TRESOR_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  TRESOR_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  TRESOR_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) return Internal("cannot sign the CA certificate");
  KeyAndCertificate out;
  TRESOR_ASSIGN_OR_RETURN(out.key_pem, KeyPem(key.get()));
  TRESOR_ASSIGN_OR_RETURN(out.certificate_pem, CertPem(cert.get()));
  return out;
}

Result<KeyAndCertificate> IssueCertificate(const KeyAndCertificate& ca,
                                           const std::string& common_name, bool server,
                                           const std::vector<std::string>& dns_names,
                                           const std::vector<std::string>& ip_addresses,
                                           OSSL_LIB_CTX* libctx) {
  TRESOR_ASSIGN_OR_RETURN(KeyPtr ca_key, ReadKey(ca.key_pem, libctx));
  TRESOR_ASSIGN_OR_RETURN(CertPtr ca_cert, ReadCert(ca.certificate_pem));
  TRESOR_ASSIGN_OR_RETURN(KeyPtr key, NewKey(libctx));
  TRESOR_ASSIGN_OR_RETURN(CertPtr cert, NewCert(key.get(), common_name,
                                                 server ? kServerCertificateDays : kClientCertificateDays,
                                                 libctx));
  TRESOR_RETURN_IF_ERROR(Check(
      X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get())) == 1, "issuer name"));
  TRESOR_RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  TRESOR_RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature,keyAgreement"));
  TRESOR_RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_ext_key_usage, server ? "serverAuth" : "clientAuth"));
  TRESOR_RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid"));
  std::string san;
  for (const std::string& d : dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const std::string& ip : ip_addresses) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  if (!san.empty()) TRESOR_RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_subject_alt_name, san));
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) <= 0) return Internal("cannot sign the certificate");
  KeyAndCertificate out;
  TRESOR_ASSIGN_OR_RETURN(out.key_pem, KeyPem(key.get()));
  TRESOR_ASSIGN_OR_RETURN(out.certificate_pem, CertPem(cert.get()));
  return out;
}

Result<std::string> CertificateFingerprint(X509* certificate) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!certificate || !X509_digest(certificate, EVP_sha256(), digest, &len)) {
    return Internal("digest failed");
  }
  return HexEncode(digest, len);
}

Result<std::string> CertificateFingerprint(const std::string& certificate_pem) {
  TRESOR_ASSIGN_OR_RETURN(CertPtr cert, ReadCert(certificate_pem));
  return CertificateFingerprint(cert.get());
}

Result<Validity> CertificateValidity(const std::string& certificate_pem) {
  TRESOR_ASSIGN_OR_RETURN(CertPtr cert, ReadCert(certificate_pem));
  auto seconds = [](const ASN1_TIME* t, int64_t* out) {
    struct tm tm {};
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return false;
    *out = static_cast<int64_t>(timegm(&tm));
    return true;
  };
  Validity v;
  if (!seconds(X509_get0_notBefore(cert.get()), &v.not_before) ||
      !seconds(X509_get0_notAfter(cert.get()), &v.not_after)) {
    return InvalidArgument("the certificate's validity period cannot be read");
  }
  return v;
}

Result<CertificateNames> CertificateNamesOf(const std::string& certificate_pem) {
  TRESOR_ASSIGN_OR_RETURN(CertPtr cert, ReadCert(certificate_pem));
  CertificateNames out;
  X509_NAME* subject = X509_get_subject_name(cert.get());
  int at = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
  if (at >= 0) {
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)));
    if (len < 0) return InvalidArgument("the certificate's common name cannot be read");
    out.common_name.assign(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
    OPENSSL_free(utf8);
  }
  struct NamesDeleter {
    void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
  };
  std::unique_ptr<GENERAL_NAMES, NamesDeleter> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names.get(), i);
    if (n->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = n->d.dNSName;
      out.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                 static_cast<size_t>(ASN1_STRING_length(dns)));
    } else if (n->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = n->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = {0};
      int len = ASN1_STRING_length(ip);
      int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : -1;
      if (family < 0 || !inet_ntop(family, ASN1_STRING_get0_data(ip), text, sizeof text)) {
        return InvalidArgument("the certificate holds an IP address that cannot be read");
      }
      out.ip_addresses.emplace_back(text);
    }
  }
  return out;
}

std::string DisplayFingerprint(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    if (!out.empty()) out.push_back(':');
    out.push_back(static_cast<char>(std::toupper(hex[i])));
    out.push_back(static_cast<char>(std::toupper(hex[i + 1])));
  }
  return out;
}

}  // namespace tresor::security
