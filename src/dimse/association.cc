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
#include "dicom/query.h"
#include "dicom/transfer_syntax.h"
#include "dimse/status_mapping.h"

namespace tresor::dimse {
namespace {

// Reads the next PDV of the association, waiting up to `timeout` seconds for it.
OFCondition NextPdv(T_ASC_Association* assoc, int timeout, DUL_PDV* pdv) {
  OFCondition cond = DUL_NextPDV(&assoc->DULassociation, pdv);
  if (cond.good()) return cond;
  cond = DUL_ReadPDVs(&assoc->DULassociation, nullptr, DUL_NOBLOCK, timeout);
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
    OFCondition cond =
        DIMSE_receiveCommand(assoc_, DIMSE_NONBLOCKING, idle_, &pres_id, &msg, nullptr);
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
      ASC_abortAssociation(assoc_);
      return;
    }
    if (cond.bad()) {
      TRESOR_LOG(kWarn) << "association with " << who_.Describe()
                        << " failed: " << cond.text();
      ASC_abortAssociation(assoc_);
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
      default:
        TRESOR_LOG(kWarn) << "unsupported DIMSE command 0x" << std::hex
                          << static_cast<unsigned>(msg.CommandField) << std::dec << " from "
                          << who_.Describe() << "; aborting";
        ASC_abortAssociation(assoc_);
        return;
    }
    if (cond.bad()) {
      TRESOR_LOG(kWarn) << "association with " << who_.Describe() << " ended: " << cond.text();
      ASC_abortAssociation(assoc_);
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
    auto begun = archive_.BeginStore(who_, info);
    if (begun.ok()) {
      upload = std::move(begun).value();
    } else {
      outcome = begun.status();
    }
    // Receive the data set; after an error keep draining it so the association stays
    // usable, without storing anything.
    while (true) {
      DUL_PDV pdv;
      cond = NextPdv(assoc_, idle_, &pdv);
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
  T_DIMSE_C_StoreRSP rsp;
  std::memset(&rsp, 0, sizeof rsp);
  rsp.MessageIDBeingRespondedTo = req.MessageID;
  rsp.DimseStatus = status;
  rsp.DataSetType = DIMSE_DATASET_NULL;
  OFStandard::strlcpy(rsp.AffectedSOPClassUID, req.AffectedSOPClassUID,
                      sizeof rsp.AffectedSOPClassUID);
  OFStandard::strlcpy(rsp.AffectedSOPInstanceUID, req.AffectedSOPInstanceUID,
                      sizeof rsp.AffectedSOPInstanceUID);
  rsp.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;
  return DIMSE_sendStoreResponse(assoc_, pres_id, &req, &rsp, nullptr);
}


OFCondition AssociationHandler::ReceiveIdentifier(T_ASC_PresentationContextID pres_id,
                                                  size_t max_bytes,
                                                  std::unique_ptr<DcmDataset>* out,
                                                  Status* refusal) {
  std::string bytes;
  while (true) {
    DUL_PDV pdv;
    OFCondition cond = NextPdv(assoc_, idle_, &pdv);
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
  dicom::Encoding encoding;
  if (!dicom::EncodingOf(pc.acceptedTransferSyntax, &encoding)) {
    *refusal = Unsupported("transfer syntax not supported for identifiers");
    return EC_Normal;
  }
  dicom::MemoryReader reader(bytes.data(), bytes.size());
  dicom::ScanLimits limits;
  limits.max_bytes = max_bytes;
  auto scan = dicom::ScanDataset(reader, encoding, limits, {});
  if (!scan.ok()) {
    *refusal = InvalidArgument("malformed identifier: " + scan.status().message());
    return EC_Normal;
  }
  auto dataset = std::make_unique<DcmDataset>();
  DcmInputBufferStream stream;
  stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  stream.setEos();
  E_TransferSyntax xfer = DcmXfer(pc.acceptedTransferSyntax).getXfer();
  dataset->transferInit();
  cond = dataset->read(stream, xfer, EGL_noChange, static_cast<Uint32>(max_bytes));
  dataset->transferEnd();
  if (cond.bad()) {
    *refusal = InvalidArgument(std::string("identifier cannot be parsed: ") + cond.text());
    return EC_Normal;
  }
  *out = std::move(dataset);
  return EC_Normal;
}

namespace {

constexpr size_t kMaxIdentifierBytes = 64 * 1024;

// The unique keys returned at `level` and above (PS3.4 C.4.1.2).
std::vector<dicom::TagKey> UniqueKeys(dicom::QueryLevel level, bool patient_root) {
  std::vector<dicom::TagKey> keys;
  if (patient_root) keys.push_back(dicom::MakeTag(0x0010, 0x0020));
  if (level >= dicom::QueryLevel::kStudy) keys.push_back(dicom::MakeTag(0x0020, 0x000D));
  if (level >= dicom::QueryLevel::kSeries) keys.push_back(dicom::MakeTag(0x0020, 0x000E));
  if (level >= dicom::QueryLevel::kImage) keys.push_back(dicom::MakeTag(0x0008, 0x0018));
  return keys;
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

// Turns a C-FIND identifier (already UTF-8) into a query. `requested` receives every
// top-level tag of the identifier, in order, for the responses.
Status ParseIdentifier(DcmDataset& id, bool patient_root, dicom::Query* query,
                       std::vector<DcmTagKey>* requested) {
  OFString level;
  if (id.findAndGetOFString(DCM_QueryRetrieveLevel, level).bad()) {
    return InvalidArgument("Query/Retrieve Level (0008,0052) is missing");
  }
  if (level == "PATIENT" && patient_root) query->level = dicom::QueryLevel::kPatient;
  else if (level == "STUDY") query->level = dicom::QueryLevel::kStudy;
  else if (level == "SERIES") query->level = dicom::QueryLevel::kSeries;
  else if (level == "IMAGE") query->level = dicom::QueryLevel::kImage;
  else return InvalidArgument("Query/Retrieve Level '" + std::string(level.c_str()) + "' is not valid here");
  query->patient_root = patient_root;
  for (unsigned long i = 0; i < id.card(); ++i) {
    DcmElement* e = id.getElement(i);
    DcmTagKey key = e->getTag().getXTag();
    if (key == DCM_SpecificCharacterSet || key == DCM_QueryRetrieveLevel) continue;
    requested->push_back(key);
    dicom::TagKey tag = dicom::MakeTag(key.getGroup(), key.getElement());
    const dicom::QueryAttribute* attribute = dicom::FindQueryAttribute(tag);
    if (!attribute) continue;  // returned empty: the index does not hold it
    query->return_tags.push_back(tag);
    if (e->ident() == EVR_SQ) continue;
    OFString value;
    e->getOFStringArray(value);
    // Padding is insignificant for matching.
    std::string v(value.c_str(), value.size());
    while (!v.empty() && (v.back() == ' ' || v.back() == '\0')) v.pop_back();
    while (!v.empty() && v.front() == ' ') v.erase(v.begin());
    TRESOR_ASSIGN_OR_RETURN(dicom::ParsedKey parsed, dicom::ParseMatchingKey(*attribute, v));
    if (parsed.matches) query->conditions.push_back(parsed.condition);
  }
  for (dicom::TagKey key : UniqueKeys(query->level, patient_root)) {
    if (std::find(query->return_tags.begin(), query->return_tags.end(), key) ==
        query->return_tags.end()) {
      query->return_tags.push_back(key);
      requested->push_back(DcmTagKey(static_cast<Uint16>(key >> 16), static_cast<Uint16>(key & 0xFFFF)));
    }
  }
  return Status::Ok();
}

}  // namespace

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
    std::unique_ptr<DcmDataset> detail;
    if (!comment.empty()) {
      detail = std::make_unique<DcmDataset>();
      detail->putAndInsertString(DCM_ErrorComment, comment.substr(0, 64).c_str());
    }
    return DIMSE_sendFindResponse(assoc_, pres_id, &req, &rsp, nullptr, detail.get());
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
  auto found = archive_.Find(who_, query);
  if (!found.ok()) {
    TRESOR_LOG(kWarn) << "C-FIND from " << who_.Describe() << " failed: " << found.status().message();
    return finish(FindStatusFor(found.status()), found.status().message());
  }
  TRESOR_LOG(kInfo) << "C-FIND " << (patient_root ? "patient" : "study") << " root, "
                    << LevelName(query.level) << " level, from " << who_.Describe() << ": "
                    << found->matches.size() << " match(es)" << (found->truncated ? " (limit reached)" : "");
  for (const dicom::QueryMatch& match : found->matches) {
    if (DIMSE_checkForCancelRQ(assoc_, pres_id, req.MessageID).good()) {
      TRESOR_LOG(kInfo) << "C-FIND cancelled by " << who_.Describe();
      return finish(kStatusCancel, "");
    }
    DcmDataset response;
    response.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192");
    response.putAndInsertString(DCM_QueryRetrieveLevel, LevelName(query.level));
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
    rsp.DimseStatus = kStatusPending;
    rsp.DataSetType = DIMSE_DATASET_PRESENT;
    cond = DIMSE_sendFindResponse(assoc_, pres_id, &req, &rsp, &response, nullptr);
    if (cond.bad()) return cond;
  }
  if (found->truncated) {
    return finish(kStatusOutOfResources,
                  "result limit of " + std::to_string(found->matches.size()) + " reached");
  }
  return finish(kStatusSuccess, "");
}

}  // namespace tresor::dimse
