#include "archive/streaming_hash.h"

namespace tresor::archive {

HashWorkers::HashWorkers(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

HashWorkers::~HashWorkers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void HashWorkers::Run(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void HashWorkers::Loop() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping and drained
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

void StreamingHash::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !in_flight_; });
}

void StreamingHash::Available(const char* base, size_t size) {
  bool start = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    base_ = base;
    available_ = size;
    if (!in_flight_ && available_ - hashed_ >= kMinOffloadBytes) start = in_flight_ = true;
  }
  if (start) workers_.Run([this] { Drain(); });
}

void StreamingHash::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  while (hashed_ < available_) {
    const char* from = base_ + hashed_;
    const size_t n = available_ - hashed_;
    lock.unlock();
    sha_.Update(from, n);  // bytes the caller no longer changes
    lock.lock();
    hashed_ += n;
  }
  in_flight_ = false;
  cv_.notify_all();  // under the lock: the caller may destroy this as soon as it sees it
}

void StreamingHash::CatchUp() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !in_flight_; });
  if (hashed_ < available_) {
    sha_.Update(base_ + hashed_, available_ - hashed_);
    hashed_ = available_;
  }
}

void StreamingHash::Update(const void* data, size_t n) {
  CatchUp();
  sha_.Update(data, n);
}

std::string StreamingHash::FinishHex() {
  CatchUp();
  return sha_.FinishHex();
}

}  // namespace tresor::archive
