// Fuzz target: the renderer (dicom/render.h) behind the rendered and thumbnail resources,
// on hostile pixel modules. Only what a store would accept reaches it: a Part 10 file in an
// accepted transfer syntax whose data set passes the scanner. Input byte 0 picks the
// options (frame, window, box, format); the rest is the file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "dicom/codecs.h"
#include "dicom/dataset_scanner.h"
#include "dicom/render.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tresor;
  static const bool registered = (dicom::RegisterCodecs(), true);
  (void)registered;
  if (size < 1) return 0;
  const uint8_t selector = data[0];
  fuzz::DataSetInput input;
  if (!fuzz::SplitDataSetInput(data + 1, size - 1, &input) || !input.part10) return 0;
  dicom::MemoryReader reader(input.dataset.data(), input.dataset.size());
  dicom::ScanLimits limits;
  limits.max_bytes = 8u << 20;
  if (!dicom::ScanDataset(reader, input.encoding, limits, {}).ok()) return 0;
  dicom::RenderOptions options;
  options.frame = 1 + (selector & 1);
  if (selector & 2) options.window = dicom::VoiWindow{40, 400, dicom::VoiFunction::kLinear};
  if (selector & 4) options.window = dicom::VoiWindow{0.5, 0.25, dicom::VoiFunction::kSigmoid};
  if (selector & 8) {
    options.fit_width = 32;
    options.fit_height = 24;
    options.enlarge = (selector & 16) != 0;
  }
  options.format = (selector & 32) ? dicom::ImageFormat::kPng : dicom::ImageFormat::kJpeg;
  options.max_samples = 1u << 22;  // keeps every run fast
  const std::string stored = fuzz::StoredForm(input);  // what the renderer reads back
  auto pixels = dicom::RenderPixels(stored, options);
  if (!pixels.ok()) return 0;
  TRESOR_FUZZ_CHECK(pixels->channels == 1 || pixels->channels == 3);
  TRESOR_FUZZ_CHECK(pixels->data.size() ==
                    uint64_t{pixels->width} * pixels->height * pixels->channels);
  if (options.fit_width) {
    TRESOR_FUZZ_CHECK(pixels->width <= options.fit_width && pixels->height <= options.fit_height);
  }
  if (pixels->width * pixels->height <= 256 * 256) {
    auto encoded = dicom::EncodeImage(*pixels, options.format, 75);
    TRESOR_FUZZ_CHECK(encoded.ok());
  }
  return 0;
}
