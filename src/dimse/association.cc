#include "dimse/association.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcelem.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/dul.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "core/log.h"
#include "dicom/byte_reader.h"
#include "dicom/dataset_scanner.h"
#include "dicom/instance.h"
#include "dicom/part10.h"
#include "dicom/query.h"
#include "dicom/transfer_syntax.h"
#include "dimse/find_response.h"
#include "dimse/guarded_transport.h"
#include "dimse/identifier.h"
#include "dimse/peer_sender.h"
#include "dimse/status_mapping.h"
#include "dimse/store_scu.h"

namespace tresor::dimse {
namespace {

// The DCMTK receive timeout (whole seconds) for the next wait before `idle` expires.
int WaitSeconds(const core::Deadline& idle) { return std::max(1, idle.RemainingSeconds()); }

// Reads the next PDV of the association, giving up once it has been idle for
// `idle_seconds` on `clock`.
OFCondition NextPdv(T_ASC_Association* assoc, const core::Clock& clock, int idle_seconds,
                    DUL_PDV* pdv) {
  OFCondition cond = DUL_NextPDV(&assoc->DULassociation, pdv);
  if (cond.good()) return cond;
  core::Deadline idle(clock, std::chrono::seconds(idle_seconds));
  do {
    cond = DUL_ReadPDVs(&assoc->DULassociation, nullptr, DUL_NOBLOCK, WaitSeconds(idle));
  } while (cond == DUL_READTIMEOUT && !idle.Expired());
  // DUL reports a successfully read P-DATA PDU with this (non-good) condition.
  if (cond != DUL_PDATAPDUARRIVED && cond.bad()) return cond;
  return DUL_NextPDV(&assoc->DULassociation, pdv);
}


}  // namespace

void AssociationHandler::Run() {
  while (true) {
    T_ASC_PresentationContextID pres_id = 0;
    T_DIMSE_Message msg;
    std::memset(&msg, 0, sizeof msg);
    core::Deadline idle(clock_, std::chrono::seconds(idle_));
    OFCondition cond;
    do {
      cond = DIMSE_receiveCommand(assoc_, DIMSE_NONBLOCKING, WaitSeconds(idle), &pres_id, &msg,
                                  nullptr);
    } while (cond == DIMSE_NODATAAVAILABLE && !idle.Expired());
    if (cond == DUL_PEERREQUESTEDRELEASE) {
      ASC_acknowledgeRelease(assoc_);
      return;
    }
    if (cond == DUL_PEERABORTEDASSOCIATION) {
      TRESOR_LOG(kInfo) << "association aborted by " << who_.Describe();
      return;
    }
    if (cond == DIMSE_NODATAAVAILABLE) {
      TRESOR_LOG(kWarn) << "association idle for " << idle_ << " s, aborting: "
                        << who_.Describe();
      AbortAssociation(assoc_);
      return;
    }
    if (cond.bad()) {
      TRESOR_LOG(kWarn) << "association with " << who_.Describe()
                        << " failed: " << cond.text();
      AbortAssociation(assoc_);
      return;
    }
    switch (msg.CommandField) {
      case DIMSE_C_ECHO_RQ:
        cond = HandleEcho(pres_id, msg.msg.CEchoRQ);
        break;
      case DIMSE_C_STORE_RQ:
        cond = HandleStore(pres_id, msg.msg.CStoreRQ);
        break;
      case DIMSE_C_FIND_RQ:
        cond = HandleFind(pres_id, msg.msg.CFindRQ);
        break;
      case DIMSE_C_MOVE_RQ:
        cond = HandleMove(pres_id, msg.msg.CMoveRQ);
        break;
      case DIMSE_C_GET_RQ:
        cond = HandleGet(pres_id, msg.msg.CGetRQ);
        break;
      case DIMSE_C_CANCEL_RQ:
        break;  // a cancel for an operation that already ended: nothing to do
      default:
        TRESOR_LOG(kWarn) << "unsupported DIMSE command 0x" << std::hex
                          << static_cast<unsigned>(msg.CommandField) << std::dec << " from "
                          << who_.Describe() << "; aborting";
        AbortAssociation(assoc_);
        return;
    }
    if (cond.bad()) {
      TRESOR_LOG(kWarn) << "association with " << who_.Describe() << " ended: " << cond.text();
      AbortAssociation(assoc_);
      return;
    }
  }
}


OFCondition AssociationHandler::HandleEcho(T_ASC_PresentationContextID pres_id, const T_DIMSE_C_EchoRQ& req) {
  uint16_t status = kStatusSuccess;
  if (!who_.May(security::kEcho)) {
    status = kStatusNotAuthorized;
    TRESOR_LOG(kWarn) << "C-ECHO refused: " << who_.Describe() << " lacks the echo grant";
  }
  return DIMSE_sendEchoResponse(assoc_, pres_id, &req, status, nullptr);
}

OFCondition AssociationHandler::HandleStore(T_ASC_PresentationContextID pres_id, const T_DIMSE_C_StoreRQ& req) {
  T_ASC_PresentationContext pc;
  OFCondition cond = ASC_findAcceptedPresentationContext(assoc_->params, pres_id, &pc);
  if (cond.bad()) return cond;
  archive::UploadInfo info{req.AffectedSOPClassUID, req.AffectedSOPInstanceUID,
                           pc.acceptedTransferSyntax};
  Status outcome;
  std::unique_ptr<archive::Upload> upload;
  if (req.DataSetType == DIMSE_DATASET_NULL) {
    outcome = InvalidArgument("C-STORE request without a data set");
  } else {
    auto begun = archive_.ingest().BeginStore(who_, info);
    if (begun.ok()) {
      upload = std::move(begun).value();
    } else {
      outcome = begun.status();
    }
    // Receive the data set; after an error keep draining it so the association stays
    // usable, without storing anything.
    while (true) {
      DUL_PDV pdv;
      cond = NextPdv(assoc_, clock_, idle_, &pdv);
      if (cond.bad()) return cond;  // upload (if any) is discarded: nothing acknowledged
      if (pdv.pdvType != DUL_DATASETPDV || pdv.presentationContextID != pres_id) {
        return makeOFCondition(0, 1, OF_error, "unexpected PDV while receiving a data set");
      }
      if (upload && outcome.ok()) {
        outcome = upload->Write(pdv.data, pdv.fragmentLength);
      }
      if (pdv.lastPDV) break;
    }
  }
  uint16_t status = kStatusSuccess;
  if (outcome.ok() && upload) {
    auto committed = upload->Commit();
    if (!committed.ok()) outcome = committed.status();
  }
  status = StoreStatusFor(outcome);
  if (!outcome.ok()) {
    TRESOR_LOG(kWarn) << "C-STORE " << info.sop_instance_uid << " from " << who_.Describe()
                      << " refused (0x" << std::hex << status << std::dec
                      << "): " << outcome.message();
  } else {
    TRESOR_LOG(kDebug) << "stored " << info.sop_instance_uid << " from " << who_.Describe();
  }
  // One PDU in one write (StoreResponseCommand).
  PduBatcher batcher(assoc_, pres_id);
  Status sent = batcher.AddCommand(StoreResponseCommand(
      req.AffectedSOPClassUID, req.AffectedSOPInstanceUID, req.MessageID, status));
  if (sent.ok()) sent = batcher.Flush();
  if (!sent.ok()) return makeOFCondition(0, 2, OF_error, sent.message().c_str());
  return EC_Normal;
}


OFCondition AssociationHandler::ReceiveIdentifier(T_ASC_PresentationContextID pres_id,
                                                  size_t max_bytes,
                                                  std::unique_ptr<DcmDataset>* out,
                                                  Status* refusal) {
  std::string bytes;
  while (true) {
    DUL_PDV pdv;
    OFCondition cond = NextPdv(assoc_, clock_, idle_, &pdv);
    if (cond.bad()) return cond;
    if (pdv.pdvType != DUL_DATASETPDV || pdv.presentationContextID != pres_id) {
      return makeOFCondition(0, 1, OF_error, "unexpected PDV while receiving an identifier");
    }
    if (bytes.size() + pdv.fragmentLength > max_bytes) {
      *refusal = ResourceExhausted("identifier larger than " + std::to_string(max_bytes) + " bytes");
    } else if (refusal->ok()) {
      bytes.append(static_cast<const char*>(pdv.data), pdv.fragmentLength);
    }
    if (pdv.lastPDV) break;
  }
  if (!refusal->ok()) return EC_Normal;
  T_ASC_PresentationContext pc;
  OFCondition cond = ASC_findAcceptedPresentationContext(assoc_->params, pres_id, &pc);
  if (cond.bad()) return cond;
  *refusal = DecodeIdentifier(bytes, pc.acceptedTransferSyntax, max_bytes, out);
  return EC_Normal;
}

namespace {

constexpr size_t kMaxIdentifierBytes = 64 * 1024;
// SendFindMatches: the requestor cancelled the C-FIND.
const OFConditionConst kFindCancelledConst(0, 3, OF_ok, "C-FIND cancelled");
const OFCondition kFindCancelled(kFindCancelledConst);

// A status detail data set carrying `comment` as Error Comment, or nullptr if empty.
std::unique_ptr<DcmDataset> ErrorDetail(const std::string& comment) {
  if (comment.empty()) return nullptr;
  auto detail = std::make_unique<DcmDataset>();
  detail->putAndInsertString(DCM_ErrorComment, comment.substr(0, 64).c_str());
  return detail;
}

const char* LevelName(dicom::QueryLevel level) {
  switch (level) {
    case dicom::QueryLevel::kPatient: return "PATIENT";
    case dicom::QueryLevel::kStudy: return "STUDY";
    case dicom::QueryLevel::kSeries: return "SERIES";
    case dicom::QueryLevel::kImage: return "IMAGE";
  }
  return "?";
}

}  // namespace

// The pending responses, one per match, C-CANCEL checked between batches. Encoded and
// batched by FindResponseEncoder/PduBatcher; DCMTK builds them only where that encoder
// cannot (a binary VR asked for, another transfer syntax).
OFCondition AssociationHandler::SendFindMatches(T_ASC_PresentationContextID pres_id,
                                                const T_DIMSE_C_FindRQ& req,
                                                dicom::QueryLevel level,
                                                const std::vector<DcmTagKey>& requested,
                                                const std::vector<dicom::QueryMatch>& matches) {
  T_ASC_PresentationContext pc;
  OFCondition cond = ASC_findAcceptedPresentationContext(assoc_->params, pres_id, &pc);
  if (cond.bad()) return cond;
  std::vector<dicom::TagKey> keys;
  keys.reserve(requested.size());
  for (const DcmTagKey& key : requested) keys.push_back(dicom::MakeTag(key.getGroup(), key.getElement()));
  auto encoder = FindResponseEncoder::Make(keys, LevelName(level), pc.acceptedTransferSyntax);
  const std::string command = FindPendingCommand(req.AffectedSOPClassUID, req.MessageID, kStatusPending);
  PduBatcher batcher(assoc_, pres_id);
  std::string identifier;
  size_t since_check = 0;
  auto flush_and_check = [&]() -> OFCondition {
    Status flushed = batcher.Flush();
    if (!flushed.ok()) return makeOFCondition(0, 2, OF_error, flushed.message().c_str());
    since_check = 0;
    if (DIMSE_checkForCancelRQ(assoc_, pres_id, req.MessageID).good()) return kFindCancelled;
    return EC_Normal;
  };
  // A C-CANCEL that came with the request stops the C-FIND before any response.
  if (DIMSE_checkForCancelRQ(assoc_, pres_id, req.MessageID).good()) return kFindCancelled;
  for (const dicom::QueryMatch& match : matches) {
    identifier.clear();
    if (encoder.ok() && encoder->Encode(match, &identifier).ok()) {
      Status added = batcher.AddMessage(command, identifier);
      if (!added.ok()) return makeOFCondition(0, 2, OF_error, added.message().c_str());
      // A batch is written once it reaches 64 KiB (AddMessage) or every 64 responses.
      if (++since_check >= 64 || batcher.pending() == 0) {
        cond = flush_and_check();
        if (cond.bad() || cond == kFindCancelled) return cond;
      }
      continue;
    }
    cond = flush_and_check();
    if (cond.bad() || cond == kFindCancelled) return cond;
    DcmDataset response;
    response.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
    response.putAndInsertString(DCM_QueryRetrieveLevel, LevelName(level));
    for (const DcmTagKey& key : requested) {
      dicom::TagKey tag = dicom::MakeTag(key.getGroup(), key.getElement());
      auto it = match.values.find(tag);
      DcmTag dcm_tag(key);
      if (dcm_tag.getEVR() == EVR_SQ) {
        response.insertEmptyElement(dcm_tag);
      } else {
        response.putAndInsertString(dcm_tag, it == match.values.end() ? "" : it->second.c_str());
      }
    }
    T_DIMSE_C_FindRSP rsp;
    std::memset(&rsp, 0, sizeof rsp);
    rsp.MessageIDBeingRespondedTo = req.MessageID;
    OFStandard::strlcpy(rsp.AffectedSOPClassUID, req.AffectedSOPClassUID, sizeof rsp.AffectedSOPClassUID);
    rsp.opts = O_FIND_AFFECTEDSOPCLASSUID;
    rsp.DimseStatus = kStatusPending;
    rsp.DataSetType = DIMSE_DATASET_PRESENT;
    cond = DIMSE_sendFindResponse(assoc_, pres_id, &req, &rsp, &response, nullptr);
    if (cond.bad()) return cond;
  }
  cond = flush_and_check();
  return cond;
}

OFCondition AssociationHandler::HandleFind(T_ASC_PresentationContextID pres_id,
                                           const T_DIMSE_C_FindRQ& req) {
  T_DIMSE_C_FindRSP rsp;
  std::memset(&rsp, 0, sizeof rsp);
  rsp.MessageIDBeingRespondedTo = req.MessageID;
  OFStandard::strlcpy(rsp.AffectedSOPClassUID, req.AffectedSOPClassUID,
                      sizeof rsp.AffectedSOPClassUID);
  rsp.opts = O_FIND_AFFECTEDSOPCLASSUID;
  rsp.DataSetType = DIMSE_DATASET_NULL;
  auto finish = [&](uint16_t status, const std::string& comment) {
    rsp.DimseStatus = status;
    rsp.DataSetType = DIMSE_DATASET_NULL;
    return DIMSE_sendFindResponse(assoc_, pres_id, &req, &rsp, nullptr, ErrorDetail(comment).get());
  };

  std::unique_ptr<DcmDataset> identifier;
  Status refusal;
  OFCondition cond = ReceiveIdentifier(pres_id, kMaxIdentifierBytes, &identifier, &refusal);
  if (cond.bad()) return cond;
  if (!who_.May(security::kFind)) {
    TRESOR_LOG(kWarn) << "C-FIND refused: " << who_.Describe() << " lacks the find grant";
    return finish(kStatusNotAuthorized, "find is not granted to this peer");
  }
  if (!refusal.ok()) {
    TRESOR_LOG(kWarn) << "C-FIND from " << who_.Describe() << " refused: " << refusal.message();
    return finish(FindStatusFor(refusal), refusal.message());
  }
  bool patient_root =
      std::strcmp(req.AffectedSOPClassUID, UID_FINDPatientRootQueryRetrieveInformationModel) == 0;
  if (!patient_root &&
      std::strcmp(req.AffectedSOPClassUID, UID_FINDStudyRootQueryRetrieveInformationModel) != 0) {
    return finish(kStatusDataSetMismatch, "unsupported query model");
  }
  NormalizeIdentifierCharacterSet(*identifier);
  if (identifier->convertToUTF8().bad()) {
    return finish(kStatusCannotUnderstand, "cannot convert the query's character set");
  }
  dicom::Query query;
  std::vector<DcmTagKey> requested;
  Status parsed = ParseIdentifier(*identifier, patient_root, &query, &requested);
  if (!parsed.ok()) {
    TRESOR_LOG(kWarn) << "C-FIND from " << who_.Describe() << " refused: " << parsed.message();
    return finish(kStatusDataSetMismatch, parsed.message());
  }
  auto found = archive_.catalog().Find(who_, query);
  if (!found.ok()) {
    TRESOR_LOG(kWarn) << "C-FIND from " << who_.Describe() << " failed: " << found.status().message();
    return finish(FindStatusFor(found.status()), found.status().message());
  }
  TRESOR_LOG(kInfo) << "C-FIND " << (patient_root ? "patient" : "study") << " root, "
                    << LevelName(query.level) << " level, from " << who_.Describe() << ": "
                    << found->matches.size() << " match(es)" << (found->truncated ? " (limit reached)" : "");
  cond = SendFindMatches(pres_id, req, query.level, requested, found->matches);
  if (cond == kFindCancelled) {
    TRESOR_LOG(kInfo) << "C-FIND cancelled by " << who_.Describe();
    return finish(kStatusCancel, "");
  }
  if (cond.bad()) return cond;
  if (found->truncated) {
    return finish(kStatusOutOfResources,
                  "result limit of " + std::to_string(found->matches.size()) + " reached");
  }
  return finish(kStatusSuccess, "");
}

namespace {

// Sub-operation counts of a C-MOVE or C-GET (PS3.4 C.4.2.1.4 / C.4.3.1.4).
struct SubOperations {
  int remaining = 0;
  int completed = 0;
  int failed = 0;
  int warning = 0;
  std::string failed_uids;  // backslash-separated, for the final response
};

// The response identifier listing failed instances, or nullptr if none failed.
std::unique_ptr<DcmDataset> FailedList(const SubOperations& ops) {
  if (ops.failed_uids.empty()) return nullptr;
  auto ids = std::make_unique<DcmDataset>();
  ids->putAndInsertString(DCM_FailedSOPInstanceUIDList, ops.failed_uids.c_str());
  return ids;
}

// Final status of a retrieve whose sub-operations all ran (or were cancelled).
uint16_t FinalRetrieveStatus(const SubOperations& ops, bool cancelled) {
  if (cancelled) return kStatusCancel;
  if (ops.failed > 0 || ops.warning > 0) return kStatusSubOperationsWarning;
  return kStatusSuccess;
}

// The option bits of a C-MOVE-RSP or C-GET-RSP for its four sub-operation counts.
struct CountFlags {
  unsigned remaining, completed, failed, warning;
};

// Fills status, data set type and sub-operation counts of a C-MOVE-RSP or C-GET-RSP
// (the two share their layout but not their type). Counts go into pending and final
// responses; Remaining only into pending ones (PS3.4 C.4.2.1.5).
template <typename Response>
void FillRetrieveResponse(Response& rsp, const SubOperations& ops, uint16_t status,
                          DcmDataset* ids, unsigned class_flag, CountFlags flags) {
  rsp.DimseStatus = status;
  rsp.DataSetType = ids ? DIMSE_DATASET_PRESENT : DIMSE_DATASET_NULL;
  rsp.opts = class_flag;
  bool pending = status == kStatusPending;
  if (pending || status == kStatusCancel || status == kStatusSuccess ||
      status == kStatusSubOperationsWarning) {
    rsp.NumberOfRemainingSubOperations = static_cast<DIC_US>(ops.remaining);
    rsp.NumberOfCompletedSubOperations = static_cast<DIC_US>(ops.completed);
    rsp.NumberOfFailedSubOperations = static_cast<DIC_US>(ops.failed);
    rsp.NumberOfWarningSubOperations = static_cast<DIC_US>(ops.warning);
    rsp.opts |= flags.completed | flags.failed | flags.warning;
    if (pending) rsp.opts |= flags.remaining;
  }
}

// Sends a pending C-GET-RSP or C-MOVE-RSP with the current counts as one PDU in one
// write (RetrievePendingCommand), as DIMSE_sendGetResponse/DIMSE_sendMoveResponse would
// send it for a response without identifier or comment.
OFCondition SendRetrievePending(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                                uint16_t command_field, const char* sop_class,
                                uint16_t message_id, const SubOperations& ops) {
  SubOperationCounts counts;
  counts.remaining = static_cast<uint16_t>(ops.remaining);
  counts.completed = static_cast<uint16_t>(ops.completed);
  counts.failed = static_cast<uint16_t>(ops.failed);
  counts.warning = static_cast<uint16_t>(ops.warning);
  PduBatcher batcher(assoc, pres_id);
  Status sent =
      batcher.AddCommand(RetrievePendingCommand(command_field, sop_class, message_id, counts));
  if (sent.ok()) sent = batcher.Flush();
  if (!sent.ok()) return makeOFCondition(0, 2, OF_error, sent.message().c_str());
  return EC_Normal;
}

void Count(SubOperations& ops, const Result<uint16_t>& sent, const std::string& uid) {
  --ops.remaining;
  if (sent.ok() && *sent == kStatusSuccess) {
    ++ops.completed;
  } else if (sent.ok() && (*sent & 0xF000) == 0xB000) {
    ++ops.warning;
  } else {
    ++ops.failed;
    if (!ops.failed_uids.empty()) ops.failed_uids += "\\";
    ops.failed_uids += uid;
  }
}

}  // namespace

OFCondition AssociationHandler::ResolveRetrieve(T_ASC_PresentationContextID pres_id,
                                                const char* sop_class, bool is_get,
                                                std::vector<archive::InstanceInfo>* instances,
                                                Status* refusal) {
  std::unique_ptr<DcmDataset> identifier;
  OFCondition cond = ReceiveIdentifier(pres_id, kMaxIdentifierBytes, &identifier, refusal);
  if (cond.bad() || !refusal->ok()) return cond;
  bool patient_root =
      std::strcmp(sop_class, is_get ? UID_GETPatientRootQueryRetrieveInformationModel
                                    : UID_MOVEPatientRootQueryRetrieveInformationModel) == 0;
  NormalizeIdentifierCharacterSet(*identifier);
  if (identifier->convertToUTF8().bad()) {
    *refusal = InvalidArgument("cannot convert the identifier's character set");
    return EC_Normal;
  }
  dicom::Query query;
  std::vector<DcmTagKey> requested;
  *refusal = ParseIdentifier(*identifier, patient_root, &query, &requested);
  if (!refusal->ok()) return EC_Normal;
  // A retrieve must name what it wants by the unique key of its level (PS3.4 C.4.2.2.1).
  dicom::TagKey unique = UniqueKeys(query.level, patient_root).back();
  bool named = std::any_of(query.conditions.begin(), query.conditions.end(),
                           [&](const dicom::Condition& c) { return c.attribute->tag == unique; });
  if (!named) {
    *refusal = InvalidArgument(std::string("the unique key of the ") + LevelName(query.level) +
                               " level is missing from the identifier");
    return EC_Normal;
  }
  auto resolved = archive_.catalog().ResolveRetrieve(who_, query, is_get ? security::kGet : security::kMove);
  if (!resolved.ok()) {
    *refusal = resolved.status();
    return EC_Normal;
  }
  *instances = std::move(resolved).value();
  return EC_Normal;
}

OFCondition AssociationHandler::HandleMove(T_ASC_PresentationContextID pres_id,
                                           const T_DIMSE_C_MoveRQ& req) {
  T_DIMSE_C_MoveRSP rsp;
  std::memset(&rsp, 0, sizeof rsp);
  rsp.MessageIDBeingRespondedTo = req.MessageID;
  OFStandard::strlcpy(rsp.AffectedSOPClassUID, req.AffectedSOPClassUID, sizeof rsp.AffectedSOPClassUID);
  rsp.opts = O_MOVE_AFFECTEDSOPCLASSUID;
  SubOperations ops;
  auto respond = [&](uint16_t status, DcmDataset* ids, const std::string& comment) {
    FillRetrieveResponse(rsp, ops, status, ids, O_MOVE_AFFECTEDSOPCLASSUID,
                         {O_MOVE_NUMBEROFREMAININGSUBOPERATIONS, O_MOVE_NUMBEROFCOMPLETEDSUBOPERATIONS,
                          O_MOVE_NUMBEROFFAILEDSUBOPERATIONS, O_MOVE_NUMBEROFWARNINGSUBOPERATIONS});
    return DIMSE_sendMoveResponse(assoc_, pres_id, &req, &rsp, ids, ErrorDetail(comment).get());
  };

  std::vector<archive::InstanceInfo> instances;
  Status refusal;
  OFCondition cond = ResolveRetrieve(pres_id, req.AffectedSOPClassUID, false, &instances, &refusal);
  if (cond.bad()) return cond;
  if (!refusal.ok()) {
    TRESOR_LOG(kWarn) << "C-MOVE from " << who_.Describe() << " refused: " << refusal.message();
    return respond(RetrieveStatusFor(refusal), nullptr, refusal.message());
  }
  // The destination must be a registered peer; an unknown one gets 0xA801 and no
  // connection is ever attempted (S16).
  auto destination = archive_.catalog().MoveDestination(who_, req.MoveDestination);
  if (!destination.ok()) {
    TRESOR_LOG(kWarn) << "C-MOVE from " << who_.Describe() << " refused: "
                      << destination.status().message();
    return respond(MoveDestinationStatusFor(destination.status()), nullptr,
                   destination.status().message());
  }
  ops.remaining = static_cast<int>(instances.size());
  TRESOR_LOG(kInfo) << "C-MOVE from " << who_.Describe() << ": " << instances.size()
                    << " instance(s) to " << destination->ae_title << " at " << destination->host
                    << ":" << destination->port;
  if (instances.empty()) return respond(kStatusSuccess, nullptr, "");

  PeerSendOptions options;
  options.calling_ae = archive_.options().ae_title;
  options.timeout_seconds = idle_;
  options.originator = MoveOriginator{who_.ae_title, req.MessageID};
  bool cancelled = false;
  SendObserver observer;
  observer.cancelled = [&] {
    cancelled = DIMSE_checkForCancelRQ(assoc_, pres_id, req.MessageID).good();
    return cancelled;
  };
  observer.sent = [&](const archive::InstanceInfo& instance, const Result<uint16_t>& sent) {
    if (!sent.ok()) {
      TRESOR_LOG(kWarn) << "C-MOVE sub-operation for " << instance.sop_instance_uid
                        << " failed: " << sent.status().message();
    }
    Count(ops, sent, instance.sop_instance_uid);
    if (ops.remaining > 0) {
      cond = SendRetrievePending(assoc_, pres_id, 0x8021, req.AffectedSOPClassUID, req.MessageID,
                                 ops);
    }
    return cond.good();
  };
  Status connected =
      SendToPeer(archive_.catalog(), *destination, options, instances, observer);
  if (!connected.ok()) {
    TRESOR_LOG(kWarn) << "C-MOVE to " << destination->ae_title << " failed: " << connected.message();
    return respond(kStatusUnableToPerformSubOperations, nullptr, connected.message());
  }
  if (cond.bad()) return cond;
  std::unique_ptr<DcmDataset> failed = FailedList(ops);
  return respond(FinalRetrieveStatus(ops, cancelled), failed.get(), "");
}

OFCondition AssociationHandler::HandleGet(T_ASC_PresentationContextID pres_id,
                                          const T_DIMSE_C_GetRQ& req) {
  T_DIMSE_C_GetRSP rsp;
  std::memset(&rsp, 0, sizeof rsp);
  rsp.MessageIDBeingRespondedTo = req.MessageID;
  OFStandard::strlcpy(rsp.AffectedSOPClassUID, req.AffectedSOPClassUID, sizeof rsp.AffectedSOPClassUID);
  SubOperations ops;
  auto respond = [&](uint16_t status, DcmDataset* ids, const std::string& comment) {
    FillRetrieveResponse(rsp, ops, status, ids, O_GET_AFFECTEDSOPCLASSUID,
                         {O_GET_NUMBEROFREMAININGSUBOPERATIONS, O_GET_NUMBEROFCOMPLETEDSUBOPERATIONS,
                          O_GET_NUMBEROFFAILEDSUBOPERATIONS, O_GET_NUMBEROFWARNINGSUBOPERATIONS});
    return DIMSE_sendGetResponse(assoc_, pres_id, &req, &rsp, ids, ErrorDetail(comment).get());
  };

  std::vector<archive::InstanceInfo> instances;
  Status refusal;
  OFCondition cond = ResolveRetrieve(pres_id, req.AffectedSOPClassUID, true, &instances, &refusal);
  if (cond.bad()) return cond;
  if (!refusal.ok()) {
    TRESOR_LOG(kWarn) << "C-GET from " << who_.Describe() << " refused: " << refusal.message();
    return respond(RetrieveStatusFor(refusal), nullptr, refusal.message());
  }
  ops.remaining = static_cast<int>(instances.size());
  TRESOR_LOG(kInfo) << "C-GET from " << who_.Describe() << ": " << instances.size() << " instance(s)";
  bool cancelled = false;
  bool association_failed = false;
  SendSequenceOptions options;
  options.timeout_seconds = idle_;
  options.cancel_message_id = req.MessageID;
  options.cancelled = &cancelled;
  SendObserver observer;
  observer.cancelled = [&] {
    if (DIMSE_checkForCancelRQ(assoc_, pres_id, req.MessageID).good()) cancelled = true;
    return cancelled;
  };
  observer.sent = [&](const archive::InstanceInfo& instance, const Result<uint16_t>& sent) {
    if (!sent.ok()) {
      TRESOR_LOG(kWarn) << "C-GET sub-operation for " << instance.sop_instance_uid
                        << " failed: " << sent.status().message();
      // A kIoError from sending means the association itself failed.
      if (sent.status().code() == Code::kIoError) {
        association_failed = true;
        return false;
      }
    }
    Count(ops, sent, instance.sop_instance_uid);
    if (ops.remaining > 0 && !cancelled) {
      cond = SendRetrievePending(assoc_, pres_id, 0x8010, req.AffectedSOPClassUID, req.MessageID,
                                 ops);
      if (cond.bad()) return false;
    }
    return true;
  };
  SendInstances(assoc_, archive_.catalog(), instances, options, observer);
  if (association_failed) return makeOFCondition(0, 2, OF_error, "association failed during C-GET");
  if (cond.bad()) return cond;
  std::unique_ptr<DcmDataset> failed = FailedList(ops);
  return respond(FinalRetrieveStatus(ops, cancelled), failed.get(), "");
}

}  // namespace tresor::dimse
