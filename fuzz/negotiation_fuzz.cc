// Fuzz target: Accept and Content-Type headers (dicomweb/negotiation.h): ParseMediaType,
// ParseAccept, and the retrieve renditions chosen from the ranges for both resources.
// Input: byte 0 picks the stored transfer syntax and whether one part is asked for; the
// rest is the header value.
#include <cstddef>
#include <cstdint>
#include <string>

#include "dicomweb/negotiation.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tresor::dicomweb;
  if (size < 1) return 0;
  static const char* const kStored[] = {
      "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.50",
      "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.5",
      "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.1.99"};
  const char* stored = kStored[data[0] % 8];
  const bool single = (data[0] & 0x08) != 0;
  std::string_view header(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto media = ParseMediaType(header);
  if (media.ok()) {
    (void)media->Param("boundary");
    (void)media->Params("transfer-syntax");
  }
  auto ranges = ParseAccept(header);
  if (!ranges.ok()) return 0;
  TRESOR_FUZZ_CHECK(!ranges->empty());
  for (size_t i = 0; i < ranges->size(); ++i) {
    TRESOR_FUZZ_CHECK((*ranges)[i].q >= 0 && (*ranges)[i].q <= 1);
    if (i > 0) TRESOR_FUZZ_CHECK((*ranges)[i - 1].q >= (*ranges)[i].q);
    (void)Covers((*ranges)[i].media.type, "application/dicom");
  }
  for (Resource resource : {Resource::kInstances, Resource::kFrames}) {
    auto acceptable = AcceptableRenditions(*ranges, resource, single);
    if (!acceptable.ok()) continue;
    auto rendition = ChooseRendition(*acceptable, stored, resource);
    if (rendition) (void)rendition->ContentType();
  }
  return 0;
}
