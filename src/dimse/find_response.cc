#include "dimse/find_response.h"

#include <dcmtk/dcmdata/dctag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcvr.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dcmtrans.h>
#include <dcmtk/dcmnet/dul.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dimse/command_bytes.h"

namespace tresor::dimse {
namespace {

using bytes::PutU16;
using bytes::PutU32;

void PutU32Big(std::string& out, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<char>((v >> (8 * (3 - i))) & 0xFF);
}

// String VRs this encoder writes as they come from the index (UTF-8 text, padded to even
// length); sequences are written empty. Everything else goes through DCMTK.
bool IsTextVr(DcmEVR vr) {
  switch (vr) {
    case EVR_AE: case EVR_AS: case EVR_CS: case EVR_DA: case EVR_DS: case EVR_DT:
    case EVR_IS: case EVR_LO: case EVR_LT: case EVR_PN: case EVR_SH: case EVR_ST:
    case EVR_TM: case EVR_UC: case EVR_UI: case EVR_UR: case EVR_UT:
      return true;
    default:
      return false;
  }
}

constexpr uint16_t kCFindRsp = 0x8020;
constexpr uint16_t kDataSetPresent = 0x0000;  // any value but 0x0101 (PS3.7 E.1)
constexpr uint16_t kNoDataSet = 0x0101;
constexpr uint16_t kCStoreRsp = 0x8001;
constexpr size_t kPduHeader = 6;
constexpr size_t kPdvHeader = 6;  // item length (4), context id, message control header

}  // namespace

Result<FindResponseEncoder> FindResponseEncoder::Make(const std::vector<dicom::TagKey>& requested,
                                                      const std::string& level,
                                                      const std::string& transfer_syntax) {
  FindResponseEncoder enc;
  if (transfer_syntax == UID_LittleEndianExplicitTransferSyntax) {
    enc.explicit_vr_ = true;
  } else if (transfer_syntax != UID_LittleEndianImplicitTransferSyntax) {
    return Unsupported("identifier transfer syntax " + transfer_syntax);
  }
  enc.level_ = level;
  std::vector<dicom::TagKey> tags = requested;
  tags.push_back(dicom::MakeTag(0x0008, 0x0005));
  tags.push_back(dicom::MakeTag(0x0008, 0x0052));
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  for (dicom::TagKey tag : tags) {
    const uint16_t group = static_cast<uint16_t>(tag >> 16);
    const uint16_t element = static_cast<uint16_t>(tag & 0xFFFF);
    if (group == 0x0000 || group == 0x0002 || (group & 1) != 0 || element == 0x0000) {
      return Unsupported("key outside the encoder's range");
    }
    DcmTag dcm(group, element);
    DcmEVR evr = dcm.getEVR();
    Element e{};
    e.tag = tag;
    e.sequence = evr == EVR_SQ;
    if (!e.sequence && !IsTextVr(evr)) return Unsupported("key with a binary or ambiguous VR");
    const char* name = DcmVR(evr).getVRName();
    if (name == nullptr || std::strlen(name) != 2) return Unsupported("key without a VR name");
    e.vr[0] = name[0];
    e.vr[1] = name[1];
    e.long_length = e.sequence || evr == EVR_UC || evr == EVR_UR || evr == EVR_UT;
    e.pad = evr == EVR_UI ? '\0' : ' ';
    e.source = tag == dicom::MakeTag(0x0008, 0x0005) ? 1 : tag == dicom::MakeTag(0x0008, 0x0052) ? 2 : 0;
    enc.elements_.push_back(e);
  }
  return enc;
}

Status FindResponseEncoder::Encode(const dicom::QueryMatch& match, std::string* out) const {
  static const std::string kCharset = "ISO_IR 192";
  static const std::string kEmpty;
  const size_t start = out->size();
  for (const Element& e : elements_) {
    const std::string* value = &kEmpty;
    if (e.source == 1) {
      value = &kCharset;
    } else if (e.source == 2) {
      value = &level_;
    } else if (!e.sequence) {
      auto it = match.values.find(e.tag);
      if (it != match.values.end()) value = &it->second;
    }
    const size_t length = value->size() + (value->size() & 1);
    PutU16(*out, static_cast<uint16_t>(e.tag >> 16));
    PutU16(*out, static_cast<uint16_t>(e.tag & 0xFFFF));
    if (explicit_vr_) {
      out->push_back(e.vr[0]);
      out->push_back(e.vr[1]);
      if (e.long_length) {
        PutU16(*out, 0);
        PutU32(*out, static_cast<uint32_t>(length));
      } else {
        if (length > 0xFFFE) {
          out->resize(start);
          return Unsupported("value too long for a 16-bit length");
        }
        PutU16(*out, static_cast<uint16_t>(length));
      }
    } else {
      if (length > 0xFFFFFFF0u) {
        out->resize(start);
        return Unsupported("value too long");
      }
      PutU32(*out, static_cast<uint32_t>(length));
    }
    out->append(*value);
    if (value->size() & 1) out->push_back(e.pad);
  }
  return Status::Ok();
}

namespace {

// The elements every response command set starts with, in tag order: (0000,0002)
// Affected SOP Class UID, (0000,0100) Command Field, (0000,0120) Message ID Being
// Responded To, (0000,0800) Command Data Set Type, (0000,0900) Status.
std::string ResponseHead(const std::string& sop_class, uint16_t command_field,
                         uint16_t message_id, uint16_t data_set_type, uint16_t status) {
  using bytes::PutCommand;
  using bytes::U16Value;
  std::string body;
  PutCommand(body, 0x0002, sop_class, /*is_text=*/false);
  PutCommand(body, 0x0100, U16Value(command_field), false);
  PutCommand(body, 0x0120, U16Value(message_id), false);
  PutCommand(body, 0x0800, U16Value(data_set_type), false);
  PutCommand(body, 0x0900, U16Value(status), false);
  return body;
}

}  // namespace

std::string FindPendingCommand(const std::string& sop_class, uint16_t message_id, uint16_t status) {
  return bytes::CommandSet(ResponseHead(sop_class, kCFindRsp, message_id, kDataSetPresent, status));
}

std::string StoreResponseCommand(const std::string& sop_class, const std::string& sop_instance,
                                 uint16_t message_id, uint16_t status) {
  std::string body = ResponseHead(sop_class, kCStoreRsp, message_id, kNoDataSet, status);
  bytes::PutCommand(body, 0x1000, sop_instance, false);
  return bytes::CommandSet(body);
}

std::string RetrievePendingCommand(uint16_t command_field, const std::string& sop_class,
                                   uint16_t message_id, const SubOperationCounts& counts) {
  using bytes::PutCommand;
  using bytes::U16Value;
  constexpr uint16_t kPending = 0xFF00;
  std::string body = ResponseHead(sop_class, command_field, message_id, kNoDataSet, kPending);
  PutCommand(body, 0x1020, U16Value(counts.remaining), false);
  PutCommand(body, 0x1021, U16Value(counts.completed), false);
  PutCommand(body, 0x1022, U16Value(counts.failed), false);
  PutCommand(body, 0x1023, U16Value(counts.warning), false);
  return bytes::CommandSet(body);
}

PduBatcher::PduBatcher(T_ASC_Association* assoc, uint8_t pres_id, size_t flush_bytes)
    : assoc_(assoc), pres_id_(pres_id), flush_bytes_(flush_bytes) {
  // The peer's maximum PDU length (0: no limit announced) bounds the variable part of a
  // P-DATA-TF PDU; kept within what we would send anyway.
  // Counted conservatively as the whole PDU (header included), as DCMTK does.
  unsigned long theirs = assoc->params->theirMaxPDUReceiveSize;
  max_pdu_body_ = theirs == 0 ? (1u << 20) : std::min<unsigned long>(theirs, 1u << 20);
  max_pdu_body_ = max_pdu_body_ > kPduHeader + kPdvHeader + 8 ? max_pdu_body_ - kPduHeader
                                                              : kPdvHeader + 8;
}

void PduBatcher::StartPdu() {
  pdu_start_ = buf_.size();
  buf_.push_back(0x04);  // P-DATA-TF
  buf_.push_back(0x00);
  buf_.append(4, '\0');  // length, set by EndPdu
}

void PduBatcher::EndPdu() {
  if (pdu_start_ == std::string::npos) return;
  PutU32Big(buf_, pdu_start_ + 2, static_cast<uint32_t>(buf_.size() - pdu_start_ - kPduHeader));
  pdu_start_ = std::string::npos;
}

Status PduBatcher::AddPdvs(bool command, const std::string& data) {
  size_t off = 0;
  do {
    if (pdu_start_ != std::string::npos &&
        buf_.size() - pdu_start_ - kPduHeader + kPdvHeader + 1 > max_pdu_body_) {
      EndPdu();
    }
    if (pdu_start_ == std::string::npos) StartPdu();
    const size_t room = max_pdu_body_ - (buf_.size() - pdu_start_ - kPduHeader) - kPdvHeader;
    // A fragment that does not fit the open PDU's room starts a new PDU unless the PDU is
    // empty (then it is split).
    const size_t remaining = data.size() - off;
    if (remaining > room && buf_.size() - pdu_start_ > kPduHeader) {
      EndPdu();
      continue;
    }
    const size_t take = std::min(remaining, room);
    const bool last = off + take == data.size();
    std::string header;
    header.resize(4);
    PutU32Big(header, 0, static_cast<uint32_t>(take + 2));
    header.push_back(static_cast<char>(pres_id_));
    header.push_back(static_cast<char>((command ? 0x01 : 0x00) | (last ? 0x02 : 0x00)));
    buf_ += header;
    buf_.append(data, off, take);
    off += take;
  } while (off < data.size());
  return Status::Ok();
}

Status PduBatcher::AddMessage(const std::string& command, const std::string& dataset) {
  return Add(command, &dataset);
}

Status PduBatcher::AddCommand(const std::string& command) { return Add(command, nullptr); }

Status PduBatcher::Add(const std::string& command, const std::string* dataset) {
  // Each message starts a PDU of its own, so a PDU never holds more than its command and
  // the first fragment of its data set: DCMTK 3.6.7's receiver (DUL_NextPDV) steps to a
  // third PDV of a PDU by the second one's length and misreads PDVs of unequal lengths.
  EndPdu();
  TRESOR_RETURN_IF_ERROR(AddPdvs(true, command));
  if (dataset != nullptr) TRESOR_RETURN_IF_ERROR(AddPdvs(false, *dataset));
  EndPdu();
  if (buf_.size() >= flush_bytes_) return Flush();
  return Status::Ok();
}

Status PduBatcher::Flush() {
  EndPdu();
  if (buf_.empty()) return Status::Ok();
  DcmTransportConnection* conn = DUL_getTransportConnection(assoc_->DULassociation);
  if (conn == nullptr) return IoError("association has no transport connection");
  size_t off = 0;
  while (off < buf_.size()) {
    ssize_t n = conn->write(const_cast<char*>(buf_.data()) + off, buf_.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError(std::string("sending DIMSE responses failed: ") + std::strerror(errno));
    off += static_cast<size_t>(n);
  }
  buf_.clear();
  return Status::Ok();
}

}  // namespace tresor::dimse
