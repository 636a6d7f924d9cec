// Fuzz target: QIDO-RS query strings (dicomweb/qido.h) on every search resource, then
// the response body of one match holding every requested attribute.
// Input: byte 0 picks the resource and whether the path names UIDs; the rest is the raw
// query string (after '?', still percent-encoded).
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include "dicomweb/qido.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tresor;
  if (size < 1) return 0;
  auto target = static_cast<dicomweb::QidoTarget>(data[0] % 6);
  std::string study, series;
  if (data[0] & 0x40) study = "1.2.840.113619.2.55.3";
  if (data[0] & 0x80) series = "1.2.840.113619.2.55.3.4";
  std::string_view query(reinterpret_cast<const char*>(data) + 1, size - 1);
  dicomweb::DicomWebOptions options;
  auto request = dicomweb::ParseQidoRequest(target, study, series, query, options);
  if (!request.ok()) return 0;
  TRESOR_FUZZ_CHECK(request->query.limit <= options.qido_max_limit);
  dicom::QueryMatch match;
  for (dicom::TagKey tag : request->attributes) match.values[tag] = "A^B";
  std::string body = dicomweb::QidoResponseBody(*request, {match});
  TRESOR_FUZZ_CHECK(nlohmann::json::accept(body));
  // Each component alone, as the parser decodes them.
  auto decoded = dicomweb::DecodeQueryComponent(query);
  (void)decoded;
  return 0;
}
