#include "dicom/transfer_syntax.h"

namespace tresor::dicom {

const std::vector<std::string>& AcceptedTransferSyntaxes() {
  static const auto* list = new std::vector<std::string>{
      kExplicitVRLittleEndian,
      kImplicitVRLittleEndian,
      "1.2.840.10008.1.2.4.70",   // JPEG Lossless, first-order prediction
      "1.2.840.10008.1.2.4.57",   // JPEG Lossless
      "1.2.840.10008.1.2.4.50",   // JPEG Baseline
      "1.2.840.10008.1.2.4.51",   // JPEG Extended
      "1.2.840.10008.1.2.4.80",   // JPEG-LS Lossless
      "1.2.840.10008.1.2.4.81",   // JPEG-LS Near-Lossless
      "1.2.840.10008.1.2.4.90",   // JPEG 2000 Lossless
      "1.2.840.10008.1.2.4.91",   // JPEG 2000
      "1.2.840.10008.1.2.4.92",   // JPEG 2000 Part 2 Lossless
      "1.2.840.10008.1.2.4.93",   // JPEG 2000 Part 2
      "1.2.840.10008.1.2.5",      // RLE Lossless
      "1.2.840.10008.1.2.4.100",  // MPEG2 Main Profile
      "1.2.840.10008.1.2.4.101",  // MPEG2 High Level
      "1.2.840.10008.1.2.4.102",  // MPEG-4 AVC/H.264 High Profile
      "1.2.840.10008.1.2.4.103",  // MPEG-4 AVC/H.264 BD-compatible
      "1.2.840.10008.1.2.4.104",  // MPEG-4 AVC/H.264 High Profile For 2D Video
      "1.2.840.10008.1.2.4.105",  // MPEG-4 AVC/H.264 High Profile For 3D Video
      "1.2.840.10008.1.2.4.106",  // MPEG-4 AVC/H.264 Stereo High Profile
      "1.2.840.10008.1.2.4.107",  // HEVC/H.265 Main Profile
      "1.2.840.10008.1.2.4.108",  // HEVC/H.265 Main 10 Profile
      kDeflatedExplicitVRLittleEndian,
      kExplicitVRBigEndian,
  };
  return *list;
}

bool EncodingOf(std::string_view uid, Encoding* encoding) {
  if (uid == kImplicitVRLittleEndian) {
    *encoding = Encoding::kImplicitLittle;
    return true;
  }
  if (uid == kExplicitVRBigEndian) {
    *encoding = Encoding::kExplicitBig;
    return true;
  }
  if (uid == kDeflatedExplicitVRLittleEndian) {
    *encoding = Encoding::kDeflatedExplicitLittle;
    return true;
  }
  for (const auto& ts : AcceptedTransferSyntaxes()) {
    if (uid == ts) {
      // Every other accepted syntax (encapsulated pixel data) is explicit little endian.
      *encoding = Encoding::kExplicitLittle;
      return true;
    }
  }
  return false;
}

}  // namespace tresor::dicom
