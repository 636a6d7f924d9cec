#include "core/config.h"

#include <charconv>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

namespace tresor {
namespace {

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// A raw value from the file: quoted string, or a bare token (integer or boolean).
struct Value {
  bool quoted = false;
  std::string text;
};

Status ToString(const Value& v, std::string* out) {
  if (!v.quoted) return InvalidArgument("expected a quoted string");
  *out = v.text;
  return Status::Ok();
}

Status ToInt64(const Value& v, int64_t lo, int64_t hi, int64_t* out) {
  if (v.quoted) return InvalidArgument("expected an integer");
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), n);
  if (ec != std::errc() || p != v.text.data() + v.text.size()) {
    return InvalidArgument("expected an integer");
  }
  if (n < lo || n > hi) {
    return InvalidArgument("must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  }
  *out = n;
  return Status::Ok();
}

Status ToBool(const Value& v, bool* out) {
  if (!v.quoted && v.text == "true") *out = true;
  else if (!v.quoted && v.text == "false") *out = false;
  else return InvalidArgument("expected true or false");
  return Status::Ok();
}

using Setter = std::function<Status(const Value&, Config&)>;

template <typename T>
Setter IntSetter(T Config::*field, int64_t lo, int64_t hi) {
  return [=](const Value& v, Config& c) {
    int64_t n = 0;
    TRESOR_RETURN_IF_ERROR(ToInt64(v, lo, hi, &n));
    c.*field = static_cast<T>(n);
    return Status::Ok();
  };
}
Setter StringSetter(std::string Config::*field) {
  return [=](const Value& v, Config& c) { return ToString(v, &(c.*field)); };
}
// A string that must be one of `choices`; the error lists them.
Setter EnumSetter(std::string Config::*field, std::vector<std::string> choices) {
  return [=](const Value& v, Config& c) {
    std::string s;
    TRESOR_RETURN_IF_ERROR(ToString(v, &s));
    for (const std::string& choice : choices) {
      if (s == choice) {
        c.*field = s;
        return Status::Ok();
      }
    }
    std::string expected = "expected ";
    for (size_t i = 0; i < choices.size(); ++i) {
      if (i > 0) expected += i + 1 == choices.size() ? " or " : ", ";
      expected += "\"" + choices[i] + "\"";
    }
    return InvalidArgument(expected);
  };
}
// web.cors_origins: origins separated by spaces or commas, each scheme://host[:port]
// exactly as a browser sends it in Origin (no path, no wildcard).
Status ToOrigins(const Value& v, std::vector<std::string>* out) {
  std::string text;
  TRESOR_RETURN_IF_ERROR(ToString(v, &text));
  std::vector<std::string> origins;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = text.find_first_of(" ,", i);
    if (end == std::string::npos) end = text.size();
    std::string origin = text.substr(i, end - i);
    i = end + 1;
    if (origin.empty()) continue;
    size_t scheme = origin.find("://");
    bool ok = (origin.rfind("https://", 0) == 0 || origin.rfind("http://", 0) == 0) &&
              scheme != std::string::npos && origin.size() > scheme + 3 &&
              origin.find('/', scheme + 3) == std::string::npos;
    for (char c : origin) {
      bool allowed = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                     c == '-' || c == ':' || c == '/' || c == '[' || c == ']';
      ok = ok && allowed;
    }
    if (!ok) {
      return InvalidArgument("not an origin (scheme://host[:port], lower case): " + origin);
    }
    origins.push_back(origin);
  }
  *out = std::move(origins);
  return Status::Ok();
}

Setter BoolSetter(bool Config::*field) {
  return [=](const Value& v, Config& c) { return ToBool(v, &(c.*field)); };
}

const std::map<std::string, Setter>& Setters() {
  static const auto* setters = new std::map<std::string, Setter>{
      {"server.ae_title", StringSetter(&Config::ae_title)},
      {"server.bind_address", StringSetter(&Config::bind_address)},
      {"server.dicom_port", IntSetter(&Config::dicom_port, -1, 65535)},
      {"server.dicom_tls_port", IntSetter(&Config::dicom_tls_port, -1, 65535)},
      {"server.insecure_plain_dicom", BoolSetter(&Config::insecure_plain_dicom)},
      {"tls.certificate", StringSetter(&Config::tls_certificate)},
      {"tls.private_key", StringSetter(&Config::tls_private_key)},
      {"tls.ca_certificate", StringSetter(&Config::tls_ca_certificate)},
      {"keys.master_key_file", StringSetter(&Config::master_key_file)},
      {"server.http_port", IntSetter(&Config::http_port, -1, 65535)},
      {"limits.max_associations", IntSetter(&Config::max_associations, 1, 1024)},
      {"limits.max_associations_per_peer", IntSetter(&Config::max_associations_per_peer, 1, 1024)},
      {"limits.max_pending_connections", IntSetter(&Config::max_pending_connections, 1, 4096)},
      {"limits.max_pdu_bytes", IntSetter(&Config::max_pdu_bytes, 4096, 131072)},
      {"limits.max_object_bytes", IntSetter(&Config::max_object_bytes, 1 << 20, 64ll << 30)},
      {"limits.max_sequence_depth", IntSetter(&Config::max_sequence_depth, 1, 64)},
      {"limits.artim_seconds", IntSetter(&Config::artim_seconds, 1, 3600)},
      {"limits.idle_seconds", IntSetter(&Config::idle_seconds, 1, 86400)},
      {"limits.max_find_results", IntSetter(&Config::max_find_results, 1, 1000000)},
      {"limits.max_failures", IntSetter(&Config::max_failures, 1, 1000000)},
      {"limits.failure_window_seconds", IntSetter(&Config::failure_window_seconds, 1, 86400)},
      {"limits.backoff_seconds", IntSetter(&Config::backoff_seconds, 1, 86400)},
      {"limits.max_backoff_seconds", IntSetter(&Config::max_backoff_seconds, 1, 86400)},
      // The name before back-off replaced the fixed block: the longest refusal.
      {"limits.block_seconds", IntSetter(&Config::max_backoff_seconds, 1, 86400)},
      {"sessions.idle_seconds", IntSetter(&Config::session_idle_seconds, 1, 86400)},
      {"sessions.max_minutes", IntSetter(&Config::session_max_minutes, 1, 10080)},
      {"web.max_connections", IntSetter(&Config::web_max_connections, 1, 65536)},
      {"web.max_header_bytes", IntSetter(&Config::web_max_header_bytes, 1024, 1 << 20)},
      {"web.max_body_bytes", IntSetter(&Config::web_max_body_bytes, 1024, 64ll << 30)},
      {"web.read_timeout_seconds", IntSetter(&Config::web_read_timeout_seconds, 1, 3600)},
      {"web.idle_timeout_seconds", IntSetter(&Config::web_idle_timeout_seconds, 1, 86400)},
      {"web.max_connections_per_address",
       IntSetter(&Config::web_max_connections_per_address, 1, 65536)},
      {"web.handshake_timeout_seconds",
       IntSetter(&Config::web_handshake_timeout_seconds, 1, 3600)},
      {"dicomweb.max_upload_bytes",
       IntSetter(&Config::dicomweb_max_upload_bytes, 1024, int64_t{1} << 40)},
      {"dicomweb.qido_default_limit",
       IntSetter(&Config::dicomweb_qido_default_limit, 1, 1000000)},
      {"dicomweb.qido_max_limit", IntSetter(&Config::dicomweb_qido_max_limit, 1, 1000000)},
      {"dicomweb.max_concurrent_renders",
       IntSetter(&Config::dicomweb_max_concurrent_renders, 1, 64)},
      {"dicomweb.max_render_pixels",
       IntSetter(&Config::dicomweb_max_render_pixels, 1024, int64_t{1} << 32)},
      {"web.console_dir", StringSetter(&Config::web_console_dir)},
      {"web.viewer_dir", StringSetter(&Config::web_viewer_dir)},
      {"web.cors_origins",
       [](const Value& v, Config& c) { return ToOrigins(v, &c.web_cors_origins); }},
      {"query.fuzzy_person_names", BoolSetter(&Config::fuzzy_person_names)},
      {"storage.fsync", BoolSetter(&Config::fsync)},
      {"storage.commit_batch_max", IntSetter(&Config::commit_batch_max, 1, 10000)},
      {"storage.backend", EnumSetter(&Config::storage_backend, {"local", "shared", "s3"})},
      {"storage.path", StringSetter(&Config::storage_path)},
      {"storage.s3_endpoint", StringSetter(&Config::s3_endpoint)},
      {"storage.s3_bucket", StringSetter(&Config::s3_bucket)},
      {"storage.s3_region", StringSetter(&Config::s3_region)},
      {"storage.s3_prefix", StringSetter(&Config::s3_prefix)},
      {"storage.s3_credentials_file", StringSetter(&Config::s3_credentials_file)},
      {"storage.s3_ca_file", StringSetter(&Config::s3_ca_file)},
      {"storage.s3_allow_http", BoolSetter(&Config::s3_allow_http)},
      {"storage.s3_part_mib", IntSetter(&Config::s3_part_mib, 5, 512)},
      {"storage.s3_max_attempts", IntSetter(&Config::s3_max_attempts, 1, 20)},
      {"index.backend", EnumSetter(&Config::index_backend, {"sqlite", "postgresql"})},
      {"index.postgresql", StringSetter(&Config::index_postgresql)},
      {"index.require_tls", BoolSetter(&Config::index_require_tls)},
      {"index.pool_size", IntSetter(&Config::index_pool_size, 1, 256)},
      {"cluster.node",
       [](const Value& v, Config& c) {
         std::string n;
         TRESOR_RETURN_IF_ERROR(ToString(v, &n));
         // It names a staging prefix and the audit source (AE@node): a plain name only.
         if (n.size() > 32) return InvalidArgument("at most 32 characters");
         for (char ch : n) {
           bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
           if (!ok) return InvalidArgument("letters, digits, '-' and '_' only");
         }
         c.cluster_node = n;
         return Status::Ok();
       }},
      {"log.level", StringSetter(&Config::log_level)},
      {"audit.forward_host", StringSetter(&Config::audit_forward_host)},
      {"audit.forward_port", IntSetter(&Config::audit_forward_port, 1, 65535)},
      {"audit.forward_ca_file", StringSetter(&Config::audit_forward_ca_file)},
      {"audit.forward_cert_file", StringSetter(&Config::audit_forward_cert_file)},
      {"audit.forward_key_file", StringSetter(&Config::audit_forward_key_file)},
      {"audit.forward_hostname", StringSetter(&Config::audit_forward_hostname)},
      {"audit.forward_confirm_seconds", IntSetter(&Config::audit_forward_confirm_seconds, 0, 3600)},
      {"audit.forward_max_backoff_seconds",
       IntSetter(&Config::audit_forward_max_backoff_seconds, 1, 86400)},
      {"audit.forward_timeout_seconds", IntSetter(&Config::audit_forward_timeout_seconds, 1, 3600)},
  };
  return *setters;
}

Status ParseValue(const std::string& raw, Value* v) {
  if (!raw.empty() && raw.front() == '"') {
    size_t end = raw.find('"', 1);
    if (end == std::string::npos) return InvalidArgument("unterminated string");
    std::string rest = Trim(raw.substr(end + 1));
    if (!rest.empty() && rest.front() != '#') return InvalidArgument("text after string");
    v->quoted = true;
    v->text = raw.substr(1, end - 1);
    return Status::Ok();
  }
  std::string token = raw.substr(0, raw.find('#'));
  v->quoted = false;
  v->text = Trim(token);
  if (v->text.empty()) return InvalidArgument("missing value");
  return Status::Ok();
}

}  // namespace

Result<Config> ParseConfig(const std::string& text) {
  Config config;
  std::istringstream in(text);
  std::string line, section;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string t = Trim(line);
    if (t.empty() || t.front() == '#') continue;
    auto fail = [&](const std::string& why) {
      return InvalidArgument("config line " + std::to_string(number) + ": " + why);
    };
    if (t.front() == '[') {
      if (t.back() != ']') return fail("malformed section header");
      section = Trim(t.substr(1, t.size() - 2));
      continue;
    }
    size_t eq = t.find('=');
    if (eq == std::string::npos) return fail("expected key = value");
    std::string key = section + "." + Trim(t.substr(0, eq));
    auto it = Setters().find(key);
    if (it == Setters().end()) return fail("unknown setting '" + key + "'");
    Value v;
    Status s = ParseValue(Trim(t.substr(eq + 1)), &v);
    if (s.ok()) s = it->second(v, config);
    if (!s.ok()) return fail(key + ": " + s.message());
  }
  return config;
}

std::string SetConfigValue(const std::string& text, const std::string& section,
                           const std::string& key, const std::string& value) {
  std::vector<std::string> lines;
  {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
  }
  const std::string assignment = key + " = " + value;
  std::string current;
  int header = -1;  // the line of [section]
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string t = Trim(lines[i]);
    if (!t.empty() && t.front() == '[' && t.back() == ']') {
      current = Trim(t.substr(1, t.size() - 2));
      if (current == section && header < 0) header = static_cast<int>(i);
      continue;
    }
    if (current != section || t.empty() || t.front() == '#') continue;
    size_t eq = t.find('=');
    if (eq != std::string::npos && Trim(t.substr(0, eq)) == key) {
      lines[i] = assignment;
      header = -2;
      break;
    }
  }
  if (header >= 0) {
    lines.insert(lines.begin() + header + 1, assignment);
  } else if (header == -1) {
    if (!lines.empty() && !Trim(lines.back()).empty()) lines.push_back("");
    lines.push_back("[" + section + "]");
    lines.push_back(assignment);
  }
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

Result<std::string> QuoteConfigString(const std::string& s) {
  if (s.find_first_of("\"\n\r") != std::string::npos) {
    return InvalidArgument("cannot be written in the configuration file (holds '\"' or a newline): " + s);
  }
  return "\"" + s + "\"";
}

Result<Config> LoadConfig(const std::string& path) {
  std::ifstream f(path);
  if (!f) return IoError("cannot read configuration file " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ParseConfig(ss.str());
}

std::string DefaultConfigText() {
  return R"(# Tresor configuration.
# Syntax: [section] headers, key = value; values are "strings", integers or true/false.
# Unknown keys are errors. Command-line flags of `tresor serve` override the ports.

[server]
# The AE title this archive answers to. Associations that call another title are
# rejected (A-ASSOCIATE-RJ reason 7).
ae_title = "TRESOR"
# Address all listeners bind to. The default serves this machine only. A non-loopback
# address needs TLS on every listener (see the README's "Security model").
bind_address = "127.0.0.1"
# DICOM (DIMSE) port, plain TCP. 0 picks a free port (printed at start); -1 turns
# the plain listener off.
dicom_port = 11112
# DICOM over TLS (BCP 195, client certificate required); -1 turns it off.
dicom_tls_port = 2762
# Plain DICOM on a non-loopback bind_address carries patient data unencrypted, so the
# server refuses to start that way unless this is true (then it warns at every start).
# Prefer TLS only: dicom_port = -1.
insecure_plain_dicom = false
# HTTPS port for the REST API, DICOMweb, the console and the viewer; -1 turns it off.
http_port = 8443

[tls]
# Server certificate (PEM, chain allowed) and its private key, for DICOM TLS (and HTTPS).
# `tresor init` creates them from a local CA; replace them with the hospital's own.
certificate = "keys/server.pem"
private_key = "keys/server.key"
# Client certificates of DICOM TLS peers must chain to one of these CAs (PEM).
ca_certificate = "keys/ca.pem"

[keys]
# The master key of encryption at rest (32 random bytes, mode 0600): every stored object
# is sealed with AES-256-GCM under a data key wrapped by it. It lives OUTSIDE the data
# directory so that a copy of the directory alone reveals nothing; back it up
# separately (docs/encryption.md). Empty: DIR.keys/master.key beside the data directory
# DIR (created by `tresor init`). A relative path is relative to the data directory.
# `--master-key FILE` on any command overrides this.
master_key_file = ""

[limits]
# Associations served at the same time; further connections wait in a queue.
max_associations = 32
# Associations one peer may hold at the same time; more are rejected (transient,
# local limit exceeded), so one peer cannot take every worker.
max_associations_per_peer = 8
# Connections accepted while all workers are busy; beyond this they are closed.
max_pending_connections = 64
# Largest P-DATA-TF PDU accepted (bytes, 4096-131072); offered to peers as our maximum.
max_pdu_bytes = 131072
# Largest single data set accepted by C-STORE or import (bytes).
max_object_bytes = 2147483648
# Deepest sequence nesting accepted in a data set.
max_sequence_depth = 16
# Seconds a new connection has to send its A-ASSOCIATE-RQ.
artim_seconds = 30
# Seconds an association may stay silent before it is aborted.
idle_seconds = 120
# Most matches one query returns. Beyond it, C-FIND sends the first matches and ends
# with status A700 (out of resources) and an Error Comment saying the limit was reached.
max_find_results = 1000
# Back-off against guessing. Wrong passwords count per user name and source address
# (HTTPS sign-in and DICOM user identity alike), rejected associations per source
# address. After max_failures of them, the next attempt on that target waits
# backoff_seconds, doubling with each further failure up to max_backoff_seconds, and is
# refused unchecked until then (HTTPS: 429 with Retry-After; DICOM: transient
# A-ASSOCIATE-RJ); a security alert is logged. A peer admitted before from an address is
# never slowed by rejections from it; valid session and API tokens are never refused.
# Failures are forgotten failure_window_seconds after the last one (or its back-off).
max_failures = 5
failure_window_seconds = 300
backoff_seconds = 10
max_backoff_seconds = 900

[sessions]
# A session (an HTTPS token from POST /auth/token, also usable as a DICOM user identity)
# ends when it has not been used for idle_seconds, and max_minutes after sign-in in
# any case. POST /auth/logout ends it at once.
idle_seconds = 900
max_minutes = 480

[web]
# The HTTPS listener's bounds. Connections beyond max_connections, or beyond
# max_connections_per_address from one client IP address, are closed at accept, so one
# address cannot take every connection.
max_connections = 256
max_connections_per_address = 32
# Largest request line plus headers, and largest request body read whole (bytes). A body
# whose Content-Length is over the limit is refused (413) before any of it is read.
# Streamed uploads (STOW-RS) have their own limit.
max_header_bytes = 16384
max_body_bytes = 1048576
# Seconds for the TLS handshake after connecting; seconds for the first request after it,
# for each request from its header, and for each piece of a streamed body (either way)
# after the previous one; seconds a kept-alive connection may wait for its next request.
handshake_timeout_seconds = 10
read_timeout_seconds = 30
idle_timeout_seconds = 60
# Browser origins allowed to call the API from another site (CORS, with credentials),
# separated by spaces, e.g. "https://viewer.example.org:3000". Empty: no CORS at all.
cors_origins = ""
# The console (the web pages at /) is compiled into the binary; console_dir serves it
# from a folder instead (development). The OHIF viewer at /viewer/ (signed-in users only)
# is served from viewer_dir; empty: the folder scripts/install-viewer fills
# ($TRESOR_OHIF_DIR/dist, by default .cache/ohif/dist of the source checkout).
console_dir = ""
viewer_dir = ""

[dicomweb]
# Largest STOW-RS request body (bytes), streamed to disk part by part. A declared
# Content-Length over it is refused (413) before any of it is read; a chunked body is cut
# off when it passes it.
max_upload_bytes = 68719476736
# QIDO-RS: matches per response when the request gives no `limit`, and the largest
# `limit` honoured (a larger one is lowered, with a Warning header). The index's own
# result limit (limits.max_find_results) still applies.
qido_default_limit = 1000
qido_max_limit = 10000
# Rendered and thumbnail images: decodes running at once (more wait briefly, then get
# 503 with Retry-After), and the largest image decoded, in samples
# (rows x columns x frames x samples per pixel; larger objects get 413).
max_concurrent_renders = 2
max_render_pixels = 67108864

[query]
# Person names (PatientName, ReferringPhysicianName) match ignoring case and accents:
# "muller*" finds "Müller^Jörg". Off: exact, case-sensitive matching as in PS3.4.
fuzzy_person_names = false

[storage]
# Make every acknowledged instance durable (fsync) before answering success.
# Turn off only for disposable test archives.
fsync = true
# Most instances made durable together in one group commit.
commit_batch_max = 256
# Where the (always sealed) blobs live (docs/storage.md):
#   "local"  DIR/storage of this data directory (one node);
#   "shared" the directory `path` on a mount several nodes share (NFS, CephFS, ...); each
#            node stages under its own name ([cluster] node) and fsyncs files and
#            directories instead of relying on syncfs;
#   "s3"     an S3-compatible bucket: s3_endpoint (https://host[:port]), s3_bucket,
#            s3_region, s3_prefix (this archive's key prefix), s3_credentials_file (two
#            lines: access key id, secret key; mode 0600; relative to the data directory;
#            empty: $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY), s3_ca_file (CA for the
#            endpoint; empty: the system's), s3_allow_http (plain http to a host other than
#            loopback: only on a trusted network), s3_part_mib (multipart part size, 5-512),
#            s3_max_attempts (tries of a request on connection errors, timeouts and 5xx,
#            with exponential back-off).
# The blob store only ever receives sealed bytes, whichever backend.
backend = "local"
path = ""
s3_endpoint = ""
s3_bucket = ""
s3_region = "us-east-1"
s3_prefix = ""
s3_credentials_file = ""
s3_ca_file = ""
s3_allow_http = false
s3_part_mib = 8
s3_max_attempts = 5

[index]
# Where the index lives (docs/deployment.md):
#   "sqlite"      DIR/index.db, sealed with the master key (one node);
#   "postgresql"  a PostgreSQL 15 database several nodes share: `postgresql` is a libpq
#                 connection string ("host=db.example dbname=tresor user=tresor
#                 sslmode=verify-full sslrootcert=...") or "service=NAME" (pg_service.conf,
#                 which keeps the password out of this file). require_tls = true refuses
#                 to connect unless sslmode is verify-ca or verify-full. pool_size bounds
#                 the connections this node holds. A database made by an older release
#                 is upgraded only explicitly: tresor index upgrade.
backend = "sqlite"
postgresql = ""
require_tls = false
pool_size = 8

[cluster]
# This node's name among several serving one archive (letters, digits, '-', '_'; at most
# 32): it names the node's staging area in shared storage and the audit source (AE@node).
# Empty: the host name.
node = ""

[log]
# debug, info, warn or error. Logs never contain patient names, IDs or birth dates.
level = "info"

[audit]
# Forwarding of the audit trail to a syslog collector: RFC 5424 messages (MSGID
# IHE+RFC-3881, the DICOM audit message XML as body) over RFC 5425 TLS, in seq order from
# a cursor kept in the index; while the collector is down records wait in the trail
# (docs/audit.md). Empty forward_host: no forwarding.
forward_host = ""
forward_port = 6514
# Mutual TLS: the collector's certificate must chain to this CA (nothing else is trusted)
# and name forward_host; Tresor presents forward_cert_file/forward_key_file (empty: the
# server certificate and key of [tls]). Relative paths are in the data directory.
forward_ca_file = ""
forward_cert_file = ""
forward_key_file = ""
# HOSTNAME field of the messages; empty: this machine's host name.
forward_hostname = ""
# A record counts as delivered once the connection is still open this long after it was
# sent; reconnect back-off starts at 1 s and doubles up to the maximum; connecting and
# each send are abandoned after the timeout.
forward_confirm_seconds = 2
forward_max_backoff_seconds = 60
forward_timeout_seconds = 10
)";
}

}  // namespace tresor
