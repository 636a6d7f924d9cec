#!/usr/bin/env bash
# S03: a plain (non-TLS) listener on a non-loopback address refuses to start, with a clear
# error and a non-zero exit, unless the explicit `server.insecure_plain_dicom = true`
# override is set, which is logged loudly at every start. TLS only (dicom_port = -1) may
# bind a non-loopback address.
#
# Non-loopback addresses are those of a veth pair between two network namespaces this test
# creates (10.200.3.1 server side, 10.200.3.2 client side); nothing else is touched.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/tools/netns.sh"
trap 'stop_server; netns_cleanup; cleanup' EXIT

echo "S03: no plain DICOM beyond loopback without an explicit, logged override"

set_conf() { sed -i "s|^$1 = .*|$1 = $2|" "$DATA/tresor.conf"; grep -qx "$1 = $2" "$DATA/tresor.conf"; }
# refuses WHAT [ns] [serve flags...]: `tresor serve` must exit non-zero within 10 s with
# the refusal message, and listen on nothing.
refuses() {
  local what=$1 ns=$2; shift 2
  local run=()
  [ "$ns" = - ] || run=(ip netns exec "$ns")
  "${run[@]}" timeout 10 "$TRESOR" serve --data "$DATA" "$@" >"$WORK/refuse.out" 2>"$WORK/refuse.err"
  local rc=$?
  check "$what: exits non-zero (exit $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
  check "$what: says why" grep -q "refusing to serve plain DICOM on non-loopback address" "$WORK/refuse.err"
  check_fails "$what: never announced a listener" grep -q "listener on" "$WORK/refuse.err"
}
# serve_ns [serve flags...]: starts the server inside $NS_S; waits for its listeners.
# shellcheck disable=SC2120
serve_ns() {
  LOG=$WORK/server.log
  : >"$LOG"
  ip netns exec "$NS_S" "$TRESOR" serve --data "$DATA" "$@" >"$WORK/serve.out" 2>>"$LOG" &
  PID=$!
  for _ in $(seq 1 100); do
    grep -q "Stop with Ctrl-C" "$WORK/serve.out" && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "server did not start:"; cat "$LOG"; return 1
}

init_data
check "default: insecure override off" grep -qx 'insecure_plain_dicom = false' "$DATA/tresor.conf"

# Without network namespaces there is no non-loopback address of the test's own: only
# the refusal of the wildcard address runs; the core checks are reported as skipped (the
# suite as not run), not passed on this weaker one.
if ! netns_available; then
  why="needs 'ip netns' (root and iproute2), unavailable here"
  set_conf bind_address '"0.0.0.0"'
  refuses "bind 0.0.0.0 with plain DICOM" - --dicom-port 0 --dicom-tls-port 0
  skip --core "plain DICOM on a real non-loopback address is refused ($why)"
  skip --core "TLS only on a non-loopback address starts and serves only TLS there ($why)"
  skip --core "the insecure override serves plain DICOM there and warns at every start ($why)"
  finish
  exit
fi
netns_pair s03 10.200.3.0 || { fail "creating the test namespaces"; finish; exit 1; }
"$TRESOR" peer enroll ws --ae WS1 --host "$ADDR_C" --allow echo --data "$DATA" >/dev/null
"$TRESOR" peer add mod --ae MOD1 --host "$ADDR_C" --allow echo --data "$DATA" >/dev/null
BUNDLE=$DATA/enrolled/ws

# 1. A real non-loopback address with the default ports (plain 11112 + TLS 2762): refused.
set_conf bind_address "\"$ADDR_S\""
refuses "bind $ADDR_S with plain DICOM (default config)" "$NS_S"
# 2. The wildcard addresses are not loopback either.
set_conf bind_address '"0.0.0.0"'
refuses "bind 0.0.0.0 with plain DICOM" "$NS_S"
set_conf bind_address '"::"'
refuses "bind :: with plain DICOM" "$NS_S"
# 3. TLS only in the config, but the plain port given on the command line: refused.
set_conf bind_address "\"$ADDR_S\""
set_conf dicom_port -1
refuses "TLS-only config with --dicom-port 11112 on the command line" "$NS_S" --dicom-port 11112

# 4. TLS only on the non-loopback address: starts, serves TLS there and nothing else.
serve_ns || { fail "TLS-only server on $ADDR_S starts"; finish; exit 1; }
pass "TLS only (dicom_port = -1) on $ADDR_S starts"
ip netns exec "$NS_S" ss -ltnH | awk '{print $4}' | sort >"$WORK/listening"
echo "  listening: $(paste -sd' ' "$WORK/listening")"
check "DICOM TLS listens on $ADDR_S:2762" grep -qx "$ADDR_S:2762" "$WORK/listening"
check_fails "no plain DICOM listener (11112)" grep -q ':11112$' "$WORK/listening"
check_fails "no INSECURE warning for a TLS-only server" grep -q INSECURE "$LOG"
check "from the other host: enrolled peer's C-ECHO over TLS succeeds" \
  ip netns exec "$NS_C" echoscu +tls "$BUNDLE/ws.key" "$BUNDLE/ws.pem" +cf "$BUNDLE/ca.pem" \
  -aet WS1 -aec TRESOR "$ADDR_S" 2762
expect_eq "from the other host: plain $ADDR_S:11112 refused" refused "$(probe_from "$NS_C" "$ADDR_S" 11112)"
stop_server

# 5. The explicit override: plain DICOM on the non-loopback address starts, and says so
# loudly at every start.
set_conf dicom_port 11112
set_conf insecure_plain_dicom true
for start in 1 2; do
  serve_ns || { fail "insecure override start $start"; break; }
  check "override, start $start: WARN 'INSECURE: plain DICOM listener on non-loopback address $ADDR_S'" \
    grep -q "WARN  INSECURE: plain DICOM listener on non-loopback address $ADDR_S" "$LOG"
  if [ "$start" = 1 ]; then
    check "override: plain listener really on $ADDR_S:11112" \
      bash -c "ip netns exec '$NS_S' ss -ltnH | awk '{print \$4}' | grep -qx '$ADDR_S:11112'"
    check "override: the registered peer's plain C-ECHO from the other host succeeds" \
      ip netns exec "$NS_C" echoscu -aet MOD1 -aec TRESOR "$ADDR_S" 11112
  fi
  stop_server
done
finish
