// Replays files through one fuzz target's LLVMFuzzerTestOneInput, for builds without
// libFuzzer (the ASan/UBSan corpus replay that `make test` runs). Arguments are files or
// folders (every regular file inside, in name order). A sanitizer report or a broken
// invariant aborts the process; otherwise it prints how many inputs ran and exits 0.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    fs::path arg(argv[i]);
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      std::vector<fs::path> inside;
      for (const auto& entry : fs::directory_iterator(arg)) {
        if (entry.is_regular_file()) inside.push_back(entry.path());
      }
      std::sort(inside.begin(), inside.end());
      files.insert(files.end(), inside.begin(), inside.end());
    } else if (fs::is_regular_file(arg, ec)) {
      files.push_back(arg);
    } else {
      std::fprintf(stderr, "replay: %s is neither a file nor a folder\n", argv[i]);
      return 2;
    }
  }
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      std::fprintf(stderr, "replay: cannot read %s\n", file.c_str());
      return 2;
    }
    // A copy of exactly the input's size, so that ASan sees reads past its end.
    std::vector<uint8_t> copy(bytes.begin(), bytes.end());
    static uint8_t empty_input = 0;
    LLVMFuzzerTestOneInput(copy.empty() ? &empty_input : copy.data(), copy.size());
  }
  std::printf("replay: %zu input(s) ran clean\n", files.size());
  return files.empty() ? 1 : 0;
}
