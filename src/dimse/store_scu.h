// Sending stored objects with C-STORE: over an association Tresor opened (through
// SendToPeer: C-MOVE and `tresor send`) or over the requestor's own association (C-GET sub-operations).
//
// Objects go out byte for byte as archived when the receiver accepted their transfer
// syntax; otherwise they are transcoded (DCMTK codecs) to a syntax it accepted for their
// SOP class, explicit little endian first.
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/assoc.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "archive/types.h"
#include "core/status.h"
#include "dimse/peer_sender.h"  // MoveOriginator

namespace tresor::dimse {

// How SendInstances runs one sequence of C-STOREs.
struct SendSequenceOptions {
  MoveOriginator originator;
  int timeout_seconds = 30;      // each C-STORE-RSP
  uint16_t first_message_id = 1;  // of the first C-STORE-RQ; one more for each after it
  // C-GET: a C-CANCEL-RQ for this message ID that arrives while a C-STORE-RSP is awaited
  // sets *cancelled, and the sequence stops before the next instance.
  uint16_t cancel_message_id = 0;
  bool* cancelled = nullptr;
  // Report each result only once the next instance's C-STORE-RQ has gone out, so the
  // observer's work (a C-MOVE's pending response on another association) overlaps with
  // the receiver storing that instance. For C-GET it stays off: its pending responses
  // share the association and each goes out before the next sub-operation starts.
  bool report_after_next_request = false;
};

// Sends `instances` in order on `assoc`, each opened through `catalog.OpenResolved`, and
// reports each result to `observer` (SendObserver's contract; `observer.cancelled` is
// asked before every instance). While the receiver stores one object, the next is opened
// and read ahead, so reading and decrypting overlap with the receiver's work instead of
// alternating with it; at most two objects are held at once (for a transcoded object,
// all of it: up to 512 MiB). An instance read ahead is dropped unsent when the sequence
// stops. A kIoError result means the association failed: the instances after it are
// reported as failed without being tried. Returns the next unused message ID.
uint16_t SendInstances(T_ASC_Association* assoc, archive::CatalogService& catalog,
                       const std::vector<archive::InstanceInfo>& instances,
                       const SendSequenceOptions& options, const SendObserver& observer);

// Owning handles for the DCMTK objects of an outbound association.
struct NetworkDeleter {
  void operator()(T_ASC_Network* n) const { ASC_dropNetwork(&n); }
};
struct ParametersDeleter {
  void operator()(T_ASC_Parameters* p) const { ASC_destroyAssociationParameters(&p); }
};
// Destroys the association and the parameters it owns (release or abort it first).
struct RequestedAssociationDeleter {
  void operator()(T_ASC_Association* a) const { ASC_destroyAssociation(&a); }
};
using NetworkPtr = std::unique_ptr<T_ASC_Network, NetworkDeleter>;
using ParametersPtr = std::unique_ptr<T_ASC_Parameters, ParametersDeleter>;
using RequestedAssociationPtr = std::unique_ptr<T_ASC_Association, RequestedAssociationDeleter>;

// An association Tresor opens to a peer to send it objects. Not thread-safe.
class StoreScu {
 public:
  struct Options {
    std::string calling_ae;  // our AE title
    std::string called_ae;
    std::string host;
    int port = 104;
    int timeout_seconds = 30;
    uint32_t max_pdu_bytes = 131072;
  };

  // Connects and negotiates, for each (SOP class, stored transfer syntax) in `needed`,
  // a context proposing the stored syntax, and one proposing explicit and implicit
  // little endian as the fallback for transcoding.
  static Result<std::unique_ptr<StoreScu>> Connect(
      const Options& options, const std::vector<std::pair<std::string, std::string>>& needed);
  ~StoreScu();
  StoreScu(const StoreScu&) = delete;
  StoreScu& operator=(const StoreScu&) = delete;

  // SendInstances on this association (results reported after the next request went
  // out), its message IDs following those sent before.
  void SendAll(archive::CatalogService& catalog,
               const std::vector<archive::InstanceInfo>& instances,
               const MoveOriginator& originator, const SendObserver& observer);
  // Releases the association (also done by the destructor).
  void Release();

 private:
  StoreScu() = default;
  NetworkPtr network_;               // declared first: outlives the association
  RequestedAssociationPtr assoc_;    // null once released
  int timeout_ = 30;
  uint16_t next_message_id_ = 1;
};

}  // namespace tresor::dimse
