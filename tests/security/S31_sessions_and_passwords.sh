#!/usr/bin/env bash
# S31: sessions end (sign-out, expiry, forged or disabled), failed sign-ins lead to a
# back-off, passwords meet a minimum policy. Idle and maximum session lifetimes are
# decided on the injected clock and tested there (archive_service_test: Session*).
source "$(dirname "$0")/../lib.sh"

echo "S31: sessions, back-off, password policy"
init_data
# Five free failures, then a 300 s first back-off: longer than this script runs.
sed -i "s/^max_failures = .*/max_failures = 5/; s/^backoff_seconds = .*/backoff_seconds = 300/" "$DATA/tresor.conf"
start_server
check_fails "a short password is refused" bash -c "echo short | '$TRESOR' user add u1 --role radiologist --password-stdin --data '$DATA'"
check_fails "a digits-only password is refused" bash -c "echo 123456789012345 | '$TRESOR' user add u1 --role radiologist --password-stdin --data '$DATA'"
echo "correct horse battery" | "$TRESOR" user add u1 --role radiologist --password-stdin --data "$DATA" >/dev/null
signin() {
  curl -s -o "$WORK/tok.json" -w '%{http_code}' --cacert "$DATA/keys/ca.pem" \
    "https://127.0.0.1:$HTTPS_PORT/auth/token" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}"
}
stats() {
  curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/keys/ca.pem" \
    -H "Authorization: Bearer $1" "https://127.0.0.1:$HTTPS_PORT/api/stats"
}
expect_eq "sign-in with the right password" 200 "$(signin u1 'correct horse battery')"
token=$("$PY" -c 'import json,sys;print(json.load(open(sys.argv[1]))["access_token"])' "$WORK/tok.json")
check "the session token ends at the latest after sessions.max_minutes (exp - iat)" "$PY" - "$token" <<'PY'
import base64, json, sys
body = sys.argv[1].split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
sys.exit(0 if claims["exp"] - claims["iat"] == 480 * 60 else 1)
PY
expect_eq "the token works" 200 "$(stats "$token")"
# Sign-out ends a session at once.
expect_eq "sign-in again" 200 "$(signin u1 'correct horse battery')"
token=$("$PY" -c 'import json,sys;print(json.load(open(sys.argv[1]))["access_token"])' "$WORK/tok.json")
expect_eq "the new token works" 200 "$(stats "$token")"
expect_eq "POST /auth/logout" 200 "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/keys/ca.pem" \
  -X POST -H "Authorization: Bearer $token" "https://127.0.0.1:$HTTPS_PORT/auth/logout")"
expect_eq "after sign-out the token is refused" 401 "$(stats "$token")"
# An expired token, correctly signed, is refused.
"$PY" - "$DATA/keys/token.key" >"$WORK/old" <<'PY'
import base64, hashlib, hmac, json, sys
key = open(sys.argv[1], "rb").read()
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"sub": "u1", "role": "radiologist", "iat": 1000, "exp": 2000}).encode())
print(f"{head}.{body}." + b64(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()))
PY
expect_eq "an expired token is refused" 401 "$(stats "$(cat "$WORK/old")")"
# A correctly signed, unexpired token for a session the server never started is refused.
"$PY" - "$DATA/keys/token.key" >"$WORK/forged" <<'PY'
import base64, hashlib, hmac, json, sys, time
key = open(sys.argv[1], "rb").read()
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
now = int(time.time())
body = b64(json.dumps({"sub": "u1", "role": "radiologist", "iat": now, "exp": now + 600,
                       "sid": "0123456789abcdef0123456789abcdef"}).encode())
print(f"{head}.{body}." + b64(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()))
PY
expect_eq "a signed token without a server-side session is refused" 401 "$(stats "$(cat "$WORK/forged")")"
expect_eq "sign-in for the lockout checks" 200 "$(signin u1 'correct horse battery')"
token=$("$PY" -c 'import json,sys;print(json.load(open(sys.argv[1]))["access_token"])' "$WORK/tok.json")
"$TRESOR" user disable u1 --data "$DATA" >/dev/null
expect_eq "the token of a disabled user is refused" 401 "$(stats "$token")"
"$TRESOR" user enable u1 --data "$DATA" >/dev/null
for n in 1 2 3 4; do signin u1 "wrong password $n" >/dev/null; done
expect_eq "wrong passwords: 401" 401 "$(signin u1 'wrong password 5')"
expect_eq "after max_failures the user is backed off from this address: 429" 429 \
  "$(signin u1 'correct horse battery')"
check "the back-off is logged as a security alert" grep -q "SECURITY ALERT: failed sign-in for user 'u1'" "$LOG"
check "passwords never reach the log" bash -c "! grep -q 'correct horse battery\|wrong password' '$LOG'"
stop_server
finish
