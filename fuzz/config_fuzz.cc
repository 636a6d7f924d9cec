// Fuzz target: the configuration file parser (core/config.h). The whole input is the file.
// Parsing never crashes, hangs or leaks, and the default text `tresor init` writes parses.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/config.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool defaults_parse = tresor::ParseConfig(tresor::DefaultConfigText()).ok();
  TRESOR_FUZZ_CHECK(defaults_parse);
  auto config = tresor::ParseConfig(std::string(reinterpret_cast<const char*>(data), size));
  (void)config;
  return 0;
}
