// StreamingHash: the SHA-256 of an object's bytes, computed on a worker thread while the
// rest of the object is still arriving, so that the hash is (nearly) done when the last
// byte is in instead of costing about 1 ms per MB after it. HashWorkers are the threads.
//
// The bytes are handed over in a buffer the caller keeps stable and only appends to
// (Available); bytes not kept anywhere are hashed on the caller's thread (Update), after
// everything handed over before them. Small objects never reach a worker: a worker is
// asked only once kMinOffloadBytes are waiting, the rest is hashed by FinishHex.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/sha256.h"

namespace tresor::archive {

// A fixed set of threads running jobs in the order they were queued. Thread-safe.
class HashWorkers {
 public:
  explicit HashWorkers(int threads);
  // Runs what is queued, then joins the threads.
  ~HashWorkers();
  HashWorkers(const HashWorkers&) = delete;
  HashWorkers& operator=(const HashWorkers&) = delete;

  void Run(std::function<void()> job);

 private:
  void Loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::vector<std::thread> threads_;
};

// One object's hash. Not thread-safe (one caller thread); the worker's part is internal.
// `workers` must outlive it.
class StreamingHash {
 public:
  // Bytes waiting before a worker is asked to hash them.
  static constexpr size_t kMinOffloadBytes = 64 * 1024;

  explicit StreamingHash(HashWorkers& workers) : workers_(workers) {}
  // Waits for the worker (if it is still hashing).
  ~StreamingHash() { Wait(); }
  StreamingHash(const StreamingHash&) = delete;
  StreamingHash& operator=(const StreamingHash&) = delete;

  // The first `size` bytes at `base` are the object so far. `base` and those bytes must
  // stay as they are until FinishHex() returns or this is destroyed; every call passes
  // the same `base` and a size no smaller than before, and no call follows Update().
  void Available(const char* base, size_t size);
  // Hashes `n` more bytes now, after everything made available before.
  void Update(const void* data, size_t n);
  // The digest of everything, as 64 lowercase hex digits. Call once.
  std::string FinishHex();
  // Returns once no worker reads the buffer any more (it may then be reused). Nothing may
  // be hashed afterwards.
  void Wait();

 private:
  void Drain();    // worker: hashes until it has caught up with available_
  void CatchUp();  // caller: waits for the worker, then hashes what is left itself

  HashWorkers& workers_;
  Sha256 sha_;  // the worker's while in_flight_, the caller's otherwise
  std::mutex mu_;
  std::condition_variable cv_;
  const char* base_ = nullptr;  // guarded by mu_
  size_t available_ = 0;        // guarded by mu_
  size_t hashed_ = 0;           // guarded by mu_
  bool in_flight_ = false;      // guarded by mu_: a worker owns sha_
};

}  // namespace tresor::archive
