#!/usr/bin/env bash
# S07: there is no plain-HTTP listener; the HTTPS port answers plain HTTP with no data,
# and every HTTPS response carries HSTS.
source "$(dirname "$0")/../lib.sh"

echo "S07: HTTPS only, with HSTS"
init_data
start_server
check "an HTTPS port was opened" test -n "$HTTPS_PORT"
code=$(curl -s -o "$WORK/plain.out" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$HTTPS_PORT/api/health")
check "plain HTTP to the HTTPS port gets no HTTP response (got '$code')" test "$code" = 000
check "... and no data" test ! -s "$WORK/plain.out"
for path in /api/health /api/stats /nope; do
  curl -s -D "$WORK/h" -o /dev/null --cacert "$DATA/keys/ca.pem" "https://127.0.0.1:$HTTPS_PORT$path"
  check "HSTS on $path" grep -qi '^strict-transport-security: max-age=[1-9]' "$WORK/h"
done
check "the only listeners are the DICOM, DICOM TLS and HTTPS ports" \
  bash -c "test \$(ss -ltnpH | grep -c 'pid=$PID,') -eq 3"
stop_server
finish
