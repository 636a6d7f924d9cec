// tresor: the command-line entry point. Parses arguments, opens the data directory
// and runs one subcommand. All archive work goes through archive::ArchiveService.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdict.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "app/data_dir.h"
#include "core/log.h"
#include "dicom/byte_reader.h"
#include "dicom/codecs.h"
#include "dicom/dictionary.h"
#include "dicom/part10.h"
#include "dimse/server.h"
#include "dimse/store_scu.h"
#include "web/https_server.h"
#include "security/password.h"
#include "security/tls_material.h"

namespace tresor::app {
namespace {

constexpr char kUsage[] = R"(tresor - a secure-by-default PACS

Usage: tresor <command> [options]

Commands:
  init       create a data directory (config, keys, admin credential)
  serve      run the archive (DICOM listener)
  peer       register, enroll, list or remove DICOM peers (modalities, workstations)
  user       add, list, disable or re-key user accounts
  group      access groups: which studies each peer and user may see
  token      create an API token for a user (HTTPS bearer credential)
  import     load DICOM files or folders into the archive
  stats      show what the archive holds
  cat        write a stored instance to standard output
  send       send studies, series or instances to a registered peer (C-STORE)

Every command takes --data DIR (default: $TRESOR_DATA, else ./var).
Run 'tresor <command> --help' for the options of one command.
)";

const std::map<std::string, std::string>& CommandHelp() {
  static const auto* help = new std::map<std::string, std::string>{
      {"init", R"(Usage: tresor init [--data DIR]

Creates DIR with a documented configuration file (tresor.conf), key material under
keys/ (mode 0600, never stored in the index) and an empty archive. Prints the
administrator password once; only its Argon2id hash is kept. There is no default account.
)"},
      {"serve", R"(Usage: tresor serve [--data DIR] [--dicom-port N] [--dicom-tls-port N] [--http-port N]

Runs the archive. Ports default to the configuration file (11112, 2762, 8443); 0 picks
a free port. Listeners bind to server.bind_address (loopback by default). Only
registered peers may connect (see 'tresor peer'). Stops cleanly on SIGINT/SIGTERM.
)"},
      {"peer", R"(Usage: tresor peer add NAME --ae AE --host HOST [--port P] [--allow SERVICES] [--groups LIST] [--cert FILE] [--require-identity] [--data DIR]
       tresor peer enroll NAME --ae AE --host HOST [--port P] [--allow SERVICES] [--groups LIST] [--require-identity] [--out DIR] [--data DIR]
       tresor peer list [--data DIR]
       tresor peer remove NAME [--data DIR]

A peer is a DICOM application allowed to open associations: its calling AE title must
match AND it must connect from HOST (an IP address or a host name). SERVICES is a comma
list of echo, store, find, move, get (default: echo,store). --port is where the peer
listens, for retrieve destinations (default 104). --groups is the comma list of access
groups whose studies the peer may query and retrieve; "all" means every study. Without
it the peer sees no study at all (see 'tresor group --help'). Re-adding a peer replaces it.

enroll issues a client certificate for the peer from Tresor's local CA, writes the
bundle (NAME.key, NAME.pem, ca.pem) to --out (default DIR/enrolled/NAME) and binds the
peer to it. --cert binds an existing certificate (PEM) instead. A peer bound to a
certificate may connect only over DICOM TLS, presenting exactly that certificate.
--require-identity makes the peer present a user identity (PS3.7 user identity
negotiation: a Tresor user name and passcode, or a JWT from POST /auth/token) with every
association; the peer's services are then limited to those of the user's role.
)"},
      {"user", R"(Usage: tresor user add NAME --role ROLE [--groups LIST] [--password-stdin] [--data DIR]
       tresor user groups NAME LIST [--data DIR]
       tresor user list [--data DIR]
       tresor user disable NAME | enable NAME [--data DIR]
       tresor user passwd NAME [--password-stdin] [--data DIR]

Roles: admin, radiologist (read), technologist (store), auditor (audit trail only).
Without --password-stdin a strong password is generated and printed once; with it, the
password is read from the first line of standard input and must have at least 12
characters and not be digits only. Only an Argon2id hash is stored.
LIST is a comma list of access groups whose studies the user may see ("all": every
study); without groups a user sees no study. 'user groups' replaces a user's groups.
The administrator created by 'tresor init' is in "all".
)"},
      {"group", R"(Usage: tresor group list [--data DIR]
       tresor group rule add|remove GROUP (--peer NAME | --institution TEXT | --issuer TEXT) [--data DIR]
       tresor group assign|unassign GROUP STUDY_UID... [--data DIR]

Per-study access scope. Every study carries access groups; a peer or user (see --groups
of 'tresor peer add' and 'tresor user add') sees a study only if they share a group, or
if they are in the reserved group "all". Out of scope, a study looks exactly like a study
that does not exist: queries do not match or count it, retrievals do not find it. Such
requests are logged as security events.

A study gets its groups when its first instance is stored, by rules (later instances,
from any peer, never widen who sees a study):
  --peer NAME          instances received from the registered peer NAME
  --institution TEXT   Institution Name (0008,0080) equal to TEXT
  --issuer TEXT        Issuer of Patient ID (0010,0021) equal to TEXT
A new rule is also applied to the studies already archived. Removing a rule stops it for
new instances; studies keep their groups. 'assign'/'unassign' put single studies into a
group or take them out (for example studies loaded with 'tresor import').
Group names: 1-64 letters, digits, '.', '_' or '-'.
)"},
      {"token", R"(Usage: tresor token create NAME --user USER [--days N] [--data DIR]

Creates a long-lived API token (default 90 days) for USER, for scripts that call the
HTTPS API: send it as "Authorization: Bearer <token>". It is printed once; only its
SHA-256 is stored. It carries the user's role and stops working when the user is disabled.
)"},
      {"import", R"(Usage: tresor import [--data DIR] PATH...

Stores every DICOM Part 10 file under the given files and folders through the same
validation as C-STORE. Shows progress and ends with a summary: stored, duplicate
(identical instance already archived) and rejected, with the reason for each rejection.
Exit status 0 if nothing was rejected, 1 otherwise.
)"},
      {"send", R"(Usage: tresor send --to PEER [--retries N] [--data DIR] UID...

Sends every instance of the given studies, series or instances (any mix of Study,
Series and SOP Instance UIDs) to the registered peer named PEER, over one association
from this archive's AE title to the peer's AE title, host and port. Objects go out as
archived, or transcoded when the peer accepts only other transfer syntaxes. Instances
that fail are retried N more times on a new association (default 2). Prints one line
per instance and a summary; exit status 0 only if every instance was delivered.
)"},
      {"stats", R"(Usage: tresor stats [--data DIR]

Shows the number of patients, studies, series and instances, and the stored bytes.
)"},
      {"cat", R"(Usage: tresor cat [--data DIR] SOP_INSTANCE_UID > file.dcm

Writes the stored instance as a DICOM Part 10 file to standard output: the data set
exactly as received, behind a file meta header written by Tresor (preamble zeroed).
)"},
  };
  return *help;
}

// Parsed command line: positional arguments and --flag values.
struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> flags;
  bool help = false;

  std::string Flag(const std::string& name, const std::string& fallback = "") const {
    auto it = flags.find(name);
    return it == flags.end() ? fallback : it->second;
  }
};

Result<Args> ParseArgs(int argc, char** argv, int first) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--help" || s == "-h") {
      a.help = true;
    } else if (s == "--password-stdin" || s == "--require-identity") {
      a.flags[s.substr(2)] = "";
    } else if (s.rfind("--", 0) == 0) {
      std::string name = s.substr(2), value;
      size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return InvalidArgument("option --" + name + " needs a value");
      }
      a.flags[name] = value;
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

Status CheckFlags(const Args& a, std::initializer_list<const char*> allowed) {
  for (const auto& [name, value] : a.flags) {
    bool ok = name == "data";
    for (const char* n : allowed) ok |= name == n;
    if (!ok) return InvalidArgument("unknown option --" + name);
  }
  return Status::Ok();
}

Result<int> ParsePort(const std::string& text) {
  try {
    size_t used = 0;
    int p = std::stoi(text, &used);
    if (used == text.size() && p >= 0 && p <= 65535) return p;
  } catch (...) {
  }
  return InvalidArgument("not a port number: " + text);
}

int Fail(const Status& s) {
  std::cerr << "tresor: " << s.message() << "\n";
  return s.code() == Code::kInvalidArgument ? 2 : 1;
}

#define TRESOR_RETURN_IF_ERROR_CLI(expr)  \
  do {                                    \
    ::tresor::Status cli_status_ = (expr); \
    if (!cli_status_.ok()) return Fail(cli_status_); \
  } while (0)

int CmdInit(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {}));
  std::string dir = ResolveDataDir(a.Flag("data"));
  auto password = InitDataDir(dir);
  if (!password.ok()) return Fail(password.status());
  auto server_pem = ReadTextFile(dir + "/keys/server.pem");
  auto fingerprint = server_pem.ok() ? security::CertificateFingerprint(*server_pem)
                                     : Result<std::string>(server_pem.status());
  std::cout << "Initialized Tresor data directory " << dir << "\n\n"
            << "TLS: local CA keys/ca.pem; server certificate SHA-256 fingerprint\n  "
            << (fingerprint.ok() ? security::DisplayFingerprint(*fingerprint) : "?") << "\n\n"
            << "Administrator account: admin\n"
            << "Password (shown only now, store it safely): " << *password << "\n\n"
            << "Next: register a peer with 'tresor peer add', then 'tresor serve --data " << dir
            << "'.\n";
  return 0;
}

// True if every address `host` resolves to is a loopback address (a name is resolved
// the way the listener will resolve it, so "127.example" cannot pass for loopback).
bool IsLoopback(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res) return false;
  bool all_loopback = true;
  for (addrinfo* p = res; p; p = p->ai_next) {
    if (p->ai_family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(p->ai_addr);
      all_loopback &= (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    } else if (p->ai_family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(p->ai_addr);
      all_loopback &= IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) != 0;
    } else {
      all_loopback = false;
    }
  }
  freeaddrinfo(res);
  return all_loopback;
}

int CmdServe(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {"dicom-port", "dicom-tls-port", "http-port"}));
  std::string dir = ResolveDataDir(a.Flag("data"));
  auto opened = OpenDataDir(dir);
  if (!opened.ok()) return Fail(opened.status());
  OpenArchive& o = **opened;
  if (a.flags.count("dicom-port")) {
    auto p = ParsePort(a.Flag("dicom-port"));
    if (!p.ok()) return Fail(p.status());
    o.config.dicom_port = *p;
  }
  for (const char* name : {"dicom-tls-port", "http-port"}) {
    if (a.flags.count(name)) {
      auto p = ParsePort(a.Flag(name));
      if (!p.ok()) return Fail(p.status());
      (std::string(name) == "http-port" ? o.config.http_port : o.config.dicom_tls_port) = *p;
    }
  }
  if (!IsLoopback(o.config.bind_address) && o.config.dicom_port >= 0) {
    if (!o.config.insecure_plain_dicom) {
      return Fail(PermissionDenied(
          "refusing to serve plain DICOM on non-loopback address " + o.config.bind_address +
          ": patient data would cross the network unencrypted. Serve DICOM TLS only "
          "(server.dicom_port = -1), bind to 127.0.0.1, or set server.insecure_plain_dicom = "
          "true (see the README's Security model)."));
    }
    TRESOR_LOG(kWarn) << "INSECURE: plain DICOM listener on non-loopback address "
                      << o.config.bind_address << " (server.insecure_plain_dicom = true): "
                      << "patient data crosses the network unencrypted";
  }
  // One server per data directory.
  int lock_fd = open((dir + "/serve.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    return Fail(Unavailable("another 'tresor serve' is already using " + dir));
  }
  Status st = dicom::CheckDictionaryLoaded();
  if (!st.ok()) return Fail(st);
  st = o.archive->Recover();
  if (!st.ok()) return Fail(st);
  dicom::RegisterCodecs();  // before any thread starts

  // Signals are taken by sigwait below; every thread started from here inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  dimse::ScpOptions scp;
  scp.bind_address = o.config.bind_address;
  scp.port = o.config.dicom_port;
  scp.tls_port = o.config.dicom_tls_port;
  scp.tls = {InDataDir(dir, o.config.tls_certificate), InDataDir(dir, o.config.tls_private_key),
             InDataDir(dir, o.config.tls_ca_certificate)};
  scp.max_associations = o.config.max_associations;
  scp.max_associations_per_peer = o.config.max_associations_per_peer;
  scp.max_pending_connections = o.config.max_pending_connections;
  scp.max_pdu_bytes = o.config.max_pdu_bytes;
  scp.artim_seconds = o.config.artim_seconds;
  scp.idle_seconds = o.config.idle_seconds;
  dimse::DimseServer server(*o.archive, scp);
  st = server.Start();
  if (!st.ok()) return Fail(st);

  // HTTPS (REST API now; DICOMweb and the console next) from the same TLS material.
  std::unique_ptr<web::HttpsServer> https;
  if (o.config.http_port >= 0) {
    web::WebOptions web_options;
    web_options.bind_address = o.config.bind_address;
    web_options.port = o.config.http_port;
    web_options.certificate_file = InDataDir(dir, o.config.tls_certificate);
    web_options.private_key_file = InDataDir(dir, o.config.tls_private_key);
    web_options.max_connections = o.config.web_max_connections;
    web_options.max_header_bytes = static_cast<uint32_t>(o.config.web_max_header_bytes);
    web_options.max_body_bytes = o.config.web_max_body_bytes;
    web_options.read_timeout_seconds = o.config.web_read_timeout_seconds;
    web_options.idle_timeout_seconds = o.config.web_idle_timeout_seconds;
    https = std::make_unique<web::HttpsServer>(*o.archive, web_options);
    st = https->Start();
    if (!st.ok()) return Fail(st);
    TRESOR_LOG(kInfo) << "HTTPS listener on " << o.config.bind_address << ":" << https->port();
  }

  auto stats = o.archive->Stats(archive::Principal::LocalAdmin());
  auto peers = o.archive->ListPeers(archive::Principal::LocalAdmin());
  if (server.port() >= 0) {
    TRESOR_LOG(kInfo) << "DICOM listener on " << o.config.bind_address << ":" << server.port()
                      << " AE " << o.config.ae_title;
  }
  if (server.tls_port() >= 0) {
    TRESOR_LOG(kInfo) << "DICOM TLS listener on " << o.config.bind_address << ":"
                      << server.tls_port() << " AE " << o.config.ae_title;
  }
  std::cout << "Tresor is serving " << dir << " ("
            << (stats.ok() ? std::to_string(stats->instances) : std::string("?"))
            << " instances)\n"
            << "  DICOM:     host " << o.config.bind_address << ", port " << server.port()
            << ", called AE title " << o.config.ae_title << "\n"
            << "  DICOM TLS: host " << o.config.bind_address << ", port " << server.tls_port()
            << " (client certificate required; enroll peers with 'tresor peer enroll')\n"
            << "  HTTPS:     https://" << o.config.bind_address << ":" << (https ? https->port() : -1)
            << "/api/health (CA: " << dir << "/keys/ca.pem)\n"
            << "Only registered peers may connect. Registered now:\n";
  std::string example_ae = "CALLING_AE";
  if (peers.ok() && !peers->empty()) {
    for (const auto& p : *peers) {
      std::cout << "  " << p.name << ": calling AE " << p.ae_title << " from " << p.host
                << " (" << security::FormatServices(p.services) << ")\n";
    }
    example_ae = peers->front().ae_title;
  } else {
    std::cout << "  (none)\n";
  }
  std::cout << "Register a modality with:\n"
            << "  tresor peer add NAME --ae CALLING_AE --host ADDRESS --allow echo,store --data "
            << dir << "\n"
            << "Check the connection with:\n"
            << "  echoscu -aet " << example_ae << " -aec " << o.config.ae_title << " "
            << o.config.bind_address << " " << server.port() << "\n"
            << "Stop with Ctrl-C." << std::endl;

  int sig = 0;
  sigwait(&signals, &sig);
  TRESOR_LOG(kInfo) << "signal " << sig << " received, stopping";
  if (https) https->Stop();
  server.Stop();
  return 0;
}

// Access groups for display: "all", "a,b" or "-".
std::string GroupsText(const std::vector<std::string>& groups) {
  return groups.empty() ? "-" : store::FormatGroupList(groups);
}

int CmdPeer(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(
      a, {"ae", "host", "port", "allow", "groups", "cert", "out", "require-identity"}));
  if (a.positional.empty()) return Fail(InvalidArgument("peer needs add, enroll, list or remove"));
  std::string dir = ResolveDataDir(a.Flag("data"));
  auto opened = OpenDataDir(dir);
  if (!opened.ok()) return Fail(opened.status());
  archive::ArchiveService& archive = *(*opened)->archive;
  auto admin = archive::Principal::LocalAdmin();
  const std::string& verb = a.positional[0];
  if (verb == "add" || verb == "enroll") {
    if (a.positional.size() != 2) {
      return Fail(InvalidArgument("usage: tresor peer " + verb + " NAME --ae AE --host HOST"));
    }
    if (a.Flag("ae").empty() || a.Flag("host").empty()) {
      return Fail(InvalidArgument("peer add needs --ae and --host"));
    }
    auto services = security::ParseServices(a.Flag("allow", "echo,store"));
    if (!services.ok()) return Fail(services.status());
    auto port = ParsePort(a.Flag("port", "104"));
    if (!port.ok()) return Fail(port.status());
    auto groups = store::ParseGroupList(a.Flag("groups"));
    if (!groups.ok()) return Fail(groups.status());
    security::Peer peer{a.positional[1], a.Flag("ae"), a.Flag("host"), *port, *services, "",
                        a.flags.count("require-identity") > 0, *groups};
    std::string bundle;
    if (verb == "enroll") {
      // Issue a client certificate from the local CA and bind the peer to it.
      auto ca_key = ReadTextFile(dir + "/keys/ca.key");
      auto ca_pem = ReadTextFile(dir + "/keys/ca.pem");
      if (!ca_key.ok() || !ca_pem.ok()) return Fail(NotFound("the local CA (keys/ca.key) is missing"));
      Status valid = security::ValidateAeTitle(peer.ae_title);
      if (!valid.ok()) return Fail(valid);
      auto issued = security::IssueCertificate({*ca_key, *ca_pem}, peer.ae_title, false, {}, {});
      if (!issued.ok()) return Fail(issued.status());
      auto fingerprint = security::CertificateFingerprint(issued->certificate_pem);
      if (!fingerprint.ok()) return Fail(fingerprint.status());
      peer.certificate_sha256 = *fingerprint;
      bundle = a.Flag("out", dir + "/enrolled/" + peer.name);
      std::filesystem::create_directories(bundle);
      std::filesystem::permissions(bundle, std::filesystem::perms::owner_all);
      Status w = WritePrivateFile(bundle + "/" + peer.name + ".key", issued->key_pem, 0600);
      if (w.ok()) w = WritePrivateFile(bundle + "/" + peer.name + ".pem", issued->certificate_pem, 0644);
      if (w.ok()) w = WritePrivateFile(bundle + "/ca.pem", *ca_pem, 0644);
      if (!w.ok()) return Fail(w);
    } else if (!a.Flag("cert").empty()) {
      auto pem = ReadTextFile(a.Flag("cert"));
      if (!pem.ok()) return Fail(pem.status());
      auto fingerprint = security::CertificateFingerprint(*pem);
      if (!fingerprint.ok()) return Fail(fingerprint.status());
      peer.certificate_sha256 = *fingerprint;
      auto validity = security::CertificateValidity(*pem);
      if (!validity.ok()) return Fail(validity.status());
      int64_t now = static_cast<int64_t>(time(nullptr));
      if (validity->not_after < now) {
        std::cerr << "warning: this certificate has expired; TLS handshakes with it will fail "
                     "until the peer gets a new one\n";
      } else if (validity->not_before > now) {
        std::cerr << "warning: this certificate is not valid yet; TLS handshakes with it will "
                     "fail until then\n";
      } else if (validity->not_after - now < 30 * 86400) {
        std::cerr << "warning: this certificate expires in "
                  << (validity->not_after - now) / 86400 << " days\n";
      }
    }
    Status s = archive.AddPeer(admin, peer);
    if (!s.ok()) return Fail(s);
    std::cout << "peer " << peer.name << ": AE " << peer.ae_title << " from " << peer.host
              << ", allowed: " << security::FormatServices(peer.services)
              << ", access groups: " << GroupsText(peer.groups) << "\n";
    if ((peer.services & (security::kFind | security::kMove | security::kGet)) && peer.groups.empty()) {
      std::cout << "note: this peer is in no access group, so its queries and retrievals find no "
                   "study; give --groups (\"all\" for every study, see tresor group --help)\n";
    }
    if (peer.require_identity) {
      std::cout << "requires a user identity (user name and passcode, or a Tresor JWT) with every "
                   "association\n";
    }
    if (!peer.certificate_sha256.empty()) {
      std::cout << "bound to client certificate "
                << security::DisplayFingerprint(peer.certificate_sha256)
                << "\n(this peer may connect over DICOM TLS only)\n";
    }
    if (!bundle.empty()) {
      std::cout << "certificate bundle for the modality: " << bundle << "/" << peer.name
                << ".key, " << peer.name << ".pem, ca.pem\n"
                << "e.g.: echoscu +tls " << bundle << "/" << peer.name << ".key " << bundle << "/"
                << peer.name << ".pem +cf " << bundle << "/ca.pem -aet " << peer.ae_title
                << " -aec TRESOR <host> 2762\n";
    }
    return 0;
  }
  if (verb == "list") {
    auto peers = archive.ListPeers(admin);
    if (!peers.ok()) return Fail(peers.status());
    std::printf("%-16s %-16s %-24s %-6s %-5s %-24s %s\n", "NAME", "AE TITLE", "HOST", "PORT",
                "TLS", "ALLOWED", "GROUPS");
    for (const auto& p : *peers) {
      std::printf("%-16s %-16s %-24s %-6d %-5s %-24s %s\n", p.name.c_str(), p.ae_title.c_str(),
                  p.host.c_str(), p.port, p.certificate_sha256.empty() ? "no" : "cert",
                  security::FormatServices(p.services).c_str(), GroupsText(p.groups).c_str());
    }
    return 0;
  }
  if (verb == "remove") {
    if (a.positional.size() != 2) return Fail(InvalidArgument("usage: tresor peer remove NAME"));
    auto removed = archive.RemovePeer(admin, a.positional[1]);
    if (!removed.ok()) return Fail(removed.status());
    if (!*removed) return Fail(NotFound("no peer named " + a.positional[1]));
    std::cout << "peer " << a.positional[1] << " removed\n";
    return 0;
  }
  return Fail(InvalidArgument("unknown peer command '" + verb + "'"));
}

// The password for `user add/passwd`: from stdin with --password-stdin, else generated.
std::string PasswordFromArgs(const Args& a, bool* generated) {
  *generated = !a.flags.count("password-stdin");
  if (*generated) return security::GeneratePassword();
  std::string line;
  std::getline(std::cin, line);
  return line;
}

int CmdUser(const Args& a) {
  // --password-stdin takes no value; accept "--password-stdin" given as a flag with any value.
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {"role", "groups", "password-stdin"}));
  if (a.positional.empty()) {
    return Fail(InvalidArgument("user needs add, groups, list, disable, enable or passwd"));
  }
  auto opened = OpenDataDir(ResolveDataDir(a.Flag("data")));
  if (!opened.ok()) return Fail(opened.status());
  archive::ArchiveService& archive = *(*opened)->archive;
  auto admin = archive::Principal::LocalAdmin();
  const std::string& verb = a.positional[0];
  if (verb == "list") {
    auto users = archive.ListUsers(admin);
    if (!users.ok()) return Fail(users.status());
    std::printf("%-24s %-14s %-9s %s\n", "NAME", "ROLE", "STATE", "GROUPS");
    for (const auto& u : *users) {
      std::printf("%-24s %-14s %-9s %s\n", u.name.c_str(), u.role.c_str(),
                  u.disabled ? "disabled" : "active", GroupsText(u.groups).c_str());
    }
    return 0;
  }
  if (verb == "groups") {
    if (a.positional.size() != 3) return Fail(InvalidArgument("usage: tresor user groups NAME LIST"));
    auto groups = store::ParseGroupList(a.positional[2]);
    if (!groups.ok()) return Fail(groups.status());
    Status st = archive.SetUserGroups(admin, a.positional[1], *groups);
    if (!st.ok()) return Fail(st);
    std::cout << "user " << a.positional[1] << ": access groups " << GroupsText(*groups) << "\n";
    return 0;
  }
  if (a.positional.size() != 2) return Fail(InvalidArgument("usage: tresor user " + verb + " NAME"));
  const std::string& name = a.positional[1];
  Status st;
  bool generated = false;
  std::string password;
  if (verb == "add") {
    if (a.Flag("role").empty()) return Fail(InvalidArgument("user add needs --role"));
    auto groups = store::ParseGroupList(a.Flag("groups"));
    if (!groups.ok()) return Fail(groups.status());
    password = PasswordFromArgs(a, &generated);
    st = archive.CreateUser(admin, name, a.Flag("role"), password, *groups);
  } else if (verb == "passwd") {
    password = PasswordFromArgs(a, &generated);
    st = archive.SetUserPassword(admin, name, password);
  } else if (verb == "disable" || verb == "enable") {
    st = archive.SetUserDisabled(admin, name, verb == "disable");
  } else {
    return Fail(InvalidArgument("unknown user command '" + verb + "'"));
  }
  if (!st.ok()) return Fail(st);
  std::cout << "user " << name << ": " << (verb == "add" ? "created" : verb == "passwd" ? "password changed" : verb + "d") << "\n";
  if (generated) std::cout << "Password (shown only now, store it safely): " << password << "\n";
  return 0;
}

int CmdGroup(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {"peer", "institution", "issuer"}));
  const std::string verb = a.positional.empty() ? "" : a.positional[0];
  auto opened = OpenDataDir(ResolveDataDir(a.Flag("data")));
  if (!opened.ok()) return Fail(opened.status());
  archive::ArchiveService& archive = *(*opened)->archive;
  auto admin = archive::Principal::LocalAdmin();
  if (verb == "list" && a.positional.size() == 1) {
    auto groups = archive.ListGroups(admin);
    auto rules = archive.ListGroupRules(admin);
    auto peers = archive.ListPeers(admin);
    auto users = archive.ListUsers(admin);
    if (!groups.ok()) return Fail(groups.status());
    if (!rules.ok()) return Fail(rules.status());
    if (!peers.ok()) return Fail(peers.status());
    if (!users.ok()) return Fail(users.status());
    auto members = [&](const std::string& g) {
      std::string out;
      auto in = [&](const std::vector<std::string>& gs) {
        return std::find(gs.begin(), gs.end(), g) != gs.end();
      };
      for (const auto& p : *peers) if (in(p.groups)) out += " peer:" + p.name;
      for (const auto& u : *users) if (in(u.groups)) out += " user:" + u.name;
      return out.empty() ? std::string(" (none)") : out;
    };
    std::cout << "all: every study; members:" << members(store::kAllStudiesGroup) << "\n";
    for (const auto& g : *groups) {
      std::cout << g.name << ": " << g.studies << " studies; members:" << members(g.name) << "\n";
      for (const auto& r : *rules) {
        if (r.group == g.name) {
          std::cout << "  rule: " << store::GroupRuleKindName(r.kind) << " = \"" << r.value << "\"\n";
        }
      }
    }
    return 0;
  }
  if (verb == "rule" && a.positional.size() == 3 &&
      (a.positional[1] == "add" || a.positional[1] == "remove")) {
    store::GroupRule rule;
    rule.group = a.positional[2];
    int given = 0;
    for (auto [flag, kind] : {std::pair{"peer", store::GroupRule::Kind::kPeer},
                              std::pair{"institution", store::GroupRule::Kind::kInstitution},
                              std::pair{"issuer", store::GroupRule::Kind::kIssuer}}) {
      if (a.flags.count(flag)) {
        rule.kind = kind;
        rule.value = a.Flag(flag);
        ++given;
      }
    }
    if (given != 1) return Fail(InvalidArgument("a rule needs one of --peer, --institution, --issuer"));
    std::string what = std::string(store::GroupRuleKindName(rule.kind)) + " = \"" + rule.value + "\"";
    if (a.positional[1] == "add") {
      auto added = archive.AddGroupRule(admin, rule);
      if (!added.ok()) return Fail(added.status());
      std::cout << "group " << rule.group << ": rule " << what << " added; " << *added
                << " archived studies added to the group\n";
    } else {
      auto removed = archive.RemoveGroupRule(admin, rule);
      if (!removed.ok()) return Fail(removed.status());
      if (!*removed) return Fail(NotFound("group " + rule.group + " has no rule " + what));
      std::cout << "group " << rule.group << ": rule " << what << " removed\n";
    }
    return 0;
  }
  if ((verb == "assign" || verb == "unassign") && a.positional.size() >= 3) {
    for (size_t i = 2; i < a.positional.size(); ++i) {
      Status st = archive.AssignStudy(admin, a.positional[1], a.positional[i], verb == "assign");
      if (!st.ok()) return Fail(st);
    }
    std::cout << "group " << a.positional[1] << ": " << a.positional.size() - 2 << " stud"
              << (a.positional.size() == 3 ? "y " : "ies ") << verb << "ed\n";
    return 0;
  }
  return Fail(InvalidArgument("usage: tresor group list | rule add|remove GROUP --peer|--institution|"
                              "--issuer VALUE | assign|unassign GROUP STUDY_UID..."));
}

int CmdToken(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {"user", "days"}));
  if (a.positional.size() != 2 || a.positional[0] != "create" || a.Flag("user").empty()) {
    return Fail(InvalidArgument("usage: tresor token create NAME --user USER [--days N]"));
  }
  int days = 90;
  try {
    days = std::stoi(a.Flag("days", "90"));
  } catch (...) {
    return Fail(InvalidArgument("--days needs a number"));
  }
  auto opened = OpenDataDir(ResolveDataDir(a.Flag("data")));
  if (!opened.ok()) return Fail(opened.status());
  auto token = (*opened)->archive->CreateApiToken(archive::Principal::LocalAdmin(),
                                                  a.positional[1], a.Flag("user"), days);
  if (!token.ok()) return Fail(token.status());
  std::cout << "API token " << a.positional[1] << " for user " << a.Flag("user") << ", valid "
            << days << " days (shown only now):\n" << *token << "\n";
  return 0;
}

// Stores one Part 10 file through the archive.
Result<archive::StoreOutcome> ImportFile(archive::ArchiveService& archive, const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError(std::string("cannot open: ") + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st {};
  fstat(fd, &st);
  dicom::FileRangeReader whole(fd, 0, static_cast<uint64_t>(st.st_size));
  TRESOR_ASSIGN_OR_RETURN(dicom::FileMeta meta, dicom::ReadFileMeta(whole));
  TRESOR_ASSIGN_OR_RETURN(
      std::unique_ptr<archive::Upload> upload,
      archive.BeginStore(archive::Principal::LocalAdmin(),
                         {meta.sop_class_uid, meta.sop_instance_uid, meta.transfer_syntax_uid}));
  std::vector<char> buf(1 << 20);
  uint64_t offset = meta.dataset_offset;
  while (offset < static_cast<uint64_t>(st.st_size)) {
    ssize_t got = pread(fd, buf.data(), buf.size(), static_cast<off_t>(offset));
    if (got < 0) return IoError(std::string("read failed: ") + std::strerror(errno));
    if (got == 0) break;
    TRESOR_RETURN_IF_ERROR(upload->Write(buf.data(), static_cast<size_t>(got)));
    offset += static_cast<uint64_t>(got);
  }
  return upload->Commit();
}

int CmdImport(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {"threads"}));
  if (a.positional.empty()) return Fail(InvalidArgument("import needs at least one PATH"));
  auto opened = OpenDataDir(ResolveDataDir(a.Flag("data")));
  if (!opened.ok()) return Fail(opened.status());
  Status st = dicom::CheckDictionaryLoaded();
  if (!st.ok()) return Fail(st);
  archive::ArchiveService& archive = *(*opened)->archive;

  std::vector<std::string> files;
  for (const std::string& p : a.positional) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      for (auto it = std::filesystem::recursive_directory_iterator(p, ec);
           it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (it->is_regular_file(ec)) files.push_back(it->path().string());
      }
    } else if (std::filesystem::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      std::cerr << "tresor: " << p << ": no such file or directory\n";
      return 1;
    }
  }
  std::sort(files.begin(), files.end());

  std::atomic<size_t> next{0}, done{0}, stored{0}, duplicate{0};
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> rejected;  // guarded by mu
  bool tty = isatty(STDERR_FILENO);
  auto progress = [&](bool final) {
    size_t d = done.load(), total = files.size();
    std::lock_guard<std::mutex> lock(mu);
    size_t rej = rejected.size();
    if (tty) {
      int width = 30;
      int filled = total ? static_cast<int>(width * d / total) : width;
      std::fprintf(stderr, "\r[%s%s] %zu/%zu  stored %zu  duplicate %zu  rejected %zu%s",
                   std::string(filled, '#').c_str(), std::string(width - filled, ' ').c_str(), d,
                   total, stored.load(), duplicate.load(), rej, final ? "\n" : "");
    } else if (final || d % 500 == 0) {
      std::fprintf(stderr, "import: %zu/%zu files\n", d, total);
    }
  };
  int threads = 4;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < files.size();) {
        auto r = ImportFile(archive, files[i]);
        if (r.ok()) {
          (*r == archive::StoreOutcome::kStored ? stored : duplicate)++;
        } else {
          std::lock_guard<std::mutex> lock(mu);
          rejected.emplace_back(files[i], r.status().message());
        }
        size_t d = ++done;
        if (tty ? d % 16 == 0 : d % 500 == 0) progress(false);
      }
    });
  }
  for (auto& t : pool) t.join();
  progress(true);
  std::sort(rejected.begin(), rejected.end());
  for (const auto& [file, why] : rejected) std::cout << "rejected " << file << ": " << why << "\n";
  std::cout << "import: " << files.size() << " files: " << stored << " stored, " << duplicate
            << " duplicate, " << rejected.size() << " rejected\n";
  return rejected.empty() ? 0 : 1;
}

int CmdSend(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {"to", "retries"}));
  if (a.Flag("to").empty() || a.positional.empty()) {
    return Fail(InvalidArgument("usage: tresor send --to PEER UID..."));
  }
  int retries = 2;
  try {
    retries = std::stoi(a.Flag("retries", "2"));
  } catch (...) {
    return Fail(InvalidArgument("--retries needs a number"));
  }
  auto opened = OpenDataDir(ResolveDataDir(a.Flag("data")));
  if (!opened.ok()) return Fail(opened.status());
  Status st = dicom::CheckDictionaryLoaded();
  if (!st.ok()) return Fail(st);
  dicom::RegisterCodecs();
  archive::ArchiveService& archive = *(*opened)->archive;
  auto admin = archive::Principal::LocalAdmin();
  auto peers = archive.ListPeers(admin);
  if (!peers.ok()) return Fail(peers.status());
  const security::Peer* peer = nullptr;
  for (const auto& p : *peers) {
    if (p.name == a.Flag("to")) peer = &p;
  }
  if (!peer) return Fail(NotFound("no peer named " + a.Flag("to") + " (see tresor peer list)"));

  // Each UID may name a study, a series or an instance.
  std::map<std::string, store::StoredInstance> todo;
  for (dicom::TagKey tag : {dicom::MakeTag(0x0020, 0x000D), dicom::MakeTag(0x0020, 0x000E),
                            dicom::MakeTag(0x0008, 0x0018)}) {
    dicom::Condition c;
    c.attribute = dicom::FindQueryAttribute(tag);
    c.kind = dicom::Condition::Kind::kList;
    c.list = a.positional;
    dicom::Query q;
    q.conditions.push_back(c);
    auto found = archive.ResolveRetrieve(admin, q, security::kMove);
    if (!found.ok()) return Fail(found.status());
    for (auto& i : *found) todo.emplace(i.sop_instance_uid, i);
  }
  if (todo.empty()) return Fail(NotFound("no archived instance matches the given UIDs"));

  dimse::StoreScu::Options options;
  options.calling_ae = (*opened)->config.ae_title;
  options.called_ae = peer->ae_title;
  options.host = peer->host;
  options.port = peer->port;
  std::map<std::string, std::string> failures;  // uid -> last reason
  size_t sent = 0;
  for (int attempt = 0; attempt <= retries && !todo.empty(); ++attempt) {
    if (attempt > 0) {
      std::cerr << "retrying " << todo.size() << " instance(s) (attempt " << attempt + 1 << ")\n";
    }
    std::vector<std::pair<std::string, std::string>> needed;
    for (const auto& [uid, i] : todo) needed.emplace_back(i.sop_class_uid, i.transfer_syntax_uid);
    auto scu = dimse::StoreScu::Connect(options, needed);
    if (!scu.ok()) {
      for (const auto& [uid, i] : todo) failures[uid] = scu.status().message();
      continue;
    }
    for (auto it = todo.begin(); it != todo.end();) {
      Result<uint16_t> status = Status(Code::kInternal, "not sent");
      auto object = archive.OpenResolved(it->second);
      status = object.ok() ? (*scu)->Send(**object, {}) : Result<uint16_t>(object.status());
      if (status.ok() && (*status == 0 || (*status & 0xF000) == 0xB000)) {
        std::cout << "sent " << it->first << "\n";
        failures.erase(it->first);
        ++sent;
        it = todo.erase(it);
      } else {
        char hex[8];
        std::snprintf(hex, sizeof hex, "%04x", status.ok() ? *status : 0);
        failures[it->first] =
            status.ok() ? std::string("refused with status 0x") + hex : status.status().message();
        ++it;
      }
    }
  }
  for (const auto& [uid, why] : failures) std::cout << "failed " << uid << ": " << why << "\n";
  std::cout << "send: " << sent << " sent, " << failures.size() << " failed, to " << peer->name
            << " (" << peer->ae_title << " at " << peer->host << ":" << peer->port << ")\n";
  return failures.empty() ? 0 : 1;
}

int CmdStats(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {}));
  auto opened = OpenDataDir(ResolveDataDir(a.Flag("data")));
  if (!opened.ok()) return Fail(opened.status());
  auto s = (*opened)->archive->Stats(archive::Principal::LocalAdmin());
  if (!s.ok()) return Fail(s.status());
  std::cout << "patients:  " << s->patients << "\n"
            << "studies:   " << s->studies << "\n"
            << "series:    " << s->series << "\n"
            << "instances: " << s->instances << "\n"
            << "bytes:     " << s->bytes << " (" << (s->bytes / (1024.0 * 1024.0)) << " MiB)\n";
  return 0;
}

int CmdCat(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {}));
  if (a.positional.size() != 1) return Fail(InvalidArgument("usage: tresor cat SOP_INSTANCE_UID"));
  auto opened = OpenDataDir(ResolveDataDir(a.Flag("data")));
  if (!opened.ok()) return Fail(opened.status());
  auto obj = (*opened)->archive->OpenInstance(archive::Principal::LocalAdmin(), a.positional[0]);
  if (!obj.ok()) return Fail(obj.status());
  std::vector<char> buf(1 << 20);
  for (uint64_t off = 0; off < (*obj)->size();) {
    auto got = (*obj)->ReadAt(buf.data(), buf.size(), off);
    if (!got.ok()) return Fail(got.status());
    if (*got == 0) break;
    if (std::fwrite(buf.data(), 1, *got, stdout) != *got) return Fail(IoError("write failed"));
    off += *got;
  }
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace
}  // namespace tresor::app

int main(int argc, char** argv) {
  using namespace tresor::app;
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  std::string cmd = argv[1];
  auto help = CommandHelp().find(cmd);
  if (help == CommandHelp().end()) {
    std::cerr << "tresor: unknown command '" << cmd << "'\n\n" << kUsage;
    return 2;
  }
  auto args = ParseArgs(argc, argv, 2);
  if (!args.ok()) return Fail(args.status());
  if (args->help) {
    std::cout << help->second;
    return 0;
  }
  if (cmd == "init") return CmdInit(*args);
  if (cmd == "serve") return CmdServe(*args);
  if (cmd == "peer") return CmdPeer(*args);
  if (cmd == "user") return CmdUser(*args);
  if (cmd == "group") return CmdGroup(*args);
  if (cmd == "token") return CmdToken(*args);
  if (cmd == "import") return CmdImport(*args);
  if (cmd == "stats") return CmdStats(*args);
  if (cmd == "send") return CmdSend(*args);
  return CmdCat(*args);
}
