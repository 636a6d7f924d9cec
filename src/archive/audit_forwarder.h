// AuditForwarder: delivers the audit trail to one collector, in seq order, from a
// persisted cursor (docs/audit.md "Forwarding").
//
// The trail in the (sealed) index is the spool: nothing is copied anywhere else. The
// cursor, the highest seq the collector is taken to hold, lives in the index too
// (AuditService::ForwardCursor). A record is *sent* when the sink has written it whole to
// the connection, and *confirmed* (the cursor moves over it) only when a liveness check
// made at least `confirm_after` later, on the same connection, finds the connection
// still open. When the connection is found closed or reset, or a send fails, every sent
// but unconfirmed record is sent again on the next connection, from the cursor. So no
// record is skipped; a record is sent twice only when the collector closes the connection
// within `confirm_after` of receiving it, and it carries its seq so the collector can
// drop the copy.
//
// The forwarder only reads the trail: audited actions never wait for it and never fail
// because of it (their records are already durable in the index). Its decisions
// (back-off, confirmation) read the injected clock; Step() is one pass of the loop, which
// tests drive by hand with a fake clock instead of Start().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "archive/audit.h"
#include "core/clock.h"
#include "core/status.h"

namespace tresor::archive {

// One connection to a collector at a time. Called from the forwarder's thread only,
// except Cancel.
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // Names the collector in logs and keys its cursor ("host:port").
  virtual std::string Destination() const = 0;
  // Opens a connection (closing any open one), within the sink's own time limits.
  virtual Status Connect() = 0;
  // Without blocking: true while the connection is open, false once the collector has
  // closed or reset it (or when none is open).
  virtual bool Alive() = 0;
  // Writes one record whole, or fails (the connection is then unusable).
  virtual Status Send(const AuditRecord& record) = 0;
  virtual void Close() = 0;
  // Thread-safe: makes a Connect or Send in progress give up soon (shutdown).
  virtual void Cancel() = 0;
};

struct AuditForwarderOptions {
  std::chrono::milliseconds min_backoff{1000};  // first wait after a failed connection ...
  std::chrono::milliseconds max_backoff{60000};  // ... doubling up to this
  std::chrono::milliseconds confirm_after{2000};  // see the header comment
  std::chrono::milliseconds poll{500};            // how often new records are looked for
  size_t batch = 200;                             // records read from the trail at once
};

class AuditForwarder {
 public:
  // `audit`, `sink` and `clock` must outlive the forwarder.
  AuditForwarder(AuditService& audit, AuditSink& sink, AuditForwarderOptions options,
                 const core::Clock& clock);
  ~AuditForwarder();  // Stop()
  AuditForwarder(const AuditForwarder&) = delete;
  AuditForwarder& operator=(const AuditForwarder&) = delete;

  // Reads the cursor and starts the background thread (waits on real time, which only
  // wakes it to run Step again).
  Status Start();
  // Stops the thread and closes the connection. While connected, it first sends what is
  // new and waits for it to be confirmed, for at most confirm_after + 5 s on the clock
  // (so the server's stop record goes out with it); then a connection attempt or send in
  // progress is cancelled. Unconfirmed records stay after the cursor and go out after the
  // next start. Idempotent.
  void Stop();

  // Loads the cursor (Start does this; tests driving Step call it first).
  Status LoadCursor();
  // One pass: connects when due, checks the connection, confirms, sends what is new.
  // Returns how long nothing needs doing.
  std::chrono::milliseconds Step();

  int64_t confirmed() const { return confirmed_.load(); }  // the cursor
  int64_t sent() const { return sent_.load(); }
  bool connected() const { return connected_.load(); }

 private:
  void Disconnect(const char* why);
  void Run();

  AuditService& audit_;
  AuditSink& sink_;
  const AuditForwarderOptions options_;
  const core::Clock& clock_;
  const std::string destination_;

  // Step's state (the forwarder's thread, or the test calling Step).
  std::atomic<bool> connected_{false};  // also read by Stop
  core::Clock::Monotonic next_attempt_{};
  std::chrono::milliseconds backoff_;
  int failures_ = 0;  // consecutive failed connection attempts (logged once per series)
  std::string last_failure_;  // and the reason of the last one
  struct InFlight {
    int64_t seq;
    core::Clock::Monotonic sent_at;
  };
  std::deque<InFlight> in_flight_;  // sent on this connection, unconfirmed, ascending
  int64_t persisted_ = 0;           // the cursor as stored
  bool idle_ = false;               // the last read of the trail found nothing new
  std::atomic<int64_t> confirmed_{0};
  std::atomic<int64_t> sent_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;   // guarded by mu_: finish (drain) and exit
  bool abort_ = false;  // guarded by mu_: exit now
  bool wake_ = false;   // guarded by mu_: cut the current wait short
  bool done_ = false;   // guarded by mu_: the thread has left its loop
  std::thread thread_;
};

}  // namespace tresor::archive
