// The index conformance suite: what every store::Index backend must answer the same way
// (instances, duplicates and conflicts, every query matching kind, scope, users, tokens,
// sessions, peers, group rules, study groups, the audit chain, checkpoints, forwarding
// cursors, metadata documents, frame layouts, and two index instances sharing one
// database concurrently).
//
// The cases are TEST_Ps of IndexConformanceTest (index_conformance.cc); a backend runs
// them by instantiating the suite with its IndexBackend, e.g.
//   INSTANTIATE_TEST_SUITE_P(Sqlite, IndexConformanceTest, ::testing::ValuesIn(backends),
//                            IndexBackendName);
// Each test gets a fresh, empty database from its backend's factory.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <ostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/index.h"

namespace tresor::store::testing {

// One fresh database of a backend, for one test. Open() may be called again and again:
// each call is another index instance on the same database (a restart when the previous
// one was closed first, or a second node when both stay open).
class IndexFactory {
 public:
  virtual ~IndexFactory() = default;
  virtual Result<std::unique_ptr<Index>> Open() = 0;
};

struct IndexBackend {
  std::string name;  // a test name suffix: letters and digits only
  // Creates the fresh database; an error fails the test (never skips it).
  std::function<Result<std::unique_ptr<IndexFactory>>()> make;
};

// gtest prints a test's parameter: the backend's name.
inline void PrintTo(const IndexBackend& backend, std::ostream* os) { *os << backend.name; }

inline std::string IndexBackendName(const ::testing::TestParamInfo<IndexBackend>& info) {
  return info.param.name;
}

class IndexConformanceTest : public ::testing::TestWithParam<IndexBackend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Closes the index and opens it again on the same database.
  void ReOpen();
  // Another instance on the same database, while index_ stays open (a second node).
  std::unique_ptr<Index> OpenSecond();

  std::vector<AddOutcome> Add(const std::vector<InstanceRecord>& records);
  std::optional<StoredInstance> Find(const std::string& uid);
  IndexStats Stats();

  std::unique_ptr<IndexFactory> factory_;
  std::unique_ptr<Index> index_;
};

}  // namespace tresor::store::testing
