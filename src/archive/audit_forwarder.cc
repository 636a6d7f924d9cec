#include "archive/audit_forwarder.h"

#include <algorithm>

#include "core/log.h"

namespace tresor::archive {

namespace {
using std::chrono::milliseconds;

milliseconds Until(core::Clock::Monotonic at, core::Clock::Monotonic now) {
  if (at <= now) return milliseconds(0);
  return std::chrono::ceil<milliseconds>(at - now);
}
}  // namespace

AuditForwarder::AuditForwarder(AuditService& audit, AuditSink& sink, AuditForwarderOptions options,
                               const core::Clock& clock)
    : audit_(audit),
      sink_(sink),
      options_(options),
      clock_(clock),
      destination_(sink.Destination()),
      backoff_(options.min_backoff) {}

AuditForwarder::~AuditForwarder() { Stop(); }

Status AuditForwarder::LoadCursor() {
  TRESOR_ASSIGN_OR_RETURN(int64_t cursor, audit_.ForwardCursor(destination_));
  persisted_ = cursor;
  confirmed_ = cursor;
  sent_ = cursor;
  return Status::Ok();
}

Status AuditForwarder::Start() {
  TRESOR_RETURN_IF_ERROR(LoadCursor());
  TRESOR_LOG(kInfo) << "audit forwarding to " << destination_ << " (RFC 5425), delivered up to seq "
                    << confirmed_.load();
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void AuditForwarder::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
    wake_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    // Without a connection there is nothing to drain: a connection attempt in progress
    // (up to the sink's timeout) is cut off at once.
    if (!connected_.load()) sink_.Cancel();
    // Let it drain for a bounded time (decided on the clock), then cut it off.
    core::Deadline drain(clock_, options_.confirm_after + std::chrono::seconds(5));
    std::unique_lock<std::mutex> lock(mu_);
    while (!done_ && !drain.Expired()) cv_.wait_for(lock, milliseconds(100));
    abort_ = true;
    lock.unlock();
    cv_.notify_all();
    sink_.Cancel();
    thread_.join();
  }
  if (connected_.load()) {  // stepped by hand, never started
    sink_.Close();
    connected_ = false;
  }
  const int64_t unconfirmed = sent_.load() - confirmed_.load();
  TRESOR_LOG(kInfo) << "audit forwarding to " << destination_ << " stopped, delivered up to seq "
                    << confirmed_.load()
                    << (unconfirmed > 0 ? " (" + std::to_string(unconfirmed) +
                                              " sent, unconfirmed: sent again after the next start)"
                                        : std::string());
}

void AuditForwarder::Run() {
  for (;;) {
    milliseconds wait = Step();
    std::unique_lock<std::mutex> lock(mu_);
    if (abort_) break;
    // Stopping: done once nothing is sent unconfirmed and nothing new is left, or when
    // there is no connection to drain into.
    if (stop_ && (!connected_ || (in_flight_.empty() && idle_))) break;
    if (wait.count() == 0) continue;
    // A real wait only wakes the loop; Step decides on the clock whether anything is due.
    cv_.wait_for(lock, std::clamp(wait, milliseconds(10), milliseconds(1000)),
                 [&] { return abort_ || wake_; });
    wake_ = false;
    if (abort_) break;
  }
  sink_.Close();
  connected_ = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
}

void AuditForwarder::Disconnect(const char* why) {
  const auto now = clock_.MonotonicNow();
  sink_.Close();
  connected_ = false;
  const int64_t unconfirmed = sent_.load() - confirmed_.load();
  in_flight_.clear();
  sent_ = confirmed_.load();
  TRESOR_LOG(kWarn) << "audit forwarding to " << destination_ << ": " << why
                    << "; delivered up to seq " << confirmed_.load()
                    << (unconfirmed > 0 ? ", " + std::to_string(unconfirmed) +
                                              " unconfirmed record(s) will be sent again"
                                        : std::string());
  next_attempt_ = now + backoff_;
  backoff_ = std::min(backoff_ * 2, options_.max_backoff);
}

milliseconds AuditForwarder::Step() {
  auto now = clock_.MonotonicNow();
  if (!connected_) {
    if (now < next_attempt_) return Until(next_attempt_, now);
    Status s = sink_.Connect();
    if (!s.ok()) {
      // Logged when a series of failures starts or its reason changes (a collector that
      // refuses connections, then one presenting the wrong certificate).
      const bool changed = s.message() != last_failure_;
      last_failure_ = s.message();
      if (failures_++ == 0 || changed) {
        TRESOR_LOG(kWarn) << "audit forwarding to " << destination_ << ": " << s.ToString()
                          << " (records wait in the trail; retrying with back-off)";
      } else {
        TRESOR_LOG(kDebug) << "audit forwarding to " << destination_ << ": " << s.ToString();
      }
      const milliseconds wait = backoff_;
      next_attempt_ = now + wait;
      backoff_ = std::min(backoff_ * 2, options_.max_backoff);
      return wait;
    }
    connected_ = true;
    failures_ = 0;
    last_failure_.clear();
    in_flight_.clear();
    sent_ = confirmed_.load();
    TRESOR_LOG(kInfo) << "audit forwarding connected to " << destination_ << ", sending from seq "
                      << confirmed_.load() + 1;
    now = clock_.MonotonicNow();
  }
  if (!sink_.Alive()) {
    Disconnect("the collector closed the connection");
    return Until(next_attempt_, clock_.MonotonicNow());
  }
  // The connection was open at `now` or later: everything sent `confirm_after` before
  // `now` is confirmed.
  int64_t upto = confirmed_.load();
  while (!in_flight_.empty() && now - in_flight_.front().sent_at >= options_.confirm_after) {
    upto = in_flight_.front().seq;
    in_flight_.pop_front();
  }
  if (upto > confirmed_.load()) {
    confirmed_ = upto;
    backoff_ = options_.min_backoff;  // this connection worked
  }
  if (persisted_ < confirmed_.load()) {
    Status s = audit_.SetForwardCursor(destination_, confirmed_.load());
    if (s.ok()) {
      persisted_ = confirmed_.load();
    } else {
      TRESOR_LOG(kWarn) << "audit forwarding: the cursor could not be stored (retried): " << s.ToString();
    }
  }

  auto records = audit_.ReadAfter(sent_.load(), options_.batch);
  idle_ = records.ok() && records->empty();
  if (!records.ok()) {
    TRESOR_LOG(kWarn) << "audit forwarding: reading the trail failed: " << records.status().ToString();
    return options_.poll;
  }
  for (const AuditRecord& r : *records) {
    if (!sink_.Alive()) {
      Disconnect("the collector closed the connection");
      return Until(next_attempt_, clock_.MonotonicNow());
    }
    Status s = sink_.Send(r);
    if (!s.ok()) {
      Disconnect(("sending failed: " + s.ToString()).c_str());
      return Until(next_attempt_, clock_.MonotonicNow());
    }
    sent_ = r.seq;
    in_flight_.push_back({r.seq, clock_.MonotonicNow()});
  }
  if (records->size() >= options_.batch) return milliseconds(0);
  milliseconds wait = options_.poll;
  if (!in_flight_.empty()) {
    wait = std::min(wait, Until(in_flight_.front().sent_at + options_.confirm_after,
                                clock_.MonotonicNow()));
  }
  return wait;
}

}  // namespace tresor::archive
