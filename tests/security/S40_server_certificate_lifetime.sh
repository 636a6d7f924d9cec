#!/usr/bin/env bash
# S40: the server certificate (DICOM TLS and HTTPS) is valid for at most 825 days, and
# `tresor tls renew` issues the next one from the local CA: same names, new key, at most
# 825 days, private files, served after a restart.
source "$(dirname "$0")/../lib.sh"

echo "S40: server certificate lifetime and renewal"
init_data
# days PEM: notAfter - notBefore in days (fractional).
days() {
  "$PY" - "$1" <<'PY'
import subprocess, sys, datetime
out = subprocess.run(["openssl", "x509", "-noout", "-startdate", "-enddate", "-in", sys.argv[1]],
                     capture_output=True, text=True, check=True).stdout
when = {}
for line in out.splitlines():
    k, v = line.split("=", 1)
    when[k] = datetime.datetime.strptime(v.strip(), "%b %d %H:%M:%S %Y %Z")
print("%.3f" % ((when["notAfter"] - when["notBefore"]).total_seconds() / 86400))
PY
}
names() { openssl x509 -noout -ext subjectAltName -subject -in "$1" | tr -d ' ' | sort; }
CERT=$DATA/keys/server.pem
d=$(days "$CERT")
check "tresor init's server certificate: $d days, at most 825" \
  "$PY" -c "import sys; sys.exit(0 if 824 <= float('$d') <= 825 else 1)"
check "it chains to the local CA" openssl verify -CAfile "$DATA/keys/ca.pem" "$CERT"
check "tresor tls show prints its validity" bash -c "'$TRESOR' tls show --data '$DATA' | grep -q 'valid days:  825'"
before_fp=$(openssl x509 -noout -fingerprint -sha256 -in "$CERT")
before_key=$(openssl pkey -in "$DATA/keys/server.key" -pubout | sha256sum)
before_names=$(names "$CERT")

start_server || { fail "server starts"; finish; exit 1; }
served() {
  openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -CAfile "$DATA/keys/ca.pem" </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256
}
expect_eq "HTTPS serves it" "$before_fp" "$(served)"

check "tresor tls renew succeeds" "$TRESOR" tls renew --data "$DATA"
after_fp=$(openssl x509 -noout -fingerprint -sha256 -in "$CERT")
check "renewed: a new certificate" test "$after_fp" != "$before_fp"
check "renewed: a new key" test "$(openssl pkey -in "$DATA/keys/server.key" -pubout | sha256sum)" != "$before_key"
check "renewed: the key matches the certificate" test \
  "$(openssl pkey -in "$DATA/keys/server.key" -pubout)" = "$(openssl x509 -noout -pubkey -in "$CERT")"
expect_eq "renewed: the same names (subject and alternative names)" "$before_names" "$(names "$CERT")"
d=$(days "$CERT")
check "renewed: $d days, at most 825" "$PY" -c "import sys; sys.exit(0 if 824 <= float('$d') <= 825 else 1)"
check "renewed: chains to the same local CA" openssl verify -CAfile "$DATA/keys/ca.pem" "$CERT"
expect_eq "renewed: certificate and key files 0600" "600 600" \
  "$(stat -c %a "$CERT") $(stat -c %a "$DATA/keys/server.key")"
expect_eq "no file left aside" "" "$(ls "$DATA/keys" | grep '\.new$' || true)"
expect_eq "the running server keeps the old one until restarted" "$before_fp" "$(served)"
stop_server
start_server || { fail "server restarts with the renewed certificate"; finish; exit 1; }
expect_eq "after a restart HTTPS serves the renewed certificate" "$after_fp" "$(served)"
check "a client trusting keys/ca.pem still connects" \
  curl -sS --cacert "$DATA/keys/ca.pem" -o /dev/null "https://127.0.0.1:$HTTPS_PORT/api/health"
stop_server
check_fails "renew refuses without the local CA key" bash -c \
  "mv '$DATA/keys/ca.key' '$WORK/ca.key' && '$TRESOR' tls renew --data '$DATA'"
mv "$WORK/ca.key" "$DATA/keys/ca.key"
finish
