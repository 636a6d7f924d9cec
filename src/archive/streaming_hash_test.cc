#include "archive/streaming_hash.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "core/sha256.h"

namespace tresor::archive {
namespace {

std::string Bytes(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 12345;
  for (char& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

std::string Reference(const std::string& bytes) {
  Sha256 h;
  h.Update(bytes.data(), bytes.size());
  return h.FinishHex();
}

// Feeds `total` bytes in `step`-byte pieces: the first `kept` through a stable buffer
// (Available), the rest hashed on the caller's thread (Update), as an upload does.
std::string Streamed(HashWorkers& workers, const std::string& bytes, size_t step, size_t kept) {
  std::unique_ptr<char[]> buffer(new char[bytes.size() + 1]);
  StreamingHash hash(workers);
  size_t in = 0;
  while (in < bytes.size()) {
    size_t n = std::min(step, bytes.size() - in);
    if (in + n <= kept) {
      std::memcpy(buffer.get() + in, bytes.data() + in, n);
      hash.Available(buffer.get(), in + n);
    } else {
      kept = 0;  // once a piece is not kept, none after it is
      hash.Update(bytes.data() + in, n);
    }
    in += n;
  }
  return hash.FinishHex();
}

TEST(StreamingHashTest, EqualsTheHashOfTheWholeObject) {
  HashWorkers workers(2);
  for (size_t size : {size_t{0}, size_t{1}, StreamingHash::kMinOffloadBytes - 1,
                      StreamingHash::kMinOffloadBytes, StreamingHash::kMinOffloadBytes + 1,
                      size_t{525000}, size_t{3} << 20}) {
    const std::string bytes = Bytes(size);
    for (size_t step : {size_t{1000}, size_t{16372}, size_t{65536}, size_t{1} << 20}) {
      EXPECT_EQ(Streamed(workers, bytes, step, size), Reference(bytes)) << size << "/" << step;
      // Objects larger than what is kept in memory: the rest is hashed inline.
      EXPECT_EQ(Streamed(workers, bytes, step, size / 3), Reference(bytes)) << size << "/" << step;
    }
  }
}

TEST(StreamingHashTest, ManyObjectsAtOnceShareTheWorkers) {
  HashWorkers workers(1);
  const std::string a = Bytes(700000), b = Bytes(300000);
  std::unique_ptr<char[]> ba(new char[a.size()]), bb(new char[b.size()]);
  StreamingHash ha(workers), hb(workers);
  for (size_t in = 0; in < a.size(); in += 16384) {
    size_t n = std::min<size_t>(16384, a.size() - in);
    std::memcpy(ba.get() + in, a.data() + in, n);
    ha.Available(ba.get(), in + n);
    if (in < b.size()) {
      size_t m = std::min<size_t>(16384, b.size() - in);
      std::memcpy(bb.get() + in, b.data() + in, m);
      hb.Available(bb.get(), in + m);
    }
  }
  EXPECT_EQ(hb.FinishHex(), Reference(b));
  EXPECT_EQ(ha.FinishHex(), Reference(a));
}

TEST(StreamingHashTest, AnAbandonedObjectWaitsForItsWorkerBeforeItsBufferGoes) {
  HashWorkers workers(1);
  const std::string bytes = Bytes(4 << 20);
  for (int round = 0; round < 20; ++round) {
    auto buffer = std::make_unique<std::string>(bytes);
    {
      StreamingHash hash(workers);
      hash.Available(buffer->data(), buffer->size());  // a worker starts on 4 MB
    }  // neither hashed to the end nor finished: destroyed with the worker done
    buffer.reset();  // under ASan a worker still reading would be caught here
  }
}

}  // namespace
}  // namespace tresor::archive
