# shellcheck shell=bash
# Network namespaces for the security suite (source after tests/lib.sh).
#
# Lets a test bind Tresor to a real non-loopback address and connect to it from "another
# host" without touching this machine's interfaces: two namespaces of the test's own,
# joined by a veth pair, addresses from 10.200.0.0/16. Everything is removed by
# netns_cleanup (call it from the EXIT trap).
#
#   netns_available               0 if `ip netns` works here (root, iproute2); 1 when
#                                 TRESOR_TEST_SIMULATE_NO_NETNS=1, which the harness
#                                 self-test sets to prove the skip path
#   netns_pair TAG NET            creates namespaces $NS_S (server side, address NET.1/30)
#                                 and $NS_C (client side, NET.2/30), e.g. NET=10.200.1.0
#                                 -> 10.200.1.1 and 10.200.1.2; sets NS_S, NS_C, ADDR_S, ADDR_C
#   in_s CMD... / in_c CMD...     run a command inside the server / client namespace
#   probe_from NS HOST PORT       from namespace NS ("-": this one) connects to HOST:PORT
#                                 and prints open, refused or "error ..." (2 s timeout)
# Start background processes with `ip netns exec "$NS_S" cmd &`, not `in_s cmd &`, so that
# $! is the process itself and not a subshell.
#   netns_cleanup                 deletes the namespaces created here

NETNS_CREATED=()

netns_available() {
  [ "${TRESOR_TEST_SIMULATE_NO_NETNS:-0}" = 1 ] && return 1
  command -v ip >/dev/null 2>&1 || return 1
  local probe="tresor-probe-$$"
  ip netns add "$probe" >/dev/null 2>&1 || return 1
  ip netns del "$probe" >/dev/null 2>&1
  return 0
}

netns_pair() {
  local tag=$1 net=${2%.0}
  NS_S="tresor-$tag-$$-s"
  NS_C="tresor-$tag-$$-c"
  ADDR_S="$net.1"
  ADDR_C="$net.2"
  ip netns add "$NS_S" || return 1
  NETNS_CREATED+=("$NS_S")
  ip netns add "$NS_C" || return 1
  NETNS_CREATED+=("$NS_C")
  # Interface names live inside the namespaces, so they cannot collide with the host's.
  ip link add vs netns "$NS_S" type veth peer name vc netns "$NS_C" || return 1
  ip -n "$NS_S" addr add "$ADDR_S/30" dev vs
  ip -n "$NS_C" addr add "$ADDR_C/30" dev vc
  ip -n "$NS_S" link set lo up
  ip -n "$NS_C" link set lo up
  ip -n "$NS_S" link set vs up
  ip -n "$NS_C" link set vc up
}

in_s() { ip netns exec "$NS_S" "$@"; }
in_c() { ip netns exec "$NS_C" "$@"; }

# The probe, as a Python program (run with "$PY" -c).
NETNS_PROBE='
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.settimeout(2)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("open")
except ConnectionRefusedError:
    print("refused")
except OSError as e:
    print("error", e)
finally:
    s.close()
'

probe_from() {
  local ns=$1; shift
  if [ "$ns" = - ]; then
    "$PY" -c "$NETNS_PROBE" "$@"
  else
    ip netns exec "$ns" "$PY" -c "$NETNS_PROBE" "$@"
  fi
}

netns_cleanup() {
  local ns
  for ns in "${NETNS_CREATED[@]}"; do
    # Processes still inside would keep the veth alive; ours are stopped before this.
    ip netns del "$ns" >/dev/null 2>&1
  done
  NETNS_CREATED=()
}
