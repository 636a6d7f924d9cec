// Fuzz target: the streaming multipart/related parser (dicomweb/multipart.h) as STOW-RS
// feeds it, in pieces split anywhere. Input: the boundary up to the first '\n' (1 to 70
// bytes, else the input is skipped), one byte seeding the piece sizes, then the body.
// Checks the event order the handler contract promises.
#include <cstddef>
#include <cstdint>
#include <string>

#include "dicomweb/multipart.h"
#include "fuzz_input.h"

namespace {

class OrderChecker : public tresor::dicomweb::MultipartHandler {
 public:
  tresor::Status OnPartBegin(const tresor::web::HeaderList&) override {
    TRESOR_FUZZ_CHECK(!open_);
    open_ = true;
    ++begun_;
    return tresor::Status::Ok();
  }
  tresor::Status OnPartData(std::string_view data) override {
    TRESOR_FUZZ_CHECK(open_);
    TRESOR_FUZZ_CHECK(!data.empty());
    // A handler error must stop the parser: refuse huge parts now and then.
    bytes_ += data.size();
    if (bytes_ > (1u << 20)) return tresor::ResourceExhausted("part too large");
    return tresor::Status::Ok();
  }
  tresor::Status OnPartEnd() override {
    TRESOR_FUZZ_CHECK(open_);
    open_ = false;
    bytes_ = 0;
    return tresor::Status::Ok();
  }
  bool open_ = false;
  size_t begun_ = 0;
  size_t bytes_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tresor;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nl = input.find('\n');
  if (nl == std::string_view::npos || nl == 0 || nl > 70 || nl + 1 >= input.size()) return 0;
  std::string boundary(input.substr(0, nl));
  uint32_t seed = static_cast<uint8_t>(input[nl + 1]) | 1u;
  std::string_view body = input.substr(nl + 2);
  OrderChecker checker;
  dicomweb::MultipartLimits limits;
  limits.max_header_bytes = 1024;
  limits.max_parts = 64;
  dicomweb::MultipartParser parser(boundary, checker, limits);
  Status status;
  while (!body.empty()) {
    seed = seed * 1103515245u + 12345u;
    size_t n = 1 + (seed >> 16) % 512;
    if (n > body.size()) n = body.size();
    status = parser.Feed(body.substr(0, n));
    if (!status.ok()) break;
    body.remove_prefix(n);
  }
  if (status.ok()) {
    status = parser.Finish();
    if (status.ok()) TRESOR_FUZZ_CHECK(parser.complete() && !checker.open_);
  } else {
    // A parser that failed keeps failing.
    TRESOR_FUZZ_CHECK(!parser.Feed("x").ok());
    TRESOR_FUZZ_CHECK(!parser.Finish().ok());
  }
  TRESOR_FUZZ_CHECK(parser.parts() == checker.begun_);
  TRESOR_FUZZ_CHECK(checker.begun_ <= limits.max_parts);
  return 0;
}
