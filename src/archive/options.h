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
  dicom::ScanLimits limits;
  uint64_t max_object_bytes = 2ull << 30;
  int commit_batch_max = 256;
  size_t max_find_results = 1000;   // most matches one query returns
  bool fuzzy_person_names = false;  // PN matching ignores case and accents
  std::string token_key;            // HMAC key for session tokens (32 random bytes)
  int session_idle_seconds = 900;   // a session unused this long ends
  int session_max_minutes = 480;    // a session ends this long after sign-in in any case
  int max_failures = 5;             // failed logins/associations from one source ...
  int failure_window_seconds = 300; // ... within this window ...
  int block_seconds = 900;          // ... block that source for this long
};

}  // namespace tresor::archive
