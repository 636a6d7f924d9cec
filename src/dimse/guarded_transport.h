// The transport connections DimseServer hands DCMTK (plain TCP and established TLS) read
// through a PduGuard; these functions reach them through an accepted association.
//
// DCMTK's ASC_rejectAssociation and ASC_abortAssociation follow PS3.8's Sta13 to the
// letter: after sending the A-ASSOCIATE-RJ or A-ABORT they wait for the peer to close the
// connection, up to the ARTIM timeout, holding a worker and the socket all that time. A
// peer that never closes (a scanner, a prober) would keep both for that long on every
// refusal. RejectAssociation and AbortAssociation send the same PDU, then end the
// connection at once: the peer reads the PDU, then end of stream.
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/assoc.h>

#include "dimse/pdu_guard.h"

namespace tresor::dimse {

// The PDU guard's verdict on the association's A-ASSOCIATE-RQ; nullptr when the
// association's transport is not one of DimseServer's guarded connections.
const AssociateRqCheck* AssociateRqCheckOf(T_ASC_Association* assoc);

// Sends an A-ASSOCIATE-RJ with `params`, then closes the connection's sending side and
// discards what the peer already sent. The association must still be destroyed
// (ASC_dropSCPAssociation, ASC_destroyAssociation), which no longer waits.
void RejectAssociation(T_ASC_Association* assoc, const T_ASC_RejectParameters& params);

// Sends an A-ABORT (source: service user, reason 0, as DCMTK's own abort does), then
// ends the connection like RejectAssociation. Falls back to ASC_abortAssociation for a
// transport that is not a guarded connection.
void AbortAssociation(T_ASC_Association* assoc);

}  // namespace tresor::dimse
