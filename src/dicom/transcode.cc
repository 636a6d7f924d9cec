#include "dicom/transcode.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dccodec.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <algorithm>
#include <memory>

#include "dicom/codecs.h"
#include "dicom/part10.h"
#include "dicom/pixel_guard.h"

namespace tresor::dicom {
namespace {

// The largest decoded frame DecodeFrame* produces.
// 64 MiB holds any real frame (a 4096 x 4096 16-bit image is 32 MiB, RGB 4096 x 4096 48 MiB)
// and bounds what a small compressed stream (an RLE bomb: 64:1) can make the server hold.
constexpr uint64_t kMaxFrameBytes = uint64_t{64} << 20;

E_TransferSyntax XferOf(std::string_view ts) {
  if (ts.empty()) return EXS_Unknown;
  return DcmXfer(std::string(ts).c_str()).getXfer();
}

// Parses a Part 10 file held in memory. `stop_at_pixel_data` stops before (7FE0,0010).
Status ParseFile(const std::string& bytes, DcmFileFormat& file, bool stop_at_pixel_data) {
  DcmInputBufferStream in;
  in.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  in.setEos();
  file.transferInit();
  OFCondition cond = stop_at_pixel_data ? file.readUntilTag(in, EXS_Unknown, EGL_noChange,
                                                            DCM_MaxReadLength, DCM_PixelData)
                                        : file.read(in, EXS_Unknown, EGL_noChange);
  file.transferEnd();
  if (cond.bad()) return InvalidArgument(std::string("cannot parse stored object: ") + cond.text());
  return Status::Ok();
}

// Decoded bytes of one frame, at most kMaxFrameBytes.
Result<uint32_t> FrameSize(DcmElement& pixel, DcmDataset& dataset) {
  Uint16 rows = 0, columns = 0, samples = 1, bits = 0;
  dataset.findAndGetUint16(DCM_Rows, rows);
  dataset.findAndGetUint16(DCM_Columns, columns);
  dataset.findAndGetUint16(DCM_SamplesPerPixel, samples);
  dataset.findAndGetUint16(DCM_BitsAllocated, bits);
  uint64_t bound = uint64_t{rows} * columns * std::max<Uint16>(samples, 1) *
                   ((std::max<Uint16>(bits, 1) + 7) / 8);
  if (bound == 0) return InvalidArgument("the object declares no pixel matrix");
  if (bound > kMaxFrameBytes) return ResourceExhausted("a decoded frame would be too large");
  Uint32 size = 0;
  OFCondition cond = pixel.getUncompressedFrameSize(&dataset, size);
  if (cond.bad() || size == 0) {
    return InvalidArgument(std::string("cannot size a frame: ") + cond.text());
  }
  if (size > kMaxFrameBytes) return ResourceExhausted("a decoded frame would be too large");
  return static_cast<uint32_t>(size);
}

Result<std::string> DecodeFrame(DcmDataset& dataset, uint32_t index) {
  DcmElement* element = nullptr;
  if (dataset.findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) {
    return NotFound("the object has no pixel data");
  }
  Sint32 frames = 1;
  if (dataset.findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1) frames = 1;
  if (index >= static_cast<uint32_t>(frames)) return NotFound("no such frame");
  TRESOR_ASSIGN_OR_RETURN(uint32_t size, FrameSize(*element, dataset));
  TRESOR_RETURN_IF_ERROR(CheckBeforeDecode(dataset));
  std::string out(size, '\0');
  Uint32 start_fragment = 0;
  OFString color_model;
  OFCondition cond = element->getUncompressedFrame(&dataset, index, start_fragment, out.data(),
                                                   size, color_model, nullptr);
  if (cond.bad() && index > 0) {
    // Encapsulated frames without an offset table and with several fragments per frame:
    // the decoder finds where frame k+1 starts only by decoding frame k, so decode from
    // the first frame on (each call leaves start_fragment at the next frame's start).
    start_fragment = 0;
    cond = EC_Normal;
    for (uint32_t f = 0; f <= index && cond.good(); ++f) {
      cond = element->getUncompressedFrame(&dataset, f, start_fragment, out.data(), size,
                                           color_model, nullptr);
    }
  }
  if (cond.bad()) {
    return Unsupported(std::string("cannot decode the frame: ") + cond.text());
  }
  return out;
}

}  // namespace

bool IsLossyTransferSyntax(std::string_view ts) {
  E_TransferSyntax x = XferOf(ts);
  return x != EXS_Unknown && DcmXfer(x).isLossy();
}

bool IsEncapsulatedTransferSyntax(std::string_view ts) {
  E_TransferSyntax x = XferOf(ts);
  return x != EXS_Unknown && DcmXfer(x).isEncapsulated();
}

bool CanTranscode(std::string_view from, std::string_view to) {
  E_TransferSyntax f = XferOf(from), t = XferOf(to);
  if (f == EXS_Unknown || t == EXS_Unknown) return false;
  if (f == t) return true;
  DcmXfer fx(f), tx(t);
  if (fx.isLossy() && tx.isEncapsulated() && tx.isLossless()) return false;
  bool decodes =
      fx.isNotEncapsulated() || DcmCodecList::canChangeCoding(f, EXS_LittleEndianExplicit);
  bool encodes =
      tx.isNotEncapsulated() || DcmCodecList::canChangeCoding(EXS_LittleEndianExplicit, t);
  return decodes && encodes;
}

bool CanDecodeFrames(std::string_view from) {
  E_TransferSyntax f = XferOf(from);
  if (f == EXS_Unknown) return false;
  return DcmXfer(f).isNotEncapsulated() ||
         DcmCodecList::canChangeCoding(f, EXS_LittleEndianExplicit);
}

Result<std::string> TranscodePart10(const std::string& part10, const std::string& target_ts) {
  MemoryReader reader(part10.data(), part10.size());
  TRESOR_ASSIGN_OR_RETURN(FileMeta meta, ReadFileMeta(reader));
  if (!CanTranscode(meta.transfer_syntax_uid, target_ts)) {
    return Unsupported("no codec converts " + meta.transfer_syntax_uid + " to " + target_ts);
  }
  TRESOR_ASSIGN_OR_RETURN(std::string dataset, TranscodeDataset(part10, target_ts));
  meta.transfer_syntax_uid = target_ts;
  std::string out = BuildFileMetaHeader(meta);
  out += dataset;
  return out;
}

Result<std::string> DecodeFrameOfFile(const std::string& part10, uint32_t index) {
  DcmFileFormat file;
  TRESOR_RETURN_IF_ERROR(ParseFile(part10, file, false));
  DcmDataset* dataset = file.getDataset();
  if (!CanDecodeFrames(DcmXfer(dataset->getOriginalXfer()).getXferID())) {
    return Unsupported("no codec decodes this transfer syntax");
  }
  return DecodeFrame(*dataset, index);
}

Result<std::string> DecodeFrameFragments(const std::string& header, std::string_view stored_ts,
                                         const std::vector<std::string>& fragments) {
  E_TransferSyntax xfer = XferOf(stored_ts);
  if (xfer == EXS_Unknown || !DcmXfer(xfer).isEncapsulated()) {
    return InvalidArgument("fragments belong to an encapsulated transfer syntax");
  }
  if (!CanDecodeFrames(stored_ts)) return Unsupported("no codec decodes this transfer syntax");
  if (fragments.empty()) return InvalidArgument("a frame has at least one fragment");
  DcmFileFormat file;
  TRESOR_RETURN_IF_ERROR(ParseFile(header, file, true));
  DcmDataset* dataset = file.getDataset();
  if (dataset->getOriginalXfer() != xfer) {
    return InvalidArgument("the header's transfer syntax differs from the stored one");
  }
  // The one frame as a single-frame object: an empty basic offset table, then its
  // fragments. The pixel sequence and its items are owned by the data set once inserted.
  if (dataset->putAndInsertString(DCM_NumberOfFrames, "1").bad()) {
    return Internal("cannot set the number of frames");
  }
  auto sequence = std::make_unique<DcmPixelSequence>(DcmTag(DCM_PixelData, EVR_OB));
  if (sequence->insert(new DcmPixelItem(DcmTag(DCM_Item, EVR_OB))).bad()) {
    return Internal("cannot build the offset table");
  }
  for (const std::string& fragment : fragments) {
    auto item = std::make_unique<DcmPixelItem>(DcmTag(DCM_Item, EVR_OB));
    if (item->putUint8Array(reinterpret_cast<const Uint8*>(fragment.data()),
                            static_cast<unsigned long>(fragment.size()))
            .bad() ||
        sequence->insert(item.get()).bad()) {
      return Internal("cannot build a fragment");
    }
    item.release();
  }
  auto pixel = std::make_unique<DcmPixelData>(DcmTag(DCM_PixelData, EVR_OB));
  pixel->putOriginalRepresentation(xfer, nullptr, sequence.release());
  if (dataset->insert(pixel.get(), true).bad()) return Internal("cannot insert the pixel data");
  pixel.release();
  return DecodeFrame(*dataset, 0);
}

}  // namespace tresor::dicom
