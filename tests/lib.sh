# Shared helpers for the suites that drive the real `tresor` binary with real DICOM
# clients. Source it from a test script; every script is self-contained and hermetic
# (temporary data directory, free ports chosen by the kernel).
#
#   TRESOR        path of the binary (default: build/src/app/tresor of this checkout)
#   start_server  init a fresh data directory in $WORK and serve it; sets DATA, PORT,
#                 TLS_PORT (DICOM TLS), HTTPS_PORT, PID
#   stop_server   SIGTERM and wait
#   add_peer NAME AE [SERVICES]   register a loopback peer
#   pass/fail/check/expect_eq ... record results
#   skip [--core] WHAT            a check that cannot run on this machine: counted and
#                                 shown, never a pass; --core marks one of the suite's
#                                 core checks
#   finish                        prints "N passed, N failed" (", N skipped" when some
#                                 were); returns 1 on a failure, else 77 (CTest's
#                                 SKIP_RETURN_CODE: "Not Run") when a core check was
#                                 skipped, else 0

set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TRESOR=${TRESOR:-$ROOT/build/src/app/tresor}
PY=/usr/bin/python3
export TCP_NODELAY=1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tresor-test.XXXXXX")
PASSED=0
FAILED=0
SKIPPED=0
CORE_SKIPPED=0
PID=
trap 'cleanup' EXIT

cleanup() {
  if [ -n "${PID:-}" ] && kill -0 "$PID" 2>/dev/null; then kill -9 "$PID" 2>/dev/null; fi
  if [ "$FAILED" -eq 0 ] || [ -z "${KEEP_WORK:-}" ]; then rm -rf "$WORK"; fi
}

pass() { PASSED=$((PASSED + 1)); echo "  ok   $*"; }
fail() { FAILED=$((FAILED + 1)); echo "  FAIL $*"; }
skip() {
  if [ "${1:-}" = --core ]; then CORE_SKIPPED=1; shift; fi
  SKIPPED=$((SKIPPED + 1)); echo "  SKIP $*"
}

# check "description" command...: passes if the command exits 0.
check() {
  local what=$1; shift
  if "$@" >"$WORK/check.out" 2>&1; then pass "$what"; else fail "$what"; sed 's/^/       /' "$WORK/check.out" | tail -20; fi
}
# check_fails "description" command...: passes if the command exits non-zero.
check_fails() {
  local what=$1; shift
  if "$@" >"$WORK/check.out" 2>&1; then fail "$what (unexpectedly succeeded)"; sed 's/^/       /' "$WORK/check.out" | tail -20; else pass "$what"; fi
}
expect_eq() {
  local what=$1 want=$2 got=$3
  if [ "$want" = "$got" ]; then pass "$what"; else fail "$what: expected '$want', got '$got'"; fi
}

# Writes a config with fsync on (the default) and a free port; extra "key = value"
# lines for a section can be appended by the caller before start_server via CONFIG_EXTRA.
init_data() {
  DATA=$WORK/data
  "$TRESOR" init --data "$DATA" >"$WORK/init.out" 2>&1 || { cat "$WORK/init.out"; return 1; }
}

# start_server [NAME=VALUE...]: serves $DATA on kernel-chosen ports, with the given
# environment assignments added (env execs the server: $PID is the server's).
start_server() {
  [ -n "${DATA:-}" ] || init_data || return 1
  LOG=$WORK/server.log
  rm -f "$LOG"
  : >"$LOG"
  env "$@" "$TRESOR" serve --data "$DATA" --dicom-port 0 --dicom-tls-port 0 --http-port 0 \
    >"$WORK/serve.out" 2>"$LOG" &
  PID=$!
  PORT=
  for _ in $(seq 1 100); do
    PORT=$(sed -n 's/.*DICOM listener on [^ ]*:\([0-9]*\) .*/\1/p' "$LOG" 2>/dev/null | tail -1)
    [ -n "$PORT" ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$PORT" ]; then echo "server did not start:"; cat "$LOG"; return 1; fi
  TLS_PORT=$(sed -n 's/.*DICOM TLS listener on [^ ]*:\([0-9]*\) .*/\1/p' "$LOG" | tail -1)
  HTTPS_PORT=$(sed -n 's/.*HTTPS listener on [^ ]*:\([0-9]*\).*/\1/p' "$LOG" | tail -1)
}

stop_server() {
  if [ -n "${PID:-}" ]; then kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=; fi
}

server_alive() { kill -0 "$PID" 2>/dev/null; }

add_peer() {
  "$TRESOR" peer add "$1" --ae "$2" --host 127.0.0.1 --allow "${3:-echo,store}" --groups "${4:-all}" \
    --data "$DATA" >/dev/null
}

# Resident set size of the server in KiB.
server_rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }

# set_conf FILE SECTION KEY VALUE: sets KEY in [SECTION] of FILE (added where missing).
# wait_for_acks MIN GLOB: waits (bounded, about 20 s) until the storescu logs matching
# GLOB (expanded at every look: the logs may not exist yet) hold at least MIN
# acknowledged stores, then prints how many they hold (fewer if it gave up).
wait_for_acks() {
  local min=$1 glob=$2 acked=0
  for _ in $(seq 1 400); do
    # shellcheck disable=SC2086  # $glob is expanded on purpose
    acked=$(cat $glob 2>/dev/null | grep -c "Received Store Response (Success)")
    [ "$acked" -ge "$min" ] && break
    sleep 0.05
  done
  echo "$acked"
}

set_conf() {
  python3 - "$@" <<'PYEOF'
import re, sys
path, section, key, value = sys.argv[1:5]
text = open(path).read()
lines = text.split("\n")
out, current, done = [], None, False
for i, line in enumerate(lines):
    m = re.match(r"\s*\[([^\]]+)\]\s*$", line)
    if m:
        if current == section and not done:
            out.append(f"{key} = {value}"); done = True
        current = m.group(1)
    elif current == section and re.match(rf"\s*{re.escape(key)}\s*=", line):
        line = f"{key} = {value}"; done = True
    out.append(line)
if not done:
    if current != section:
        out.append(f"[{section}]")
    out.append(f"{key} = {value}")
open(path, "w").write("\n".join(out) + "\n")
PYEOF
}

finish() {
  if [ "$SKIPPED" -gt 0 ]; then
    echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
  else
    echo "$PASSED passed, $FAILED failed"
  fi
  [ "$FAILED" -eq 0 ] || return 1
  if [ "$CORE_SKIPPED" -eq 1 ]; then
    echo "core checks skipped on this machine: reported as not run (exit 77)"
    return 77
  fi
  return 0
}
