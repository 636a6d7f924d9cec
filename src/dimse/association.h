// AssociationHandler: serves the DIMSE messages of one accepted association for one
// Principal, until release, abort, idle timeout or a protocol error. The idle timeout is
// a core::Deadline on the injected clock; DCMTK's receive timeout only wakes the check. Every operation
// goes through archive::ArchiveService; this class only maps between DIMSE and it.
// Not thread-safe: one per association, on the worker that accepted it.
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dimse.h>

#include <string>

#include "archive/archive_service.h"
#include "core/clock.h"

namespace tresor::dimse {

class AssociationHandler {
 public:
  AssociationHandler(archive::ArchiveService& archive, T_ASC_Association* assoc,
                     archive::Principal principal, int idle_seconds, const core::Clock& clock)
      : archive_(archive), assoc_(assoc), who_(std::move(principal)), idle_(idle_seconds),
        clock_(clock) {}

  // Serves messages until the association ends; never throws.
  void Run();

 private:
  OFCondition HandleEcho(T_ASC_PresentationContextID pres_id, const T_DIMSE_C_EchoRQ& req);
  OFCondition HandleStore(T_ASC_PresentationContextID pres_id, const T_DIMSE_C_StoreRQ& req);
  OFCondition HandleFind(T_ASC_PresentationContextID pres_id, const T_DIMSE_C_FindRQ& req);
  // Sends one pending C-FIND-RSP per match (identifier: `requested` plus character set and
  // level); a condition equal to the C-CANCEL marker when the requestor cancelled.
  OFCondition SendFindMatches(T_ASC_PresentationContextID pres_id, const T_DIMSE_C_FindRQ& req,
                              dicom::QueryLevel level, const std::vector<DcmTagKey>& requested,
                              const std::vector<dicom::QueryMatch>& matches);
  OFCondition HandleMove(T_ASC_PresentationContextID pres_id, const T_DIMSE_C_MoveRQ& req);
  OFCondition HandleGet(T_ASC_PresentationContextID pres_id, const T_DIMSE_C_GetRQ& req);
  // Receives and parses a C-MOVE/C-GET identifier into the instances it names.
  // Returns a good condition with `refusal` set when the request is refused.
  OFCondition ResolveRetrieve(T_ASC_PresentationContextID pres_id, const char* sop_class,
                              bool is_get, std::vector<archive::InstanceInfo>* instances,
                              Status* refusal);
  // Receives a small data set (a query identifier) of at most `max_bytes`, checks it with
  // the bounded scanner and only then lets DCMTK parse it. `refusal` is set (and the
  // returned condition good) when the data set was received but is unacceptable.
  OFCondition ReceiveIdentifier(T_ASC_PresentationContextID pres_id, size_t max_bytes,
                                std::unique_ptr<DcmDataset>* out, Status* refusal);

  archive::ArchiveService& archive_;
  T_ASC_Association* assoc_;
  const archive::Principal who_;
  const int idle_;  // seconds without a message or PDV after which the association ends
  const core::Clock& clock_;  // decides when idle_ has passed
};

}  // namespace tresor::dimse
