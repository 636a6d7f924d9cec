// The one table that turns Tresor's error codes into DIMSE status codes (PS3.4, PS3.7 C).
#pragma once

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

}  // namespace tresor::dimse
