// Rendering one frame of a stored object for display (DICOMweb rendered and thumbnail
// resources, WADO-URI image requests): decode, modality transform, VOI window, 8 bits,
// optional scaling, then JPEG or PNG.
//
// Grayscale (MONOCHROME1/2, any bit depth, signed or not): the modality transform is
// Rescale Slope/Intercept applied in double precision (or the object's Modality LUT
// Sequence), then the VOI window of PS3.3 C.11.2.1.2 maps values to 0..255 (rounded to
// nearest); MONOCHROME1 is inverted so that low values display white. Enhanced objects'
// rescale and window come from the frame's functional groups (per-frame, then shared). Color (RGB,
// YBR_FULL, YBR_FULL_422, PALETTE COLOR, ...) is converted to 8-bit RGB by DCMTK; a
// window does not apply to color.
//
// Bounded: the decoded size (Rows x Columns x Frames x Samples per Pixel) is checked
// against RenderOptions::max_samples before anything is decoded. No DCMTK type appears
// here. Thread-safe (no shared state besides DCMTK's codec registry: call
// RegisterCodecs() once first).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace tresor::dicom {

// The VOI LUT functions of PS3.3 C.11.2.1.3.
enum class VoiFunction { kLinear, kLinearExact, kSigmoid };

struct VoiWindow {
  double center = 0;
  double width = 0;  // >= 1 for kLinear, > 0 otherwise
  VoiFunction function = VoiFunction::kLinear;
};

// Parses the `window` query parameter of PS3.18 8.3.5.1.3: "center,width[,function]"
// with function linear (default), linear-exact or sigmoid (case-insensitive).
// kInvalidArgument for anything else or a width the function does not allow.
Result<VoiWindow> ParseWindow(std::string_view text);

// Maps one modality value to 0..255 through `window` (unrounded, clamped to [0, 255]).
double ApplyWindow(const VoiWindow& window, double value);

enum class ImageFormat { kJpeg, kPng };

struct RenderOptions {
  uint32_t frame = 1;                // 1-based frame number
  std::optional<VoiWindow> window;   // else the object's first window, else min-max
  // A box to fit the image in, keeping its aspect ratio (0 x 0: the natural size).
  uint32_t fit_width = 0;
  uint32_t fit_height = 0;
  bool enlarge = true;               // false: only ever shrink to fit (thumbnails)
  int quality = 90;                  // JPEG quality 1..100
  ImageFormat format = ImageFormat::kJpeg;
  uint64_t max_samples = uint64_t{64} << 20;  // Rows x Columns x Frames x Samples cap
};

// An 8-bit image: `channels` 1 (gray) or 3 (RGB, interleaved), rows top to bottom.
struct Pixels8 {
  uint32_t width = 0;
  uint32_t height = 0;
  int channels = 1;
  std::vector<uint8_t> data;  // width * height * channels bytes
};

// The display pixels of frame `options.frame` of a Part 10 file (`part10`, the whole file
// in memory; not retained). Errors: kResourceExhausted when the decoded size exceeds
// options.max_samples; kInvalidArgument for a frame number out of range, an image
// without pixel data or with nonsensical attributes (zero rows, unknown bit depth, ...)
// or a file that does not parse; kUnsupported when no codec decodes its pixel data.
Result<Pixels8> RenderPixels(std::string_view part10, const RenderOptions& options);

// Encodes `pixels` as JPEG (baseline, `quality`) or PNG. kInternal if the encoder fails.
Result<std::string> EncodeImage(const Pixels8& pixels, ImageFormat format, int quality);

// RenderPixels then EncodeImage.
Result<std::string> RenderFrame(std::string_view part10, const RenderOptions& options);

}  // namespace tresor::dicom
