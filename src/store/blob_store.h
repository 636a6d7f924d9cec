// BlobStore: where the bytes of stored objects live.
//
// A blob is written in two steps so that an acknowledged object survives a crash and an
// unacknowledged one leaves nothing behind:
//   1. Create() + Append() + Finish(): the blob exists in a staging area only.
//   2. Persist() makes staged blobs durable; the caller then commits its index rows;
//      Publish() moves each blob to its final place.
// Recover(), run before serving, publishes staged blobs the index references (a crash
// between commit and publish) and deletes all others (a crash before commit).
//
// Blob names are chosen by the store (random), never derived from UIDs or tag values.
// Implementations are thread-safe. Readers always see the stored plaintext; a store
// that seals blobs reports a blob failing its integrity check as kDataLoss.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace tresor::store {

// Writes one new blob. Destroying it without Finish() discards the blob.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  virtual Status Append(const void* data, size_t n) = 0;
  // Closes the blob; returns its name. The blob is staged, not yet durable or published.
  virtual Result<std::string> Finish() = 0;
  virtual uint64_t size() const = 0;
};

// Random-access reads of one blob.
class BlobReader {
 public:
  virtual ~BlobReader() = default;
  virtual uint64_t size() const = 0;
  // Reads up to `n` bytes at `offset`; returns the count (0 only at the end).
  virtual Result<size_t> ReadAt(void* out, size_t n, uint64_t offset) = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  virtual Result<std::unique_ptr<BlobWriter>> Create() = 0;
  // Makes the named staged blobs durable.
  virtual Status Persist(const std::vector<std::string>& staged) = 0;
  // Moves a persisted, index-committed blob from staging to its final place.
  virtual Status Publish(const std::string& name) = 0;
  // Deletes a staged blob that will not be committed. Ok if it is already gone. On error
  // the caller logs it; the blob stays staged and the next Recover() deletes it.
  virtual Status Discard(const std::string& name) = 0;
  // Deletes a blob wherever it is (staged or published): for crash recovery of a blob
  // whose index row is being removed. Ok if it is already gone.
  virtual Status Remove(const std::string& name) = 0;
  // Opens a published (or committed but not yet published) blob.
  virtual Result<std::unique_ptr<BlobReader>> Open(const std::string& name) = 0;
  // Crash recovery; see the class comment. A staged blob that cannot be deleted is
  // logged and left for the next recovery; a failed publish or final sync is an error.
  virtual Status Recover(const std::function<Result<bool>(const std::string&)>& is_referenced) = 0;
  // Calls `visit` with the name of every blob, published or staged (`staged`), for
  // verification; stops at the first error `visit` returns.
  virtual Status List(const std::function<Status(const std::string&, bool staged)>& visit) = 0;
};

}  // namespace tresor::store
