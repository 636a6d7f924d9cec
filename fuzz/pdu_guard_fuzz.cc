// Fuzz target: the upper-layer byte stream an association receives, through PduGuard
// (dimse/pdu_guard.h), split into reads of varying sizes as a socket delivers them; then,
// when the stream starts with an A-ASSOCIATE-RQ the guard let through, DCMTK's parse of
// that request as the server runs it: ASC_receiveAssociation on a loopback TCP socket
// handed over through dcmExternalSocketHandle (dimse/server.cc does the same).
// Input: byte 0 picks the announced maximum P-DATA length, byte 1 seeds the read sizes,
// the rest is the stream.
#include <arpa/inet.h>
#include <dirent.h>
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dul.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "dimse/pdu_guard.h"
#include "fuzz_input.h"

namespace {

// A listening loopback socket and an acceptor network without a listen socket of its own.
struct Loopback {
  int listen_fd = -1;
  sockaddr_in address{};
  T_ASC_Network* network = nullptr;

  Loopback() {
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof address;
    TRESOR_FUZZ_CHECK(listen_fd >= 0 &&
                      bind(listen_fd, reinterpret_cast<sockaddr*>(&address), len) == 0 &&
                      listen(listen_fd, 64) == 0 &&
                      getsockname(listen_fd, reinterpret_cast<sockaddr*>(&address), &len) == 0);
    dcmDisableGethostbyaddr.set(OFTrue);
    dcmExternalSocketHandle.set(listen_fd);
    OFCondition cond = ASC_initializeNetwork(NET_ACCEPTOR, 0, 5, &network);
    dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
    TRESOR_FUZZ_CHECK(cond.good());
  }
};

// The process's one loopback listener, made on first use.
Loopback& SharedLoopback() {
  static Loopback* loopback = new Loopback;  // lives as long as the process
  return *loopback;
}

// What the last parse did, printed when it left a descriptor open.
struct LastRun {
  int server = -1, client = -1;
  bool assoc = false, dul = false;
  std::string cond;
} g_last;

// Connects the non-blocking socket `fd` within `ms` milliseconds. A blocking connect
// could wait for SYN retransmissions (seconds) when the machine's loopback is saturated
// after millions of runs: that is the machine's limit, not the parser's, and it made the
// target time out once.
bool ConnectWithin(int fd, const sockaddr_in& to, int ms) {
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0) return true;
  if (errno != EINPROGRESS) return false;
  pollfd p{fd, POLLOUT, 0};
  if (poll(&p, 1, ms) != 1) return false;
  int error = 0;
  socklen_t len = sizeof error;
  return getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0;
}

// Open file descriptors of this process; with `print`, each one and what it is.
int OpenDescriptors(bool print = false) {
  DIR* dir = opendir("/proc/self/fd");
  TRESOR_FUZZ_CHECK(dir != nullptr);
  int n = 0;
  while (dirent* entry = readdir(dir)) {
    ++n;
    if (!print || entry->d_name[0] == '.') continue;
    char path[300], target[256] = {0};
    std::snprintf(path, sizeof path, "/proc/self/fd/%s", entry->d_name);
    if (readlink(path, target, sizeof target - 1) < 0) target[0] = '?';
    std::fprintf(stderr, "  fd %s -> %s\n", entry->d_name, target);
  }
  closedir(dir);
  return n;
}

// Lets DCMTK parse one complete A-ASSOCIATE-RQ PDU (at most 64 KiB, so that it fits the
// socket buffer without a writer thread) as the server would.
void ReceiveAssociation(const uint8_t* pdu, size_t n) {
  Loopback* loopback = &SharedLoopback();
  if (n > 64 * 1024) return;
  // Each run's connection ends in TIME_WAIT on the client's port (DCMTK closes its end
  // after reading the request): tens of thousands a minute would use up the ephemeral
  // ports of one source address, so the client binds to one of 64 loopback source
  // addresses in turn (127.0.1.x; every 127/8 address is loopback), and moves on to the
  // next when one has none left.
  static unsigned next_source = 0;
  int client = -1;
  for (int attempt = 0; attempt < 64 && client < 0; ++attempt) {
    client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    TRESOR_FUZZ_CHECK(client >= 0);
    sockaddr_in source{};
    source.sin_family = AF_INET;
    source.sin_addr.s_addr = htonl((127u << 24) | (1u << 8) | (next_source++ % 64 + 1));
    if (bind(client, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0 ||
        !ConnectWithin(client, loopback->address, 1000)) {
      close(client);
      client = -1;
    }
  }
  // The loopback itself ran out (a resource of the machine, not a finding): this input's
  // DCMTK parse is skipped and counted.
  static unsigned long skipped = 0;
  if (client < 0) {
    if (++skipped % 1000 == 1) std::fprintf(stderr, "pdu_guard: %lu parse(s) skipped: no loopback connection\n", skipped);
    return;
  }
  int server = accept4(loopback->listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (server < 0) {
    // EMFILE would be a descriptor leak (a finding); anything else is the machine's.
    TRESOR_FUZZ_CHECK(errno != EMFILE && errno != ENFILE);
    std::fprintf(stderr, "pdu_guard: accept failed (%s): parse skipped\n", std::strerror(errno));
    close(client);
    return;
  }
  // Both ends are reset rather than closed gracefully: the end that closes first would
  // leave the connection in TIME_WAIT, and a million runs a minute would use up the
  // loopback's ephemeral ports (connect fails with EADDRNOTAVAIL). DCMTK closes `server`.
  const linger reset{1, 0};
  setsockopt(server, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  size_t sent = 0;
  while (sent < n) {
    ssize_t w = send(client, pdu + sent, n - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w <= 0) break;
    sent += static_cast<size_t>(w);
  }
  shutdown(client, SHUT_WR);  // what follows the request is the end of the stream
  g_last = {server, client, false, false, "not parsed: the request did not fit the socket"};
  if (sent == n) {
    T_ASC_Association* assoc = nullptr;
    dcmExternalSocketHandle.set(server);
    OFCondition cond = ASC_receiveAssociation(loopback->network, &assoc, 16384, nullptr,
                                              nullptr, OFFalse, DUL_NOBLOCK, 1);
    dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
    g_last = {server, client, assoc != nullptr, assoc && assoc->DULassociation, cond.text()};
    if (assoc) {
      if (cond.good()) {
        // What the server reads next from a parsed request.
        TRESOR_FUZZ_CHECK(assoc->params != nullptr);
        (void)ASC_countPresentationContexts(assoc->params);
      }
      ASC_dropSCPAssociation(assoc);
      const bool dcmtk_owns_socket = assoc->DULassociation != nullptr;
      ASC_destroyAssociation(&assoc);  // closes `server` if DCMTK took it over
      if (dcmtk_owns_socket) server = -1;
    }
  }
  if (server >= 0) close(server);
  setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  close(client);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static const uint32_t kMaxPdata[4] = {0, 16, 16384, 131072};
  tresor::dimse::PduGuard guard(kMaxPdata[data[0] % 4]);
  uint32_t seed = data[1] | 1u;
  data += 2;
  size -= 2;
  const uint8_t* const stream = data;
  const size_t stream_size = size;
  bool ok = true;
  while (size > 0) {
    seed = seed * 1103515245u + 12345u;
    size_t n = 1 + (seed >> 16) % 4096;
    if (n > size) n = size;
    ok = guard.Feed(data, n);
    if (!ok) break;
    data += n;
    size -= n;
  }
  if (!ok) {
    // A refused stream stays refused and says why.
    TRESOR_FUZZ_CHECK(!guard.error().empty());
    uint8_t more = 0;
    TRESOR_FUZZ_CHECK(!guard.Feed(&more, 1));
  } else {
    TRESOR_FUZZ_CHECK(guard.error().empty());
  }
  // An A-ASSOCIATE-RQ that passed the guard (whatever came after it) reaches DCMTK.
  if (stream_size >= 6 && stream[0] == 0x01) {
    uint64_t length = uint64_t{stream[2]} << 24 | uint64_t{stream[3]} << 16 |
                      uint64_t{stream[4]} << 8 | stream[5];
    if (6 + length <= stream_size) {
      tresor::dimse::PduGuard first(kMaxPdata[3]);
      if (first.Feed(stream, 6 + length)) {
        // Each parse closes every descriptor it opened: a leak per request would let any
        // caller exhaust the server's descriptors.
        (void)SharedLoopback();  // its listener is not the parse's
        const int before = OpenDescriptors();
        ReceiveAssociation(stream, 6 + length);
        if (OpenDescriptors() != before) {
          std::fprintf(stderr, "pdu_guard: a descriptor outlived the parse (server fd %d, client fd %d, "
                       "association %d, DUL association %d, condition '%s'); open now:\n",
                       g_last.server, g_last.client, g_last.assoc, g_last.dul, g_last.cond.c_str());
          OpenDescriptors(true);
        }
        TRESOR_FUZZ_CHECK(OpenDescriptors() == before);
      }
    }
  }
  return 0;
}
