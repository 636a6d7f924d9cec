// Who may open an association, and which DIMSE services each peer is granted.
//
// Default deny: a caller is accepted only if a registered peer matches its calling AE
// title AND its network address, and it called our own AE title. AE titles are routing
// labels, not credentials, so the host binding is what makes a peer a peer.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace tresor::security {

enum Service : uint32_t {
  kEcho = 1u << 0,
  kStore = 1u << 1,
  kFind = 1u << 2,
  kMove = 1u << 3,
  kGet = 1u << 4,
};
inline constexpr uint32_t kAllServices = kEcho | kStore | kFind | kMove | kGet;

// Parses "echo,store,find" (any order, no spaces needed); unknown names are errors.
Result<uint32_t> ParseServices(const std::string& csv);
std::string FormatServices(uint32_t services);

struct Peer {
  std::string name;
  std::string ae_title;
  std::string host;  // IP address or host name
  int port = 104;
  uint32_t services = 0;
  // SHA-256 fingerprint of the peer's client certificate (hex). When set, the peer may
  // only connect over DICOM TLS presenting exactly this certificate.
  std::string certificate_sha256;
  // The peer must also present a user identity (PS3.7 D.3.3.7: user name and passcode,
  // or a JWT issued by Tresor) with every association.
  bool require_identity = false;
  // Access groups whose studies the peer may query and retrieve ("all": every study).
  std::vector<std::string> groups;
};

enum class Verdict {
  kAccept,
  kUnknownCallingAe,  // A-ASSOCIATE-RJ permanent, source 1, reason 3
  kWrongCalledAe,     // A-ASSOCIATE-RJ permanent, source 1, reason 7
  kWrongHost,         // known AE title from an address not registered for it: reason 3
  kWrongCertificate,  // TLS certificate missing, or not the one bound to this AE: reason 3
  kBlocked,           // the source is blocked after repeated failures: transient reject
};

struct Decision {
  Verdict verdict = Verdict::kUnknownCallingAe;
  Peer peer;  // the matching peer when accepted
};

// True if `host` (an IP literal or a name resolved through the system resolver) names
// `address`. An IP literal is compared without asking the resolver.
bool HostMatches(const std::string& host, const std::string& address);

// How DecideAssociation asks whether a peer's host names the remote address
// (HostMatches; tests pass one that records its calls).
using HostMatcher = std::function<bool(const std::string& host, const std::string& address)>;

// Decides on an association request from `remote_address` (numeric IP).
// `client_certificate_sha256` is the fingerprint of the verified TLS client certificate,
// empty on plain TCP. A peer bound to a certificate must present exactly it; a
// certificate presented for a peer bound to none (or to another) is refused, so a valid
// certificate never lends its holder another peer's AE title.
//
// The work done does not depend on the calling AE title: every peer's host is matched
// against the remote address exactly once, in table order, every peer's AE title is
// compared in constant time, and the loop never ends early. A request from an address no
// peer is registered for therefore costs the same whether its calling AE title is
// registered (kWrongHost) or not (kUnknownCallingAe), so rejects do not reveal titles.
// With several peers matching title and host, the first in table order decides.
Decision DecideAssociation(const std::vector<Peer>& peers, const std::string& calling_ae,
                           const std::string& called_ae, const std::string& our_ae,
                           const std::string& remote_address,
                           const std::string& client_certificate_sha256 = "",
                           const HostMatcher& host_matches = HostMatches);

// Checks an AE title: 1-16 characters, printable ASCII, no backslash, not all spaces.
Status ValidateAeTitle(const std::string& ae);

// Checks a peer before it is registered (CLI `tresor peer add` and the REST API alike),
// kInvalidArgument naming the first bad field:
//   name        1-64 characters: letters, digits, '.', '_', '-' (it is a URL path segment)
//   ae_title    ValidateAeTitle
//   host        an IPv4/IPv6 literal or a DNS name: 1-253 characters of letters, digits,
//               '.', '-', ':' (IPv6), not starting with '-'
//   port        1-65535
//   certificate_sha256  empty, or 64 lower-case hex digits
// Access groups are checked separately (ValidateGroupNames, access_scope.h).
Status ValidatePeer(const Peer& peer);

}  // namespace tresor::security
