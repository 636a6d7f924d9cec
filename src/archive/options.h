// ArchiveOptions: the settings of the archive services (from the data directory's
// configuration). Each service keeps its own copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "dicom/dataset_scanner.h"

namespace tresor::archive {

struct ArchiveOptions {
  std::string ae_title = "TRESOR";
  // The node's name when several nodes serve one archive ([cluster] node); audit records
  // then name their source "AE@node". Empty: one node, source "AE".
  std::string node;
  dicom::ScanLimits limits;
  uint64_t max_object_bytes = 2ull << 30;
  int commit_batch_max = 256;
  size_t max_find_results = 1000;   // most matches one query returns
  bool fuzzy_person_names = false;  // PN matching ignores case and accents
  std::string token_key;            // HMAC key for session tokens (32 random bytes)
  int session_idle_seconds = 900;   // a session unused this long ends
  int session_max_minutes = 480;    // a session ends this long after sign-in in any case
  // Back-off after failed attempts (security::FailureTracker has the policy): this many
  // failures on one target are free, then attempts on it wait backoff_seconds, doubling
  // with each further failure up to max_backoff_seconds; failures are forgotten after
  // failure_window_seconds without one.
  int max_failures = 5;
  int failure_window_seconds = 300;
  int backoff_seconds = 10;
  int max_backoff_seconds = 900;
  // Ed25519 seed (32 bytes) that signs audit checkpoints; kept in a key file outside the
  // index. Empty: checkpoints are not signed (tests).
  std::string audit_signing_seed;
};

}  // namespace tresor::archive
