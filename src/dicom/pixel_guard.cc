#include "dicom/pixel_guard.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <cstdint>
#include <string>

namespace tresor::dicom {
namespace {

std::string Fragment(unsigned long i) { return "fragment " + std::to_string(i); }

// The encapsulated pixel sequence of the data set's own transfer syntax.
Result<DcmPixelSequence*> Sequence(DcmDataset& ds, E_TransferSyntax xfer) {
  DcmElement* element = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) {
    return InvalidArgument("the object has no pixel data");
  }
  DcmPixelSequence* sequence = nullptr;
  if (static_cast<DcmPixelData*>(element)->getEncapsulatedRepresentation(xfer, nullptr, sequence).bad() ||
      sequence == nullptr) {
    return InvalidArgument(std::string("the pixel data of a ") + DcmXfer(xfer).getXferName() +
                           " object is not encapsulated");
  }
  return sequence;
}

// The bytes of fragment `i` (item 0 is the basic offset table).
Status FragmentBytes(DcmPixelSequence& sequence, unsigned long i, const uint8_t** bytes,
                     uint32_t* length) {
  DcmPixelItem* item = nullptr;
  Uint8* data = nullptr;
  if (sequence.getItem(item, i).bad() || item == nullptr || item->getUint8Array(data).bad()) {
    return InvalidArgument(Fragment(i) + " of the pixel data cannot be read");
  }
  *bytes = data;
  *length = data == nullptr ? 0 : item->getLength();
  return Status::Ok();
}

Status CheckRleFrames(DcmPixelSequence& sequence, uint32_t frames, uint32_t segments) {
  if (sequence.card() != frames + 1) {
    return InvalidArgument("RLE pixel data must hold one fragment per frame (" +
                           std::to_string(frames) + "), it holds " +
                           std::to_string(sequence.card() == 0 ? 0 : sequence.card() - 1));
  }
  if (segments < 1 || segments > 15) return InvalidArgument("RLE cannot encode this pixel format");
  for (unsigned long i = 1; i <= frames; ++i) {
    const uint8_t* bytes = nullptr;
    uint32_t length = 0;
    TRESOR_RETURN_IF_ERROR(FragmentBytes(sequence, i, &bytes, &length));
    if (length < 64) return InvalidArgument("RLE " + Fragment(i) + " is shorter than its header");
    auto u32 = [&](size_t at) {
      return uint32_t{bytes[at]} | uint32_t{bytes[at + 1]} << 8 | uint32_t{bytes[at + 2]} << 16 |
             uint32_t{bytes[at + 3]} << 24;
    };
    if (u32(0) != segments) {
      return InvalidArgument("RLE " + Fragment(i) + " has " + std::to_string(u32(0)) +
                             " segments; the pixel format needs " + std::to_string(segments));
    }
    uint32_t previous = 0;
    for (uint32_t k = 0; k < segments; ++k) {
      const uint32_t offset = u32(4 + 4 * k);
      if ((k == 0 && offset != 64) || (k > 0 && offset <= previous) || offset >= length) {
        return InvalidArgument("RLE " + Fragment(i) + " has a bad segment offset");
      }
      previous = offset;
    }
  }
  return Status::Ok();
}

// Before decoding, dcmjpeg walks the markers at the start of a fragment to learn the
// sample precision from the frame header (SOFn). The walk steps over standalone markers
// and over segments by their length, and stops at a frame header or at anything that is
// not a marker; on TEM (FF01) it does not step at all and never ends. This follows the
// same steps and refuses the fragment where that walk would reach a TEM marker.
bool JpegWalkReachesTem(const uint8_t* p, uint32_t n) {
  uint64_t at = 0;
  while (at + 4 < n) {
    if (p[at] != 0xFF) return false;  // entropy-coded data or garbage: the walk stops
    const uint8_t m = p[at + 1];
    const bool frame_header = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (frame_header) return false;
    if (m == 0x01) return true;
    if (m == 0xFF) {
      at += 1;  // fill byte
    } else if (m >= 0xD0 && m <= 0xD9) {
      at += 2;  // RSTn, SOI, EOI: no length
    } else if (m >= 0xC4) {
      at += 2 + (uint32_t{p[at + 2]} << 8 | p[at + 3]);  // DHT, JPG, DAC, SOS..COM: a segment
    } else if (m > 0x02) {
      at += 2;  // reserved markers 03..BF
    } else {
      return false;  // 00 and 02: the walk reports an invalid marker and stops
    }
  }
  return false;
}

Status CheckJpegFragments(DcmPixelSequence& sequence) {
  for (unsigned long i = 1; i < sequence.card(); ++i) {
    const uint8_t* bytes = nullptr;
    uint32_t length = 0;
    TRESOR_RETURN_IF_ERROR(FragmentBytes(sequence, i, &bytes, &length));
    if (bytes != nullptr && JpegWalkReachesTem(bytes, length)) {
      return InvalidArgument("JPEG " + Fragment(i) +
                             " has a TEM marker before its frame header; it cannot be decoded");
    }
  }
  return Status::Ok();
}

}  // namespace

Status CheckBeforeDecode(DcmDataset& dataset) {
  const E_TransferSyntax xfer = dataset.getOriginalXfer();
  if (xfer == EXS_Unknown || !DcmXfer(xfer).isEncapsulated()) return Status::Ok();
  const bool rle = xfer == EXS_RLELossless;
  const bool jpeg = xfer >= EXS_JPEGProcess1 && xfer <= EXS_JPEGProcess14SV1;
  if (!rle && !jpeg) return Status::Ok();
  TRESOR_ASSIGN_OR_RETURN(DcmPixelSequence * sequence, Sequence(dataset, xfer));
  if (jpeg) return CheckJpegFragments(*sequence);

  Uint16 samples = 1, bits_allocated = 0;
  Sint32 frames = 1;
  dataset.findAndGetUint16(DCM_SamplesPerPixel, samples);
  dataset.findAndGetUint16(DCM_BitsAllocated, bits_allocated);
  if (dataset.tagExistsWithValue(DCM_NumberOfFrames) &&
      dataset.findAndGetSint32(DCM_NumberOfFrames, frames).bad()) {
    return InvalidArgument("Number of Frames is not a number");
  }
  if (frames < 1) return InvalidArgument("Number of Frames must be at least 1");
  const uint32_t bytes_per_sample = bits_allocated <= 8 ? 1 : bits_allocated / 8u;
  return CheckRleFrames(*sequence, static_cast<uint32_t>(frames),
                        uint32_t{samples} * bytes_per_sample);
}

}  // namespace tresor::dicom
