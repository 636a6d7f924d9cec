#include "security/peer_policy.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cstring>
#include <sstream>

namespace tresor::security {
namespace {

struct NamedService {
  const char* name;
  Service bit;
};
constexpr NamedService kNames[] = {
    {"echo", kEcho}, {"store", kStore}, {"find", kFind}, {"move", kMove}, {"get", kGet}};

// Canonical text form of an IP address, so "::ffff:127.0.0.1" and "127.0.0.1" compare equal.
std::string Canonical(const std::string& address) {
  in6_addr v6{};
  if (inet_pton(AF_INET6, address.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      char buf[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &v6.s6_addr[12], buf, sizeof buf);
      return buf;
    }
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &v6, buf, sizeof buf);
    return buf;
  }
  return address;
}

}  // namespace

Result<uint32_t> ParseServices(const std::string& csv) {
  uint32_t bits = 0;
  std::stringstream in(csv);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    bool found = false;
    for (const auto& n : kNames) {
      if (item == n.name) {
        bits |= n.bit;
        found = true;
      }
    }
    if (item == "all") {
      bits |= kAllServices;
      found = true;
    }
    if (!found) {
      return InvalidArgument("unknown service '" + item + "' (use echo, store, find, move, get)");
    }
  }
  return bits;
}

std::string FormatServices(uint32_t services) {
  std::string out;
  for (const auto& n : kNames) {
    if (services & n.bit) {
      if (!out.empty()) out += ",";
      out += n.name;
    }
  }
  return out.empty() ? "none" : out;
}

namespace {

// Compares two AE titles in time that depends on neither's content (AE titles are at
// most 16 characters; longer input compares unequal after the same work).
bool SameAeTitle(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < 16; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0 && a.size() <= 16;
}

bool IsIpLiteral(const std::string& host) {
  in6_addr v6{};
  in_addr v4{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 || inet_pton(AF_INET, host.c_str(), &v4) == 1;
}

}  // namespace

bool HostMatches(const std::string& host, const std::string& address) {
  std::string want = Canonical(address);
  if (Canonical(host) == want) return true;
  if (IsIpLiteral(host)) return false;  // another address: nothing to resolve
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) return false;
  bool match = false;
  for (addrinfo* p = res; p && !match; p = p->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (p->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(p->ai_addr)->sin_addr, buf, sizeof buf);
    } else if (p->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(p->ai_addr)->sin6_addr, buf, sizeof buf);
    }
    match = Canonical(buf) == want;
  }
  freeaddrinfo(res);
  return match;
}

Decision DecideAssociation(const std::vector<Peer>& peers, const std::string& calling_ae,
                           const std::string& called_ae, const std::string& our_ae,
                           const std::string& remote_address,
                           const std::string& client_certificate_sha256,
                           const HostMatcher& host_matches) {
  Decision d;
  bool known_ae = false;
  const Peer* match = nullptr;
  for (const Peer& p : peers) {
    // Both tests run for every peer, whatever the other's outcome.
    const bool same_host = host_matches(p.host, remote_address);
    const bool same_ae = SameAeTitle(p.ae_title, calling_ae);
    known_ae |= same_ae;
    if (same_ae && same_host && !match) match = &p;
  }
  if (!match) {
    d.verdict = known_ae ? Verdict::kWrongHost : Verdict::kUnknownCallingAe;
    return d;
  }
  d.peer = *match;
  if (match->certificate_sha256 != client_certificate_sha256) {
    d.verdict = Verdict::kWrongCertificate;
  } else {
    d.verdict = called_ae == our_ae ? Verdict::kAccept : Verdict::kWrongCalledAe;
  }
  return d;
}

Status ValidateAeTitle(const std::string& ae) {
  if (ae.empty() || ae.size() > 16) return InvalidArgument("AE title must be 1-16 characters");
  bool all_space = true;
  for (char c : ae) {
    if (c < 0x20 || c > 0x7E || c == '\\') {
      return InvalidArgument("AE title may hold printable ASCII only, without backslash");
    }
    if (c != ' ') all_space = false;
  }
  if (all_space) return InvalidArgument("AE title must not be blank");
  return Status::Ok();
}

Status ValidatePeer(const Peer& peer) {
  auto in = [](char c, const char* extra) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && std::strchr(extra, c) != nullptr);
  };
  if (peer.name.empty() || peer.name.size() > 64) {
    return InvalidArgument("peer name must have 1-64 characters");
  }
  for (char c : peer.name) {
    if (!in(c, "._-")) return InvalidArgument("peer name may hold letters, digits, '.', '_' and '-' only");
  }
  TRESOR_RETURN_IF_ERROR(ValidateAeTitle(peer.ae_title));
  if (peer.host.empty() || peer.host.size() > 253) {
    return InvalidArgument("peer host must have 1-253 characters");
  }
  if (peer.host.front() == '-') return InvalidArgument("peer host must not start with '-'");
  for (char c : peer.host) {
    if (!in(c, ".-:")) {
      return InvalidArgument("peer host must be an IP address or a DNS name (letters, digits, '.', '-', ':')");
    }
  }
  if (peer.port < 1 || peer.port > 65535) return InvalidArgument("peer port must be 1-65535");
  if (!peer.certificate_sha256.empty()) {
    bool hex = peer.certificate_sha256.size() == 64;
    for (char c : peer.certificate_sha256) hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    if (!hex) return InvalidArgument("certificate_sha256 must be 64 lower-case hex digits");
  }
  return Status::Ok();
}

}  // namespace tresor::security
