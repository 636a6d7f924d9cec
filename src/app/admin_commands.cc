// Administration from the command line (as the local administrator): peers, users,
// access groups and API tokens.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "app/cli.h"
#include "app/data_dir.h"
#include "security/password.h"
#include "security/tls_material.h"
#include "security/access_scope.h"

namespace tresor::app {

namespace {

// Access groups for display: "all", "a,b" or "-".
std::string GroupsText(const std::vector<std::string>& groups) {
  return groups.empty() ? "-" : security::FormatGroupList(groups);
}

}  // namespace

int CmdPeer(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(
      CheckFlags(a, {"ae", "host", "port", "allow", "groups", "cert", "out", "require-identity"}));
  if (a.positional.empty()) return Fail(InvalidArgument("peer needs add, enroll, list or remove"));
  std::string dir = ResolveDataDir(a.Flag("data"));
  auto opened = OpenDataDir(dir, a.Flag("master-key"));
  if (!opened.ok()) return Fail(opened.status());
  archive::ArchiveService& archive = *(*opened)->archive;
  auto admin = archive::Principal::LocalAdmin();
  const std::string& verb = a.positional[0];
  if (verb == "add" || verb == "enroll") {
    if (a.positional.size() != 2) {
      return Fail(InvalidArgument("usage: tresor peer " + verb + " NAME --ae AE --host HOST"));
    }
    if (a.Flag("ae").empty() || a.Flag("host").empty()) {
      return Fail(InvalidArgument("peer add needs --ae and --host"));
    }
    auto services = security::ParseServices(a.Flag("allow", "echo,store"));
    if (!services.ok()) return Fail(services.status());
    auto port = ParsePort(a.Flag("port", "104"));
    if (!port.ok()) return Fail(port.status());
    auto groups = security::ParseGroupList(a.Flag("groups"));
    if (!groups.ok()) return Fail(groups.status());
    security::Peer peer{a.positional[1],
                        a.Flag("ae"),
                        a.Flag("host"),
                        *port,
                        *services,
                        "",
                        a.flags.count("require-identity") > 0,
                        *groups};
    std::string bundle;
    if (verb == "enroll") {
      // Issue a client certificate from the local CA and bind the peer to it.
      auto ca_key = ReadTextFile(dir + "/keys/ca.key");
      auto ca_pem = ReadTextFile(dir + "/keys/ca.pem");
      if (!ca_key.ok() || !ca_pem.ok())
        return Fail(NotFound("the local CA (keys/ca.key) is missing"));
      Status valid = security::ValidateAeTitle(peer.ae_title);
      if (!valid.ok()) return Fail(valid);
      auto issued = security::IssueCertificate({*ca_key, *ca_pem}, peer.ae_title, false, {}, {});
      if (!issued.ok()) return Fail(issued.status());
      auto fingerprint = security::CertificateFingerprint(issued->certificate_pem);
      if (!fingerprint.ok()) return Fail(fingerprint.status());
      peer.certificate_sha256 = *fingerprint;
      bundle = a.Flag("out", dir + "/enrolled/" + peer.name);
      std::filesystem::create_directories(bundle);
      std::filesystem::permissions(bundle, std::filesystem::perms::owner_all);
      Status w = WritePrivateFile(bundle + "/" + peer.name + ".key", issued->key_pem, 0600);
      if (w.ok())
        w = WritePrivateFile(bundle + "/" + peer.name + ".pem", issued->certificate_pem, 0600);
      if (w.ok()) w = WritePrivateFile(bundle + "/ca.pem", *ca_pem, 0600);
      if (!w.ok()) return Fail(w);
    } else if (!a.Flag("cert").empty()) {
      auto pem = ReadTextFile(a.Flag("cert"));
      if (!pem.ok()) return Fail(pem.status());
      auto fingerprint = security::CertificateFingerprint(*pem);
      if (!fingerprint.ok()) return Fail(fingerprint.status());
      peer.certificate_sha256 = *fingerprint;
      auto validity = security::CertificateValidity(*pem);
      if (!validity.ok()) return Fail(validity.status());
      int64_t now = static_cast<int64_t>(time(nullptr));
      if (validity->not_after < now) {
        std::cerr << "warning: this certificate has expired; TLS handshakes with it will fail "
                     "until the peer gets a new one\n";
      } else if (validity->not_before > now) {
        std::cerr << "warning: this certificate is not valid yet; TLS handshakes with it will "
                     "fail until then\n";
      } else if (validity->not_after - now < 30 * 86400) {
        std::cerr << "warning: this certificate expires in " << (validity->not_after - now) / 86400
                  << " days\n";
      }
    }
    Status s = archive.admin().AddPeer(admin, peer);
    if (!s.ok()) return Fail(s);
    std::cout << "peer " << peer.name << ": AE " << peer.ae_title << " from " << peer.host
              << ", allowed: " << security::FormatServices(peer.services)
              << ", access groups: " << GroupsText(peer.groups) << "\n";
    if ((peer.services & (security::kFind | security::kMove | security::kGet)) &&
        peer.groups.empty()) {
      std::cout << "note: this peer is in no access group, so its queries and retrievals find no "
                   "study; give --groups (\"all\" for every study, see tresor group --help)\n";
    }
    if (peer.require_identity) {
      std::cout << "requires a user identity (user name and passcode, or a Tresor JWT) with every "
                   "association\n";
    }
    if (!peer.certificate_sha256.empty()) {
      std::cout << "bound to client certificate "
                << security::DisplayFingerprint(peer.certificate_sha256)
                << "\n(this peer may connect over DICOM TLS only)\n";
    }
    if (!bundle.empty()) {
      std::cout << "certificate bundle for the modality: " << bundle << "/" << peer.name << ".key, "
                << peer.name << ".pem, ca.pem\n"
                << "e.g.: echoscu +tls " << bundle << "/" << peer.name << ".key " << bundle << "/"
                << peer.name << ".pem +cf " << bundle << "/ca.pem -aet " << peer.ae_title
                << " -aec TRESOR <host> 2762\n";
    }
    return 0;
  }
  if (verb == "list") {
    auto peers = archive.admin().ListPeers(admin);
    if (!peers.ok()) return Fail(peers.status());
    std::printf("%-16s %-16s %-24s %-6s %-5s %-24s %s\n", "NAME", "AE TITLE", "HOST", "PORT", "TLS",
                "ALLOWED", "GROUPS");
    for (const auto& p : *peers) {
      std::printf("%-16s %-16s %-24s %-6d %-5s %-24s %s\n", p.name.c_str(), p.ae_title.c_str(),
                  p.host.c_str(), p.port, p.certificate_sha256.empty() ? "no" : "cert",
                  security::FormatServices(p.services).c_str(), GroupsText(p.groups).c_str());
    }
    return 0;
  }
  if (verb == "remove") {
    if (a.positional.size() != 2) return Fail(InvalidArgument("usage: tresor peer remove NAME"));
    auto removed = archive.admin().RemovePeer(admin, a.positional[1]);
    if (!removed.ok()) return Fail(removed.status());
    if (!*removed) return Fail(NotFound("no peer named " + a.positional[1]));
    std::cout << "peer " << a.positional[1] << " removed\n";
    return 0;
  }
  return Fail(InvalidArgument("unknown peer command '" + verb + "'"));
}

namespace {

// The password for `user add/passwd`: from stdin with --password-stdin, else generated.
std::string PasswordFromArgs(const Args& a, bool* generated) {
  *generated = !a.flags.count("password-stdin");
  if (*generated) return security::GeneratePassword();
  std::string line;
  std::getline(std::cin, line);
  return line;
}

}  // namespace

int CmdUser(const Args& a) {
  // --password-stdin takes no value; accept "--password-stdin" given as a flag with any value.
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {"role", "groups", "password-stdin"}));
  if (a.positional.empty()) {
    return Fail(InvalidArgument("user needs add, groups, list, disable, enable or passwd"));
  }
  auto opened = OpenDataDir(ResolveDataDir(a.Flag("data")), a.Flag("master-key"));
  if (!opened.ok()) return Fail(opened.status());
  archive::ArchiveService& archive = *(*opened)->archive;
  auto admin = archive::Principal::LocalAdmin();
  const std::string& verb = a.positional[0];
  if (verb == "list") {
    auto users = archive.admin().ListUsers(admin);
    if (!users.ok()) return Fail(users.status());
    std::printf("%-24s %-14s %-9s %s\n", "NAME", "ROLE", "STATE", "GROUPS");
    for (const auto& u : *users) {
      std::printf("%-24s %-14s %-9s %s\n", u.name.c_str(), u.role.c_str(),
                  u.disabled ? "disabled" : "active", GroupsText(u.groups).c_str());
    }
    return 0;
  }
  if (verb == "groups") {
    if (a.positional.size() != 3)
      return Fail(InvalidArgument("usage: tresor user groups NAME LIST"));
    auto groups = security::ParseGroupList(a.positional[2]);
    if (!groups.ok()) return Fail(groups.status());
    Status st = archive.admin().SetUserGroups(admin, a.positional[1], *groups);
    if (!st.ok()) return Fail(st);
    std::cout << "user " << a.positional[1] << ": access groups " << GroupsText(*groups) << "\n";
    return 0;
  }
  if (a.positional.size() != 2)
    return Fail(InvalidArgument("usage: tresor user " + verb + " NAME"));
  const std::string& name = a.positional[1];
  Status st;
  bool generated = false;
  std::string password;
  if (verb == "add") {
    if (a.Flag("role").empty()) return Fail(InvalidArgument("user add needs --role"));
    auto groups = security::ParseGroupList(a.Flag("groups"));
    if (!groups.ok()) return Fail(groups.status());
    password = PasswordFromArgs(a, &generated);
    st = archive.admin().CreateUser(admin, name, a.Flag("role"), password, *groups);
  } else if (verb == "passwd") {
    password = PasswordFromArgs(a, &generated);
    st = archive.admin().SetUserPassword(admin, name, password);
  } else if (verb == "disable" || verb == "enable") {
    st = archive.admin().SetUserDisabled(admin, name, verb == "disable");
  } else {
    return Fail(InvalidArgument("unknown user command '" + verb + "'"));
  }
  if (!st.ok()) return Fail(st);
  std::cout << "user " << name << ": "
            << (verb == "add"      ? "created"
                : verb == "passwd" ? "password changed"
                                   : verb + "d")
            << "\n";
  if (generated) std::cout << "Password (shown only now, store it safely): " << password << "\n";
  return 0;
}

int CmdGroup(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {"peer", "institution", "issuer"}));
  const std::string verb = a.positional.empty() ? "" : a.positional[0];
  auto opened = OpenDataDir(ResolveDataDir(a.Flag("data")), a.Flag("master-key"));
  if (!opened.ok()) return Fail(opened.status());
  archive::ArchiveService& archive = *(*opened)->archive;
  auto admin = archive::Principal::LocalAdmin();
  if (verb == "list" && a.positional.size() == 1) {
    auto groups = archive.admin().ListGroups(admin);
    auto rules = archive.admin().ListGroupRules(admin);
    auto peers = archive.admin().ListPeers(admin);
    auto users = archive.admin().ListUsers(admin);
    if (!groups.ok()) return Fail(groups.status());
    if (!rules.ok()) return Fail(rules.status());
    if (!peers.ok()) return Fail(peers.status());
    if (!users.ok()) return Fail(users.status());
    auto members = [&](const std::string& g) {
      std::string out;
      auto in = [&](const std::vector<std::string>& gs) {
        return std::find(gs.begin(), gs.end(), g) != gs.end();
      };
      for (const auto& p : *peers)
        if (in(p.groups)) out += " peer:" + p.name;
      for (const auto& u : *users)
        if (in(u.groups)) out += " user:" + u.name;
      return out.empty() ? std::string(" (none)") : out;
    };
    std::cout << "all: every study; members:" << members(security::kAllStudiesGroup) << "\n";
    for (const auto& g : *groups) {
      std::cout << g.name << ": " << g.studies << " studies; members:" << members(g.name) << "\n";
      for (const auto& r : *rules) {
        if (r.group == g.name) {
          std::cout << "  rule: " << archive::GroupRuleKindName(r.kind) << " = \"" << r.value
                    << "\"\n";
        }
      }
    }
    return 0;
  }
  if (verb == "rule" && a.positional.size() == 3 &&
      (a.positional[1] == "add" || a.positional[1] == "remove")) {
    archive::GroupRule rule;
    rule.group = a.positional[2];
    int given = 0;
    for (auto [flag, kind] : {std::pair{"peer", archive::GroupRule::Kind::kPeer},
                              std::pair{"institution", archive::GroupRule::Kind::kInstitution},
                              std::pair{"issuer", archive::GroupRule::Kind::kIssuer}}) {
      if (a.flags.count(flag)) {
        rule.kind = kind;
        rule.value = a.Flag(flag);
        ++given;
      }
    }
    if (given != 1)
      return Fail(InvalidArgument("a rule needs one of --peer, --institution, --issuer"));
    std::string what =
        std::string(archive::GroupRuleKindName(rule.kind)) + " = \"" + rule.value + "\"";
    if (a.positional[1] == "add") {
      auto added = archive.admin().AddGroupRule(admin, rule);
      if (!added.ok()) return Fail(added.status());
      std::cout << "group " << rule.group << ": rule " << what << " added; " << *added
                << " archived studies added to the group\n";
    } else {
      auto removed = archive.admin().RemoveGroupRule(admin, rule);
      if (!removed.ok()) return Fail(removed.status());
      if (!*removed) return Fail(NotFound("group " + rule.group + " has no rule " + what));
      std::cout << "group " << rule.group << ": rule " << what << " removed\n";
    }
    return 0;
  }
  if ((verb == "assign" || verb == "unassign") && a.positional.size() >= 3) {
    for (size_t i = 2; i < a.positional.size(); ++i) {
      Status st = archive.admin().AssignStudy(admin, a.positional[1], a.positional[i], verb == "assign");
      if (!st.ok()) return Fail(st);
    }
    std::cout << "group " << a.positional[1] << ": " << a.positional.size() - 2 << " stud"
              << (a.positional.size() == 3 ? "y " : "ies ") << verb << "ed\n";
    return 0;
  }
  return Fail(
      InvalidArgument("usage: tresor group list | rule add|remove GROUP --peer|--institution|"
                      "--issuer VALUE | assign|unassign GROUP STUDY_UID..."));
}

int CmdToken(const Args& a) {
  TRESOR_RETURN_IF_ERROR_CLI(CheckFlags(a, {"user", "days"}));
  if (a.positional.size() != 2 || a.positional[0] != "create" || a.Flag("user").empty()) {
    return Fail(InvalidArgument("usage: tresor token create NAME --user USER [--days N]"));
  }
  auto days = IntFlag(a, "days", 90);
  if (!days.ok()) return Fail(days.status());
  auto opened = OpenDataDir(ResolveDataDir(a.Flag("data")), a.Flag("master-key"));
  if (!opened.ok()) return Fail(opened.status());
  auto token = (*opened)->archive->access().CreateApiToken(archive::Principal::LocalAdmin(), a.positional[1],
                                                  a.Flag("user"), *days);
  if (!token.ok()) return Fail(token.status());
  std::cout << "API token " << a.positional[1] << " for user " << a.Flag("user") << ", valid "
            << *days << " days (shown only now):\n"
            << *token << "\n";
  return 0;
}

}  // namespace tresor::app
