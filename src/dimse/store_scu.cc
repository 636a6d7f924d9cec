#include "dimse/store_scu.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/dimse.h>
#include <dcmtk/dcmnet/dcmtrans.h>
#include <dcmtk/dcmnet/dul.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <set>

#include "core/log.h"
#include "dicom/byte_reader.h"
#include "dicom/codecs.h"
#include "dicom/part10.h"
#include "dicom/transfer_syntax.h"
#include "dimse/command_bytes.h"

namespace tresor::dimse {
namespace {

// Transcoding holds the whole object in memory; larger objects are not transcoded.
constexpr uint64_t kMaxTranscodeBytes = 512ull << 20;

class ObjectReader : public dicom::ByteReader {
 public:
  explicit ObjectReader(archive::StoredObject& object) : object_(object) {}
  Result<size_t> Read(void* out, size_t n) override {
    TRESOR_ASSIGN_OR_RETURN(size_t got, object_.ReadAt(out, n, pos_));
    pos_ += got;
    return got;
  }

 private:
  archive::StoredObject& object_;
  uint64_t pos_ = 0;
};

using bytes::PutCommand;
using bytes::U16Value;

// The C-STORE-RQ command set (PS3.7 9.3.1.1), implicit VR little endian.
std::string StoreCommand(const std::string& sop_class, const std::string& sop_instance,
                         uint16_t message_id, const MoveOriginator& originator) {
  std::string body;
  PutCommand(body, 0x0002, sop_class, false);
  PutCommand(body, 0x0100, U16Value(0x0001), false);  // C-STORE-RQ
  PutCommand(body, 0x0110, U16Value(message_id), false);
  PutCommand(body, 0x0700, U16Value(0x0000), false);  // medium priority
  PutCommand(body, 0x0800, U16Value(0x0000), false);  // a data set follows
  PutCommand(body, 0x1000, sop_instance, false);
  if (!originator.ae_title.empty()) {
    PutCommand(body, 0x1030, originator.ae_title, true);
    PutCommand(body, 0x1031, U16Value(originator.message_id), false);
  }
  return bytes::CommandSet(body);
}

// How much of a stored object is read at a time when it is sent as archived.
constexpr size_t kReadChunk = size_t{1} << 20;

// A reusable read buffer that grows to the largest size asked for and is never
// zero-filled (its bytes are always written by a read before they are sent).
class ReadBuffer {
 public:
  void Reserve(size_t n) {
    if (n > size_) {
      data_.reset(new char[n]);
      size_ = n;
    }
  }
  char* data() { return data_.get(); }
  size_t size() const { return size_; }

 private:
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
};

// Writes `n` bytes as PDVs of at most the peer's maximum length, one PDV per P-DATA-TF
// PDU, straight to the association's transport: the PDUs of one call go out in a single
// write (DCMTK's DUL_WritePDVs writes every PDU with two system calls, which for a
// 0.5 MB object and a 16 KiB PDU is 64 writes instead of one).
OFCondition WritePdvs(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                      bool command, const char* data, size_t n, bool last_of_message) {
  // sendPDVLength is DCMTK's maximum PDV data length for this peer (its maximum PDU
  // length less the PDU and PDV headers).
  const size_t max = assoc->sendPDVLength > 0 ? assoc->sendPDVLength : 16372;
  DcmTransportConnection* conn = DUL_getTransportConnection(assoc->DULassociation);
  if (conn == nullptr) return makeOFCondition(0, 2, OF_error, "association has no transport");
  thread_local std::string buf;
  buf.clear();
  buf.reserve(n + (n / max + 1) * 12);
  do {
    const size_t take = std::min(n, max);
    const bool last = take == n && last_of_message;
    const uint32_t pdv_length = static_cast<uint32_t>(take + 2);
    const uint32_t pdu_length = pdv_length + 4;
    const unsigned char header[12] = {
        0x04, 0x00,
        static_cast<unsigned char>(pdu_length >> 24), static_cast<unsigned char>(pdu_length >> 16),
        static_cast<unsigned char>(pdu_length >> 8), static_cast<unsigned char>(pdu_length),
        static_cast<unsigned char>(pdv_length >> 24), static_cast<unsigned char>(pdv_length >> 16),
        static_cast<unsigned char>(pdv_length >> 8), static_cast<unsigned char>(pdv_length),
        pres_id,
        static_cast<unsigned char>((command ? 0x01 : 0x00) | (last ? 0x02 : 0x00))};
    buf.append(reinterpret_cast<const char*>(header), sizeof header);
    buf.append(data, take);
    data += take;
    n -= take;
  } while (n > 0);
  for (size_t off = 0; off < buf.size();) {
    ssize_t w = conn->write(buf.data() + off, buf.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return makeOFCondition(0, 2, OF_error, "writing to the transport failed");
    off += static_cast<size_t>(w);
  }
  return EC_Normal;
}

}  // namespace

Result<uint16_t> SendStoredObject(T_ASC_Association* assoc, archive::StoredObject& object,
                                  uint16_t message_id, const MoveOriginator& originator,
                                  int timeout, uint16_t cancel_message_id, bool* cancelled) {
  const archive::InstanceInfo& info = object.info();
  // The stored syntax if the receiver took it; else the first syntax it accepted for
  // this SOP class, which means transcoding.
  // DCMTK falls back to another accepted context when none has exactly the stored
  // syntax, so the accepted syntax of the context it returns decides.
  T_ASC_PresentationContextID pres_id = ASC_findAcceptedPresentationContextID(
      assoc, info.sop_class_uid.c_str(), info.transfer_syntax_uid.c_str());
  if (pres_id == 0) {
    pres_id = ASC_findAcceptedPresentationContextID(assoc, info.sop_class_uid.c_str());
  }
  if (pres_id == 0) {
    return Unsupported("the receiver accepted no presentation context for SOP class " +
                       info.sop_class_uid);
  }
  T_ASC_PresentationContext pc;
  if (ASC_findAcceptedPresentationContext(assoc->params, pres_id, &pc).bad()) {
    return Internal("accepted presentation context vanished");
  }
  std::string send_ts = pc.acceptedTransferSyntax;

  // What can fail on the stored object is read before the C-STORE-RQ goes out: the meta
  // header and the first MiB as archived (all of a typical object), or the whole object
  // for transcoding. A blob failing its integrity check (kDataLoss) then fails this
  // sub-operation alone. A failure further into a larger object, after data went out,
  // cannot be reported within the sub-operation: it ends the association (kIoError), so
  // the receiver never takes a cut object for a complete one. A storage error before the
  // request (EIO, kIoError from the blob store) is that sub-operation's failure only
  // (kInternal): the association is intact and must not be taken for failed.
  auto local = [](const Status& s) {
    return s.code() == Code::kIoError
               ? Status(Code::kInternal, "reading the stored object failed: " + s.message())
               : s;
  };
  const bool as_stored = send_ts == info.transfer_syntax_uid;
  // The read buffer is kept per thread (zeroing a fresh MiB for every object cost as
  // much as a third of decrypting it) and holds at most kReadChunk, but only as much as
  // the objects this thread sent needed, never zero-filled: every worker thread keeps
  // its own, so a fixed MiB each stayed resident in every worker that ever sent.
  thread_local ReadBuffer buf;
  std::string dataset;
  uint64_t off = 0;
  const uint64_t size = object.size();
  size_t got = 0;
  if (as_stored) {
    // The first segment's own error (an integrity error) rather than the meta parser's.
    char first;
    Result<size_t> first_read = object.ReadAt(&first, 1, 0);
    if (!first_read.ok()) return local(first_read.status());
    ObjectReader reader(object);
    Result<dicom::FileMeta> meta = dicom::ReadFileMeta(reader);
    if (!meta.ok()) return local(meta.status());
    off = meta->dataset_offset;
    if (off < size) {
      buf.Reserve(static_cast<size_t>(std::min<uint64_t>(kReadChunk, size - off)));
      Result<size_t> head = object.ReadAt(buf.data(), buf.size(), off);
      if (!head.ok()) return local(head.status());
      got = *head;
      if (got == 0) return Internal("stored object shorter than its size");
    }
  } else {
    if (size > kMaxTranscodeBytes) {
      return Unsupported("object too large to transcode for this receiver");
    }
    std::string whole(size, '\0');
    for (uint64_t at = 0; at < whole.size();) {
      Result<size_t> n = object.ReadAt(whole.data() + at, whole.size() - at, at);
      if (!n.ok()) return local(n.status());
      if (*n == 0) return Internal("stored object shorter than its size");
      at += *n;
    }
    TRESOR_ASSIGN_OR_RETURN(dataset, dicom::TranscodeDataset(whole, send_ts));
  }

  std::string command = StoreCommand(info.sop_class_uid, info.sop_instance_uid, message_id,
                                     originator);
  OFCondition cond = WritePdvs(assoc, pres_id, true, command.data(), command.size(), true);
  if (cond.bad()) return IoError(std::string("sending C-STORE-RQ failed: ") + cond.text());

  if (as_stored) {
    // As archived: stream the data set bytes from the blob.
    if (off >= size) {
      cond = WritePdvs(assoc, pres_id, false, "", 0, true);
    }
    while (off < size) {
      if (got == 0) {
        buf.Reserve(static_cast<size_t>(std::min<uint64_t>(kReadChunk, size - off)));
        auto read = object.ReadAt(buf.data(), buf.size(), off);
        if (!read.ok()) {
          return IoError("reading the stored object failed after its transfer began: " +
                         read.status().message());
        }
        got = *read;
        if (got == 0) return IoError("stored object shorter than its size");
      }
      off += got;
      cond = WritePdvs(assoc, pres_id, false, buf.data(), got, off >= size);
      got = 0;
      if (cond.bad()) break;
    }
  } else {
    cond = WritePdvs(assoc, pres_id, false, dataset.data(), dataset.size(), true);
  }
  if (cond.bad()) return IoError(std::string("sending the data set failed: ") + cond.text());

  // Wait for the C-STORE-RSP; a C-CANCEL-RQ for the C-GET may arrive meanwhile.
  while (true) {
    T_ASC_PresentationContextID rsp_pres = 0;
    T_DIMSE_Message rsp;
    std::memset(&rsp, 0, sizeof rsp);
    DcmDataset* detail = nullptr;
    cond = DIMSE_receiveCommand(assoc, DIMSE_NONBLOCKING, timeout, &rsp_pres, &rsp, &detail);
    delete detail;
    if (cond.bad()) return IoError(std::string("no C-STORE-RSP: ") + cond.text());
    if (rsp.CommandField == DIMSE_C_CANCEL_RQ && cancel_message_id != 0 &&
        rsp.msg.CCancelRQ.MessageIDBeingRespondedTo == cancel_message_id) {
      if (cancelled) *cancelled = true;
      continue;
    }
    if (rsp.CommandField != DIMSE_C_STORE_RSP ||
        rsp.msg.CStoreRSP.MessageIDBeingRespondedTo != message_id) {
      return IoError("unexpected message while waiting for the C-STORE-RSP");
    }
    return static_cast<uint16_t>(rsp.msg.CStoreRSP.DimseStatus);
  }
}

Result<std::unique_ptr<StoreScu>> StoreScu::Connect(
    const Options& options, const std::vector<std::pair<std::string, std::string>>& needed) {
  std::unique_ptr<StoreScu> scu(new StoreScu());
  scu->timeout_ = options.timeout_seconds;
  T_ASC_Network* network = nullptr;
  OFCondition cond = ASC_initializeNetwork(NET_REQUESTOR, 0, options.timeout_seconds, &network);
  scu->network_.reset(network);
  if (cond.bad()) return Internal(std::string("network setup failed: ") + cond.text());
  T_ASC_Parameters* raw_params = nullptr;
  cond = ASC_createAssociationParameters(&raw_params, options.max_pdu_bytes);
  ParametersPtr params(raw_params);
  if (cond.bad()) return Internal(std::string("association setup failed: ") + cond.text());
  std::string peer = options.host + ":" + std::to_string(options.port);
  cond = ASC_setAPTitles(params.get(), options.calling_ae.c_str(), options.called_ae.c_str(), nullptr);
  if (cond.good()) cond = ASC_setPresentationAddresses(params.get(), "localhost", peer.c_str());
  if (cond.bad()) return Internal(std::string("association setup failed: ") + cond.text());

  std::set<std::pair<std::string, std::string>> contexts;
  std::set<std::string> classes;
  for (const auto& [sop_class, ts] : needed) {
    contexts.insert({sop_class, ts});
    classes.insert(sop_class);
  }
  const char* fallback[] = {UID_LittleEndianExplicitTransferSyntax,
                            UID_LittleEndianImplicitTransferSyntax};
  int id = 1;
  for (const auto& [sop_class, ts] : contexts) {
    if (id > 255) break;
    const char* one[] = {ts.c_str()};
    cond = ASC_addPresentationContext(params.get(), static_cast<T_ASC_PresentationContextID>(id),
                                      sop_class.c_str(), one, 1);
    if (cond.bad()) return Internal(std::string("presentation context setup failed: ") + cond.text());
    id += 2;
  }
  for (const std::string& sop_class : classes) {
    if (id > 255) break;
    cond = ASC_addPresentationContext(params.get(), static_cast<T_ASC_PresentationContextID>(id),
                                      sop_class.c_str(), fallback, 2);
    if (cond.bad()) return Internal(std::string("presentation context setup failed: ") + cond.text());
    id += 2;
  }
  T_ASC_Association* raw = nullptr;
  cond = ASC_requestAssociation(scu->network_.get(), params.get(), &raw);
  if (raw) {
    (void)params.release();  // the association owns its parameters from here on
    scu->assoc_.reset(raw);
  }
  if (cond.bad()) {
    scu->assoc_.reset();  // never established: nothing to release
    return IoError("cannot open an association to " + options.called_ae + " at " + peer + ": " +
                   cond.text());
  }
  if (ASC_countAcceptedPresentationContexts(scu->assoc_->params) == 0) {
    scu->Release();
    return Unsupported(options.called_ae + " accepted none of the proposed presentation contexts");
  }
  return scu;
}

StoreScu::~StoreScu() { Release(); }

Result<uint16_t> StoreScu::Send(archive::StoredObject& object, const MoveOriginator& originator) {
  if (!assoc_) return Unavailable("association already released");
  return SendStoredObject(assoc_.get(), object, next_message_id_++, originator, timeout_);
}

void StoreScu::Release() {
  if (!assoc_) return;
  if (ASC_releaseAssociation(assoc_.get()).bad()) ASC_abortAssociation(assoc_.get());
  assoc_.reset();
}

}  // namespace tresor::dimse
