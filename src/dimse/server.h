// DimseServer: the DICOM upper-layer listeners (plain and TLS) and the associations
// they serve.
//
// Plain connections wait in the acceptor's poll set until their A-ASSOCIATE-RQ has fully
// arrived (or the ARTIM timeout drops them), so silent clients cost a socket, not a
// worker. TLS connections are handshaken on a worker within the ARTIM timeout, at most a
// few per source address at a time.
//
// Own acceptor, bounded worker pool (DCMTK's DcmSCPPool is not used; see
// docs/architecture.md). Admission (calling AE + host + certificate + called AE) and
// every operation go through archive::ArchiveService. Nagle's algorithm is disabled on
// every connection.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "archive/archive_service.h"
#include "core/clock.h"
#include "core/status.h"
#include "dimse/tls.h"

namespace tresor::dimse {

struct ScpOptions {
  std::string bind_address = "127.0.0.1";
  int port = 11112;                 // plain DICOM; 0: any free port (see port()); -1: none
  int tls_port = -1;                // DICOM TLS; 0: any free port (see tls_port()); -1: none
  TlsFiles tls;                     // server certificate, key and client CAs for tls_port
  int max_associations = 32;        // worker threads
  int max_associations_per_peer = 8;  // concurrent associations of one peer
  int max_pending_connections = 64;
  uint32_t max_pdu_bytes = 131072;
  int artim_seconds = 30;
  int idle_seconds = 120;
};

class DimseServer {
 public:
  // `clock` decides the ARTIM and idle deadlines; it and `archive` must outlive the server.
  DimseServer(archive::ArchiveService& archive, ScpOptions options, const core::Clock& clock);
  // Stops and joins every thread.
  ~DimseServer();
  DimseServer(const DimseServer&) = delete;
  DimseServer& operator=(const DimseServer&) = delete;

  // Binds, listens and starts the acceptor and the workers.
  Status Start();
  // The bound ports (after Start); -1 when that listener is off.
  int port() const { return port_; }
  int tls_port() const { return tls_port_; }
  // Stops accepting, cuts open connections (unacknowledged stores are discarded; every
  // acknowledged one is already durable) and joins all threads. Idempotent.
  void Stop();

 private:
  struct Connection {
    int fd;
    std::string address;
    bool tls;
  };
  // Binds and listens on bind_address:port; returns the socket and the bound port.
  Status Listen(int port, int* fd, int* bound_port);
  void AcceptLoop();
  // Hands a connection to the workers, or closes it when the queue is full.
  void Enqueue(const Connection& c);
  void WorkerLoop();
  void Serve(const Connection& c);

  archive::ArchiveService& archive_;
  const ScpOptions options_;
  const core::Clock& clock_;
  int listen_fd_ = -1;      // plain DICOM listener, or -1
  int tls_listen_fd_ = -1;  // DICOM TLS listener, or -1
  int tls_port_ = -1;
  SslCtxPtr tls_ctx_;
  int wake_pipe_[2] = {-1, -1};
  int port_ = -1;
  void* network_ = nullptr;  // T_ASC_Network*, kept opaque to keep DCMTK out of this header

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Connection> queue_;  // guarded by mu_
  std::set<int> active_fds_;      // guarded by mu_
  std::map<std::string, int> per_peer_;  // guarded by mu_: open associations per peer
  std::map<std::string, int> handshaking_;  // guarded by mu_: TLS connections per address
                                            // not yet past their A-ASSOCIATE-RQ
  int idle_workers_ = 0;                    // guarded by mu_
  bool stopping_ = false;         // guarded by mu_
  std::thread acceptor_;                // owned, joined by Stop
  std::vector<std::thread> workers_;    // owned, joined by Stop
};

}  // namespace tresor::dimse
