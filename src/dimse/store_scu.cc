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
#include <utility>

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

// The largest PDV data length this peer takes (DCMTK's sendPDVLength: its maximum PDU
// length less the PDU and PDV headers).
size_t MaxPdv(T_ASC_Association* assoc) {
  return assoc->sendPDVLength > 0 ? assoc->sendPDVLength : 16372;
}

// Appends `n` bytes to `wire` as PDVs of at most `max_pdv` bytes, one PDV per
// P-DATA-TF PDU (PS3.8 9.3.5); `n` = 0 appends one empty PDV.
void AppendPdvs(size_t max_pdv, T_ASC_PresentationContextID pres_id, bool command,
                const char* data, size_t n, bool last_of_message, std::string& wire) {
  wire.reserve(wire.size() + n + (n / max_pdv + 1) * 12);
  do {
    const size_t take = std::min(n, max_pdv);
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
    wire.append(reinterpret_cast<const char*>(header), sizeof header);
    wire.append(data, take);
    data += take;
    n -= take;
  } while (n > 0);
}

// Writes `n` bytes straight to the association's transport.
OFCondition WriteAll(T_ASC_Association* assoc, const char* data, size_t n) {
  DcmTransportConnection* conn = DUL_getTransportConnection(assoc->DULassociation);
  if (conn == nullptr) return makeOFCondition(0, 2, OF_error, "association has no transport");
  for (size_t off = 0; off < n;) {
    // DcmTransportConnection::write takes a non-const pointer but only reads from it.
    ssize_t w = conn->write(const_cast<char*>(data) + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return makeOFCondition(0, 2, OF_error, "writing to the transport failed");
    off += static_cast<size_t>(w);
  }
  return EC_Normal;
}

// Writes `n` bytes as PDVs in a single write (DCMTK's DUL_WritePDVs writes every PDU
// with two system calls, which for a 0.5 MB object and a 16 KiB PDU is 64 writes).
OFCondition WritePdvs(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                      bool command, const char* data, size_t n, bool last_of_message) {
  thread_local std::string wire;
  wire.clear();
  AppendPdvs(MaxPdv(assoc), pres_id, command, data, n, last_of_message, wire);
  return WriteAll(assoc, wire.data(), wire.size());
}

// Room left at the start of SendBuffers::wire for the C-STORE-RQ's PDU, so that the
// request and the first PDUs of its data set go out in one write. A command set holds
// two UIDs of at most 64 bytes, an AE title and a few short values: well under this.
constexpr size_t kCommandRoom = 512;

// The buffers of one object in flight, reused from object to object.
struct SendBuffers {
  ReadBuffer raw;    // stored bytes as read (decrypted)
  std::string wire;  // kCommandRoom bytes of room, then the first PDUs of the data set
};

// A stored object made ready to go out on one association: its presentation context is
// chosen and what can fail on the stored bytes is read before any of it is sent -- the
// meta header and the first MiB of the data set as archived (all of a typical object),
// already cut into PDUs, or the whole object transcoded.
struct Outgoing {
  std::unique_ptr<archive::StoredObject> object;
  T_ASC_PresentationContextID pres_id = 0;
  bool as_stored = false;
  uint64_t off = 0;  // as stored: the offset of the first byte not in `bufs->wire`
  SendBuffers* bufs = nullptr;
  std::string dataset;  // transcoded: the whole data set in the accepted syntax
};

// A storage error on one object (EIO: kIoError from the blob store) is that
// sub-operation's failure only (kInternal): it must not be taken for a failed association.
Status LocalFailure(const Status& s) {
  return s.code() == Code::kIoError
             ? Status(Code::kInternal, "reading the stored object failed: " + s.message())
             : s;
}

// Makes `object` ready to send on `assoc` in `bufs` (which must outlive the result and
// serve no other object until this one is sent); the result owns the object. Errors are this sub-operation's own and
// leave the association intact: kUnsupported (no presentation context, no codec, too
// large to transcode), kDataLoss (integrity), kInternal (storage unreadable, see
// LocalFailure).
Result<Outgoing> Prepare(T_ASC_Association* assoc,
                         std::unique_ptr<archive::StoredObject> owned, SendBuffers& bufs) {
  archive::StoredObject& object = *owned;
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
  const std::string send_ts = pc.acceptedTransferSyntax;

  // A failure further into a larger object, after data went out, cannot be reported
  // within the sub-operation: Transmit then ends the association (kIoError), so the
  // receiver never takes a cut object for a complete one.
  Outgoing out;
  out.object = std::move(owned);
  out.pres_id = pres_id;
  out.as_stored = send_ts == info.transfer_syntax_uid;
  out.bufs = &bufs;
  const uint64_t size = object.size();
  if (out.as_stored) {
    // The first segment's own error (an integrity error) rather than the meta parser's.
    char first;
    Result<size_t> first_read = object.ReadAt(&first, 1, 0);
    if (!first_read.ok()) return LocalFailure(first_read.status());
    ObjectReader reader(object);
    Result<dicom::FileMeta> meta = dicom::ReadFileMeta(reader);
    if (!meta.ok()) return LocalFailure(meta.status());
    out.off = meta->dataset_offset;
    size_t got = 0;
    if (out.off < size) {
      bufs.raw.Reserve(static_cast<size_t>(std::min<uint64_t>(kReadChunk, size - out.off)));
      Result<size_t> head = object.ReadAt(bufs.raw.data(), bufs.raw.size(), out.off);
      if (!head.ok()) return LocalFailure(head.status());
      got = *head;
      if (got == 0) return Internal("stored object shorter than its size");
    }
    out.off += got;
    bufs.wire.assign(kCommandRoom, '\0');
    AppendPdvs(MaxPdv(assoc), pres_id, false, bufs.raw.data(), got, out.off >= size, bufs.wire);
    return out;
  }
  if (size > kMaxTranscodeBytes) {
    return Unsupported("object too large to transcode for this receiver");
  }
  std::string whole(size, '\0');
  for (uint64_t at = 0; at < whole.size();) {
    Result<size_t> n = object.ReadAt(whole.data() + at, whole.size() - at, at);
    if (!n.ok()) return LocalFailure(n.status());
    if (*n == 0) return Internal("stored object shorter than its size");
    at += *n;
  }
  TRESOR_ASSIGN_OR_RETURN(out.dataset, dicom::TranscodeDataset(whole, send_ts));
  return out;
}

// Sends the C-STORE-RQ and the data set of a prepared object. Every error is kIoError:
// the association failed, or the stored object failed after its transfer began.
Status Transmit(T_ASC_Association* assoc, Outgoing& out, uint16_t message_id,
                const MoveOriginator& originator) {
  const archive::InstanceInfo& info = out.object->info();
  const std::string command = StoreCommand(info.sop_class_uid, info.sop_instance_uid,
                                           message_id, originator);
  thread_local std::string request;
  request.clear();
  AppendPdvs(MaxPdv(assoc), out.pres_id, true, command.data(), command.size(), true, request);
  OFCondition cond = EC_Normal;
  if (!out.as_stored) {
    // Transcoded: the request and the whole data set in one write.
    AppendPdvs(MaxPdv(assoc), out.pres_id, false, out.dataset.data(), out.dataset.size(), true,
               request);
    cond = WriteAll(assoc, request.data(), request.size());
    if (cond.bad()) return IoError(std::string("sending the C-STORE-RQ failed: ") + cond.text());
    return Status::Ok();
  }

  // As archived: the request and the first PDUs in one write, then the rest of the
  // data set read from the blob a chunk at a time.
  std::string& wire = out.bufs->wire;
  if (request.size() <= kCommandRoom) {
    char* start = wire.data() + (kCommandRoom - request.size());
    std::memcpy(start, request.data(), request.size());
    cond = WriteAll(assoc, start, wire.size() - (kCommandRoom - request.size()));
  } else {
    cond = WriteAll(assoc, request.data(), request.size());
    if (cond.good()) cond = WriteAll(assoc, wire.data() + kCommandRoom, wire.size() - kCommandRoom);
  }
  const uint64_t size = out.object->size();
  ReadBuffer& raw = out.bufs->raw;
  while (cond.good() && out.off < size) {
    raw.Reserve(static_cast<size_t>(std::min<uint64_t>(kReadChunk, size - out.off)));
    auto read = out.object->ReadAt(raw.data(), raw.size(), out.off);
    if (!read.ok()) {
      return IoError("reading the stored object failed after its transfer began: " +
                     read.status().message());
    }
    if (*read == 0) return IoError("stored object shorter than its size");
    out.off += *read;
    cond = WritePdvs(assoc, out.pres_id, false, raw.data(), *read, out.off >= size);
  }
  if (cond.bad()) return IoError(std::string("sending the data set failed: ") + cond.text());
  return Status::Ok();
}

// Waits for the C-STORE-RSP to `message_id`; a C-CANCEL-RQ for the C-GET may arrive
// meanwhile (it sets *cancelled). kIoError if none came or something else did.
Result<uint16_t> AwaitResponse(T_ASC_Association* assoc, uint16_t message_id, int timeout,
                               uint16_t cancel_message_id, bool* cancelled) {
  while (true) {
    T_ASC_PresentationContextID rsp_pres = 0;
    T_DIMSE_Message rsp;
    std::memset(&rsp, 0, sizeof rsp);
    DcmDataset* detail = nullptr;
    OFCondition cond =
        DIMSE_receiveCommand(assoc, DIMSE_NONBLOCKING, timeout, &rsp_pres, &rsp, &detail);
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

}  // namespace

uint16_t SendInstances(T_ASC_Association* assoc, archive::CatalogService& catalog,
                       const std::vector<archive::InstanceInfo>& instances,
                       const SendSequenceOptions& options, const SendObserver& observer) {
  // Two buffers, one per object in flight: the one being sent and the one read ahead.
  // They live for this sequence only, so no worker keeps them once it is done.
  SendBuffers buffers[2];
  uint16_t message_id = options.first_message_id;
  auto prepare = [&](size_t i) -> Result<Outgoing> {
    Result<std::unique_ptr<archive::StoredObject>> opened = catalog.OpenResolved(instances[i]);
    if (!opened.ok()) return LocalFailure(opened.status());
    return Prepare(assoc, std::move(opened).value(), buffers[i % 2]);
  };
  auto stopped = [&] {
    return (options.cancelled != nullptr && *options.cancelled) ||
           (observer.cancelled && observer.cancelled());
  };
  if (instances.empty() || stopped()) return message_id;
  // With options.report_after_next_request, a result waits here until the next
  // request has gone out.
  bool holding = false;
  size_t held_index = 0;
  Result<uint16_t> held = Status(Code::kInternal, "nothing held");
  bool stop = false;    // the observer asked to stop
  bool broken = false;  // the association failed: nothing more is tried on it
  // Once the observer asked to stop, it hears of nothing more.
  auto report = [&](size_t i, const Result<uint16_t>& sent) {
    if (!stop && observer.sent && !observer.sent(instances[i], sent)) stop = true;
  };
  auto release_held = [&] {
    if (holding) report(held_index, held);
    holding = false;
  };
  Result<Outgoing> next = prepare(0);
  for (size_t i = 0; i < instances.size() && !stop; ++i) {
    if (i > 0 && stopped()) break;
    const bool more = i + 1 < instances.size();
    Result<uint16_t> sent = Status(Code::kIoError, "the association failed");
    if (broken) {
      report(i, sent);
      continue;
    }
    Result<Outgoing> current = std::move(next);
    if (current.ok()) {
      const uint16_t id = message_id++;
      Status transmitted = Transmit(assoc, *current, id, options.originator);
      release_held();
      if (transmitted.ok()) {
        // While the receiver stores this object, read (and decrypt) the next one.
        if (more && !stop) next = prepare(i + 1);
        sent = AwaitResponse(assoc, id, options.timeout_seconds, options.cancel_message_id,
                             options.cancelled);
      } else {
        sent = transmitted;
      }
      broken = !sent.ok() && sent.status().code() == Code::kIoError;
    } else {
      release_held();
      sent = current.status();
      if (more && !stop) next = prepare(i + 1);
    }
    if (options.report_after_next_request && !broken) {
      holding = true;
      held_index = i;
      held = std::move(sent);
    } else {
      report(i, sent);
    }
  }
  release_held();
  return message_id;
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

void StoreScu::SendAll(archive::CatalogService& catalog,
                       const std::vector<archive::InstanceInfo>& instances,
                       const MoveOriginator& originator, const SendObserver& observer) {
  if (!assoc_) {
    for (const archive::InstanceInfo& instance : instances) {
      if (observer.sent && !observer.sent(instance, Unavailable("association already released"))) break;
    }
    return;
  }
  SendSequenceOptions options;
  options.originator = originator;
  options.timeout_seconds = timeout_;
  options.first_message_id = next_message_id_;
  options.report_after_next_request = true;
  next_message_id_ = SendInstances(assoc_.get(), catalog, instances, options, observer);
}

void StoreScu::Release() {
  if (!assoc_) return;
  if (ASC_releaseAssociation(assoc_.get()).bad()) ASC_abortAssociation(assoc_.get());
  assoc_.reset();
}

}  // namespace tresor::dimse
