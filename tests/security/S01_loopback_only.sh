#!/usr/bin/env bash
# S01: a fresh install listens on loopback only; nothing is reachable from another address.
#
# The fresh data directory is served with its default configuration (no port flags) inside
# a network namespace of this test, which has a second, non-loopback address (a veth pair
# to a client namespace). Every listening socket of that namespace must be Tresor's two
# DICOM listeners on 127.0.0.1, and from the client namespace nothing answers.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/tools/netns.sh"
trap 'stop_server; netns_cleanup; cleanup' EXIT

echo "S01: a fresh install listens on loopback only"
init_data
check "default config binds 127.0.0.1" grep -qx 'bind_address = "127.0.0.1"' "$DATA/tresor.conf"
check "default config: plain DICOM 11112, DICOM TLS 2762" \
  bash -c "grep -qx 'dicom_port = 11112' '$DATA/tresor.conf' && grep -qx 'dicom_tls_port = 2762' '$DATA/tresor.conf'"
check "default config: no insecure override" grep -qx 'insecure_plain_dicom = false' "$DATA/tresor.conf"
expect_eq "a fresh install has no peer" "" "$("$TRESOR" peer list --data "$DATA" | tail -n +2)"

# Without network namespaces there is no second address to listen on or connect from:
# the core checks are reported as skipped (the suite as not run), not passed on weaker ones.
if ! netns_available; then
  why="needs 'ip netns' (root and iproute2), unavailable here"
  skip --core "every listener of the server is on loopback, in a namespace with a non-loopback address ($why)"
  skip --core "from another host nothing answers on the server's ports ($why)"
  skip --core "on loopback a stranger's C-ECHO is rejected, default ports ($why)"
  finish
  exit
fi

netns_pair s01 10.200.1.0 || { fail "creating the test namespaces"; finish; exit 1; }
LOG=$WORK/server.log
ip netns exec "$NS_S" "$TRESOR" serve --data "$DATA" >"$WORK/serve.out" 2>"$LOG" &
PID=$!
for _ in $(seq 1 100); do
  grep -q 'DICOM TLS listener' "$LOG" && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.1
done
check "fresh install starts with the default configuration" grep -q 'DICOM TLS listener on 127.0.0.1:2762' "$LOG"

# Every listening socket of the server namespace (TCP and UDP, IPv4 and IPv6): the DICOM
# listeners are there, and whatever Tresor listens on (later also HTTPS) is loopback only.
in_s ss -ltnuH | awk '{print $1, $5}' | sort >"$WORK/listening"
echo "  listening: $(paste -sd',' "$WORK/listening")"
check "plain DICOM listens on 127.0.0.1:11112" grep -qx 'tcp 127.0.0.1:11112' "$WORK/listening"
check "DICOM TLS listens on 127.0.0.1:2762" grep -qx 'tcp 127.0.0.1:2762' "$WORK/listening"
expect_eq "no listener on a non-loopback or wildcard address" "" \
  "$(grep -vE ' (127\.[0-9.]+|\[::1\]):[0-9]+$' "$WORK/listening")"
expect_eq "every listener belongs to the tresor process" "$(wc -l <"$WORK/listening")" \
  "$(in_s ss -ltnupH | grep -c "pid=$PID,")"
PORTS=$(sed 's/.*://' "$WORK/listening" | sort -un)

# From the other host: nothing answers on either port. A listener of our own on the
# server's address proves the path between the namespaces works.
ip netns exec "$NS_S" "$PY" -c "import socket,time; s=socket.socket(); s.bind(('$ADDR_S',11113)); s.listen(); time.sleep(8)" &
CTRL=$!
for _ in $(seq 1 30); do in_s ss -ltnH | grep -q ":11113 " && break; sleep 0.1; done
expect_eq "control: the other host reaches a listener on $ADDR_S" open "$(probe_from "$NS_C" "$ADDR_S" 11113)"
kill "$CTRL" 2>/dev/null; wait "$CTRL" 2>/dev/null
for p in $PORTS; do
  expect_eq "the other host: $ADDR_S:$p refused" refused "$(probe_from "$NS_C" "$ADDR_S" $p)"
  expect_eq "the server host via its own non-loopback address: $ADDR_S:$p refused" refused \
    "$(probe_from "$NS_S" "$ADDR_S" $p)"
done

# On loopback the server answers, and a stranger gets a rejection, not a service.
in_s echoscu -aet STRANGER -aec TRESOR 127.0.0.1 11112 >"$WORK/echo.out" 2>&1
check "on loopback: a stranger's C-ECHO is rejected (calling AE not recognized)" \
  grep -q "Calling AE Title Not Recognized" "$WORK/echo.out"
check "server still up" server_alive
stop_server
finish
