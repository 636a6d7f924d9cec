#include "dicom/codecs.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcrleerg.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpeg/djencode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/dcmjpls/djencode.h>

#include <algorithm>
#include <vector>

#include "dicom/pixel_guard.h"

namespace tresor::dicom {
namespace {
// Largest pixel data TranscodeDataset will decode into memory.
constexpr uint64_t kMaxDecodedBytes = 1ull << 30;
}  // namespace

void RegisterCodecs() {
  DJDecoderRegistration::registerCodecs();
  DJEncoderRegistration::registerCodecs();
  DJLSDecoderRegistration::registerCodecs();
  DJLSEncoderRegistration::registerCodecs();
  DcmRLEDecoderRegistration::registerCodecs();
  DcmRLEEncoderRegistration::registerCodecs();
}

Result<std::string> TranscodeDataset(const std::string& part10, const std::string& target_ts) {
  E_TransferSyntax target = DcmXfer(target_ts.c_str()).getXfer();
  if (target == EXS_Unknown) return Unsupported("unknown transfer syntax " + target_ts);
  DcmInputBufferStream in;
  in.setBuffer(part10.data(), static_cast<offile_off_t>(part10.size()));
  in.setEos();
  DcmFileFormat file;
  file.transferInit();
  OFCondition cond = file.read(in, EXS_Unknown, EGL_noChange);
  file.transferEnd();
  if (cond.bad()) return InvalidArgument(std::string("cannot parse stored object: ") + cond.text());
  DcmDataset* dataset = file.getDataset();
  // Bound the decoded size before decoding: a small compressed object may declare
  // gigabytes of pixels (a decompression bomb).
  Uint16 rows = 0, columns = 0, samples = 1, bits = 16;
  Sint32 frames = 1;
  dataset->findAndGetUint16(DCM_Rows, rows);
  dataset->findAndGetUint16(DCM_Columns, columns);
  dataset->findAndGetUint16(DCM_SamplesPerPixel, samples);
  dataset->findAndGetUint16(DCM_BitsAllocated, bits);
  dataset->findAndGetSint32(DCM_NumberOfFrames, frames);
  uint64_t decoded = uint64_t{rows} * columns * std::max<Uint16>(samples, 1) *
                     ((std::max<Uint16>(bits, 1) + 7) / 8) * static_cast<uint64_t>(std::max<Sint32>(frames, 1));
  if (decoded > kMaxDecodedBytes) {
    return ResourceExhausted("decoded pixel data would exceed " +
                             std::to_string(kMaxDecodedBytes >> 20) + " MiB");
  }
  TRESOR_RETURN_IF_ERROR(CheckBeforeDecode(*dataset));
  cond = dataset->chooseRepresentation(target, nullptr);
  if (cond.bad() || !dataset->canWriteXfer(target)) {
    return Unsupported(std::string("no codec converts ") +
                       DcmXfer(dataset->getOriginalXfer()).getXferName() + " to " +
                       DcmXfer(target).getXferName());
  }
  std::string out;
  std::vector<char> buf(1 << 20);
  DcmOutputBufferStream stream(buf.data(), static_cast<offile_off_t>(buf.size()));
  dataset->transferInit();
  do {
    cond = dataset->write(stream, target, EET_ExplicitLength, nullptr);
    void* chunk = nullptr;
    offile_off_t length = 0;
    stream.flushBuffer(chunk, length);
    out.append(static_cast<const char*>(chunk), static_cast<size_t>(length));
  } while (cond == EC_StreamNotifyClient);
  dataset->transferEnd();
  if (cond.bad()) return Internal(std::string("encoding failed: ") + cond.text());
  return out;
}

}  // namespace tresor::dicom
