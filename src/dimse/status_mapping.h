// The tables that turn Tresor's outcomes into what DICOM peers see: DIMSE status codes
// (PS3.4, PS3.7 C) and A-ASSOCIATE-RJ parameters (PS3.8 9.3.4).
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/assoc.h>

#include <cstdint>

#include "core/status.h"

namespace tresor::dimse {

inline constexpr uint16_t kStatusSuccess = 0x0000;
inline constexpr uint16_t kStatusProcessingFailure = 0x0110;     // PS3.7 C.4
inline constexpr uint16_t kStatusDuplicateSopInstance = 0x0111;  // PS3.7 C.4
inline constexpr uint16_t kStatusNotAuthorized = 0x0124;         // PS3.7 C.4
inline constexpr uint16_t kStatusOutOfResources = 0xA700;        // C-STORE Refused
inline constexpr uint16_t kStatusDataSetMismatch = 0xA900;       // C-STORE Error
inline constexpr uint16_t kStatusCannotUnderstand = 0xC000;      // C-STORE Error
inline constexpr uint16_t kStatusPending = 0xFF00;               // C-FIND/MOVE/GET Pending
inline constexpr uint16_t kStatusCancel = 0xFE00;                // Cancel
inline constexpr uint16_t kStatusMoveDestinationUnknown = 0xA801;       // C-MOVE Refused
inline constexpr uint16_t kStatusRetrieveOutOfResources = 0xA701;       // C-MOVE/C-GET Refused
inline constexpr uint16_t kStatusUnableToPerformSubOperations = 0xA702;  // C-MOVE/C-GET
inline constexpr uint16_t kStatusSubOperationsWarning = 0xB000;         // some failed

// The C-STORE response status for the outcome of a store.
uint16_t StoreStatusFor(const Status& status);
// The final C-FIND response status for a failed query (PS3.4 C.4.1.1.4):
// A700 out of resources, A900 identifier does not match SOP class, C000 unable to
// process, 0124 not authorized.
uint16_t FindStatusFor(const Status& status);
// The final C-MOVE/C-GET status for a refused retrieve (PS3.4 C.4.2.1.5 / C.4.3.1.4):
// A701 out of resources, A900 identifier does not match SOP class, C000 unable to
// process, 0124 not authorized.
uint16_t RetrieveStatusFor(const Status& status);
// The final C-MOVE status when the move destination was refused: A801 for one that is
// not a registered peer (kNotFound), otherwise as RetrieveStatusFor.
uint16_t MoveDestinationStatusFor(const Status& status);

// Why an association request is refused.
enum class AssociationRefusal {
  kAdmissionFailed,         // the peer table could not be read
  kUnknownCallingAe,        // no registered peer has the calling AE title
  kWrongHost,               // the calling AE title is registered for another host
  kWrongCertificate,        // TLS certificate binding not met
  kBlocked,                 // back-off after repeated failures (not evaluated)
  kWrongCalledAe,           // the called AE title is not ours
  kNoPresentationContext,   // nothing proposed is acceptable
  kIdentityRejected,        // user identity offered but not accepted, or required and missing
  kPeerAssociationLimit,    // the peer already has its maximum of associations
  kMalformedRequest,        // the A-ASSOCIATE-RQ breaks PS3.8 (e.g. even or repeated
                            // presentation context IDs): not acceptable to the provider
};
// The A-ASSOCIATE-RJ result, source and reason for `refusal`: transient (try again later)
// for overload and blocking, permanent otherwise.
T_ASC_RejectParameters RejectFor(AssociationRefusal refusal);

}  // namespace tresor::dimse
