#include "dicom/render.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dccodec.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmimage/diregist.h>  // color image support (RGB, YBR, palette)
#include <dcmtk/dcmimgle/dcmimage.h>
#include <dcmtk/dcmimgle/dipixel.h>
#include <jpeglib.h>
#include <png.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <charconv>
#include <cmath>
#include <csetjmp>
#include <cstring>
#include <memory>

#include "dicom/pixel_guard.h"

namespace tresor::dicom {
namespace {

// Largest width or height of a rendered image.
constexpr uint32_t kMaxOutputSide = 16384;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Result<double> ParseNumber(std::string_view text) {
  text = Trim(text);
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      !std::isfinite(value)) {
    return InvalidArgument("not a number: '" + std::string(text.substr(0, 32)) + "'");
  }
  return value;
}

Status CheckWidth(const VoiWindow& w) {
  if (w.function == VoiFunction::kLinear ? w.width < 1 : w.width <= 0) {
    return InvalidArgument(w.function == VoiFunction::kLinear
                               ? "window width must be at least 1 for LINEAR"
                               : "window width must be positive");
  }
  return Status::Ok();
}

Result<VoiFunction> ParseFunction(std::string_view text) {
  std::string f = Lower(Trim(text));
  // PS3.18 spells the query values in lower case with a dash; the attribute VOI LUT
  // Function (0028,1056) uses LINEAR, LINEAR_EXACT, SIGMOID.
  if (f == "linear") return VoiFunction::kLinear;
  if (f == "linear-exact" || f == "linear_exact") return VoiFunction::kLinearExact;
  if (f == "sigmoid") return VoiFunction::kSigmoid;
  return InvalidArgument("unknown VOI LUT function '" + std::string(text.substr(0, 32)) + "'");
}

// RAII for DicomImage (DCMTK returns owning raw pointers from createScaledImage).
using ImagePtr = std::unique_ptr<DicomImage>;

// Calls f(i, value) for the first `count` values of an intermediate pixel buffer, with the
// loop specialised for its representation.
template <typename F>
void ForEachValue(const DiPixel& pixel, size_t count, F&& f) {
  auto loop = [&](const auto* data) {
    for (size_t i = 0; i < count; ++i) f(i, static_cast<int64_t>(data[i]));
  };
  const void* data = pixel.getData();
  switch (pixel.getRepresentation()) {
    case EPR_Uint8: return loop(static_cast<const Uint8*>(data));
    case EPR_Sint8: return loop(static_cast<const Sint8*>(data));
    case EPR_Uint16: return loop(static_cast<const Uint16*>(data));
    case EPR_Sint16: return loop(static_cast<const Sint16*>(data));
    case EPR_Uint32: return loop(static_cast<const Uint32*>(data));
    case EPR_Sint32: return loop(static_cast<const Sint32*>(data));
  }
}

// The output size fitting (w, h) into the box, keeping the aspect ratio.
void FitSize(uint32_t w, uint32_t h, const RenderOptions& o, uint32_t* out_w, uint32_t* out_h) {
  *out_w = w;
  *out_h = h;
  if (o.fit_width == 0 && o.fit_height == 0) return;
  double sx = o.fit_width ? static_cast<double>(o.fit_width) / w : 1e300;
  double sy = o.fit_height ? static_cast<double>(o.fit_height) / h : 1e300;
  double s = std::min(sx, sy);
  if (!o.enlarge) s = std::min(s, 1.0);
  *out_w = std::max<uint32_t>(1, static_cast<uint32_t>(std::lround(w * s)));
  *out_h = std::max<uint32_t>(1, static_cast<uint32_t>(std::lround(h * s)));
}

// The item of functional group macro `macro` that applies to `frame` (1-based) of an
// enhanced object: the per-frame group first, then the shared one; null if neither has it.
DcmItem* FunctionalGroup(DcmDataset* ds, uint32_t frame, const DcmTagKey& macro) {
  DcmItem* group = nullptr;
  DcmItem* item = nullptr;
  if (ds->findAndGetSequenceItem(DCM_PerFrameFunctionalGroupsSequence, group,
                                 static_cast<signed long>(frame) - 1).good() &&
      group != nullptr && group->findAndGetSequenceItem(macro, item, 0).good() &&
      item != nullptr) {
    return item;
  }
  group = nullptr;
  if (ds->findAndGetSequenceItem(DCM_SharedFunctionalGroupsSequence, group, 0).good() &&
      group != nullptr && group->findAndGetSequenceItem(macro, item, 0).good() &&
      item != nullptr) {
    return item;
  }
  return nullptr;
}

const char* ImageStatusText(EI_Status status) {
  return DicomImage::getString(status);
}

// --- PNG -----------------------------------------------------------------------------

struct PngSink {
  std::string* out;
};

void PngWrite(png_structp png, png_bytep data, png_size_t length) {
  auto* sink = static_cast<PngSink*>(png_get_io_ptr(png));
  sink->out->append(reinterpret_cast<const char*>(data), length);
}
void PngFlush(png_structp) {}

// Returns false if libpng failed. Only trivially destructible locals live in this frame
// (libpng reports errors by longjmp).
bool WritePng(const Pixels8& p, png_bytep* rows, std::string* out) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (png == nullptr) return false;
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    return false;
  }
  PngSink sink{out};
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, &sink, PngWrite, PngFlush);
  png_set_compression_level(png, 3);
  png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_UP);  // one filter: fast, good on images
  png_set_IHDR(png, info, p.width, p.height, 8,
               p.channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return true;
}

// --- JPEG ----------------------------------------------------------------------------

struct JpegError {
  jpeg_error_mgr mgr;
  jmp_buf jump;
};

void JpegErrorExit(j_common_ptr cinfo) {
  longjmp(reinterpret_cast<JpegError*>(cinfo->err)->jump, 1);
}
void JpegOutputMessage(j_common_ptr) {}  // no stderr noise

// A destination manager appending to a std::string.
struct JpegDest {
  jpeg_destination_mgr mgr;
  std::string* out;
  JOCTET buffer[65536];
};

// Everything libjpeg touches, in memory owned by the caller (not in the frame that calls
// setjmp, whose locals would be indeterminate after longjmp).
struct JpegState {
  jpeg_compress_struct cinfo;
  JpegError err;
  JpegDest dest;
};

void JpegInitDest(j_compress_ptr c) {
  auto* d = reinterpret_cast<JpegDest*>(c->dest);
  d->mgr.next_output_byte = d->buffer;
  d->mgr.free_in_buffer = sizeof(d->buffer);
}
boolean JpegEmpty(j_compress_ptr c) {
  auto* d = reinterpret_cast<JpegDest*>(c->dest);
  d->out->append(reinterpret_cast<const char*>(d->buffer), sizeof(d->buffer));
  d->mgr.next_output_byte = d->buffer;
  d->mgr.free_in_buffer = sizeof(d->buffer);
  return TRUE;
}
void JpegTerm(j_compress_ptr c) {
  auto* d = reinterpret_cast<JpegDest*>(c->dest);
  d->out->append(reinterpret_cast<const char*>(d->buffer),
                 sizeof(d->buffer) - d->mgr.free_in_buffer);
}

// Returns false if libjpeg failed (libjpeg reports errors by longjmp; only references into
// `state` live in this frame).
bool WriteJpeg(const Pixels8& p, int quality, JpegState* state) {
  jpeg_compress_struct& cinfo = state->cinfo;
  JpegError* err = &state->err;
  JpegDest* dest = &state->dest;
  cinfo.err = jpeg_std_error(&err->mgr);
  err->mgr.error_exit = JpegErrorExit;
  err->mgr.output_message = JpegOutputMessage;
  if (setjmp(err->jump)) {
    jpeg_destroy_compress(&cinfo);
    return false;
  }
  jpeg_create_compress(&cinfo);
  dest->mgr.init_destination = JpegInitDest;
  dest->mgr.empty_output_buffer = JpegEmpty;
  dest->mgr.term_destination = JpegTerm;
  cinfo.dest = &dest->mgr;
  cinfo.image_width = p.width;
  cinfo.image_height = p.height;
  cinfo.input_components = p.channels;
  cinfo.in_color_space = p.channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  const size_t stride = size_t{p.width} * p.channels;
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(p.data.data() + cinfo.next_scanline * stride);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return true;
}

}  // namespace

Result<VoiWindow> ParseWindow(std::string_view text) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    size_t comma = text.find(',', start);
    parts.push_back(text.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (parts.size() < 2 || parts.size() > 3) {
    return InvalidArgument("window must be center,width[,function]");
  }
  VoiWindow w;
  TRESOR_ASSIGN_OR_RETURN(w.center, ParseNumber(parts[0]));
  TRESOR_ASSIGN_OR_RETURN(w.width, ParseNumber(parts[1]));
  if (parts.size() == 3) {
    TRESOR_ASSIGN_OR_RETURN(w.function, ParseFunction(parts[2]));
  }
  TRESOR_RETURN_IF_ERROR(CheckWidth(w));
  return w;
}

double ApplyWindow(const VoiWindow& w, double x) {
  constexpr double kMax = 255.0;
  switch (w.function) {
    case VoiFunction::kLinear: {  // PS3.3 C.11.2.1.2.1
      double c = w.center - 0.5, half = (w.width - 1) / 2;
      if (x <= c - half) return 0;
      if (x > c + half) return kMax;
      return ((x - c) / (w.width - 1) + 0.5) * kMax;
    }
    case VoiFunction::kLinearExact: {  // C.11.2.1.3.2
      if (x <= w.center - w.width / 2) return 0;
      if (x > w.center + w.width / 2) return kMax;
      return ((x - w.center) / w.width + 0.5) * kMax;
    }
    case VoiFunction::kSigmoid:  // C.11.2.1.3.1
      return kMax / (1 + std::exp(-4 * (x - w.center) / w.width));
  }
  return 0;
}

Result<Pixels8> RenderPixels(std::string_view part10, const RenderOptions& options) {
  // dcmimgle reports each ignored modality transform at INFO level: keep it out of the logs.
  static const bool quiet = [] {
    DCM_dcmimgleLogger.setLogLevel(OFLogger::WARN_LOG_LEVEL);
    return true;
  }();
  (void)quiet;
  DcmInputBufferStream in;
  in.setBuffer(part10.data(), static_cast<offile_off_t>(part10.size()));
  in.setEos();
  DcmFileFormat file;
  file.transferInit();
  OFCondition cond = file.read(in, EXS_Unknown, EGL_noChange);
  file.transferEnd();
  if (cond.bad()) return InvalidArgument(std::string("cannot parse the object: ") + cond.text());
  DcmDataset* ds = file.getDataset();

  // Everything about the size is checked before any pixel is decoded.
  if (!ds->tagExists(DCM_PixelData)) return InvalidArgument("the object has no pixel data");
  Uint16 rows = 0, columns = 0, samples = 1, bits_allocated = 0, bits_stored = 0;
  Sint32 frames = 1;
  ds->findAndGetUint16(DCM_Rows, rows);
  ds->findAndGetUint16(DCM_Columns, columns);
  ds->findAndGetUint16(DCM_SamplesPerPixel, samples);
  ds->findAndGetUint16(DCM_BitsAllocated, bits_allocated);
  if (ds->findAndGetUint16(DCM_BitsStored, bits_stored).bad()) bits_stored = bits_allocated;
  if (ds->tagExistsWithValue(DCM_NumberOfFrames) &&
      ds->findAndGetSint32(DCM_NumberOfFrames, frames).bad()) {
    return InvalidArgument("Number of Frames is not a number");
  }
  OFString photometric;
  ds->findAndGetOFString(DCM_PhotometricInterpretation, photometric);
  if (rows == 0 || columns == 0) return InvalidArgument("the image has no rows or columns");
  if (samples != 1 && samples != 3) return InvalidArgument("Samples per Pixel must be 1 or 3");
  if (bits_allocated != 1 && bits_allocated != 8 && bits_allocated != 16 &&
      bits_allocated != 32) {
    return InvalidArgument("Bits Allocated must be 1, 8, 16 or 32");
  }
  if (bits_stored == 0 || bits_stored > bits_allocated) {
    return InvalidArgument("Bits Stored must be between 1 and Bits Allocated");
  }
  if (frames < 1) return InvalidArgument("Number of Frames must be at least 1");
  const uint64_t decoded =
      uint64_t{rows} * columns * static_cast<uint64_t>(frames) * samples;
  if (decoded > options.max_samples) {
    return ResourceExhausted("the image would decode to " + std::to_string(decoded) +
                             " samples, more than the render limit of " +
                             std::to_string(options.max_samples));
  }
  if (options.frame < 1 || options.frame > static_cast<uint32_t>(frames)) {
    return InvalidArgument("frame " + std::to_string(options.frame) + " is out of range (the " +
                           "object has " + std::to_string(frames) + ")");
  }
  const bool monochrome =
      samples == 1 && (photometric == "MONOCHROME1" || photometric == "MONOCHROME2");
  uint32_t out_w = 0, out_h = 0;
  FitSize(columns, rows, options, &out_w, &out_h);
  const int channels = monochrome ? 1 : 3;  // palette color has one sample, three outputs
  if (out_w > kMaxOutputSide || out_h > kMaxOutputSide ||
      uint64_t{out_w} * out_h * channels > std::max<uint64_t>(options.max_samples, 3)) {
    return ResourceExhausted("the rendered image would exceed the render limit");
  }

  const bool modality_lut = ds->tagExists(DCM_ModalityLUTSequence);
  double slope = 1, intercept = 0;
  if (monochrome && !modality_lut) {
    // Enhanced objects keep the rescale in the Pixel Value Transformation functional group.
    DcmItem* source = FunctionalGroup(ds, options.frame, DCM_PixelValueTransformationSequence);
    if (source == nullptr) source = ds;
    Float64 v = 0;
    if (source->findAndGetFloat64(DCM_RescaleSlope, v).good()) slope = v;
    if (source->findAndGetFloat64(DCM_RescaleIntercept, v).good()) intercept = v;
    if (!std::isfinite(slope) || !std::isfinite(intercept) || slope == 0) {
      return InvalidArgument("Rescale Slope/Intercept are not usable");
    }
  }

  const E_TransferSyntax xfer = ds->getOriginalXfer();
  if (DcmXfer(xfer).isEncapsulated() &&
      !DcmCodecList::canChangeCoding(xfer, EXS_LittleEndianExplicit)) {
    return Unsupported(std::string("no decoder for ") + DcmXfer(xfer).getXferName());
  }
  TRESOR_RETURN_IF_ERROR(CheckBeforeDecode(*ds));
  unsigned long flags = CIF_NeverAccessEmbeddedOverlays;
  if (frames > 1) flags |= CIF_UsePartialAccessToPixelData;
  // The linear rescale is applied here in double precision (DCMTK would keep integers).
  if (monochrome && !modality_lut) flags |= CIF_IgnoreModalityTransformation;
  ImagePtr image(new DicomImage(ds, xfer, flags, options.frame - 1, 1));
  if (image->getStatus() != EIS_Normal) {
    EI_Status status = image->getStatus();
    std::string what = std::string("cannot decode the image: ") + ImageStatusText(status);
    if (status == EIS_NotSupportedValue || status == EIS_InvalidValue ||
        status == EIS_MissingAttribute || status == EIS_InvalidDocument) {
      return InvalidArgument(what);
    }
    return Unsupported(what);
  }
  if (static_cast<bool>(image->isMonochrome()) != monochrome) {
    return Unsupported("unsupported photometric interpretation '" +
                       std::string(photometric.c_str()) + "'");
  }
  if (out_w != columns || out_h != rows) {
    ImagePtr scaled(image->createScaledImage(static_cast<unsigned long>(out_w),
                                             static_cast<unsigned long>(out_h),
                                             /*interpolate=*/1, /*aspect=*/0));
    if (!scaled || scaled->getStatus() != EIS_Normal) return Internal("scaling failed");
    image = std::move(scaled);
  }

  Pixels8 out;
  out.width = out_w;
  out.height = out_h;
  out.channels = channels;
  const size_t count = size_t{out_w} * out_h;
  out.data.resize(count * channels);

  if (!monochrome) {
    if (image->getOutputDataSize(8) != out.data.size() ||
        !image->getOutputData(out.data.data(), out.data.size(), 8, 0, /*planar=*/0)) {
      return Internal("color conversion failed");
    }
    return out;
  }

  const DiPixel* inter = image->getInterData();
  if (inter == nullptr || inter->getCount() < count || inter->getPlanes() != 1) {
    return Internal("no intermediate pixel data");
  }
  // The frame's intermediate values (DCMTK's data starts at the frame) are integers: the
  // stored values, or a Modality LUT's output.
  // Read twice (range, then output) rather than copied: a frame may be large.
  int64_t raw_lo = INT64_MAX, raw_hi = INT64_MIN;
  ForEachValue(*inter, count, [&](size_t, int64_t v) {
    raw_lo = std::min(raw_lo, v);
    raw_hi = std::max(raw_hi, v);
  });
  const double a = raw_lo * slope + intercept, b = raw_hi * slope + intercept;
  const double lo = std::min(a, b), hi = std::max(a, b);
  VoiWindow window;
  if (options.window) {
    window = *options.window;
  } else {
    // Enhanced objects keep the window in the Frame VOI LUT functional group.
    DcmItem* source = FunctionalGroup(ds, options.frame, DCM_FrameVOILUTSequence);
    if (source == nullptr) source = ds;
    Float64 center = 0, width = 0;
    bool from_object = source->findAndGetFloat64(DCM_WindowCenter, center, 0).good() &&
                       source->findAndGetFloat64(DCM_WindowWidth, width, 0).good() &&
                       std::isfinite(center) && std::isfinite(width);
    if (from_object) {
      window.center = center;
      window.width = width;
      OFString function;
      if (source->findAndGetOFString(DCM_VOILUTFunction, function).good() &&
          !function.empty()) {
        auto f = ParseFunction(function.c_str());
        if (f.ok()) window.function = *f;
      }
      from_object = CheckWidth(window).ok();
    }
    if (!from_object) {  // min-max of this frame, mapped exactly onto 0..255
      window.function = VoiFunction::kLinearExact;
      window.center = (lo + hi) / 2;
      window.width = std::max(hi - lo, 1e-9);
      if (hi == lo) window.center = lo + window.width / 2;  // a flat image renders black
    }
  }
  const bool invert = photometric == "MONOCHROME1";
  auto display = [&](int64_t v) {
    long y = std::lround(ApplyWindow(window, static_cast<double>(v) * slope + intercept));
    y = std::clamp(y, 0L, 255L);
    return static_cast<uint8_t>(invert ? 255 - y : y);
  };
  const uint64_t range = static_cast<uint64_t>(raw_hi - raw_lo) + 1;
  if (range <= count) {  // one window computation per distinct value
    std::vector<uint8_t> lut(range);
    for (uint64_t k = 0; k < range; ++k) lut[k] = display(raw_lo + static_cast<int64_t>(k));
    ForEachValue(*inter, count, [&](size_t i, int64_t v) { out.data[i] = lut[v - raw_lo]; });
  } else {
    ForEachValue(*inter, count, [&](size_t i, int64_t v) { out.data[i] = display(v); });
  }
  return out;
}

Result<std::string> EncodeImage(const Pixels8& p, ImageFormat format, int quality) {
  if (p.width == 0 || p.height == 0 || (p.channels != 1 && p.channels != 3) ||
      p.data.size() != size_t{p.width} * p.height * p.channels) {
    return InvalidArgument("not an 8-bit image");
  }
  std::string out;
  if (format == ImageFormat::kPng) {
    std::vector<png_bytep> rows(p.height);
    const size_t stride = size_t{p.width} * p.channels;
    for (uint32_t y = 0; y < p.height; ++y) {
      rows[y] = const_cast<png_bytep>(p.data.data() + y * stride);
    }
    if (!WritePng(p, rows.data(), &out)) return Internal("PNG encoding failed");
    return out;
  }
  auto state = std::make_unique<JpegState>();
  state->dest.out = &out;
  if (!WriteJpeg(p, std::clamp(quality, 1, 100), state.get())) {
    return Internal("JPEG encoding failed");
  }
  return out;
}

Result<std::string> RenderFrame(std::string_view part10, const RenderOptions& options) {
  TRESOR_ASSIGN_OR_RETURN(Pixels8 pixels, RenderPixels(part10, options));
  return EncodeImage(pixels, options.format, options.quality);
}

}  // namespace tresor::dicom
