#!/usr/bin/env bash
# S12: repeated failures from one source lead to a temporary rejection (transient
# A-ASSOCIATE-RJ / HTTP 429) and a security alert; a registered peer on the same address
# is still admitted, and the block ends after block_seconds.
source "$(dirname "$0")/../lib.sh"

echo "S12: repeated failures"
init_data
sed -i 's/^max_failures = .*/max_failures = 3/; s/^block_seconds = .*/block_seconds = 4/' "$DATA/tresor.conf"
start_server
add_peer ct CT1 echo

for n in 1 2 3; do echoscu -aet GUESS$n -aec TRESOR 127.0.0.1 "$PORT" >/dev/null 2>&1; done
check "a security alert is logged when the source is blocked" grep -q "SECURITY ALERT: 127.0.0.1 blocked" "$LOG"
echoscu -aet GUESS4 -aec TRESOR 127.0.0.1 "$PORT" >"$WORK/e.out" 2>&1
check "the next unknown caller gets a transient reject" grep -q "Rejected Transient" "$WORK/e.out"
check "the registered peer on the same address is still admitted" echoscu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT"

pw=$(sed -n 's/.*store it safely): //p' "$WORK/init.out")
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/keys/ca.pem" \
  "https://127.0.0.1:$HTTPS_PORT/auth/token" -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$pw\"}")
expect_eq "HTTPS sign-in from the blocked address: 429" 429 "$code"

sleep 5
echoscu -aet GUESS5 -aec TRESOR 127.0.0.1 "$PORT" >"$WORK/e2.out" 2>&1
check "after block_seconds the reject is permanent again (no longer blocked)" grep -q "Rejected Permanent" "$WORK/e2.out"
code=$(curl -s -o "$WORK/tok.json" -w '%{http_code}' --cacert "$DATA/keys/ca.pem" \
  "https://127.0.0.1:$HTTPS_PORT/auth/token" -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$pw\"}")
expect_eq "after the block, the right password signs in" 200 "$code"
check "server still up" server_alive
stop_server
finish
