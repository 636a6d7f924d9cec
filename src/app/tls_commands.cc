// `tresor tls show` and `tresor tls renew`: the server certificate of DICOM TLS and HTTPS,
// issued by the local CA that `tresor init` created (security/tls_material).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <iostream>

#include "app/cli.h"
#include "app/data_dir.h"
#include "security/tls_material.h"

namespace tresor::app {
namespace {

std::string Date(int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

Status SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open " + dir + ": " + std::strerror(errno));
  bool ok = fsync(fd) == 0;
  close(fd);
  return ok ? Status::Ok() : IoError("cannot sync " + dir);
}

int Show(const std::string& cert_path) {
  auto pem = ReadTextFile(cert_path);
  if (!pem.ok()) return Fail(pem.status());
  auto validity = security::CertificateValidity(*pem);
  auto fingerprint = security::CertificateFingerprint(*pem);
  auto names = security::CertificateNamesOf(*pem);
  if (!validity.ok()) return Fail(validity.status());
  if (!fingerprint.ok()) return Fail(fingerprint.status());
  if (!names.ok()) return Fail(names.status());
  std::cout << "server certificate " << cert_path << "\n"
            << "  common name: " << names->common_name << "\n";
  for (const auto& d : names->dns_names) std::cout << "  DNS name:    " << d << "\n";
  for (const auto& ip : names->ip_addresses) std::cout << "  IP address:  " << ip << "\n";
  std::cout << "  not before:  " << Date(validity->not_before) << "\n"
            << "  not after:   " << Date(validity->not_after) << "\n"
            << "  valid days:  " << (validity->not_after - validity->not_before) / 86400 << "\n"
            << "  SHA-256:     " << security::DisplayFingerprint(*fingerprint) << "\n";
  return 0;
}

// Issues the next server certificate (same names, new key) from the local CA and puts
// key and certificate in place of the configured ones: each written aside (0600),
// synced, renamed over, the directory synced.
int Renew(const std::string& dir, const Config& config) {
  const std::string cert_path = InDataDir(dir, config.tls_certificate);
  const std::string key_path = InDataDir(dir, config.tls_private_key);
  auto ca_key = ReadTextFile(dir + "/keys/ca.key");
  auto ca_pem = ReadTextFile(dir + "/keys/ca.pem");
  if (!ca_key.ok() || !ca_pem.ok()) {
    return Fail(NotFound("the local CA (keys/ca.key, keys/ca.pem) is missing: a certificate "
                         "from another CA is renewed there, then installed as tls.certificate"));
  }
  auto current = ReadTextFile(cert_path);
  if (!current.ok()) return Fail(current.status());
  auto names = security::CertificateNamesOf(*current);
  if (!names.ok()) return Fail(names.status());
  auto issued = security::IssueCertificate({*ca_key, *ca_pem}, names->common_name, true,
                                           names->dns_names, names->ip_addresses);
  if (!issued.ok()) return Fail(issued.status());
  for (const auto& [path, content] :
       {std::pair<std::string, std::string>{key_path, issued->key_pem},
        std::pair<std::string, std::string>{cert_path, issued->certificate_pem}}) {
    const std::string aside = path + ".new";
    unlink(aside.c_str());  // left by an interrupted renewal
    TRESOR_RETURN_IF_ERROR_CLI(WritePrivateFile(aside, content, 0600));
    if (rename(aside.c_str(), path.c_str()) != 0) {
      return Fail(IoError("cannot install " + path + ": " + std::strerror(errno)));
    }
    size_t slash = path.find_last_of('/');
    TRESOR_RETURN_IF_ERROR_CLI(SyncDir(slash == std::string::npos ? "." : path.substr(0, slash)));
  }
  std::cout << "renewed: ";
  int shown = Show(cert_path);
  std::cout << "Restart 'tresor serve' to use it. Clients trusting keys/ca.pem need no change.\n";
  return shown;
}

}  // namespace

int CmdTls(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {}));
  if (a.positional.size() != 1 || (a.positional[0] != "show" && a.positional[0] != "renew")) {
    return Fail(InvalidArgument("usage: tresor tls show|renew [--data DIR]"));
  }
  const std::string dir = ResolveDataDir(a.Flag("data"));
  auto config = LoadConfig(dir + "/tresor.conf");
  if (!config.ok()) return Fail(config.status());
  if (a.positional[0] == "show") return Show(InDataDir(dir, config->tls_certificate));
  return Renew(dir, *config);
}

}  // namespace tresor::app
