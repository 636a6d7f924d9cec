// tresor: the command-line entry point: usage, per-command help, and dispatch to the
// subcommands (app/cli.h). All archive work goes through archive::ArchiveService.
#include <sys/stat.h>

#include <iostream>
#include <map>
#include <string>

#include "app/cli.h"

namespace tresor::app {
namespace {

constexpr char kUsage[] = R"(tresor - a secure-by-default PACS

Usage: tresor <command> [options]

Commands:
  init       create a data directory (config, keys, admin credential)
  serve      run the archive (DICOM listener)
  peer       register, enroll, list or remove DICOM peers (modalities, workstations)
  user       add, list, disable or re-key user accounts
  group      access groups: which studies each peer and user may see
  token      create an API token for a user (HTTPS bearer credential)
  import     load DICOM files or folders into the archive
  stats      show what the archive holds
  cat        write a stored instance to standard output
  index      read-only SQL on the encrypted index (maintenance)
  send       send studies, series or instances to a registered peer (C-STORE)
  audit      verify, list or export the tamper-evident audit trail
  verify     check that every object decrypts, is intact and is indexed
  keys       show or rotate the master key of encryption at rest
  tls        show or renew the server certificate (DICOM TLS, HTTPS)
  migrate    copy this archive into a new data directory's backends (PostgreSQL, S3)

Every command takes --data DIR (default: $TRESOR_DATA, else ./var) and
--master-key FILE (default: keys.master_key_file, else DIR.keys/master.key).
Run 'tresor <command> --help' for the options of one command.
)";

const std::map<std::string, std::string>& CommandHelp() {
  static const auto* help = new std::map<std::string, std::string>{
      {"init", R"(Usage: tresor init [--data DIR] [--master-key FILE] [--config CONF]
       tresor init --join FIRST --node NAME [--data DIR] [--master-key FILE]

Creates DIR with a documented configuration file (tresor.conf), key material under
keys/ (mode 0600, never stored in the index) and an empty archive. Prints the
administrator password once; only its Argon2id hash is kept. There is no default account.
Creates the master key of encryption at rest OUTSIDE the data directory: FILE (recorded
in tresor.conf), by default DIR.keys/master.key. It must not exist yet. Back it up
separately from the data: without it nothing stored can be read (docs/encryption.md).

--config CONF  use CONF as tresor.conf instead of the default (checked first), e.g. one
               with [index] backend = "postgresql" and [storage] backend = "s3" for the
               first node of a shared archive (docs/deployment.md). A PostgreSQL database
               that already holds an archive is refused: join it instead.
--join FIRST   make DIR another node of the archive of data directory FIRST, which must
               use a PostgreSQL index and shared or S3 storage: DIR gets FIRST's
               configuration with [cluster] node = NAME, and copies of the keys every node
               shares (master key, session and audit signing keys, CA and server
               certificate, S3 credentials kept in FIRST). Copy the result to the node's
               machine over a secure channel. No administrator is created (the archive has
               its accounts already).
)"},
      {"keys", R"(Usage: tresor keys show [--data DIR] [--master-key FILE]
       tresor keys rotate [--data DIR] [--master-key FILE]

show prints where the master key is and its key id (a fingerprint, not the key).
rotate creates a new master key and re-wraps every object's data key under it without
rewriting the objects (only the key slot in each header); the new key then replaces the
old one in the same file and the old wraps are erased. Crash-safe: until every object is
re-wrapped the new key waits in FILE.new beside the old one, both open every object, and
running rotate again finishes. The server must be stopped. Back up the new key afterwards.
)"},
      {"migrate", R"(Usage: tresor migrate --to DIR [--config FILE] [--target-master-key FILE]
                      [--data SOURCE] [--master-key FILE]

Copies the archive in SOURCE (an embedded one: its SQLite index and sealed files) into
a new data directory DIR, whose backends are whatever its configuration selects: FILE
(e.g. [index] backend = postgresql and [storage] backend = s3, for a cluster), or
SOURCE's configuration when --config is not given. DIR gets SOURCE's session, audit
signing and TLS keys (same identity; checkpoints verify with the same public key) and
its own master key (FILE of --target-master-key, recorded in DIR's tresor.conf; else
the configured or default DIR.keys/master.key, created if missing): every object is
decrypted in memory only and sealed again in the target.

Copied: instances (with everything the index holds about them), users, API tokens,
peers, group rules and study groups, the audit trail with its seq numbers, hashes and
signed checkpoints, and the forwarding cursors. Not copied: sessions (users sign in
again). Then verifies the target as 'tresor verify' does (every object present, intact
and indexed), compares the counts of both sides and verifies the target's audit trail.

SOURCE is only read and stays byte for byte unchanged: stop 'tresor serve' and every
other command on it first (migrate refuses while SOURCE is in use). DIR must not exist or
be empty, and its index and blob store must be empty. Shows a progress bar on a
terminal. Interrupted (Ctrl-C, a crash, a backend that went away)? Run the same command
again: it resumes (DIR/migrating marks an unfinished migration), copying nothing twice.
Do not serve DIR before migrate reports "complete".
Exit status: 0 complete and verified; 1 error; 2 usage error; otherwise 4 (objects
missing or counts differ), 8 (objects corrupted or the audit trail does not verify),
16 (orphaned blobs), added up.
)"},
      {"verify", R"(Usage: tresor verify [--data DIR] [--master-key FILE]

Reads every archived object: its blob must exist, decrypt (every segment authenticates),
and its data set must match the SHA-256 recorded when it was stored; every blob in the
storage must have its index row. Shows progress (a bar on a terminal), then one line per
problem ("missing", "corrupted", "orphaned") and a summary. May run while serving.
Exit status: 0 everything intact; 1 verification could not run (e.g. no master key);
2 usage error; otherwise the sum of 4 (missing objects), 8 (corrupted objects) and
16 (orphaned blobs).
)"},
      {"serve",
       R"(Usage: tresor serve [--data DIR] [--dicom-port N] [--dicom-tls-port N] [--http-port N]

Runs the archive. Ports default to the configuration file (11112, 2762, 8443); 0 picks
a free port. Listeners bind to server.bind_address (loopback by default). Only
registered peers may connect (see 'tresor peer'). Stops cleanly on SIGINT/SIGTERM.
)"},
      {"peer",
       R"(Usage: tresor peer add NAME --ae AE --host HOST [--port P] [--allow SERVICES] [--groups LIST] [--cert FILE] [--require-identity] [--data DIR]
       tresor peer enroll NAME --ae AE --host HOST [--port P] [--allow SERVICES] [--groups LIST] [--require-identity] [--out DIR] [--data DIR]
       tresor peer list [--data DIR]
       tresor peer remove NAME [--data DIR]

A peer is a DICOM application allowed to open associations: its calling AE title must
match AND it must connect from HOST (an IP address or a host name). SERVICES is a comma
list of echo, store, find, move, get (default: echo,store). --port is where the peer
listens, for retrieve destinations (default 104). --groups is the comma list of access
groups whose studies the peer may query and retrieve; "all" means every study. Without
it the peer sees no study at all (see 'tresor group --help'). Re-adding a peer replaces it.

enroll issues a client certificate for the peer from Tresor's local CA, writes the
bundle (NAME.key, NAME.pem, ca.pem) to --out (default DIR/enrolled/NAME) and binds the
peer to it. --cert binds an existing certificate (PEM) instead. A peer bound to a
certificate may connect only over DICOM TLS, presenting exactly that certificate.
--require-identity makes the peer present a user identity (PS3.7 user identity
negotiation: a Tresor user name and passcode, or a JWT from POST /auth/token) with every
association; the peer's services are then limited to those of the user's role.
)"},
      {"user",
       R"(Usage: tresor user add NAME --role ROLE [--groups LIST] [--password-stdin] [--data DIR]
       tresor user groups NAME LIST [--data DIR]
       tresor user list [--data DIR]
       tresor user disable NAME | enable NAME [--data DIR]
       tresor user passwd NAME [--password-stdin] [--data DIR]

Roles: admin, radiologist (read), technologist (store), auditor (audit trail only).
Without --password-stdin a strong password is generated and printed once; with it, the
password is read from the first line of standard input and must have at least 12
characters and not be digits only. Only an Argon2id hash is stored.
LIST is a comma list of access groups whose studies the user may see ("all": every
study); without groups a user sees no study. 'user groups' replaces a user's groups.
The administrator created by 'tresor init' is in "all".
)"},
      {"group", R"(Usage: tresor group list [--data DIR]
       tresor group rule add|remove GROUP (--peer NAME | --institution TEXT | --issuer TEXT) [--data DIR]
       tresor group assign|unassign GROUP STUDY_UID... [--data DIR]

Per-study access scope. Every study carries access groups; a peer or user (see --groups
of 'tresor peer add' and 'tresor user add') sees a study only if they share a group, or
if they are in the reserved group "all". Out of scope, a study looks exactly like a study
that does not exist: queries do not match or count it, retrievals do not find it. Such
requests are logged as security events.

A study gets its groups when its first instance is stored, by rules (later instances,
from any peer, never widen who sees a study):
  --peer NAME          instances received from the registered peer NAME
  --institution TEXT   Institution Name (0008,0080) equal to TEXT
  --issuer TEXT        Issuer of Patient ID (0010,0021) equal to TEXT
A new rule is also applied to the studies already archived. Removing a rule stops it for
new instances; studies keep their groups. 'assign'/'unassign' put single studies into a
group or take them out (for example studies loaded with 'tresor import').
Group names: 1-64 letters, digits, '.', '_' or '-'.
)"},
      {"token", R"(Usage: tresor token create NAME --user USER [--days N] [--data DIR]

Creates a long-lived API token (default 90 days) for USER, for scripts that call the
HTTPS API: send it as "Authorization: Bearer <token>". It is printed once; only its
SHA-256 is stored. It carries the user's role and stops working when the user is disabled.
)"},
      {"import", R"(Usage: tresor import [--data DIR] PATH...

Stores every DICOM Part 10 file under the given files and folders through the same
validation as C-STORE. Shows progress and ends with a summary: stored, duplicate
(identical instance already archived) and rejected, with the reason for each rejection.
Exit status 0 if nothing was rejected, 1 otherwise.
)"},
      {"send", R"(Usage: tresor send --to PEER [--retries N] [--data DIR] UID...

Sends every instance of the given studies, series or instances (any mix of Study,
Series and SOP Instance UIDs) to the registered peer named PEER, over one association
from this archive's AE title to the peer's AE title, host and port. Objects go out as
archived, or transcoded when the peer accepts only other transfer syntaxes. Instances
that fail are retried N more times on a new association (default 2). Prints one line
per instance and a summary; exit status 0 only if every instance was delivered.
)"},
      {"stats", R"(Usage: tresor stats [--data DIR]

Shows the number of patients, studies, series and instances, and the stored bytes.
)"},
      {"index", R"(Usage: tresor index sql [--data DIR] "SELECT ..."
       tresor index upgrade [--data DIR]

sql runs one read-only SQL statement on the SQLite index (which is encrypted at rest: no
other tool can read it) and prints its rows, columns separated by '|'.
upgrade brings a PostgreSQL index's schema to this release's version, in one
transaction (nodes refuse to open an older schema; upgrade after every node runs the new
release). An SQLite index upgrades itself when opened.
)"},
      {"audit", R"(Usage: tresor audit verify [--public-key HEX] [--data DIR]
       tresor audit list [FILTERS] [--limit N] [--offset N] [--format text|json] [--data DIR]
       tresor audit export [FILTERS] [--format xml|json] [--data DIR]
       tresor audit checkpoint [--data DIR]
       tresor audit public-key [--data DIR]

FILTERS: --from TIME --to TIME (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ in UTC, or seconds since
the epoch; inclusive), --user NAME (user name, AE title or peer name), --patient-id ID,
--study UID, --event EVENT (a DICOM audit event code such as 110112, or one of application,
audit, accessed, transferred, deleted, export, import, query, alert, authentication).

verify checks the hash chain of every record and the signature of every checkpoint, and
that no signed record was cut from the tail. Exit status: 0 intact, 3 tampered (the first
bad record is named), 1 error. --public-key checks the checkpoints against a key kept
elsewhere (default: the key in keys/audit-signing.key).
list prints records (json: one object per line). export writes DICOM audit messages
(PS3.15 A.5 XML, one <AuditMessage> per record inside <AuditMessages>) or a JSON array.
checkpoint signs the current head now (serve does it every 5 minutes and when stopping).
public-key prints the checkpoint public key (hex) to keep outside the archive.
Reading the trail is itself recorded (Audit Log Used).
)"},
      {"tls", R"(Usage: tresor tls show [--data DIR]
       tresor tls renew [--data DIR]

show: the server certificate of DICOM TLS and HTTPS (names, validity, SHA-256).
renew: issues the next server certificate from the local CA (keys/ca.key) with the same
names and a new key, valid 825 days, and puts both in place of tls.certificate and
tls.private_key. Restart 'tresor serve' to use it; clients that trust keys/ca.pem need
no change, clients that pinned the old fingerprint need the new one (printed).
)"},
      {"cat", R"(Usage: tresor cat [--data DIR] SOP_INSTANCE_UID > file.dcm

Writes the stored instance as a DICOM Part 10 file to standard output: the data set
exactly as received, behind a file meta header written by Tresor (preamble zeroed).
)"},
  };
  return *help;
}

}  // namespace
}  // namespace tresor::app

int main(int argc, char** argv) {
  using namespace tresor::app;
  // Everything Tresor creates (data directory, index and its -wal/-shm, blobs, keys,
  // enrolled bundles) is for its own user only: files 0600, directories 0700, whatever
  // mode a library asks for.
  umask(077);
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  std::string cmd = argv[1];
  auto help = CommandHelp().find(cmd);
  if (help == CommandHelp().end()) {
    std::cerr << "tresor: unknown command '" << cmd << "'\n\n" << kUsage;
    return 2;
  }
  auto args = ParseArgs(argc, argv, 2);
  if (!args.ok()) return Fail(args.status());
  if (args->help) {
    std::cout << help->second;
    return 0;
  }
  if (cmd == "init") return CmdInit(*args);
  if (cmd == "serve") return CmdServe(*args);
  if (cmd == "peer") return CmdPeer(*args);
  if (cmd == "user") return CmdUser(*args);
  if (cmd == "group") return CmdGroup(*args);
  if (cmd == "token") return CmdToken(*args);
  if (cmd == "import") return CmdImport(*args);
  if (cmd == "stats") return CmdStats(*args);
  if (cmd == "send") return CmdSend(*args);
  if (cmd == "index") return CmdIndex(*args);
  if (cmd == "audit") return CmdAudit(*args);
  if (cmd == "keys") return CmdKeys(*args);
  if (cmd == "verify") return CmdVerify(*args);
  if (cmd == "tls") return CmdTls(*args);
  if (cmd == "migrate") return CmdMigrate(*args);
  return CmdCat(*args);
}
