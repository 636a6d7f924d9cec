#include "security/tls_material.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <string>

#include "core/openssl_handles.h"
#include "security/testing/no_crypto_context.h"

namespace tresor::security {
namespace {

using testing::NoCryptoContext;

ossl::CertPtr ParseCert(const std::string& pem) {
  ossl::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return ossl::CertPtr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

std::string CommonName(X509* cert) {
  char buf[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return buf;
}

TEST(TlsMaterialTest, IssuesACertificateChainingToTheCa) {
  auto ca = CreateCertificateAuthority("Test CA");
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  auto leaf = IssueCertificate(*ca, "CT1", false, {"ct1.example"}, {"10.0.0.1"});
  ASSERT_TRUE(leaf.ok()) << leaf.status().ToString();
  ossl::CertPtr ca_cert = ParseCert(ca->certificate_pem);
  ossl::CertPtr cert = ParseCert(leaf->certificate_pem);
  ASSERT_TRUE(ca_cert && cert);
  EXPECT_EQ(CommonName(cert.get()), "CT1");
  EXPECT_EQ(CommonName(ca_cert.get()), "Test CA");
  EXPECT_EQ(X509_verify(cert.get(), X509_get0_pubkey(ca_cert.get())), 1) << "signed by the CA";
  EXPECT_EQ(X509_check_issued(ca_cert.get(), cert.get()), X509_V_OK);
  auto validity = CertificateValidity(leaf->certificate_pem);
  ASSERT_TRUE(validity.ok());
  EXPECT_LE(validity->not_after - validity->not_before, kClientCertificateDays * 86400LL);
  EXPECT_GT(validity->not_after - validity->not_before, (kClientCertificateDays - 1) * 86400LL);
  auto fingerprint = CertificateFingerprint(leaf->certificate_pem);
  ASSERT_TRUE(fingerprint.ok());
  EXPECT_EQ(fingerprint->size(), 64u);
}

// A server certificate stays within 825 days from notBefore to notAfter, and its names
// can be read back for the next one (renewal).
TEST(TlsMaterialTest, ServerCertificateWithin825DaysAndItsNamesReadBack) {
  auto ca = CreateCertificateAuthority("Test CA");
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  auto server = IssueCertificate(*ca, "pacs1", true, {"localhost", "pacs1"}, {"127.0.0.1", "::1"});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto validity = CertificateValidity(server->certificate_pem);
  ASSERT_TRUE(validity.ok());
  EXPECT_LE(validity->not_after - validity->not_before, 825 * 86400LL);
  EXPECT_GE(validity->not_after - validity->not_before, 824 * 86400LL);
  auto names = CertificateNamesOf(server->certificate_pem);
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_EQ(names->common_name, "pacs1");
  EXPECT_EQ(names->dns_names, (std::vector<std::string>{"localhost", "pacs1"}));
  EXPECT_EQ(names->ip_addresses, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_FALSE(CertificateNamesOf("not a certificate").ok());
}

// Key generation that fails (no provider) is an error, not a certificate without a key.
TEST(TlsMaterialTest, KeyGenerationFailureIsAStatus) {
  NoCryptoContext broken;
  ASSERT_NE(broken.get(), nullptr);
  auto ca = CreateCertificateAuthority("Test CA", broken.get());
  EXPECT_FALSE(ca.ok());
  auto good_ca = CreateCertificateAuthority("Test CA");
  ASSERT_TRUE(good_ca.ok());
  auto leaf = IssueCertificate(*good_ca, "CT1", false, {}, {}, broken.get());
  EXPECT_FALSE(leaf.ok());
}

// A name OpenSSL refuses to put into the subject (longer than the 64 characters X.520
// allows, or not UTF-8) fails the whole certificate: it never comes out without a CN.
TEST(TlsMaterialTest, CommonNameThatDoesNotFitIsRefused) {
  auto ca = CreateCertificateAuthority("Test CA");
  ASSERT_TRUE(ca.ok());
  auto too_long = IssueCertificate(*ca, std::string(65, 'a'), false, {}, {});
  EXPECT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().code(), Code::kInvalidArgument);
  auto not_utf8 = IssueCertificate(*ca, "bad\xff", false, {}, {});
  EXPECT_FALSE(not_utf8.ok());
  EXPECT_FALSE(CreateCertificateAuthority(std::string(65, 'a')).ok());
  EXPECT_TRUE(IssueCertificate(*ca, std::string(64, 'a'), false, {}, {}).ok()) << "64 fit";
}

TEST(TlsMaterialTest, MalformedSubjectAltNameIsRefused) {
  auto ca = CreateCertificateAuthority("Test CA");
  ASSERT_TRUE(ca.ok());
  EXPECT_FALSE(IssueCertificate(*ca, "srv", true, {}, {"not-an-ip"}).ok());
}

}  // namespace
}  // namespace tresor::security
