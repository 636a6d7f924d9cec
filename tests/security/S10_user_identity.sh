#!/usr/bin/env bash
# S10: User Identity negotiation. A peer set to require it is refused (permanent reject)
# without credentials, with a wrong passcode, a tampered or expired JWT; a valid user name
# + passcode or a JWT from POST /auth/token is accepted and the identity is logged.
source "$(dirname "$0")/../lib.sh"

echo "S10: user identity negotiation"
init_data
sed -i 's/^max_failures = .*/max_failures = 1000000/' "$DATA/tresor.conf"
start_server
"$TRESOR" peer add ct --ae CT1 --host 127.0.0.1 --allow echo,store --require-identity --data "$DATA" >/dev/null
echo "correct horse battery" | "$TRESOR" user add tech --role technologist --password-stdin --data "$DATA" >/dev/null
echo "correct horse battery" | "$TRESOR" user add reader --role radiologist --password-stdin --data "$DATA" >/dev/null
SAMPLE=$("$PY" -c 'import pydicom.data,os;print(os.path.join(os.path.dirname(pydicom.data.__file__),"test_files","CT_small.dcm"))')
store() { storescu -aet CT1 -aec TRESOR "$@" 127.0.0.1 "$PORT" "$SAMPLE" >"$WORK/s.out" 2>&1; }

store
expect_eq "no identity: refused" 1 "$?"
check "... as a permanent reject" grep -q "Rejected Permanent" "$WORK/s.out"
store -usr tech -pwd "wrong password here"
expect_eq "wrong passcode: refused" 1 "$?"
check "... as a permanent reject" grep -q "Rejected Permanent" "$WORK/s.out"
store -usr nobody -pwd "correct horse battery"
expect_eq "unknown user: refused" 1 "$?"
expect_eq "nothing was stored so far" "instances: 0" "$("$TRESOR" stats --data "$DATA" | grep instances)"

store -usr tech -pwd "correct horse battery"
expect_eq "technologist with the right passcode: stored" 0 "$?"
check "the accepted identity is logged" grep -q "user identity accepted: user 'tech' (technologist)" "$LOG"
expect_eq "one instance stored" "instances: 1" "$("$TRESOR" stats --data "$DATA" | grep instances)"

# The peer's services are limited to the user's role: a radiologist cannot store.
storescu -v -aet CT1 -aec TRESOR -usr reader -pwd "correct horse battery" 127.0.0.1 "$PORT" "$SAMPLE" >"$WORK/r.out" 2>&1
check "radiologist through a store peer: store refused (0x0124)" grep -q "Status: 0x124)" "$WORK/r.out"

# JWT from the HTTPS sign-in.
pw=$(sed -n 's/.*store it safely): //p' "$WORK/init.out")
curl -s --cacert "$DATA/keys/ca.pem" "https://127.0.0.1:$HTTPS_PORT/auth/token" \
  -H 'Content-Type: application/json' -d '{"username":"tech","password":"correct horse battery"}' >"$WORK/token.json"
"$PY" -c 'import json,sys;print(json.load(open(sys.argv[1]))["access_token"])' "$WORK/token.json" >"$WORK/jwt"
check "a JWT was issued" test -s "$WORK/jwt"
"$TRESOR" cat --data "$DATA" 1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322 >/dev/null 2>&1
cp "$SAMPLE" "$WORK/second.dcm"
dcmodify -nb -m "(0008,0018)=2.25.1010" "$WORK/second.dcm" >/dev/null 2>&1
storescu -aet CT1 -aec TRESOR --jwt "$WORK/jwt" 127.0.0.1 "$PORT" "$WORK/second.dcm" >"$WORK/j.out" 2>&1
expect_eq "valid JWT: accepted" 0 "$?"
tr 'A-Za-z' 'B-ZAb-za' <"$WORK/jwt" >"$WORK/bad_jwt"
storescu -aet CT1 -aec TRESOR --jwt "$WORK/bad_jwt" 127.0.0.1 "$PORT" "$WORK/second.dcm" >"$WORK/bj.out" 2>&1
expect_eq "tampered JWT: refused" 1 "$?"
check "... as a permanent reject" grep -q "Rejected Permanent" "$WORK/bj.out"
# An expired token: signed correctly but with exp in the past.
"$PY" - "$DATA/keys/token.key" >"$WORK/old_jwt" <<'PY'
import base64, hashlib, hmac, json, sys
key = open(sys.argv[1], "rb").read()
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"sub": "tech", "role": "technologist", "iat": 1000, "exp": 2000}).encode())
sig = b64(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
PY
storescu -aet CT1 -aec TRESOR --jwt "$WORK/old_jwt" 127.0.0.1 "$PORT" "$WORK/second.dcm" >"$WORK/oj.out" 2>&1
expect_eq "expired JWT: refused" 1 "$?"
check "refusals are logged as security events" grep -q "security event: user identity refused" "$LOG"
check "server still up" server_alive
stop_server
finish
