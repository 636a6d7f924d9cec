// AuditForwarder over a real SqliteIndex (the trail is the spool, the cursor is in the
// index), driven step by step with a fake clock; the sink is an in-memory collector that
// can be taken down, refuse connections or drop what it was sent after a close.
// (The TLS sink against a real collector: tests/integration/audit_forward.sh.)
#include "archive/audit_forwarder.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "archive/archive_service.h"
#include "core/testing/fake_clock.h"
#include "core/testing/temp_dir.h"
#include "store/file_blob_store.h"
#include "store/sqlite_index.h"

namespace tresor::archive {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A collector in memory. `received` holds what it stored; `up` false refuses
// connections; Crash() closes the connection and forgets what it got since `kept`.
class MemoryCollector final : public AuditSink {
 public:
  std::string Destination() const override { return "collector:6514"; }
  Status Connect() override {
    ++connects;
    if (!up) return Unavailable("connection refused");
    open = true;
    return Status::Ok();
  }
  bool Alive() override { return open; }
  Status Send(const AuditRecord& r) override {
    if (!open) return Unavailable("closed");
    received.push_back(r.seq);
    return Status::Ok();
  }
  void Close() override { open = false; }
  void Cancel() override {}
  // The collector goes down; what it received after the first `kept` records is lost.
  void Crash(size_t kept) {
    open = false;
    up = false;
    if (received.size() > kept) received.resize(kept);
  }

  bool up = true;
  bool open = false;
  int connects = 0;
  std::vector<int64_t> received;
};

class ForwarderTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    auto index = store::SqliteIndex::Open({dir_.path() + "/index.db", store::SqliteIndexOptions::Sync::kOff});
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    index_ = std::move(index).value();
    auto blobs = store::FileBlobStore::Make({dir_.path() + "/storage", /*fsync=*/false, nullptr});
    ASSERT_TRUE(blobs.ok());
    blobs_ = std::move(blobs).value();
    ArchiveOptions options;
    options.token_key = std::string(32, 'k');
    archive_ = std::make_unique<ArchiveService>(*index_, *blobs_, options, clock_);
  }
  void Reopen() {
    archive_.reset();
    index_.reset();
    blobs_.reset();
    Open();
  }
  void Record(int n) {
    for (int i = 0; i < n; ++i) {
      AuditEvent e;
      e.id = AuditEventId::kQuery;
      e.query = "PatientID=P" + std::to_string(i);
      ASSERT_TRUE(archive_->audit().Record(Principal::LocalAdmin(), e).ok());
    }
  }
  std::unique_ptr<AuditForwarder> MakeForwarder() {
    AuditForwarderOptions o;
    o.min_backoff = seconds(1);
    o.max_backoff = seconds(8);
    o.confirm_after = seconds(2);
    o.batch = 4;
    auto f = std::make_unique<AuditForwarder>(archive_->audit(), collector_, o, clock_);
    EXPECT_TRUE(f->LoadCursor().ok());
    return f;
  }
  // Steps until nothing is due now (at most 100 steps).
  void Drain(AuditForwarder& f) {
    for (int i = 0; i < 100; ++i) {
      if (f.Step().count() > 0) return;
    }
  }
  static std::vector<int64_t> Seqs(int64_t from, int64_t to) {
    std::vector<int64_t> out;
    for (int64_t s = from; s <= to; ++s) out.push_back(s);
    return out;
  }
  int64_t StoredCursor() {
    auto c = archive_->audit().ForwardCursor("collector:6514");
    EXPECT_TRUE(c.ok());
    return c.ok() ? *c : -1;
  }

  ::tresor::testing::TempDir dir_;
  ::tresor::testing::FakeClock clock_;
  std::unique_ptr<store::SqliteIndex> index_;
  std::unique_ptr<store::BlobStore> blobs_;
  std::unique_ptr<ArchiveService> archive_;
  MemoryCollector collector_;
};

TEST_F(ForwarderTest, SendsInOrderAndConfirmsOnlyAfterTheConnectionStayedOpen) {
  Record(10);
  auto f = MakeForwarder();
  Drain(*f);  // batches of 4: everything sent now
  EXPECT_EQ(collector_.received, Seqs(1, 10));
  EXPECT_EQ(f->sent(), 10);
  EXPECT_EQ(f->confirmed(), 0) << "nothing is confirmed before confirm_after has passed";
  EXPECT_EQ(StoredCursor(), 0);
  clock_.Advance(milliseconds(1999));
  f->Step();
  EXPECT_EQ(f->confirmed(), 0);
  clock_.Advance(milliseconds(1));
  f->Step();
  EXPECT_EQ(f->confirmed(), 10);
  EXPECT_EQ(StoredCursor(), 10) << "the cursor is persisted in the index";
  EXPECT_EQ(collector_.received, Seqs(1, 10)) << "nothing sent twice";
}

TEST_F(ForwarderTest, SpoolsWhileTheCollectorIsDownAndBacksOff) {
  collector_.up = false;
  auto f = MakeForwarder();
  Record(3);
  EXPECT_EQ(f->Step(), seconds(1));
  EXPECT_EQ(collector_.connects, 1);
  f->Step();  // not due yet: no attempt
  EXPECT_EQ(collector_.connects, 1);
  clock_.AdvanceSeconds(1);
  EXPECT_EQ(f->Step(), seconds(2)) << "back-off doubles";
  clock_.AdvanceSeconds(2);
  EXPECT_EQ(f->Step(), seconds(4));
  clock_.AdvanceSeconds(4);
  EXPECT_EQ(f->Step(), seconds(8));
  clock_.AdvanceSeconds(8);
  EXPECT_EQ(f->Step(), seconds(8)) << "up to max_backoff";
  EXPECT_EQ(collector_.connects, 5);
  EXPECT_TRUE(collector_.received.empty());
  Record(2);
  collector_.up = true;
  clock_.AdvanceSeconds(8);
  Drain(*f);
  EXPECT_EQ(collector_.received, Seqs(1, 5)) << "the spooled records, in order";
  clock_.AdvanceSeconds(2);
  f->Step();
  EXPECT_EQ(f->confirmed(), 5);
}

TEST_F(ForwarderTest, ResendsUnconfirmedRecordsAfterTheCollectorClosed) {
  Record(4);
  auto f = MakeForwarder();
  Drain(*f);
  clock_.AdvanceSeconds(2);
  f->Step();
  ASSERT_EQ(f->confirmed(), 4);
  Record(3);  // 5..7 sent, then the collector crashes having stored only 5
  f->Step();
  ASSERT_EQ(collector_.received, Seqs(1, 7));
  collector_.Crash(5);
  f->Step();  // finds the connection closed: 5..7 are unconfirmed
  EXPECT_FALSE(f->connected());
  EXPECT_EQ(f->confirmed(), 4);
  EXPECT_EQ(StoredCursor(), 4);
  collector_.up = true;
  clock_.AdvanceSeconds(1);
  Drain(*f);
  // 5 twice (the window the header documents; the collector can drop it by seq), 6 and 7
  // not lost.
  EXPECT_EQ(collector_.received, (std::vector<int64_t>{1, 2, 3, 4, 5, 5, 6, 7}));
  clock_.AdvanceSeconds(2);
  f->Step();
  EXPECT_EQ(f->confirmed(), 7);
}

TEST_F(ForwarderTest, ContinuesFromThePersistedCursorAfterARestart) {
  Record(3);
  {
    auto f = MakeForwarder();
    Drain(*f);
    clock_.AdvanceSeconds(2);
    f->Step();
    ASSERT_EQ(f->confirmed(), 3);
    Record(2);
    f->Step();  // 4 and 5 sent, not confirmed when the server stops
    ASSERT_EQ(f->sent(), 5);
    f->Stop();
    EXPECT_FALSE(collector_.open) << "stopping closes the connection";
  }
  Reopen();
  collector_.received.clear();
  Record(1);
  auto f = MakeForwarder();
  EXPECT_EQ(f->confirmed(), 3);
  Drain(*f);
  EXPECT_EQ(collector_.received, Seqs(4, 6)) << "from the cursor: none skipped";
}

TEST_F(ForwarderTest, AuditedActionsDoNotDependOnTheCollector) {
  collector_.up = false;
  auto f = MakeForwarder();
  ASSERT_TRUE(f->Start().ok());
  // Recording works whatever the forwarder is doing; stopping joins its thread promptly.
  Record(20);
  f->Stop();
  EXPECT_TRUE(collector_.received.empty());
  auto head = archive_->audit().ReadAfter(0, 100);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->size(), 20u);
  EXPECT_EQ(StoredCursor(), 0);
}

}  // namespace
}  // namespace tresor::archive
