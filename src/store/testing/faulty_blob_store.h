// FaultyBlobStore: a BlobStore that forwards to another one and fails chosen calls, as a
// disk reporting errors would. Test-only (unit tests and the tresor_faulty test binary);
// nothing in the tresor binary uses it.
//
// Two ways to choose the failures:
//  - counters: each fail_* makes that many next calls of the operation fail (kIoError,
//    doing nothing) before calls pass through again; the *_calls counters count calls;
//  - `active` (optional, set before the store is used): asked with a fault's name before
//    each operation; while it answers true the operation fails as the named fault:
//      "blob.write"   Append/Finish fail (an I/O error while writing)
//      "blob.enospc"  Append/Finish fail as a full disk does (ENOSPC)
//      "blob.sync"    Persist fails (the sync of a group commit)
//      "blob.read"    ReadAt of an opened blob fails (EIO)
//      "blob.open"    Open fails (EIO)
// A failed write leaves what the inner writer wrote staged; destroying the writer
// discards it, as for any writer that was not finished.
// Thread-safe (atomics; `active` must be).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
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
  std::function<bool(std::string_view fault)> active;

  Result<std::unique_ptr<BlobWriter>> Create() override {
    TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<BlobWriter> w, inner_.Create());
    return std::unique_ptr<BlobWriter>(new Writer(*this, std::move(w)));
  }
  Status Persist(const std::vector<std::string>& staged) override {
    if (Take(fail_persist) || Active("blob.sync")) return IoError("syncfs: injected sync failure");
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
    if (Active("blob.open")) return IoError("open blob: Input/output error (injected)");
    TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<BlobReader> r, inner_.Open(name));
    return std::unique_ptr<BlobReader>(new Reader(*this, std::move(r)));
  }
  Status Recover(const std::function<Result<bool>(const std::string&)>& is_referenced) override {
    return inner_.Recover(is_referenced);
  }
  Status List(const std::function<Status(const std::string&, bool staged)>& visit) override {
    return inner_.List(visit);
  }

 private:
  class Writer : public BlobWriter {
   public:
    Writer(FaultyBlobStore& store, std::unique_ptr<BlobWriter> inner)
        : store_(store), inner_(std::move(inner)) {}
    Status Append(const void* data, size_t n) override {
      TRESOR_RETURN_IF_ERROR(store_.WriteFault());
      return inner_->Append(data, n);
    }
    Result<std::string> Finish() override {
      TRESOR_RETURN_IF_ERROR(store_.WriteFault());
      return inner_->Finish();
    }
    uint64_t size() const override { return inner_->size(); }

   private:
    FaultyBlobStore& store_;
    std::unique_ptr<BlobWriter> inner_;
  };

  class Reader : public BlobReader {
   public:
    Reader(FaultyBlobStore& store, std::unique_ptr<BlobReader> inner)
        : store_(store), inner_(std::move(inner)) {}
    uint64_t size() const override { return inner_->size(); }
    Result<size_t> ReadAt(void* out, size_t n, uint64_t offset) override {
      if (store_.Active("blob.read")) return IoError("read blob: Input/output error (injected)");
      return inner_->ReadAt(out, n, offset);
    }

   private:
    FaultyBlobStore& store_;
    std::unique_ptr<BlobReader> inner_;
  };

  // The error the real store reports for the fault, if it is active.
  Status WriteFault() {
    if (Active("blob.enospc")) return IoError("write blob: No space left on device (injected)");
    if (Active("blob.write")) return IoError("write blob: Input/output error (injected)");
    return Status::Ok();
  }
  bool Active(std::string_view fault) const { return active && active(fault); }

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
