// Tresor's configuration: the file `tresor.conf` in the data directory.
//
// The file is a small TOML subset: `[section]` headers, `key = value` lines with
// values that are "strings", integers or true/false, and `#` comments. Unknown
// sections or keys are errors, so a typo never silently falls back to a default.
// `DefaultConfigText()` is the documented file that `tresor init` writes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace tresor {

struct Config {
  // [server]
  std::string ae_title = "TRESOR";
  std::string bind_address = "127.0.0.1";
  int dicom_port = 11112;          // -1: no plain DICOM listener
  int dicom_tls_port = 2762;       // -1: no DICOM TLS listener
  int http_port = 8443;            // HTTPS; -1: no HTTPS listener
  bool insecure_plain_dicom = false;  // allow plain DICOM on a non-loopback address
  // [tls] (paths relative to the data directory unless absolute)
  std::string tls_certificate = "keys/server.pem";
  std::string tls_private_key = "keys/server.key";
  std::string tls_ca_certificate = "keys/ca.pem";
  // [keys]
  std::string master_key_file;       // empty: <data directory>.keys/master.key
  // [limits]
  int max_associations = 32;         // concurrent associations served at once
  int max_associations_per_peer = 8; // concurrent associations of one peer
  int max_pending_connections = 64;  // accepted connections waiting for a worker
  uint32_t max_pdu_bytes = 131072;   // largest P-DATA PDU we accept (DCMTK caps at 131072)
  uint64_t max_object_bytes = 2ull << 30;  // largest data set accepted by C-STORE/import
  int max_sequence_depth = 16;       // deepest sequence nesting accepted
  int artim_seconds = 30;            // time allowed for the A-ASSOCIATE-RQ to arrive
  int idle_seconds = 120;            // an association with no message for this long is aborted
  int max_find_results = 1000;       // most matches one C-FIND returns
  int max_failures = 5;              // free failures on one target (user + address, address
                                     // for associations) before back-off starts
  int failure_window_seconds = 300;  // a target's failures are forgotten after this quiet time
  int backoff_seconds = 10;          // first back-off; doubles with each further failure ...
  int max_backoff_seconds = 900;     // ... up to this (older configs: limits.block_seconds)
  // [sessions]
  int session_idle_seconds = 900;    // a session unused this long ends
  int session_max_minutes = 480;     // a session ends this long after sign-in in any case
  // [web]
  int web_max_connections = 256;     // open HTTPS connections; more are closed at accept
  int web_max_header_bytes = 16384;  // request line and headers
  uint64_t web_max_body_bytes = 1 << 20;  // request body (checked before it is read)
  int web_read_timeout_seconds = 30; // first request after the handshake; each request from
                                     // its header; each piece of a streamed body
  int web_idle_timeout_seconds = 60; // a keep-alive connection waiting for its next request
  int web_max_connections_per_address = 32;  // open HTTPS connections of one client IP
  int web_handshake_timeout_seconds = 10;    // the TLS handshake from accept
  std::vector<std::string> web_cors_origins;  // origins granted CORS; empty: none
  std::string web_console_dir;  // serve the console from here; empty: the embedded one
  std::string web_viewer_dir;   // OHIF's dist; empty: where scripts/install-viewer puts it
  // [dicomweb]
  uint64_t dicomweb_max_upload_bytes = uint64_t{64} << 30;  // one STOW-RS request body
  int64_t dicomweb_qido_default_limit = 1000;  // QIDO-RS matches without `limit`
  int64_t dicomweb_qido_max_limit = 10000;     // the largest `limit` honoured
  int dicomweb_max_concurrent_renders = 2;     // rendered/thumbnail decodes at once
  uint64_t dicomweb_max_render_pixels = uint64_t{64} << 20;  // decoded samples per render
  // [query]
  bool fuzzy_person_names = false;   // person names match ignoring case and accents
  // [storage]
  bool fsync = true;                 // false only for throwaway test archives
  int commit_batch_max = 256;        // most instances made durable in one group commit
  std::string storage_backend = "local";  // local | shared | s3 (docs/storage.md)
  std::string storage_path;          // shared: the directory on the shared mount
  std::string s3_endpoint;           // s3: https://host[:port] (path-style requests)
  std::string s3_bucket;
  std::string s3_region = "us-east-1";
  std::string s3_prefix;             // key prefix of this archive's objects in the bucket
  std::string s3_credentials_file;   // two lines: access key id, secret key (mode 0600);
                                     // empty: $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY
  std::string s3_ca_file;            // CA certificates for the endpoint; empty: system store
  bool s3_allow_http = false;        // plain http to a host that is not loopback
  int s3_part_mib = 8;               // multipart upload part size
  int s3_max_attempts = 5;           // tries of a request on transient failures
  // [index] (docs/deployment.md)
  std::string index_backend = "sqlite";  // sqlite (DIR/index.db) | postgresql
  std::string index_postgresql;      // postgresql: a libpq connection string or "service=NAME"
  bool index_require_tls = false;    // postgresql: refuse unless sslmode is verify-ca/verify-full
  int index_pool_size = 8;           // postgresql: connections held at most
  // [cluster]
  std::string cluster_node;          // this node's name; empty: the host name
  // [audit] forwarding to a syslog collector over TLS (docs/audit.md "Forwarding")
  std::string audit_forward_host;       // empty: no forwarding
  int audit_forward_port = 6514;        // RFC 5425's port
  std::string audit_forward_ca_file;    // CA the collector's certificate must chain to
  std::string audit_forward_cert_file;  // our client certificate; empty: tls.certificate
  std::string audit_forward_key_file;   // its key; empty: tls.private_key
  std::string audit_forward_hostname;   // HOSTNAME of the messages; empty: the host's name
  int audit_forward_confirm_seconds = 2;      // see docs/audit.md
  int audit_forward_max_backoff_seconds = 60; // reconnect back-off: 1 s doubling up to this
  int audit_forward_timeout_seconds = 10;     // connect + handshake, and each send
  // [log]
  std::string log_level = "info";
};

// Parses configuration text. Errors name the line.
Result<Config> ParseConfig(const std::string& text);
// Reads and parses the file at `path`.
Result<Config> LoadConfig(const std::string& path);
// Sets `key` of `[section]` in configuration text to `value` (written as is: quote
// strings), keeping every other line and comment: replaces the key's line, else adds it
// after the section header, else appends the section.
std::string SetConfigValue(const std::string& text, const std::string& section,
                           const std::string& key, const std::string& value);
// `s` as a quoted configuration string; kInvalidArgument if it holds a '"' or a newline.
Result<std::string> QuoteConfigString(const std::string& s);
// The commented configuration file written by `tresor init`.
std::string DefaultConfigText();

}  // namespace tresor
