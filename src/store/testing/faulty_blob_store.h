// FaultyBlobStore: a BlobStore that forwards to another one and fails chosen calls, as a
// disk reporting errors would. Each fail_* counter makes that many next calls of the
// operation fail (with kIoError, doing nothing) before calls pass through again; the
// *_calls counters count every call. Thread-safe (atomics), like the stores it wraps.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "store/blob_store.h"

namespace tresor::store::testing {

class FaultyBlobStore : public BlobStore {
 public:
  explicit FaultyBlobStore(BlobStore& inner) : inner_(inner) {}

  std::atomic<int> fail_persist{0};
  std::atomic<int> fail_discard{0};
  std::atomic<int> fail_remove{0};
  std::atomic<int> discard_calls{0};
  std::atomic<int> remove_calls{0};

  Result<std::unique_ptr<BlobWriter>> Create() override { return inner_.Create(); }
  Status Persist(const std::vector<std::string>& staged) override {
    if (Take(fail_persist)) return IoError("injected sync failure");
    return inner_.Persist(staged);
  }
  Status Publish(const std::string& name) override { return inner_.Publish(name); }
  Status Discard(const std::string& name) override {
    ++discard_calls;
    if (Take(fail_discard)) return IoError("injected discard failure");
    return inner_.Discard(name);
  }
  Status Remove(const std::string& name) override {
    ++remove_calls;
    if (Take(fail_remove)) return IoError("injected remove failure");
    return inner_.Remove(name);
  }
  Result<std::unique_ptr<BlobReader>> Open(const std::string& name) override {
    return inner_.Open(name);
  }
  Status Recover(const std::function<Result<bool>(const std::string&)>& is_referenced) override {
    return inner_.Recover(is_referenced);
  }
  Status List(const std::function<Status(const std::string&, bool staged)>& visit) override {
    return inner_.List(visit);
  }

 private:
  // True (and one fewer to go) if a failure is still due.
  static bool Take(std::atomic<int>& remaining) {
    int n = remaining.load();
    while (n > 0 && !remaining.compare_exchange_weak(n, n - 1)) {
    }
    return n > 0;
  }

  BlobStore& inner_;
};

}  // namespace tresor::store::testing
