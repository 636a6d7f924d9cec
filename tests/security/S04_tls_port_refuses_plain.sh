#!/usr/bin/env bash
# S04: DICOM TLS listens on its own port (2762 by default); a plain A-ASSOCIATE-RQ sent to
# the TLS port never gets an A-ASSOCIATE-AC, whatever AE titles it carries. Around every
# refusal the same port answers an enrolled peer's C-ECHO over TLS, so a refusal never
# passes because the listener is down.
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools

echo "S04: the TLS port answers no plain DICOM"
init_data
# S12's lockout (limits.max_failures rejections from one address) is tested on its own;
# here it would turn the later rejections from 127.0.0.1 into transient ones.
sed -i 's/^max_failures = .*/max_failures = 1000000/' "$DATA/tresor.conf"
check "default config: DICOM TLS port 2762, separate from the plain port" \
  bash -c "grep -qx 'dicom_tls_port = 2762' '$DATA/tresor.conf' && ! grep -qx 'dicom_port = 2762' '$DATA/tresor.conf'"
start_server || { fail "server starts"; finish; exit 1; }
check "a TLS listener is announced on its own port ($TLS_PORT, plain $PORT)" \
  test -n "$TLS_PORT" -a "$TLS_PORT" != "$PORT"
add_peer ct CT1 echo,store
"$TRESOR" peer enroll ws --ae WS1 --host 127.0.0.1 --allow echo --data "$DATA" >/dev/null
B=$DATA/enrolled/ws
# tls_echo: the enrolled peer's C-ECHO over TLS on the TLS port succeeds.
tls_echo() { echoscu -to 10 +tls "$B/ws.key" "$B/ws.pem" +cf "$B/ca.pem" -aet WS1 -aec TRESOR 127.0.0.1 "$TLS_PORT"; }
# answers: the positive check after a refusal.
answers() { check "  ... and the TLS port still answers a C-ECHO over TLS" tls_echo; }
check "before the refusals: the TLS port answers a C-ECHO over TLS" tls_echo

# What comes back on the TLS port after a plain A-ASSOCIATE-RQ: the first byte of the
# answer (02 would be an A-ASSOCIATE-AC, 03 an A-ASSOCIATE-RJ), or "none" when the
# connection is closed without an answer.
cat >"$WORK/plain_rq.py" <<'EOF'
import socket, sys
sys.path.insert(0, sys.argv[1])
import raw_scu
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10)
s.sendall(raw_scu.associate_rq(sys.argv[3], "TRESOR", raw_scu.VERIFICATION,
                               ["1.2.840.10008.1.2.1"], 16384))
try:
    data = s.recv(65536)
except (ConnectionResetError, socket.timeout) as e:
    data = b""
print("%02x" % data[0] if data else "none")
EOF
for ae in CT1 WS1 NOBODY; do
  first=$("$PY" "$WORK/plain_rq.py" "$TOOLS" "$TLS_PORT" "$ae")
  case $first in
    02) fail "plain A-ASSOCIATE-RQ ($ae) to the TLS port: answered with A-ASSOCIATE-AC" ;;
    03) fail "plain A-ASSOCIATE-RQ ($ae) to the TLS port: parsed as DICOM (A-ASSOCIATE-RJ)" ;;
    none) pass "plain A-ASSOCIATE-RQ ($ae) to the TLS port: no DICOM answer (closed without one)" ;;
    *) pass "plain A-ASSOCIATE-RQ ($ae) to the TLS port: no DICOM answer (first byte back: $first)" ;;
  esac
  answers
done
# Registered peers with real DICOM clients, without TLS, on the TLS port.
check_fails "plain echoscu as registered peer CT1 to the TLS port fails" \
  echoscu -to 5 -aet CT1 -aec TRESOR 127.0.0.1 "$TLS_PORT"
answers
out=$("$PY" "$TOOLS/raw_scu.py" --port "$TLS_PORT" --calling CT1 --timeout 10 echo 2>&1)
check "raw_scu C-ECHO as CT1 to the TLS port: no association ($out)" \
  bash -c "! grep -qE '^(status=|rejected)' <<<'$out'"
answers
out=$("$PY" "$TOOLS/raw_scu.py" --port "$TLS_PORT" --calling CT1 --timeout 10 store \
  --sop-instance 1.2.826.0.1.3680043.2.1125.40.1 --dataset /dev/null 2>&1)
check "raw_scu C-STORE as CT1 to the TLS port: no association ($out)" \
  bash -c "! grep -qE '^(status=|rejected)' <<<'$out'"
answers
check "the server logs the dropped non-TLS connections" \
  test "$(grep -c 'TLS connection from 127.0.0.1 dropped: TLS handshake failed' "$LOG")" -ge 5
expect_eq "nothing stored" "instances: 0" "$("$TRESOR" stats --data "$DATA" | grep instances)"

# Controls: each port still does its own job.
check "control: CT1 plain C-ECHO on the plain port succeeds" echoscu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT"
check "control: WS1 C-ECHO over TLS on the TLS port succeeds" tls_echo
check "server still up" server_alive
stop_server
finish
