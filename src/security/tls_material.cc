#include "security/tls_material.h"

#include "core/hex.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <memory>

namespace tresor::security {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using CertPtr = std::unique_ptr<X509, CertFree>;

std::string BioString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<std::string> KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return Internal("cannot encode private key");
  }
  return BioString(bio.get());
}

Result<std::string> CertPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(bio.get(), cert)) return Internal("cannot encode certificate");
  return BioString(bio.get());
}

Result<KeyPtr> ReadKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return InvalidArgument("not a PEM private key");
  return key;
}

Result<CertPtr> ReadCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  CertPtr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return InvalidArgument("not a PEM certificate");
  return cert;
}

KeyPtr NewKey() { return KeyPtr(EVP_EC_gen("P-256")); }

Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return Internal("cannot build certificate extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return Status::Ok();
}

// A certificate for `key`, named `cn`, valid `days`, with a random serial.
Result<CertPtr> NewCert(EVP_PKEY* key, const std::string& cn, long days) {
  CertPtr cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7F;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), days * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("Tresor"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return cert;
}

}  // namespace

Result<KeyAndCertificate> CreateCertificateAuthority(const std::string& name) {
  KeyPtr key = NewKey();
  if (!key) return Internal("cannot generate a key");
  TRESOR_ASSIGN_OR_RETURN(CertPtr cert, NewCert(key.get(), name, 3650));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  TRESOR_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  TRESOR_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  TRESOR_RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  if (!X509_sign(cert.get(), key.get(), EVP_sha256())) return Internal("cannot sign the CA certificate");
  KeyAndCertificate out;
  TRESOR_ASSIGN_OR_RETURN(out.key_pem, KeyPem(key.get()));
  TRESOR_ASSIGN_OR_RETURN(out.certificate_pem, CertPem(cert.get()));
  return out;
}

Result<KeyAndCertificate> IssueCertificate(const KeyAndCertificate& ca,
                                           const std::string& common_name, bool server,
                                           const std::vector<std::string>& dns_names,
                                           const std::vector<std::string>& ip_addresses) {
  TRESOR_ASSIGN_OR_RETURN(KeyPtr ca_key, ReadKey(ca.key_pem));
  TRESOR_ASSIGN_OR_RETURN(CertPtr ca_cert, ReadCert(ca.certificate_pem));
  KeyPtr key = NewKey();
  if (!key) return Internal("cannot generate a key");
  TRESOR_ASSIGN_OR_RETURN(CertPtr cert, NewCert(key.get(), common_name, 3 * 365));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  TRESOR_RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  TRESOR_RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature,keyAgreement"));
  TRESOR_RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_ext_key_usage, server ? "serverAuth" : "clientAuth"));
  TRESOR_RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid"));
  std::string san;
  for (const std::string& d : dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const std::string& ip : ip_addresses) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  if (!san.empty()) TRESOR_RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_subject_alt_name, san));
  if (!X509_sign(cert.get(), ca_key.get(), EVP_sha256())) return Internal("cannot sign the certificate");
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
