// Fuzz target: the DICOM JSON model of hostile data sets (dicom/dicom_json.h), written while
// the scanner walks them, as a store builds its WADO-RS metadata. The output must be one
// valid JSON object. Also: the BulkDataURI tag paths clients send back, and locating the
// value one of them names. Input: a data set input (fuzz_input.h).
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include "dicom/dicom_json.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tresor;
  fuzz::DataSetInput input;
  if (!fuzz::SplitDataSetInput(data, size, &input)) return 0;
  dicom::DicomJsonOptions options;
  options.bulk_data_uri_prefix = "bulk/";
  options.bulk_threshold = 64;
  options.max_inline_text = 256;
  options.soft_document_bytes = 64 * 1024;
  options.max_document_bytes = 256 * 1024;
  dicom::ScanLimits limits;
  limits.max_bytes = 8u << 20;
  auto json = dicom::DataSetToJson(input.dataset, input.encoding, options, limits);
  if (!json.ok()) return 0;
  TRESOR_FUZZ_CHECK(json->size() <= options.max_document_bytes + 4096);
  nlohmann::json parsed = nlohmann::json::parse(*json, nullptr, /*allow_exceptions=*/false);
  TRESOR_FUZZ_CHECK(parsed.is_object());
  // Every BulkDataURI path parses back and names a value the locator finds.
  int located = 0;
  std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& node) {
    if (node.is_object()) {
      auto it = node.find("BulkDataURI");
      if (it != node.end() && it->is_string() && located < 4) {
        std::string uri = it->get<std::string>();
        TRESOR_FUZZ_CHECK(uri.rfind(options.bulk_data_uri_prefix, 0) == 0);
        std::string path = uri.substr(options.bulk_data_uri_prefix.size());
        TRESOR_FUZZ_CHECK(dicom::ParseTagPath(path).ok());
        dicom::MemoryReader reader(input.dataset.data(), input.dataset.size());
        auto value = dicom::LocateValue(reader, input.encoding, limits, path);
        TRESOR_FUZZ_CHECK(value.ok() && value->has_value());
        ++located;
      }
      for (const auto& [key, child] : node.items()) walk(child);
    } else if (node.is_array()) {
      for (const auto& child : node) walk(child);
    }
  };
  walk(parsed);
  return 0;
}
