# A private, throwaway PostgreSQL 15 cluster for tests and benchmarks. Source this file:
#
#   pg_start DIR [--tls]   initdb + start a cluster whose files, log and unix socket all
#                          live in DIR (created if missing; owned by the postgres user),
#                          listening on a free loopback TCP port. Creates the login role
#                          `tresor` (password generated, CREATEDB, not a superuser) owning
#                          the database `tresor`. Exports:
#                            TRESOR_TEST_PG        libpq connection string for tresor/tresor
#                                                  (over TCP; with --tls sslmode=verify-full
#                                                  against the generated CA)
#                            TRESOR_TEST_PG_ADMIN  the same as the superuser `postgres`
#                            TRESOR_TEST_PG_HOST, _PORT, _USER, _PASSWORD, _DB, _SOCKET
#                            PG_BIN                the PostgreSQL binaries
#                          With --tls also:
#                            TRESOR_TEST_PG_CA      the CA certificate (PEM) the server's
#                                                   certificate (CN/SAN localhost, 127.0.0.1)
#                                                   chains to
#                            TRESOR_TEST_PG_REQUIRE the connection string with sslmode=require
#                                                   (encrypted, server not verified)
#                            TRESOR_TEST_PG_NOTLS   the connection string with sslmode=disable
#                          (the server accepts both with and without TLS, so a client-side
#                          "require TLS" check can be tested against a working positive
#                          control). Prints TRESOR_TEST_PG. Returns non-zero, with the
#                          server log on stderr, when the cluster cannot be started.
#   pg_stop DIR            stops the cluster of DIR (fast shutdown, immediate if that
#                          hangs). Register it on EXIT, e.g.
#                            trap 'pg_stop "$PGDIR"; cleanup' EXIT
#                          A watchdog also stops the cluster when the shell that started
#                          it exits without pg_stop (killed by a timeout), so no server
#                          outlives its suite.
#
# Never touches the system cluster: own data directory, own port, own socket directory.
# initdb refuses to run as root, so as root every PostgreSQL command runs as the postgres
# user (runuser); as any other user the commands run as that user. DIR's ancestors must
# be traversable by that user: pg_start adds search (x, not read) permission to those
# owned by the calling user that lack it (mktemp -d folders are 0700).
#
# Durability: fsync is off unless PG_DURABLE=1 (a test's server never loses power; a
# benchmark that measures commits should set PG_DURABLE=1).

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

# _pg_as CMD...: runs CMD as the cluster's owner.
_pg_as() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

_pg_free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Makes every ancestor of $1 searchable by the cluster owner.
_pg_open_path() {
  local path owner
  path=$(cd "$1" && pwd) || return 1
  owner=postgres
  [ "$(id -u)" -eq 0 ] || owner=$(id -un)
  while [ "$path" != / ]; do
    path=$(dirname "$path")
    if ! _pg_as test -x "$path"; then
      if [ -O "$path" ]; then chmod a+x "$path" || return 1
      else echo "pg_start: $owner cannot reach $path" >&2; return 1; fi
    fi
  done
}

_pg_make_tls() {
  local dir=$1/tls
  mkdir -p "$dir" || return 1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=pg-test-ca" -keyout "$dir/ca.key" -out "$dir/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
    >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; return 1; }
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" >>"$dir/openssl.log" 2>&1 ||
    { cat "$dir/openssl.log" >&2; return 1; }
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$dir/ext.cnf"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 2 -extfile "$dir/ext.cnf" -out "$dir/server.crt" \
    >>"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; return 1; }
  rm -f "$dir/ca.key" "$dir/server.csr"
  chmod 0644 "$dir/ca.crt" "$dir/server.crt"
  chmod 0600 "$dir/server.key"
  chmod 0755 "$dir"
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir/server.key" "$dir/server.crt"; fi
}

pg_start() {
  local dir=${1:?pg_start DIR [--tls]} tls=
  [ "${2:-}" = --tls ] && tls=1
  mkdir -p "$dir" || return 1
  dir=$(cd "$dir" && pwd)
  if [ -e "$dir/data" ]; then echo "pg_start: $dir/data exists" >&2; return 1; fi
  if [ ! -x "$PG_BIN/initdb" ]; then echo "pg_start: no PostgreSQL in $PG_BIN" >&2; return 1; fi
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir" || return 1; fi
  chmod 0700 "$dir"
  _pg_open_path "$dir" || return 1

  local password
  password=$(openssl rand -hex 16) || return 1
  printf '%s\n' "$password" >"$dir/pwfile"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir/pwfile"
  chmod 0600 "$dir/pwfile"
  if ! _pg_as "$PG_BIN/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" \
      --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2; return 1
  fi
  rm -f "$dir/pwfile"

  local conf=$dir/data/postgresql.conf
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$dir'"
    echo "max_connections = 200"
    echo "shared_buffers = 64MB"
    echo "log_min_messages = warning"
    echo "log_line_prefix = '%m [%p] %d '"
    if [ "${PG_DURABLE:-0}" != 1 ]; then
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } | _pg_as tee -a "$conf" >/dev/null
  if [ -n "$tls" ]; then
    _pg_make_tls "$dir" || return 1
    {
      echo "ssl = on"
      echo "ssl_cert_file = '$dir/tls/server.crt'"
      echo "ssl_key_file = '$dir/tls/server.key'"
      echo "ssl_min_protocol_version = 'TLSv1.2'"
    } | _pg_as tee -a "$conf" >/dev/null
  fi

  local port started=
  for _ in 1 2 3 4 5; do
    port=$(_pg_free_port) || return 1
    _pg_as sed -i "/^port = /d" "$conf"
    echo "port = $port" | _pg_as tee -a "$conf" >/dev/null
    if _pg_as "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
        >"$dir/pg_ctl.log" 2>&1; then
      started=1; break
    fi
    # Another process took the port between the probe and the bind: try another.
    grep -q "could not bind\|Address already in use" "$dir/server.log" 2>/dev/null || break
  done
  if [ -z "$started" ]; then
    echo "pg_start: the cluster in $dir did not start" >&2
    cat "$dir/pg_ctl.log" "$dir/server.log" >&2 2>/dev/null
    return 1
  fi

  # The watchdog: stops the cluster once the starting shell is gone.
  local parent=$$
  (
    trap '' HUP INT
    while kill -0 "$parent" 2>/dev/null && [ -e "$dir/data/postmaster.pid" ]; do sleep 1; done
    [ -e "$dir/data/postmaster.pid" ] && _pg_as "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate stop
  ) </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/watchdog.pid"

  local tresor_password
  tresor_password=$(openssl rand -hex 16) || return 1
  if ! PGPASSWORD=$password "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" \
      -U postgres -d postgres >"$dir/setup.log" 2>&1 <<EOF
CREATE ROLE tresor LOGIN CREATEDB PASSWORD '$tresor_password';
CREATE DATABASE tresor OWNER tresor;
EOF
  then
    cat "$dir/setup.log" >&2; pg_stop "$dir"; return 1
  fi

  export PG_BIN
  export TRESOR_TEST_PG_HOST=127.0.0.1 TRESOR_TEST_PG_PORT=$port TRESOR_TEST_PG_USER=tresor
  export TRESOR_TEST_PG_PASSWORD=$tresor_password TRESOR_TEST_PG_DB=tresor
  export TRESOR_TEST_PG_SOCKET=$dir
  local base="port=$port dbname=tresor user=tresor password=$tresor_password connect_timeout=10"
  local admin="port=$port dbname=postgres user=postgres password=$password connect_timeout=10"
  if [ -n "$tls" ]; then
    export TRESOR_TEST_PG_CA=$dir/tls/ca.crt
    local verify="sslmode=verify-full sslrootcert=$dir/tls/ca.crt"
    export TRESOR_TEST_PG="host=localhost hostaddr=127.0.0.1 $base $verify"
    export TRESOR_TEST_PG_ADMIN="host=localhost hostaddr=127.0.0.1 $admin $verify"
    export TRESOR_TEST_PG_REQUIRE="host=127.0.0.1 $base sslmode=require"
    export TRESOR_TEST_PG_NOTLS="host=127.0.0.1 $base sslmode=disable"
  else
    export TRESOR_TEST_PG="host=127.0.0.1 $base sslmode=disable"
    export TRESOR_TEST_PG_ADMIN="host=127.0.0.1 $admin sslmode=disable"
  fi
  echo "$TRESOR_TEST_PG"
}

pg_stop() {
  local dir=${1:?pg_stop DIR}
  [ -d "$dir" ] || return 0
  if [ -e "$dir/watchdog.pid" ]; then
    kill "$(cat "$dir/watchdog.pid")" 2>/dev/null
    rm -f "$dir/watchdog.pid"
  fi
  [ -e "$dir/data/postmaster.pid" ] || return 0
  _pg_as "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 20 stop >/dev/null 2>&1 ||
    _pg_as "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 20 stop >/dev/null 2>&1
}
