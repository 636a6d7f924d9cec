#!/usr/bin/env bash
# S06: mutual TLS for DIMSE peers. A missing or untrusted client certificate fails the
# handshake; a valid certificate presented with another peer's AE title is rejected
# (A-ASSOCIATE-RJ, reason 3); an enrolled peer must use TLS and its own certificate.
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools

echo "S06: mutual TLS"
init_data
# S12's lockout (limits.max_failures rejections from one address) is tested on its own;
# here it would turn the later rejections from 127.0.0.1 into transient ones.
sed -i 's/^max_failures = .*/max_failures = 1000000/' "$DATA/tresor.conf"
start_server || { fail "server starts"; finish; exit 1; }
"$TRESOR" peer enroll ws1 --ae WS1 --host 127.0.0.1 --allow echo,store --data "$DATA" >/dev/null
"$TRESOR" peer enroll ws2 --ae WS2 --host 127.0.0.1 --allow echo --data "$DATA" >/dev/null
B1=$DATA/enrolled/ws1 B2=$DATA/enrolled/ws2
CA=$B1/ca.pem
# tls AE [--tls-cert F --tls-key F] [--tls-version V] [mode...]: secure_scu over TLS
# verifying the server; default mode echo.
tls() {
  local ae=$1; shift
  "$PY" "$TOOLS/secure_scu.py" --tls --tls-ca "$CA" "$@" --port "$TLS_PORT" --calling "$ae" \
    --timeout 10 echo 2>&1
}
as1=(--tls-cert "$B1/ws1.pem" --tls-key "$B1/ws1.key")
as2=(--tls-cert "$B2/ws2.pem" --tls-key "$B2/ws2.key")
no_assoc() { ! grep -qE '^(status=|accepted)' <<<"$1"; }

# The enrolled peer with its own certificate, over both TLS versions.
expect_eq "WS1 with its certificate, TLS 1.3: C-ECHO succeeds" status=0x0000 "$(tls WS1 "${as1[@]}" --tls-version 1.3)"
expect_eq "WS1 with its certificate, TLS 1.2: C-ECHO succeeds" status=0x0000 "$(tls WS1 "${as1[@]}" --tls-version 1.2)"
check "WS1 with DCMTK echoscu +tls succeeds" \
  echoscu +tls "$B1/ws1.key" "$B1/ws1.pem" +cf "$CA" -aet WS1 -aec TRESOR 127.0.0.1 "$TLS_PORT"

# The client checks the server too: its certificate chains to the CA, names 127.0.0.1,
# and is the one whose fingerprint `tresor init` printed.
check "server certificate verifies against the Tresor CA for IP 127.0.0.1" bash -c \
  "openssl s_client -connect 127.0.0.1:$TLS_PORT -CAfile '$CA' -verify_ip 127.0.0.1 -verify_return_error \
   -cert '$B1/ws1.pem' -key '$B1/ws1.key' </dev/null 2>&1 | grep -q 'Verify return code: 0 (ok)'"
served=$(openssl s_client -connect "127.0.0.1:$TLS_PORT" -cert "$B1/ws1.pem" -key "$B1/ws1.key" </dev/null 2>/dev/null |
  openssl x509 -noout -fingerprint -sha256 | sed 's/.*=//')
printed=$(sed -n '/fingerprint/{n;s/^ *//;p}' "$WORK/init.out")
check "the served certificate's SHA-256 fingerprint is the one init printed" test -n "$served" -a "$served" = "$printed"

# 1. No client certificate.
for v in 1.2 1.3; do
  out=$(tls WS1 --tls-version $v)
  check "no client certificate, TLS $v: no association ($out)" no_assoc "$out"
done
check_fails "DCMTK anonymous TLS (+tla) fails" \
  echoscu +tla +cf "$CA" -aet WS1 -aec TRESOR 127.0.0.1 "$TLS_PORT"
check "server logs 'peer did not return a certificate'" grep -q 'peer did not return a certificate' "$LOG"

# 2. Untrusted certificates: self-signed, and one from another Tresor install's CA.
mkdir -p "$WORK/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=WS1 -days 30 \
  -keyout "$WORK/certs/self.key" -out "$WORK/certs/self.pem" >/dev/null 2>&1
out=$(tls WS1 --tls-cert "$WORK/certs/self.pem" --tls-key "$WORK/certs/self.key")
check "self-signed certificate with CN=WS1: no association ($out)" no_assoc "$out"
"$TRESOR" init --data "$WORK/other" >/dev/null 2>&1
"$TRESOR" peer enroll ws1 --ae WS1 --host 127.0.0.1 --allow echo,store --data "$WORK/other" >/dev/null
O=$WORK/other/enrolled/ws1
out=$(tls WS1 --tls-cert "$O/ws1.pem" --tls-key "$O/ws1.key")
check "certificate from another install's CA (same AE, same CN): no association ($out)" no_assoc "$out"
check "server logs the failed verification" grep -q 'certificate verify failed' "$LOG"

# 3. Issued by our CA but expired, even though it is bound to a peer.
printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' >"$WORK/certs/ext"
mint() {  # mint NAME CN DAYS: a client certificate signed by this install's CA
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
    -keyout "$WORK/certs/$1.key" -out "$WORK/certs/$1.csr" >/dev/null 2>&1 &&
  openssl x509 -req -in "$WORK/certs/$1.csr" -CA "$DATA/keys/ca.pem" -CAkey "$DATA/keys/ca.key" \
    -CAcreateserial -days "$3" -extfile "$WORK/certs/ext" -out "$WORK/certs/$1.pem" >/dev/null 2>&1
}
mint expired EXP1 -1
"$TRESOR" peer add exp --ae EXP1 --host 127.0.0.1 --allow echo --cert "$WORK/certs/expired.pem" \
  --data "$DATA" >/dev/null 2>"$WORK/exp.err"
check "binding an expired certificate warns that it has expired" grep -q "has expired" "$WORK/exp.err"
out=$(tls EXP1 --tls-cert "$WORK/certs/expired.pem" --tls-key "$WORK/certs/expired.key")
check "expired certificate bound to its peer: no association ($out)" no_assoc "$out"

# 4. Valid certificates, wrong AE title: another peer's certificate, and a fresh one
# signed by our CA with the same subject as WS1's but bound to no peer.
expect_eq "WS2's certificate with WS1's AE title: rejected, reason 3" \
  "rejected result=1 source=1 reason=3" "$(tls WS1 "${as2[@]}")"
expect_eq "WS1's certificate with WS2's AE title: rejected, reason 3" \
  "rejected result=1 source=1 reason=3" "$(tls WS2 "${as1[@]}")"
mint rogue WS1 30
expect_eq "CA-signed certificate with CN=WS1 but not bound to WS1: rejected, reason 3" \
  "rejected result=1 source=1 reason=3" \
  "$(tls WS1 --tls-cert "$WORK/certs/rogue.pem" --tls-key "$WORK/certs/rogue.key")"
check "server logs 'TLS client certificate not bound to this AE title'" \
  test "$(grep -c 'association rejected (TLS client certificate not bound to this AE title)' "$LOG")" -ge 3
# A certificate bound with `peer add --cert` works like an enrolled one.
mint bound BOUND1 30
"$TRESOR" peer add bound --ae BOUND1 --host 127.0.0.1 --allow echo --cert "$WORK/certs/bound.pem" \
  --data "$DATA" >/dev/null
expect_eq "a CA-signed certificate bound with 'peer add --cert': C-ECHO succeeds" status=0x0000 \
  "$(tls BOUND1 --tls-cert "$WORK/certs/bound.pem" --tls-key "$WORK/certs/bound.key")"

# 5. An enrolled peer may not fall back to plain TCP, nor come from another host.
out=$("$PY" "$TOOLS/raw_scu.py" --port "$PORT" --calling WS1 --timeout 10 echo 2>&1)
expect_eq "WS1 over plain TCP: rejected, reason 3" "rejected result=1 source=1 reason=3" "$out"
check "server logs 'may connect over DICOM TLS only'" grep -q 'this AE title may connect over DICOM TLS only' "$LOG"
expect_eq "WS1 with its certificate from 127.0.0.2: rejected, reason 3" "rejected result=1 source=1 reason=3" \
  "$(tls WS1 "${as1[@]}" --source 127.0.0.2)"

expect_eq "nothing was stored" "instances: 0" "$("$TRESOR" stats --data "$DATA" | grep instances)"
expect_eq "control: WS1 still succeeds afterwards" status=0x0000 "$(tls WS1 "${as1[@]}")"
check "server still up" server_alive
stop_server
finish
