// Fuzz target: the three paths that decode stored pixel data, on hostile pixel modules:
// the renderer (dicom/render.h) behind the rendered and thumbnail resources, frame
// decoding (WADO-RS frames) and transcoding (retrieval in another transfer syntax) of
// dicom/transcode.h. Only what a store would accept reaches them: a Part 10 file in an
// accepted transfer syntax whose data set passes the scanner. Input byte 0 picks the
// options (frame, window, box, format; bit 6 adds a frame decode, bit 7 a transcode to
// Explicit VR Little Endian); the rest is the file.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "dicom/codecs.h"
#include "dicom/dataset_scanner.h"
#include "dicom/render.h"
#include "dicom/transcode.h"
#include "fuzz_input.h"

namespace {

// Rows x Columns x Frames x Samples per Pixel as the object declares them (0 when unreadable).
uint64_t DeclaredSamples(const std::string& part10) {
  DcmInputBufferStream in;
  in.setBuffer(part10.data(), static_cast<offile_off_t>(part10.size()));
  in.setEos();
  DcmFileFormat file;
  file.transferInit();
  const OFCondition cond =
      file.readUntilTag(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength, DCM_PixelData);
  file.transferEnd();
  if (cond.bad()) return 0;
  DcmDataset* ds = file.getDataset();
  Uint16 rows = 0, columns = 0, samples = 1;
  Sint32 frames = 1;
  ds->findAndGetUint16(DCM_Rows, rows);
  ds->findAndGetUint16(DCM_Columns, columns);
  ds->findAndGetUint16(DCM_SamplesPerPixel, samples);
  ds->findAndGetSint32(DCM_NumberOfFrames, frames);
  return uint64_t{rows} * columns * std::max<Uint16>(samples, 1) *
         static_cast<uint64_t>(std::max<Sint32>(frames, 1));
}

}  // namespace

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
  // Frame decoding and transcoding take up to 64 MiB and 1 GiB: only small images here.
  const bool small = DeclaredSamples(stored) <= options.max_samples;
  if ((selector & 64) && small) {
    auto frame = dicom::DecodeFrameOfFile(stored, options.frame - 1);
    if (frame.ok()) TRESOR_FUZZ_CHECK(!frame->empty());
  }
  if ((selector & 128) && small) {
    auto native = dicom::TranscodePart10(stored, "1.2.840.10008.1.2.1");
    (void)native;  // any status will do; it must not crash, leak or hang
  }
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
