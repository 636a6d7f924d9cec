#!/usr/bin/env bash
# S12: failures are counted per protocol and per target, so they slow guessing without
# locking anyone out. A burst of rejected associations from 127.0.0.1 gets transient
# rejects (back-off) but does not stop the administrator's correct sign-in, a valid
# session token or a peer admitted before from that address; wrong passwords for one
# user get HTTP 429 with Retry-After for that user only. The back-off windows themselves
# are tested on a fake clock (security/throttle_test, failure_tracker_test,
# archive_service_test); nothing here waits for one to pass.
source "$(dirname "$0")/../lib.sh"

echo "S12: back-off per protocol and target"
init_data
# Three free failures, then a 300 s first back-off: longer than this script runs.
sed -i 's/^max_failures = .*/max_failures = 3/; s/^backoff_seconds = .*/backoff_seconds = 300/' "$DATA/tresor.conf"
start_server
add_peer ct CT1 echo
add_peer ct2 CT2 echo
pw=$(sed -n 's/.*store it safely): //p' "$WORK/init.out")
signin() {  # signin USER PASSWORD: prints the HTTP status; headers in $WORK/h, body in $WORK/tok.json
  curl -s -D "$WORK/h" -o "$WORK/tok.json" -w '%{http_code}' --cacert "$DATA/keys/ca.pem" \
    "https://127.0.0.1:$HTTPS_PORT/auth/token" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}"
}
stats() {
  curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/keys/ca.pem" \
    -H "Authorization: Bearer $1" "https://127.0.0.1:$HTTPS_PORT/api/stats"
}
token_of() { "$PY" -c 'import json,sys;print(json.load(open(sys.argv[1]))["access_token"])' "$WORK/tok.json"; }

expect_eq "the administrator signs in before the burst" 200 "$(signin admin "$pw")"
token=$(token_of)
check "the registered peer CT1 is admitted before the burst" echoscu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT"

# 1. A burst of rejected associations from 127.0.0.1.
for n in 1 2 3 4 5 6 7 8; do echoscu -aet GUESS$n -aec TRESOR 127.0.0.1 "$PORT" >"$WORK/g$n.out" 2>&1; done
check "the first guesses are rejected permanently" grep -q "Rejected Permanent" "$WORK/g1.out"
check "guesses after max_failures get a transient reject (back-off)" grep -q "Rejected Transient" "$WORK/g8.out"
check "a security alert is logged when the back-off starts" \
  grep -q "SECURITY ALERT: rejected association .* from 127.0.0.1 is backed off" "$LOG"
echoscu -aet CT2 -aec TRESOR 127.0.0.1 "$PORT" >"$WORK/ct2.out" 2>&1
check "a calling AE never admitted from this address is not evaluated during the back-off" \
  grep -q "Rejected Transient" "$WORK/ct2.out"
check "the peer admitted before from this address is still admitted" \
  echoscu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT"
expect_eq "the administrator's correct sign-in from 127.0.0.1 still works" 200 "$(signin admin "$pw")"
expect_eq "the session token issued before the burst still works" 200 "$(stats "$token")"
expect_eq "... and so does the one issued after it" 200 "$(stats "$(token_of)")"

# 2. Wrong passwords for one user.
echo "another user password" | "$TRESOR" user add u2 --role radiologist --password-stdin --data "$DATA" >/dev/null
for n in 1 2; do expect_eq "wrong password $n for admin: 401" 401 "$(signin admin "wrong password $n")"; done
expect_eq "wrong password 3 for admin: 401 (starts the back-off)" 401 "$(signin admin "wrong password 3")"
expect_eq "then even the right password for admin gets 429 (not checked)" 429 "$(signin admin "$pw")"
retry=$(sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\).*/\1/p' "$WORK/h")
check "the 429 carries Retry-After with the seconds left (got '$retry')" \
  test -n "$retry" -a "${retry:-0}" -ge 1 -a "${retry:-0}" -le 300
check "the 429 body is a JSON error" grep -q '"error"' "$WORK/tok.json"
check "the back-off is logged as a security alert for that user" \
  grep -q "SECURITY ALERT: failed sign-in for user 'admin' from 127.0.0.1 is backed off" "$LOG"
expect_eq "another user from the same address is not affected" 200 "$(signin u2 "another user password")"
expect_eq "the administrator's valid token is not affected" 200 "$(stats "$token")"
check "passwords never reach the log" bash -c "! grep -qF -e '$pw' -e 'wrong password' '$LOG'"

check "server still up" server_alive
check "C-ECHO of CT1 still answered" echoscu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT"
stop_server
finish
