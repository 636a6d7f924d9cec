// SendToPeer: the one send loop for archived instances going to a registered peer over
// an association Tresor opens -- the sub-operations of a C-MOVE and `tresor send`.
// DCMTK-free, so the CLI can use it without compiling DCMTK's network headers.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "archive/catalog_service.h"
#include "archive/types.h"
#include "core/status.h"
#include "security/peer_policy.h"

namespace tresor::dimse {

// Identifies the C-MOVE that caused a C-STORE (PS3.7 C.4.2.1.4); empty when none.
struct MoveOriginator {
  std::string ae_title;
  uint16_t message_id = 0;
};

struct PeerSendOptions {
  std::string calling_ae;   // our AE title
  int timeout_seconds = 30;  // connect, and each C-STORE-RSP
  MoveOriginator originator;
};

// What the caller learns while SendToPeer runs; both may be empty.
struct SendObserver {
  // Asked before each instance; true stops the loop (a C-CANCEL arrived).
  std::function<bool()> cancelled;
  // For each instance, once the next one's request is out (or the loop ends): the
  // receiver's DIMSE status, or why it could not be sent
  // (kNotFound/kIoError from its blob, kUnsupported without a presentation context or
  // codec, kIoError when the association failed). Returning false stops the loop.
  std::function<bool(const archive::InstanceInfo&, const Result<uint16_t>&)> sent;
};

// Opens one association to `peer` (presentation contexts for every SOP class and stored
// transfer syntax of `instances`), sends each instance in order, opened through
// `catalog.OpenResolved`, reports it to `observer`, and releases the association.
// Returns an error, with nothing sent, if the association could not be opened; Ok
// otherwise (also when single instances failed: the observer saw each result).
Status SendToPeer(archive::CatalogService& catalog, const security::Peer& peer,
                  const PeerSendOptions& options,
                  const std::vector<archive::InstanceInfo>& instances,
                  const SendObserver& observer);

}  // namespace tresor::dimse
