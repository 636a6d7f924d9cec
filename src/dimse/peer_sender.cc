#include "dimse/peer_sender.h"

#include <memory>
#include <utility>

#include "dimse/store_scu.h"

namespace tresor::dimse {

Status SendToPeer(archive::CatalogService& catalog, const security::Peer& peer,
                  const PeerSendOptions& options,
                  const std::vector<archive::InstanceInfo>& instances,
                  const SendObserver& observer) {
  std::vector<std::pair<std::string, std::string>> needed;
  for (const auto& i : instances) needed.emplace_back(i.sop_class_uid, i.transfer_syntax_uid);
  StoreScu::Options scu_options;
  scu_options.calling_ae = options.calling_ae;
  scu_options.called_ae = peer.ae_title;
  scu_options.host = peer.host;
  scu_options.port = peer.port;
  scu_options.timeout_seconds = options.timeout_seconds;
  TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<StoreScu> scu, StoreScu::Connect(scu_options, needed));
  scu->SendAll(catalog, instances, options.originator, observer);
  scu->Release();
  return Status::Ok();
}

}  // namespace tresor::dimse
