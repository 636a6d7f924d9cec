// `tresor init` and `tresor serve`: creating a data directory and running the archive's
// listeners (DICOM, DICOM TLS, HTTPS) until a signal stops them.
#include <arpa/inet.h>
#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>

#include "app/cli.h"
#include "app/data_dir.h"
#include "archive/audit_forwarder.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/sha256.h"
#include "dicom/codecs.h"
#include "dicom/dictionary.h"
#include "dimse/server.h"
#include "security/tls_material.h"
#include "security/access_scope.h"
#include "syslog/tls_sink.h"
#include "dicomweb/dicomweb.h"
#include "web/https_server.h"
#include "web/site_routes.h"

namespace tresor::app {

int CmdInit(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {"config", "join", "node"}));
  std::string dir = ResolveDataDir(a.Flag("data"));
  if (!a.Flag("join").empty()) {
    // Another node of an existing (shared) archive: no new keys, no new administrator.
    if (!a.Flag("config").empty()) {
      return Fail(InvalidArgument("--join takes the configuration of the node it joins; "
                                  "edit " + dir + "/tresor.conf afterwards instead of --config"));
    }
    Status joined = JoinDataDir(a.Flag("join"), dir, a.Flag("node"), a.Flag("master-key"));
    if (!joined.ok()) return Fail(joined);
    std::cout << "Initialized Tresor data directory " << dir << " as node '" << a.Flag("node")
              << "' of the archive of " << a.Flag("join") << "\n"
              << "It shares that archive's index, blob store, master key, session and audit "
                 "keys\nand TLS identity (docs/deployment.md). Give it its own ports in "
              << dir << "/tresor.conf\n(or with tresor serve --dicom-port/--dicom-tls-port/"
                 "--http-port), then: tresor serve --data " << dir << "\n";
    return 0;
  }
  if (!a.Flag("node").empty()) {
    return Fail(InvalidArgument("--node goes with --join (set [cluster] node in --config otherwise)"));
  }
  std::string config_text;
  if (!a.Flag("config").empty()) {
    auto text = ReadTextFile(a.Flag("config"));
    if (!text.ok()) return Fail(NotFound("cannot read --config " + a.Flag("config")));
    config_text = *text;
  }
  auto password = InitDataDir(dir, a.Flag("master-key"), config_text);
  if (!password.ok()) return Fail(password.status());
  auto config = LoadConfig(dir + "/tresor.conf");
  std::string key_path = config.ok() ? MasterKeyPath(dir, *config, "") : "?";
  auto server_pem = ReadTextFile(dir + "/keys/server.pem");
  auto fingerprint = server_pem.ok() ? security::CertificateFingerprint(*server_pem)
                                     : Result<std::string>(server_pem.status());
  std::cout << "Initialized Tresor data directory " << dir << "\n\n"
            << "TLS: local CA keys/ca.pem; server certificate SHA-256 fingerprint\n  "
            << (fingerprint.ok() ? security::DisplayFingerprint(*fingerprint) : "?") << "\n\n"
            << "Encryption at rest: master key " << key_path << "\n"
            << "  (outside the data directory; back it up separately: without it the archive\n"
            << "  cannot be opened, see docs/encryption.md)\n\n"
            << "Administrator account: admin\n"
            << "Password (shown only now, store it safely): " << *password << "\n\n"
            << "Next: register a peer with 'tresor peer add', then 'tresor serve --data " << dir
            << "'.\n";
  return 0;
}

namespace {

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

// The sink of [audit] forwarding (docs/audit.md), or nullptr when forward_host is empty.
Result<std::unique_ptr<syslog::SyslogTlsSink>> MakeAuditSink(const std::string& dir,
                                                            const Config& c) {
  if (c.audit_forward_host.empty()) return std::unique_ptr<syslog::SyslogTlsSink>();
  if (c.audit_forward_ca_file.empty()) {
    return InvalidArgument(
        "audit.forward_host is set but audit.forward_ca_file is not: the collector's CA "
        "certificate must be given (no other CA is trusted)");
  }
  syslog::SyslogTlsOptions o;
  o.host = c.audit_forward_host;
  o.port = c.audit_forward_port;
  o.ca_file = InDataDir(dir, c.audit_forward_ca_file);
  o.certificate_file = InDataDir(
      dir, c.audit_forward_cert_file.empty() ? c.tls_certificate : c.audit_forward_cert_file);
  o.private_key_file = InDataDir(
      dir, c.audit_forward_key_file.empty() ? c.tls_private_key : c.audit_forward_key_file);
  o.timeout_seconds = c.audit_forward_timeout_seconds;
  o.identity.hostname = c.audit_forward_hostname;
  if (o.identity.hostname.empty()) {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) == 0) o.identity.hostname = name;
  }
  o.identity.procid = std::to_string(getpid());
  return syslog::SyslogTlsSink::Create(o, core::SystemClock::Instance());
}

// The allocator of a long-running server (glibc), set before any thread starts. By
// default glibc makes up to 8 arenas per core (a thread that finds the others busy
// gets a new one) and raises its mmap threshold to the largest block freed so far, so
// buffers of a MiB end up inside the heaps: memory freed by the server's many threads
// then stays spread over many heaps, resident, and RSS creeps up long after the working
// set stopped growing (docs/robustness.md, "Soak"). Here: two arenas per core, and
// blocks of 256 KiB or more are always mapped on their own and unmapped when freed.
void TuneAllocator() {
#ifdef __GLIBC__
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  const int arenas = static_cast<int>(std::clamp(2 * cores, 2L, 64L));
  if (mallopt(M_ARENA_MAX, arenas) != 1 || mallopt(M_MMAP_THRESHOLD, 256 * 1024) != 1) {
    TRESOR_LOG(kWarn) << "cannot tune the memory allocator (mallopt): resident memory may "
                         "creep up under load";
  }
#endif
}

// Gives the pages of free blocks inside the allocator's heaps back to the system (glibc
// keeps them resident otherwise, except at the top of each heap).
void TrimAllocator() {
#ifdef __GLIBC__
  malloc_trim(0);  // returns whether anything was released; nothing to check
#endif
}

}  // namespace

int CmdServe(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {"dicom-port", "dicom-tls-port", "http-port"}));
  std::string dir = ResolveDataDir(a.Flag("data"));
  auto opened = OpenDataDir(dir, a.Flag("master-key"));
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
  TuneAllocator();
  Status st = dicom::CheckDictionaryLoaded();
  if (!st.ok()) return Fail(st);
  st = o.archive->ingest().Recover();
  if (!st.ok()) return Fail(st);
  {
    // Application Start, with a digest of the configuration it runs with (changes to
    // tresor.conf show as a different digest between starts).
    auto conf = ReadTextFile(dir + "/tresor.conf");
    Sha256 digest;
    if (conf.ok()) digest.Update(conf->data(), conf->size());
    archive::AuditEvent e;
    e.id = archive::AuditEventId::kApplicationActivity;
    e.type = archive::AuditEventType::kApplicationStart;
    e.action = 'E';
    e.object = "configuration sha256 " + digest.FinishHex();
    e.summary = "archive started";
    st = o.archive->audit().Record(archive::Principal::LocalAdmin(), e);
    if (!st.ok()) return Fail(st);
  }
  dicom::RegisterCodecs();  // before any thread starts

  // Signals are taken by sigwait below; every thread started from here inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Audit forwarding: a background thread reading the trail from its cursor; audited
  // actions never wait for it. Stopped (declared after the sink) before the sink goes.
  auto audit_sink = MakeAuditSink(dir, o.config);
  if (!audit_sink.ok()) return Fail(audit_sink.status());
  std::unique_ptr<archive::AuditForwarder> forwarder;
  if (*audit_sink) {
    archive::AuditForwarderOptions fo;
    fo.confirm_after = std::chrono::seconds(o.config.audit_forward_confirm_seconds);
    fo.max_backoff = std::chrono::seconds(o.config.audit_forward_max_backoff_seconds);
    fo.min_backoff = std::min(fo.min_backoff, fo.max_backoff);
    forwarder = std::make_unique<archive::AuditForwarder>(o.archive->audit(), **audit_sink, fo,
                                                          core::SystemClock::Instance());
    st = forwarder->Start();
    if (!st.ok()) return Fail(st);
  }

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
  dimse::DimseServer server(*o.archive, scp, core::SystemClock::Instance());
  st = server.Start();
  if (!st.ok()) return Fail(st);

  // HTTPS (REST API, DICOMweb, the console and the viewer) from the same TLS material.
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
    web_options.max_connections_per_address = o.config.web_max_connections_per_address;
    web_options.handshake_timeout_seconds = o.config.web_handshake_timeout_seconds;
    web_options.cors_origins = o.config.web_cors_origins;
    auto router = web::MakeRestRouter(*o.archive);
    dicomweb::DicomWebOptions dicomweb_options;
    dicomweb_options.max_upload_bytes = o.config.dicomweb_max_upload_bytes;
    dicomweb_options.qido_default_limit = static_cast<size_t>(o.config.dicomweb_qido_default_limit);
    dicomweb_options.qido_max_limit = static_cast<size_t>(o.config.dicomweb_qido_max_limit);
    dicomweb_options.max_concurrent_renders = o.config.dicomweb_max_concurrent_renders;
    dicomweb_options.max_render_pixels = o.config.dicomweb_max_render_pixels;
    dicomweb::AddDicomWebRoutes(*router, *o.archive, dicomweb_options);
    web::SiteOptions site;  // after every API route: the console takes the rest
    site.console_dir = o.config.web_console_dir.empty()
                           ? std::string()
                           : InDataDir(dir, o.config.web_console_dir);
    site.viewer_dir = o.config.web_viewer_dir.empty() ? web::DefaultViewerDir()
                                                      : InDataDir(dir, o.config.web_viewer_dir);
    web::AddSiteRoutes(*router, site);
    https = std::make_unique<web::HttpsServer>(std::move(router), web_options,
                                                core::SystemClock::Instance());
    st = https->Start();
    if (!st.ok()) return Fail(st);
    TRESOR_LOG(kInfo) << "HTTPS listener on " << o.config.bind_address << ":" << https->port();
  }

  auto stats = o.archive->catalog().Stats(archive::Principal::LocalAdmin());
  auto peers = o.archive->admin().ListPeers(archive::Principal::LocalAdmin());
  if (server.port() >= 0) {
    TRESOR_LOG(kInfo) << "DICOM listener on " << o.config.bind_address << ":" << server.port()
                      << " AE " << o.config.ae_title;
  }
  if (server.tls_port() >= 0) {
    TRESOR_LOG(kInfo) << "DICOM TLS listener on " << o.config.bind_address << ":"
                      << server.tls_port() << " AE " << o.config.ae_title;
  }
  std::cout << "Tresor is serving " << dir << " ("
            << (stats.ok() ? std::to_string(stats->instances) : std::string("?")) << " instances)\n"
            << "  DICOM:     host " << o.config.bind_address << ", port " << server.port()
            << ", called AE title " << o.config.ae_title << "\n"
            << "  DICOM TLS: host " << o.config.bind_address << ", port " << server.tls_port()
            << " (client certificate required; enroll peers with 'tresor peer enroll')\n"
            << "  HTTPS:     https://" << o.config.bind_address << ":"
            << (https ? https->port() : -1) << "/api/health (CA: " << dir << "/keys/ca.pem)\n"
            << "Only registered peers may connect. Registered now:\n";
  std::string example_ae = "CALLING_AE";
  if (peers.ok() && !peers->empty()) {
    for (const auto& p : *peers) {
      bool reads = (p.services & (security::kFind | security::kMove | security::kGet)) != 0;
      std::cout << "  " << p.name << ": calling AE " << p.ae_title << " from " << p.host << " ("
                << security::FormatServices(p.services) << ")"
                << (!reads               ? ""
                    : p.groups.empty()   ? "; in no access group: sees no study"
                                         : "; access groups " + security::FormatGroupList(p.groups))
                << "\n";
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

  // Waits for a signal, signing a checkpoint of the audit trail every five minutes and
  // trimming the allocator's heaps every ten seconds.
  constexpr auto kCheckpointEvery = std::chrono::minutes(5);
  constexpr int kTrimSeconds = 10;
  const core::Clock& clock = core::SystemClock::Instance();
  core::Deadline checkpoint(clock, kCheckpointEvery);
  int sig = -1;
  while (sig < 0) {
    timespec wait{kTrimSeconds, 0};
    sig = sigtimedwait(&signals, nullptr, &wait);
    if (sig < 0 && errno != EAGAIN && errno != EINTR) break;
    if (sig < 0) {
      TrimAllocator();
      if (!checkpoint.Expired()) continue;
      checkpoint.Restart(kCheckpointEvery);
      Status signed_now = o.archive->audit().Checkpoint();
      if (!signed_now.ok()) TRESOR_LOG(kError) << "audit checkpoint failed: " << signed_now.ToString();
    }
  }
  TRESOR_LOG(kInfo) << "signal " << sig << " received, stopping";
  if (https) https->Stop();
  server.Stop();
  archive::AuditEvent stop;
  stop.id = archive::AuditEventId::kApplicationActivity;
  stop.type = archive::AuditEventType::kApplicationStop;
  stop.summary = "archive stopped";
  Status stopped = o.archive->audit().Record(archive::Principal::LocalAdmin(), stop);
  if (!stopped.ok()) TRESOR_LOG(kError) << "audit: " << stopped.ToString();
  Status signed_last = o.archive->audit().Checkpoint();
  if (!signed_last.ok()) TRESOR_LOG(kError) << "audit checkpoint failed: " << signed_last.ToString();
  if (forwarder) forwarder->Stop();
  return 0;
}

}  // namespace tresor::app
