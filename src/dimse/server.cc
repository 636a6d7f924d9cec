#include "dimse/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>
#include <dcmtk/dcmnet/dcmlayer.h>
#include <dcmtk/dcmnet/dcmtrans.h>
#include <dcmtk/dcmnet/dcuserid.h>
#include <dcmtk/dcmnet/dul.h>

#include <openssl/x509.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/log.h"
#include "dicom/transfer_syntax.h"
#include "dimse/association.h"
#include "dimse/guarded_transport.h"
#include "dimse/pdu_guard.h"
#include "dimse/status_mapping.h"

namespace tresor::dimse {
namespace {

// The largest A-ASSOCIATE-RQ PDU we wait for; real ones are a few kilobytes.
constexpr uint32_t kMaxAssociateRqBytes = 1 << 20;

// Serializes the hand-over of an accepted socket to DCMTK, which reads it from a
// process-wide global. Held only while the A-ASSOCIATE-RQ is parsed from bytes that
// have already arrived, so it is never held while waiting on a client.
std::mutex g_handover_mu;

struct AssociationDeleter {
  void operator()(T_ASC_Association* a) const {
    ASC_dropSCPAssociation(a);
    ASC_destroyAssociation(&a);
  }
};
using AssociationPtr = std::unique_ptr<T_ASC_Association, AssociationDeleter>;

std::string AddressOf(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, buf, sizeof buf);
  } else if (ss.ss_family == AF_INET6) {
    const auto& a6 = reinterpret_cast<const sockaddr_in6&>(ss);
    if (IN6_IS_ADDR_V4MAPPED(&a6.sin6_addr)) {
      inet_ntop(AF_INET, &a6.sin6_addr.s6_addr[12], buf, sizeof buf);
    } else {
      inet_ntop(AF_INET6, &a6.sin6_addr, buf, sizeof buf);
    }
  }
  return buf;
}

// Reads and discards what the peer has already sent (at most 1 MiB, never waiting), so
// closing the socket later is less likely to reset the connection before the peer has
// read our last PDU.
void DiscardPending(int fd) {
  char sink[65536];
  for (int i = 0; i < 16; ++i) {
    if (recv(fd, sink, sizeof sink, MSG_DONTWAIT) <= 0) return;
  }
}

// What both guarded connections offer beyond DcmTransportConnection.
class GuardedStream {
 public:
  virtual ~GuardedStream() = default;
  virtual const PduGuard& guard() const = 0;
  // Sends `pdu` (one complete PDU, without waiting for a full send buffer to drain) and
  // ends the connection: the peer reads the PDU, then end of stream; every later read or
  // write of ours fails.
  virtual void SendFinal(const unsigned char* pdu, size_t n) = 0;
};

GuardedStream* StreamOf(T_ASC_Association* assoc) {
  if (!assoc || !assoc->DULassociation) return nullptr;
  return dynamic_cast<GuardedStream*>(DUL_getTransportConnection(assoc->DULassociation));
}

// A TCP connection whose received bytes pass PduGuard before DCMTK sees them. On a
// violation it sends an A-ABORT (source: service provider, reason: invalid PDU
// parameter value) and reports a read error, which ends the association.
class GuardedConnection : public DcmTCPConnection, public GuardedStream {
 public:
  GuardedConnection(DcmNativeSocketType socket, uint32_t max_pdu)
      : DcmTCPConnection(socket), guard_(max_pdu) {}

  const PduGuard& guard() const override { return guard_; }

  void SendFinal(const unsigned char* pdu, size_t n) override {
    if (ended_ || getSocket() < 0) return;
    ended_ = true;
    (void)!::send(getSocket(), pdu, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(getSocket(), SHUT_WR);
    DiscardPending(getSocket());
  }

  ssize_t write(void* buf, size_t nbyte) override {
    if (ended_) {
      errno = EPIPE;
      return -1;
    }
    return DcmTCPConnection::write(buf, nbyte);
  }

  ssize_t read(void* buf, size_t nbyte) override {
    if (failed_ || ended_) {
      errno = ECONNRESET;
      return -1;
    }
    ssize_t n = DcmTCPConnection::read(buf, nbyte);
    if (n > 0 && !guard_.Feed(static_cast<const uint8_t*>(buf), static_cast<size_t>(n))) {
      failed_ = true;
      TRESOR_LOG(kWarn) << "association aborted: " << guard_.error();
      static const unsigned char kAbort[10] = {0x07, 0, 0, 0, 0, 4, 0, 0, 2, 6};
      (void)!::send(getSocket(), kAbort, sizeof kAbort, MSG_NOSIGNAL);
      errno = ECONNRESET;
      return -1;
    }
    return n;
  }

 private:
  PduGuard guard_;
  bool failed_ = false;
  bool ended_ = false;  // SendFinal ran
};

// A TLS connection whose handshake Tresor already completed; decrypted bytes pass
// PduGuard before DCMTK sees them, as on plain TCP.
class GuardedTlsConnection : public DcmTransportConnection, public GuardedStream {
 public:
  GuardedTlsConnection(DcmNativeSocketType socket, SSL* ssl, uint32_t max_pdu)
      : DcmTransportConnection(socket), ssl_(ssl), guard_(max_pdu) {}
  ~GuardedTlsConnection() override { close(); }

  const PduGuard& guard() const override { return guard_; }

  // The PDU, then close_notify, then the TCP FIN; the TLS session is freed, so no later
  // SSL_shutdown can wait for the peer's close_notify.
  void SendFinal(const unsigned char* pdu, size_t n) override {
    if (!ssl_ || getSocket() < 0) return;
    SSL_write(ssl_.get(), pdu, static_cast<int>(n));
    SSL_shutdown(ssl_.get());
    ssl_.reset();
    ::shutdown(getSocket(), SHUT_WR);
    DiscardPending(getSocket());
  }

  OFCondition serverSideHandshake() override { return EC_Normal; }  // done before
  OFCondition clientSideHandshake() override { return EC_Normal; }
  OFCondition renegotiate(const char*) override { return EC_Normal; }

  ssize_t read(void* buf, size_t nbyte) override {
    if (!ssl_ || failed_) {
      errno = ECONNRESET;
      return -1;
    }
    int n = SSL_read(ssl_.get(), buf, static_cast<int>(std::min<size_t>(nbyte, 1 << 30)));
    if (n <= 0) {
      errno = ECONNRESET;
      return SSL_get_error(ssl_.get(), n) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
    if (!guard_.Feed(static_cast<const uint8_t*>(buf), static_cast<size_t>(n))) {
      failed_ = true;
      TRESOR_LOG(kWarn) << "association aborted: " << guard_.error();
      static const unsigned char kAbort[10] = {0x07, 0, 0, 0, 0, 4, 0, 0, 2, 6};
      SSL_write(ssl_.get(), kAbort, sizeof kAbort);
      errno = ECONNRESET;
      return -1;
    }
    return n;
  }

  ssize_t write(void* buf, size_t nbyte) override {
    if (!ssl_) {
      errno = ECONNRESET;
      return -1;
    }
    int n = SSL_write(ssl_.get(), buf, static_cast<int>(std::min<size_t>(nbyte, 1 << 30)));
    if (n <= 0) {
      errno = ECONNRESET;
      return -1;
    }
    return n;
  }

  void close() override {
    if (ssl_) {
      SSL_shutdown(ssl_.get());
      ssl_.reset();
    }
    if (getSocket() >= 0) {
      ::close(getSocket());
      setSocket(-1);
    }
  }
  void closeTransportConnection() override {
    if (getSocket() >= 0) ::shutdown(getSocket(), SHUT_RDWR);
  }
  unsigned long getPeerCertificateLength() override {
    X509* cert = ssl_ ? SSL_get0_peer_certificate(ssl_.get()) : nullptr;
    return cert ? static_cast<unsigned long>(i2d_X509(cert, nullptr)) : 0;
  }
  unsigned long getPeerCertificate(void* buf, unsigned long len) override {
    X509* cert = ssl_ ? SSL_get0_peer_certificate(ssl_.get()) : nullptr;
    if (!cert || getPeerCertificateLength() > len) return 0;
    auto* p = static_cast<unsigned char*>(buf);
    return static_cast<unsigned long>(i2d_X509(cert, &p));
  }
  OFBool networkDataAvailable(int timeout) override {
    if (ssl_ && SSL_has_pending(ssl_.get())) return OFTrue;  // read-ahead data counts too
    pollfd p{getSocket(), POLLIN, 0};
    return poll(&p, 1, timeout * 1000) > 0 ? OFTrue : OFFalse;
  }
  OFBool isTransparentConnection() override { return OFFalse; }
  OFString& dumpConnectionParameters(OFString& str) override {
    str = ssl_ ? OFString("TLS connection, ") + SSL_get_version(ssl_.get()) + " " +
                     SSL_get_cipher_name(ssl_.get())
               : OFString("closed TLS connection");
    return str;
  }

 private:
  SslPtr ssl_;
  PduGuard guard_;
  bool failed_ = false;
};

// The TLS connection a worker has just handshaken, for the transport layer to adopt
// while that same thread runs ASC_receiveAssociation (under g_handover_mu).
thread_local SSL* t_handover_ssl = nullptr;

// Hands out a guarded connection for every accepted socket of the network.
class GuardedTransportLayer : public DcmTransportLayer {
 public:
  explicit GuardedTransportLayer(uint32_t max_pdu) : max_pdu_(max_pdu) {}
  DcmTransportConnection* createConnection(DcmNativeSocketType socket, OFBool) override {
    if (t_handover_ssl) {
      SSL* ssl = t_handover_ssl;
      t_handover_ssl = nullptr;  // adopted
      return new GuardedTlsConnection(socket, ssl, max_pdu_);
    }
    return new GuardedConnection(socket, max_pdu_);
  }

 private:
  uint32_t max_pdu_;
};

// Where a new plain connection stands with its A-ASSOCIATE-RQ.
enum class RqState { kComplete, kPartial, kNothingYet, kBad };

// Checks, without blocking, whether the complete A-ASSOCIATE-RQ PDU is in the socket's
// receive buffer. kBad (with `why`) for anything that cannot become one.
RqState CheckAssociateRq(int fd, std::string* why) {
  unsigned char head[6];
  ssize_t got = recv(fd, head, sizeof head, MSG_PEEK | MSG_DONTWAIT);
  if (got == 0) {
    *why = "closed before sending an A-ASSOCIATE-RQ";
    return RqState::kBad;
  }
  if (got < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return RqState::kNothingYet;
    *why = std::string("connection error: ") + std::strerror(errno);
    return RqState::kBad;
  }
  if (head[0] != 0x01) {
    *why = "first PDU is not an A-ASSOCIATE-RQ";
    return RqState::kBad;
  }
  if (got < 6) return RqState::kPartial;
  uint32_t length = uint32_t{head[2]} << 24 | uint32_t{head[3]} << 16 | uint32_t{head[4]} << 8 | head[5];
  if (length > kMaxAssociateRqBytes) {
    *why = "A-ASSOCIATE-RQ too large";
    return RqState::kBad;
  }
  int available = 0;
  if (ioctl(fd, FIONREAD, &available) == 0 &&
      static_cast<uint64_t>(available) >= uint64_t{length} + 6) {
    return RqState::kComplete;
  }
  return RqState::kPartial;
}

bool IsSupportedAbstractSyntax(const char* uid) {
  static const char* kQueryRetrieve[] = {
      UID_FINDPatientRootQueryRetrieveInformationModel,
      UID_FINDStudyRootQueryRetrieveInformationModel,
      UID_MOVEPatientRootQueryRetrieveInformationModel,
      UID_MOVEStudyRootQueryRetrieveInformationModel,
      UID_GETPatientRootQueryRetrieveInformationModel,
      UID_GETStudyRootQueryRetrieveInformationModel,
  };
  for (const char* qr : kQueryRetrieve) {
    if (std::strcmp(uid, qr) == 0) return true;
  }
  return std::strcmp(uid, UID_VerificationSOPClass) == 0 ||
         dcmIsaStorageSOPClassUID(uid, ESSC_All);
}

// Accepts each proposed presentation context whose abstract syntax we serve, with the
// first transfer syntax *in the requestor's order* that we accept, so objects arrive
// (and are archived) in the encoding the sender prefers, usually the one it holds.
void NegotiatePresentationContexts(T_ASC_Parameters* params) {
  dicom::Encoding unused;
  int n = ASC_countPresentationContexts(params);
  for (int i = 0; i < n; ++i) {
    T_ASC_PresentationContext pc;
    if (ASC_getPresentationContext(params, i, &pc).bad()) continue;
    if (!IsSupportedAbstractSyntax(pc.abstractSyntax)) {
      ASC_refusePresentationContext(params, pc.presentationContextID,
                                    ASC_P_ABSTRACTSYNTAXNOTSUPPORTED);
      continue;
    }
    const char* chosen = nullptr;
    for (int t = 0; t < pc.transferSyntaxCount && !chosen; ++t) {
      if (dicom::EncodingOf(pc.proposedTransferSyntaxes[t], &unused)) {
        chosen = pc.proposedTransferSyntaxes[t];
      }
    }
    if (chosen) {
      // A C-GET requestor proposes the SCP role for the storage classes it wants to
      // receive (SCP/SCU role selection); grant the role it asked for.
      ASC_acceptPresentationContext(params, pc.presentationContextID, chosen, pc.proposedRole);
    } else {
      ASC_refusePresentationContext(params, pc.presentationContextID,
                                    ASC_P_TRANSFERSYNTAXESNOTSUPPORTED);
    }
  }
}

}  // namespace

const AssociateRqCheck* AssociateRqCheckOf(T_ASC_Association* assoc) {
  GuardedStream* stream = StreamOf(assoc);
  return stream ? &stream->guard().associate_check() : nullptr;
}

void RejectAssociation(T_ASC_Association* assoc, const T_ASC_RejectParameters& params) {
  // PS3.8 9.3.4: type 03H, reserved, length 4, reserved, result, source, reason.
  const unsigned char rj[10] = {0x03, 0, 0, 0, 0, 4, 0,
                                static_cast<unsigned char>(params.result),
                                static_cast<unsigned char>(params.source),
                                static_cast<unsigned char>(params.reason)};
  if (GuardedStream* stream = StreamOf(assoc)) {
    stream->SendFinal(rj, sizeof rj);
    return;
  }
  T_ASC_RejectParameters copy = params;
  ASC_rejectAssociation(assoc, &copy);
}

void AbortAssociation(T_ASC_Association* assoc) {
  // PS3.8 9.3.8: type 07H, reserved, length 4, reserved (2), source 0 (service user), reason 0.
  static const unsigned char kAbort[10] = {0x07, 0, 0, 0, 0, 4, 0, 0, 0, 0};
  if (GuardedStream* stream = StreamOf(assoc)) {
    stream->SendFinal(kAbort, sizeof kAbort);
    return;
  }
  ASC_abortAssociation(assoc);
}

DimseServer::DimseServer(archive::ArchiveService& archive, ScpOptions options,
                         const core::Clock& clock)
    : archive_(archive), options_(std::move(options)), clock_(clock) {}

DimseServer::~DimseServer() { Stop(); }

Status DimseServer::Start() {
  // Disable Nagle for every connection DCMTK opens or accepts.
  setenv("TCP_NODELAY", "1", 1);
  dcmDisableGethostbyaddr.set(OFTrue);

  if (options_.port >= 0) TRESOR_RETURN_IF_ERROR(Listen(options_.port, &listen_fd_, &port_));
  if (options_.tls_port >= 0) {
    TRESOR_ASSIGN_OR_RETURN(tls_ctx_, CreateServerTlsContext(options_.tls));
    TRESOR_RETURN_IF_ERROR(Listen(options_.tls_port, &tls_listen_fd_, &tls_port_));
  }
  if (listen_fd_ < 0 && tls_listen_fd_ < 0) return InvalidArgument("no DICOM listener configured");

  // An acceptor network without a listen socket of its own: DCMTK creates none while an
  // external socket handle is set. Each association's socket is handed over later.
  T_ASC_Network* net = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_handover_mu);
    dcmExternalSocketHandle.set(listen_fd_ >= 0 ? listen_fd_ : tls_listen_fd_);
    OFCondition cond = ASC_initializeNetwork(NET_ACCEPTOR, 0, options_.artim_seconds, &net);
    dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
    if (cond.bad()) return Internal(std::string("DICOM network setup failed: ") + cond.text());
  }
  network_ = net;
  // Owned by the network from here on.
  OFCondition layer = ASC_setTransportLayer(net, new GuardedTransportLayer(options_.max_pdu_bytes), 1);
  if (layer.bad()) return Internal(std::string("DICOM transport setup failed: ") + layer.text());
  if (pipe2(wake_pipe_, O_CLOEXEC) != 0) return IoError("pipe failed");

  for (int i = 0; i < options_.max_associations; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return Status::Ok();
}

Status DimseServer::Listen(int port, int* out_fd, int* bound_port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port_text = std::to_string(port);
  int rc = getaddrinfo(options_.bind_address.c_str(), port_text.c_str(), &hints, &res);
  if (rc != 0) {
    return InvalidArgument("cannot resolve bind address '" + options_.bind_address +
                           "': " + gai_strerror(rc));
  }
  std::string last_error = "no address";
  int listen_fd = -1;
  for (addrinfo* p = res; p; p = p->ai_next) {
    int fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, p->ai_addr, p->ai_addrlen) == 0 && listen(fd, 128) == 0) {
      listen_fd = fd;
      break;
    }
    last_error = std::strerror(errno);
    close(fd);
  }
  freeaddrinfo(res);
  if (listen_fd < 0) {
    return IoError("cannot listen on " + options_.bind_address + ":" + port_text + ": " + last_error);
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  getsockname(listen_fd, reinterpret_cast<sockaddr*>(&bound), &len);
  *bound_port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(bound).sin6_port
                                                  : reinterpret_cast<sockaddr_in&>(bound).sin_port);
  *out_fd = listen_fd;
  return Status::Ok();
}

void DimseServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (int fd : active_fds_) shutdown(fd, SHUT_RDWR);
    for (const Connection& c : queue_) close(c.fd);
    queue_.clear();
  }
  cv_.notify_all();
  if (wake_pipe_[1] >= 0) {
    char b = 1;
    (void)!write(wake_pipe_[1], &b, 1);
  }
  if (acceptor_.joinable()) acceptor_.join();
  for (auto& t : workers_) t.join();
  workers_.clear();
  if (network_) {
    auto* net = static_cast<T_ASC_Network*>(network_);
    ASC_dropNetwork(&net);
    network_ = nullptr;
  }
  if (listen_fd_ >= 0) close(listen_fd_);
  if (tls_listen_fd_ >= 0) close(tls_listen_fd_);
  tls_listen_fd_ = -1;
  if (wake_pipe_[0] >= 0) close(wake_pipe_[0]);
  if (wake_pipe_[1] >= 0) close(wake_pipe_[1]);
  listen_fd_ = wake_pipe_[0] = wake_pipe_[1] = -1;
}

void DimseServer::Enqueue(const Connection& c) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Connections an idle worker is about to take do not count as waiting.
    size_t waiting = queue_.size() > static_cast<size_t>(idle_workers_)
                         ? queue_.size() - static_cast<size_t>(idle_workers_)
                         : 0;
    if (stopping_ || waiting >= static_cast<size_t>(options_.max_pending_connections)) {
      if (!stopping_) {
        TRESOR_LOG(kWarn) << "connection from " << c.address
                          << " closed: all workers busy and the queue is full";
      }
      close(c.fd);
      return;
    }
    if (c.tls) ++handshaking_[c.address];
    queue_.push_back(c);
    if (queue_.size() > static_cast<size_t>(idle_workers_)) {
      TRESOR_LOG(kInfo) << "connection from " << c.address << " queued: all workers busy ("
                        << queue_.size() - static_cast<size_t>(idle_workers_) << " waiting)";
    }
  }
  cv_.notify_one();
}

void DimseServer::AcceptLoop() {
  // Plain connections wait here, in one poll set, until their A-ASSOCIATE-RQ has fully
  // arrived (or ARTIM expires): a silent or slow client costs a socket, never a worker.
  struct Waiting {
    Connection c;
    core::Deadline artim;  // decided on clock_; poll only wakes the check
    bool partial;
  };
  std::vector<Waiting> waiting;
  std::map<std::string, int> waiting_per_address;
  const size_t kMaxWaiting = 4096;
  const int kMaxWaitingPerAddress = 256;
  auto drop = [&](size_t i, const std::string& why) {
    TRESOR_LOG(kWarn) << "connection from " << waiting[i].c.address << " dropped: " << why;
    close(waiting[i].c.fd);
    if (--waiting_per_address[waiting[i].c.address] <= 0) {
      waiting_per_address.erase(waiting[i].c.address);
    }
    waiting[i] = waiting.back();
    waiting.pop_back();
  };
  while (true) {
    std::vector<pollfd> fds = {{wake_pipe_[0], POLLIN, 0},
                               {listen_fd_, POLLIN, 0},
                               {tls_listen_fd_, POLLIN, 0}};
    bool any_partial = false;
    // Wake up for the earliest ARTIM deadline, at least once a second.
    int64_t next_ms = 1000;
    for (const Waiting& w : waiting) {
      // A partial PDU keeps the socket readable; re-check those on a short timer.
      fds.push_back({w.c.fd, static_cast<short>(w.partial ? 0 : POLLIN), 0});
      any_partial |= w.partial;
      next_ms = std::min<int64_t>(next_ms, w.artim.Remaining().count());
    }
    int timeout = waiting.empty() ? -1
                  : any_partial  ? 20
                                 : static_cast<int>(std::max<int64_t>(1, next_ms));
    if (poll(fds.data(), fds.size(), timeout) < 0) {
      if (errno == EINTR) continue;
      TRESOR_LOG(kError) << "accept loop: poll failed: " << std::strerror(errno);
      break;
    }
    if (fds[0].revents) break;
    for (int listener = 1; listener <= 2; ++listener) {
      if (!(fds[listener].revents & POLLIN)) continue;
      bool tls = listener == 2;
      sockaddr_storage from{};
      socklen_t len = sizeof from;
      int fd = accept4(tls ? tls_listen_fd_ : listen_fd_, reinterpret_cast<sockaddr*>(&from), &len,
                       SOCK_CLOEXEC);
      if (fd < 0) continue;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      Connection c{fd, AddressOf(from), tls};
      if (tls) {
        // The TLS handshake runs on a worker (bounded by ARTIM); one address may hold
        // only a few workers that way.
        int busy;
        {
          std::lock_guard<std::mutex> lock(mu_);
          busy = handshaking_[c.address];
        }
        if (busy >= std::max(2, options_.max_associations / 4)) {
          TRESOR_LOG(kWarn) << "TLS connection from " << c.address << " closed: " << busy
                            << " connections from this address are still in their handshake";
          close(fd);
          continue;
        }
        Enqueue(c);
        continue;
      }
      if (waiting.size() >= kMaxWaiting || waiting_per_address[c.address] >= kMaxWaitingPerAddress) {
        TRESOR_LOG(kWarn) << "connection from " << c.address
                          << " closed: too many connections waiting for their association request";
        close(fd);
        continue;
      }
      ++waiting_per_address[c.address];
      waiting.push_back({c, core::Deadline(clock_, std::chrono::seconds(options_.artim_seconds)), false});
    }
    for (size_t i = 0; i < waiting.size();) {
      std::string why;
      RqState state = CheckAssociateRq(waiting[i].c.fd, &why);
      if (state == RqState::kComplete) {
        Connection c = waiting[i].c;
        if (--waiting_per_address[c.address] <= 0) waiting_per_address.erase(c.address);
        waiting[i] = waiting.back();
        waiting.pop_back();
        Enqueue(c);
      } else if (state == RqState::kBad) {
        drop(i, why);
      } else if (waiting[i].artim.Expired()) {
        drop(i, "no complete A-ASSOCIATE-RQ within the ARTIM timeout");
      } else {
        waiting[i].partial = state == RqState::kPartial;
        ++i;
      }
    }
  }
  for (const Waiting& w : waiting) close(w.c.fd);
}

void DimseServer::WorkerLoop() {
  while (true) {
    Connection c;
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++idle_workers_;
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      --idle_workers_;
      if (stopping_) return;
      c = queue_.front();
      queue_.pop_front();
      active_fds_.insert(c.fd);
    }
    Serve(c);
    std::lock_guard<std::mutex> lock(mu_);
    active_fds_.erase(c.fd);
  }
}

void DimseServer::Serve(const Connection& c) {
  // The connection counts as handshaking until the association request has been read.
  struct Handshake {
    DimseServer* server;
    std::string address;
    bool done;
    void Finish() {
      if (done) return;
      done = true;
      std::lock_guard<std::mutex> lock(server->mu_);
      if (--server->handshaking_[address] <= 0) server->handshaking_.erase(address);
    }
    ~Handshake() { Finish(); }
  } handshake{this, c.address, !c.tls};  // only TLS connections are counted
  std::string why;
  core::Deadline deadline(clock_, std::chrono::seconds(options_.artim_seconds));
  SslPtr ssl;
  std::string fingerprint;
  if (c.tls) {
    auto accepted = AcceptTls(tls_ctx_.get(), c.fd, deadline, &fingerprint);
    if (!accepted.ok()) {
      TRESOR_LOG(kWarn) << "TLS connection from " << c.address << " dropped: "
                        << accepted.status().message();
      close(c.fd);
      return;
    }
    ssl = std::move(accepted).value();
    if (!WaitForAssociateRqTls(ssl.get(), c.fd, deadline, &why)) {
      TRESOR_LOG(kWarn) << "TLS connection from " << c.address << " dropped: " << why;
      SSL_shutdown(ssl.get());
      close(c.fd);
      return;
    }
  }  // plain connections reach a worker only once their A-ASSOCIATE-RQ has arrived
  T_ASC_Association* raw = nullptr;
  OFCondition cond;
  {
    std::lock_guard<std::mutex> lock(g_handover_mu);
    dcmExternalSocketHandle.set(c.fd);
    t_handover_ssl = ssl.get();
    cond = ASC_receiveAssociation(static_cast<T_ASC_Network*>(network_), &raw,
                                  static_cast<long>(options_.max_pdu_bytes), nullptr, nullptr,
                                  OFFalse, DUL_NOBLOCK, 5);
    if (t_handover_ssl == nullptr) (void)ssl.release();  // now owned by the connection
    t_handover_ssl = nullptr;
    dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
  }
  handshake.Finish();
  // The socket belongs to DCMTK's DUL association once DCMTK has made one. A request
  // can fail before that with the association already allocated (the peer reset the
  // connection before DCMTK asked for its address: getpeername fails), and then the
  // socket is still ours to close: a client resetting right after its request used to
  // leak one descriptor each time (found by fuzzing).
  const bool dcmtk_owns_socket = raw != nullptr && raw->DULassociation != nullptr;
  AssociationPtr assoc(raw);
  if (cond.bad()) {
    TRESOR_LOG(kWarn) << "association request from " << c.address << " unreadable: "
                      << cond.text();
    shutdown(c.fd, SHUT_RDWR);
    if (!dcmtk_owns_socket) close(c.fd);
    return;
  }
  // Fields DCMTK's parser lets through (AE titles cut at a NUL, even or repeated
  // presentation context IDs) are refused before admission looks at the titles.
  const AssociateRqCheck* check = AssociateRqCheckOf(assoc.get());
  if (!check || check->problem != AssociateRqProblem::kNone) {
    TRESOR_LOG(kWarn) << "association request from " << c.address << " rejected: "
                      << (check ? check->detail : "connection not guarded");
    AssociationRefusal why = !check ? AssociationRefusal::kAdmissionFailed
                             : check->problem == AssociateRqProblem::kBadCallingAe
                                 ? AssociationRefusal::kUnknownCallingAe
                             : check->problem == AssociateRqProblem::kBadCalledAe
                                 ? AssociationRefusal::kWrongCalledAe
                                 : AssociationRefusal::kMalformedRequest;
    RejectAssociation(assoc.get(), RejectFor(why));
    return;
  }
  std::string calling = assoc->params->DULparams.callingAPTitle;
  std::string called = assoc->params->DULparams.calledAPTitle;
  auto admission = archive_.access().AdmitAssociation(calling, called, c.address, fingerprint);
  AssociationRefusal refusal = AssociationRefusal::kAdmissionFailed;
  const char* reason = nullptr;
  if (!admission.ok()) {
    reason = "admission failed";
  } else {
    switch (admission->verdict) {
      case security::Verdict::kAccept:
        break;
      case security::Verdict::kUnknownCallingAe:
        refusal = AssociationRefusal::kUnknownCallingAe;
        reason = "unknown calling AE title";
        break;
      case security::Verdict::kWrongHost:
        refusal = AssociationRefusal::kWrongHost;
        reason = "calling AE title not registered for this host";
        break;
      case security::Verdict::kBlocked:
        refusal = AssociationRefusal::kBlocked;
        reason = "back-off after repeated rejections from this address";
        break;
      case security::Verdict::kWrongCertificate:
        refusal = AssociationRefusal::kWrongCertificate;
        reason = c.tls ? "TLS client certificate not bound to this AE title"
                       : "this AE title may connect over DICOM TLS only";
        break;
      case security::Verdict::kWrongCalledAe:
        refusal = AssociationRefusal::kWrongCalledAe;
        reason = "wrong called AE title";
        break;
    }
  }
  if (reason) {
    TRESOR_LOG(kWarn) << "association rejected (" << reason << "): calling AE '" << calling
                      << "', called AE '" << called << "', from " << c.address;
    RejectAssociation(assoc.get(), RejectFor(refusal));
    return;
  }

  NegotiatePresentationContexts(assoc->params);
  if (ASC_countAcceptedPresentationContexts(assoc->params) == 0) {
    TRESOR_LOG(kWarn) << "association from " << calling << " at " << c.address
                      << " rejected: no acceptable presentation context";
    RejectAssociation(assoc.get(), RejectFor(AssociationRefusal::kNoPresentationContext));
    return;
  }
  // User identity negotiation (PS3.7 D.3.3.7): verified when offered, required when the
  // peer is set to require it.
  archive::Principal principal = admission->principal;
  UserIdentityNegotiationSubItemRQ* identity = assoc->params->DULparams.reqUserIdentNeg;
  if (identity) {
    char* primary = nullptr;
    char* secondary = nullptr;
    Uint16 primary_len = identity->getPrimField(primary, primary_len);
    Uint16 secondary_len = identity->getSecField(secondary, secondary_len);
    std::string first = primary ? std::string(primary, primary_len) : std::string();
    std::string second = secondary ? std::string(secondary, secondary_len) : std::string();
    delete[] primary;
    delete[] secondary;
    T_ASC_UserIdentityNegotiationMode mode = identity->getIdentityType();
    auto type = mode == ASC_USER_IDENTITY_USER_PASSWORD ? archive::AccessService::IdentityType::kUserPassword
                : mode == ASC_USER_IDENTITY_JWT         ? archive::AccessService::IdentityType::kJwt
                                                        : archive::AccessService::IdentityType::kOther;
    auto verified = archive_.access().AuthenticateIdentity(principal, type, first, second);
    if (!verified.ok()) {
      bool later = verified.status().code() == Code::kResourceExhausted;  // back-off
      TRESOR_LOG(kWarn) << "association rejected (user identity "
                        << (later ? "not checked: back-off" : "not accepted") << "): calling AE '"
                        << calling << "', from " << c.address;
      RejectAssociation(assoc.get(), RejectFor(later ? AssociationRefusal::kBlocked
                                                      : AssociationRefusal::kIdentityRejected));
      return;
    }
    principal = *verified;
    // No server response is sent for the identity (the A-ASSOCIATE-AC carries none):
    // user name + passcode and JWT identities need none (PS3.7 D.3.3.7.2).
  } else if (admission->require_identity) {
    TRESOR_LOG(kWarn) << "association rejected (user identity required but missing): calling AE '"
                      << calling << "', from " << c.address;
    RejectAssociation(assoc.get(), RejectFor(AssociationRefusal::kIdentityRejected));
    return;
  }
  // Cap the peer's concurrent associations, so one peer cannot take every worker.
  {
    std::lock_guard<std::mutex> lock(mu_);
    int& open = per_peer_[principal.peer_name];
    if (open >= options_.max_associations_per_peer) {
      TRESOR_LOG(kWarn) << "association rejected (peer already has " << open
                        << " associations, the limit): " << principal.Describe();
      RejectAssociation(assoc.get(), RejectFor(AssociationRefusal::kPeerAssociationLimit));
      return;
    }
    ++open;
  }
  struct Release {
    DimseServer* server;
    std::string peer;
    ~Release() {
      std::lock_guard<std::mutex> lock(server->mu_);
      if (--server->per_peer_[peer] <= 0) server->per_peer_.erase(peer);
    }
  } release{this, principal.peer_name};
  ASC_setAPTitles(assoc->params, nullptr, nullptr, called.c_str());
  cond = ASC_acknowledgeAssociation(assoc.get());
  if (cond.bad()) {
    TRESOR_LOG(kWarn) << "cannot acknowledge association from " << c.address << ": "
                      << cond.text();
    return;
  }
  TRESOR_LOG(kInfo) << "association accepted" << (c.tls ? " over TLS" : "") << ": "
                    << principal.Describe();
  AssociationHandler(archive_, assoc.get(), principal, options_.idle_seconds, clock_).Run();
}

}  // namespace tresor::dimse
