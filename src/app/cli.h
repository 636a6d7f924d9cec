// The command line of `tresor`: parsed arguments, flag checks, and how subcommands
// report errors. Every subcommand is `int CmdX(const Args&)`, returning the exit status.
#pragma once

#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace tresor::app {

// Parsed command line: positional arguments and --flag values.
struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> flags;
  bool help = false;

  std::string Flag(const std::string& name, const std::string& fallback = "") const {
    auto it = flags.find(name);
    return it == flags.end() ? fallback : it->second;
  }
};

// Splits argv[first..]: "--name value" or "--name=value" flags (--password-stdin and
// --require-identity take no value), --help/-h, and positional arguments.
Result<Args> ParseArgs(int argc, char** argv, int first);
// kInvalidArgument naming the first flag that is neither --data nor in `allowed`.
Status CheckFlags(const Args& a, std::initializer_list<const char*> allowed);
// A TCP port 0-65535.
Result<int> ParsePort(const std::string& text);
// The integer value of flag --`name` (`fallback` when absent); kInvalidArgument unless
// the whole value is a number.
Result<int> IntFlag(const Args& a, const std::string& name, int fallback);
// Prints "tresor: MESSAGE" to stderr; returns exit status 2 for usage errors, else 1.
int Fail(const Status& s);

#define TRESOR_RETURN_IF_ERROR_CLI(expr)             \
  do {                                               \
    ::tresor::Status cli_status_ = (expr);           \
    if (!cli_status_.ok()) return Fail(cli_status_); \
  } while (0)

// The subcommands (server_commands.cc, admin_commands.cc, archive_commands.cc).
int CmdInit(const Args& a);
int CmdServe(const Args& a);
int CmdPeer(const Args& a);
int CmdUser(const Args& a);
int CmdGroup(const Args& a);
int CmdToken(const Args& a);
int CmdImport(const Args& a);
int CmdSend(const Args& a);
int CmdStats(const Args& a);
int CmdCat(const Args& a);
int CmdIndex(const Args& a);  // index_commands.cc
int CmdAudit(const Args& a);
int CmdKeys(const Args& a);    // key_commands.cc
int CmdVerify(const Args& a);
int CmdTls(const Args& a);     // tls_commands.cc
int CmdMigrate(const Args& a);  // migrate_commands.cc

}  // namespace tresor::app
