#!/usr/bin/env bash
# S05: DICOM TLS offers only TLS 1.2 and 1.3 with BCP 195 (RFC 9325) cipher suites: no
# TLS 1.0/1.1 (nor SSLv3), no RC4, 3DES, export, NULL, anonymous or CBC suites, forward
# secrecy only, and DHE (when the certificate allows it) with at least 2048 bits.
#
# The client is OpenSSL's s_client at security level 0, so that it really offers the old
# protocols and weak suites; every handshake presents an enrolled client certificate, so
# a failure is the server refusing the protocol or suite.
source "$(dirname "$0")/../lib.sh"

echo "S05: TLS versions and cipher suites"
init_data
start_server || { fail "server starts"; finish; exit 1; }
"$TRESOR" peer enroll ws --ae WS1 --host 127.0.0.1 --allow echo --data "$DATA" >/dev/null
B=$DATA/enrolled/ws

# hs ARGS...: one handshake with the enrolled certificate; prints s_client -brief output.
hs() {
  timeout 10 openssl s_client -brief -connect "127.0.0.1:$TLS_PORT" -cert "$B/ws.pem" \
    -key "$B/ws.key" "$@" </dev/null 2>&1
}
field() { sed -n "s/^$1: *//p" | head -1; }

out=$(hs -tls1_2 -CAfile "$B/ca.pem" -verify_return_error)
expect_eq "TLS 1.2 is offered" TLSv1.2 "$(field 'Protocol version' <<<"$out")"
c12=$(field Ciphersuite <<<"$out")
check "TLS 1.2 default suite is ECDHE + AEAD ($c12)" grep -qE '^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$' <<<"$c12"
check "TLS 1.2 key exchange is X25519 or an ECDH curve >= 256 bits ($(field 'Server Temp Key' <<<"$out"))" \
  grep -qE '^(X25519|X448|ECDH, [A-Za-z0-9-]+, (25[3-9]|2[6-9][0-9]|[3-9][0-9]{2}) bits)' <<<"$(field 'Server Temp Key' <<<"$out")"
check "the server certificate verifies against the Tresor CA" grep -q '^Verification: OK' <<<"$out"
out=$(hs -tls1_3)
expect_eq "TLS 1.3 is offered" TLSv1.3 "$(field 'Protocol version' <<<"$out")"
check "TLS 1.3 default suite is AES-GCM or ChaCha20-Poly1305 ($(field Ciphersuite <<<"$out"))" \
  grep -qE '^TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$' <<<"$(field Ciphersuite <<<"$out")"
out=$(timeout 10 openssl s_client -connect "127.0.0.1:$TLS_PORT" -cert "$B/ws.pem" -key "$B/ws.key" -tls1_2 </dev/null 2>&1)
check "TLS compression is off" grep -q '^Compression: NONE' <<<"$out"

# Old protocol versions: the server answers with a protocol_version alert.
for v in tls1 tls1_1; do
  out=$(hs "-$v" -cipher 'ALL:@SECLEVEL=0')
  check "-$v refused by the server (protocol_version alert)" grep -q 'alert protocol version' <<<"$out"
done
check "the server logged the refused versions" \
  test "$(grep -c 'TLS handshake failed: .*unsupported protocol' "$LOG")" -ge 2
if openssl s_client -help 2>&1 | grep -q -- '-ssl3'; then
  out=$(hs -ssl3 -cipher 'ALL:@SECLEVEL=0')
  check_fails "SSLv3 refused" grep -q '^Protocol version: SSLv3' <<<"$out"
else
  echo "  note: this OpenSSL cannot speak SSLv3 at all; the minimum above (TLS 1.2) covers it"
fi

# Every TLS 1.2 suite this OpenSSL knows is offered at once; the suite the server picks is
# removed and the rest offered again, until the server finds none acceptable (handshake
# failure alert). Only forward-secret AEAD suites may be accepted on the way.
AEAD12='^(ECDHE-(ECDSA|RSA)|DHE-RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$'
# enumerate_tls12 OUTFILE: the accepted suites, one per line; $WORK/last12 holds the
# output of the final, failed handshake.
enumerate_tls12() {
  openssl ciphers 'ALL:COMPLEMENTOFALL:@SECLEVEL=0' | tr ':' '\n' | grep -v '^TLS_' >"$WORK/suites12"
  local remaining c n=0
  remaining=$(cat "$WORK/suites12")
  : >"$1"
  while [ -n "$remaining" ] && [ $n -lt 50 ]; do
    n=$((n + 1))
    hs -tls1_2 -cipher "$(paste -sd: <<<"$remaining"):@SECLEVEL=0" >"$WORK/last12"
    c=$(field Ciphersuite <"$WORK/last12")
    [ -n "$c" ] || break
    echo "$c" >>"$1"
    remaining=$(grep -vxF "$c" <<<"$remaining")
  done
}
enumerate_tls12 "$WORK/accepted12"
tried=$(wc -l <"$WORK/suites12")
echo "  TLS 1.2: $tried suites tried, accepted: $(paste -sd' ' "$WORK/accepted12")"
check "TLS 1.2: at least one suite accepted" test -s "$WORK/accepted12"
check "TLS 1.2: the server refuses all remaining suites (handshake failure alert)" \
  grep -q 'alert handshake failure' "$WORK/last12"
expect_eq "TLS 1.2: every accepted suite is (EC)DHE + AEAD" "" "$(grep -vE "$AEAD12" "$WORK/accepted12")"
for weak in RC4 3DES DES NULL EXP aNULL eNULL PSK SRP CAMELLIA SEED IDEA 'AES128-SHA$' 'AES256-SHA256$'; do
  check_fails "TLS 1.2: no suite with $weak accepted" grep -qE -- "$weak" "$WORK/accepted12"
done
check_fails "TLS 1.2: no CBC suite accepted" grep -qE -- '-SHA(256|384)?$' <(grep -v GCM "$WORK/accepted12" | grep -v CHACHA)
check_fails "TLS 1.2: no static RSA key exchange accepted" grep -qE '^(AES|CAMELLIA|DES|RC4|NULL|IDEA|SEED)' "$WORK/accepted12"

# TLS 1.3: the same, over the five TLS 1.3 suites.
acc13=()
left13="TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256 TLS_AES_128_CCM_SHA256 TLS_AES_128_CCM_8_SHA256"
while [ -n "$left13" ]; do
  hs -tls1_3 -ciphersuites "$(tr ' ' ':' <<<"$left13")" >"$WORK/last13"
  c=$(field Ciphersuite <"$WORK/last13")
  [ -n "$c" ] || break
  acc13+=("$c")
  left13=$(tr ' ' '\n' <<<"$left13" | grep -vxF "$c" | paste -sd' ')
done
echo "  TLS 1.3 accepted: ${acc13[*]}"
check "TLS 1.3: at least one suite accepted" test "${#acc13[@]}" -ge 1
[ -z "$left13" ] || check "TLS 1.3: the server refuses the remaining suites ($left13)" \
  grep -q 'alert handshake failure' "$WORK/last13"
check_fails "TLS 1.3: TLS_AES_128_CCM_8_SHA256 (short tag) not accepted" grep -q CCM_8 <<<"${acc13[*]}"

# DCMTK's retired "authenticated unencrypted" profile (NULL cipher) cannot connect; the
# BCP 195 profile can.
check_fails "DCMTK NULL-cipher profile (+pn) refused" \
  echoscu +tls "$B/ws.key" "$B/ws.pem" +cf "$B/ca.pem" +pn -aet WS1 -aec TRESOR 127.0.0.1 "$TLS_PORT"
check "DCMTK BCP 195 profile (+px) connects" \
  echoscu +tls "$B/ws.key" "$B/ws.pem" +cf "$B/ca.pem" +px -aet WS1 -aec TRESOR 127.0.0.1 "$TLS_PORT"
stop_server

# With an RSA server certificate, DHE suites become possible: their group must be at
# least 2048 bits. A certificate with a weaker key is refused at start.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$DATA/keys/rsa.key" -out "$DATA/keys/rsa.pem" \
  -subj /CN=tresor-rsa -days 2 >/dev/null 2>&1
sed -i 's|^certificate = .*|certificate = "keys/rsa.pem"|; s|^private_key = .*|private_key = "keys/rsa.key"|' \
  "$DATA/tresor.conf"
start_server || { fail "server starts with an RSA-2048 certificate"; finish; exit 1; }
out=$(hs -tls1_2 -cipher 'DHE:EDH:@SECLEVEL=0')
key=$(field 'Server Temp Key' <<<"$out")
check "RSA certificate: DHE suite negotiated is AEAD ($(field Ciphersuite <<<"$out"))" \
  grep -qE "$AEAD12" <<<"$(field Ciphersuite <<<"$out")"
bits=$(sed -n 's/^DH, \([0-9]*\) bits$/\1/p' <<<"$key")
check "RSA certificate: DHE group >= 2048 bits ($key)" test "${bits:-0}" -ge 2048
enumerate_tls12 "$WORK/accepted12rsa"
echo "  TLS 1.2 with an RSA certificate, accepted: $(paste -sd' ' "$WORK/accepted12rsa")"
check "RSA certificate: at least one suite accepted" test -s "$WORK/accepted12rsa"
check "RSA certificate: the server refuses all remaining suites" grep -q 'alert handshake failure' "$WORK/last12"
expect_eq "RSA certificate: every accepted suite is (EC)DHE + AEAD" "" "$(grep -vE "$AEAD12" "$WORK/accepted12rsa")"
stop_server
openssl req -x509 -newkey rsa:1024 -nodes -keyout "$DATA/keys/rsa.key" -out "$DATA/keys/rsa.pem" \
  -subj /CN=tresor-rsa -days 2 >/dev/null 2>&1
timeout 10 "$TRESOR" serve --data "$DATA" --dicom-port 0 --dicom-tls-port 0 >/dev/null 2>"$WORK/weak.err"
rc=$?
check "an RSA-1024 server certificate is refused at start (exit $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check "... with a message naming the certificate" grep -q 'cannot load TLS certificate' "$WORK/weak.err"
finish
