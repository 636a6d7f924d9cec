#!/usr/bin/env bash
# The HTTPS listener of `tresor serve`: TLS 1.2/1.3 only, security headers on every
# response (errors included), bearer authentication in front of every non-public route,
# sign-in with lockout, body and header limits, JSON errors, one log line per request
# without secrets. Every refusal asserts its exact status and is followed by a request
# the server must answer (GET /api/health: 200), so no refusal passes on a dead server.
source "$(dirname "$0")/../lib.sh"

echo "https: REST API over TLS"
init_data || { fail "init"; finish; exit 1; }
ADMIN_PW=$(sed -n 's/.*store it safely): //p' "$WORK/init.out" | head -1)
check "init printed the admin password" test -n "$ADMIN_PW"
SAMPLE=$("$PY" -c 'import pydicom.data,os;print(os.path.join(os.path.dirname(pydicom.data.__file__),"test_files","CT_small.dcm"))')
"$TRESOR" import --data "$DATA" "$SAMPLE" >/dev/null 2>&1

# serve_https: start `tresor serve` (tests/lib.sh) and require its HTTPS listener.
serve_https() {
  if ! start_server || [ -z "$HTTPS_PORT" ]; then
    fail "the server reports 'HTTPS listener on ADDRESS:PORT'"
    sed 's/^/       /' "$LOG" | tail -20
    finish
    exit 1
  fi
  pass "HTTPS listener on port $HTTPS_PORT"
}
serve_https

BASE=https://127.0.0.1:$HTTPS_PORT
CA=$DATA/keys/ca.pem
N=0
# req ARGS...: one curl request; sets CODE, BODY (file), HEADERS (file).
req() {
  N=$((N + 1))
  BODY=$WORK/body.$N
  HEADERS=$WORK/headers.$N
  CODE=$(curl -sS --max-time 20 --cacert "$CA" -o "$BODY" -D "$HEADERS" -w '%{http_code}' "$@" \
    2>"$WORK/curl.err.$N")
}
header() { grep -i "^$1:" "$HEADERS" | head -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
json() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"d": d}))' "$BODY" "$1" 2>/dev/null; }
# Every response, errors included, carries the security headers.
security_headers() {
  local what=$1 missing=""
  [ "$(header Strict-Transport-Security)" = "max-age=31536000; includeSubDomains" ] || missing+=" HSTS"
  header Content-Security-Policy | grep -q "frame-ancestors 'none'" || missing+=" CSP"
  [ "$(header X-Content-Type-Options)" = "nosniff" ] || missing+=" nosniff"
  [ "$(header X-Frame-Options)" = "DENY" ] || missing+=" X-Frame-Options"
  [ "$(header Referrer-Policy)" = "no-referrer" ] || missing+=" Referrer-Policy"
  [ "$(header Cache-Control)" = "no-store" ] || missing+=" Cache-Control"
  if [ -z "$missing" ]; then pass "$what: security headers"; else fail "$what: missing$missing"; fi
}
json_error() {
  if header Content-Type | grep -q '^application/json' && [ -n "$(json 'd["error"]')" ]; then
    pass "$1: JSON error body"
  else
    fail "$1: JSON error body (got: $(head -c 200 "$BODY"))"
  fi
}

# Public routes.
req "$BASE/api/health"
expect_eq "GET /api/health without credentials" 200 "$CODE"
security_headers "health"
expect_eq "health says ok" ok "$(json 'd["status"]')"
expect_eq "health carries only status and version" "['status', 'version']" "$(json 'sorted(d)')"
check "health is application/json" bash -c "grep -qi '^content-type: application/json' '$HEADERS'"

req "$BASE/api/openapi.json"
expect_eq "GET /api/openapi.json" 200 "$CODE"
security_headers "openapi"
expect_eq "openapi is version 3" 3 "$(json 'd["openapi"].split(".")[0]')"
for route in "/api/health get" "/api/openapi.json get" "/auth/token post" "/api/stats get"; do
  set -- $route
  expect_eq "openapi lists $2 $1" True "$(json "'$2' in d['paths'].get('$1', {})")"
done
expect_eq "openapi marks /api/health public" "[]" "$(json 'd["paths"]["/api/health"]["get"]["security"]')"
expect_eq "openapi marks /api/openapi.json public" "[]" "$(json 'd["paths"]["/api/openapi.json"]["get"]["security"]')"
expect_eq "openapi marks /auth/token public" "[]" "$(json 'd["paths"]["/auth/token"]["post"]["security"]')"
expect_eq "openapi requires bearerAuth for /api/stats" True \
  "$(json '"bearerAuth" in d["paths"]["/api/stats"]["get"]["security"][0]')"

# Authentication in front of /api/stats.
req "$BASE/api/stats"
expect_eq "GET /api/stats without a token" 401 "$CODE"
security_headers "401"
json_error "401"
check "401 carries WWW-Authenticate: Bearer" bash -c "grep -qi '^www-authenticate: Bearer' '$HEADERS'"
req -H "Authorization: Bearer garbage" "$BASE/api/stats"
expect_eq "GET /api/stats with a garbage token" 401 "$CODE"

req -H "Content-Type: application/json" \
  --data "{\"username\":\"admin\",\"password\":\"not the password\"}" "$BASE/auth/token"
expect_eq "sign-in with a wrong password" 401 "$CODE"
security_headers "sign-in 401"
WRONG_MSG=$(json 'd["error"]')
req -H "Content-Type: application/json" \
  --data "{\"username\":\"nobody\",\"password\":\"not the password\"}" "$BASE/auth/token"
expect_eq "sign-in as an unknown user" 401 "$CODE"
expect_eq "unknown user and wrong password look alike" "$WRONG_MSG" "$(json 'd["error"]')"

req -H "Content-Type: text/plain" --data "admin:$ADMIN_PW" "$BASE/auth/token"
expect_eq "sign-in with another content type" 415 "$CODE"
req -H "Content-Type: application/json" --data "{not json" "$BASE/auth/token"
expect_eq "sign-in with malformed JSON" 400 "$CODE"
json_error "400"

ADMIN_JSON=$("$PY" -c 'import json,sys; print(json.dumps({"username":"admin","password":sys.argv[1]}))' "$ADMIN_PW")
req -H "Content-Type: application/json" --data "$ADMIN_JSON" "$BASE/auth/token"
expect_eq "sign-in as admin" 200 "$CODE"
security_headers "token"
TOKEN=$(json 'd["access_token"]')
check "the token response has a token" test -n "$TOKEN"
expect_eq "token_type is Bearer" Bearer "$(json 'd["token_type"]')"
expect_eq "expires_in is positive" True "$(json 'd["expires_in"] > 0')"

req --data-urlencode "username=admin" --data-urlencode "password=$ADMIN_PW" "$BASE/auth/token"
expect_eq "sign-in with a form body" 200 "$CODE"

req -H "Authorization: Bearer $TOKEN" "$BASE/api/stats"
expect_eq "GET /api/stats with the token" 200 "$CODE"
security_headers "stats"
expect_eq "stats has the counts" "['bytes', 'instances', 'patients', 'series', 'studies']" "$(json 'sorted(d)')"
expect_eq "stats counts are integers" True "$(json 'all(isinstance(v, int) for v in d.values())')"
expect_eq "stats counts the imported instance" 1 "$(json 'd["instances"]')"

# Routing errors.
req "$BASE/api/nope"
expect_eq "unknown path" 404 "$CODE"
security_headers "404"
json_error "404"
req -X DELETE "$BASE/api/health"
expect_eq "wrong method" 405 "$CODE"
expect_eq "405 names the allowed methods" "GET, HEAD" "$(header Allow)"
security_headers "405"
json_error "405"

# alive WHAT: the check after a refusal, a public request that must get 200.
alive() {
  req "$BASE/api/health"
  expect_eq "  ... and after $1 the server answers GET /api/health" 200 "$CODE"
}

# Limits.
head -c 2097152 /dev/zero >"$WORK/big.bin"
req -H "Content-Type: application/octet-stream" --data-binary "@$WORK/big.bin" "$BASE/auth/token"
expect_eq "a 2 MB body (Expect: 100-continue)" 413 "$CODE"
security_headers "413"
json_error "413"
req -H "Expect:" -H "Content-Type: application/octet-stream" --data-binary "@$WORK/big.bin" "$BASE/auth/token"
expect_eq "a 2 MB body sent at once" 413 "$CODE"
alive "the 2 MB bodies"
req -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)" "$BASE/api/health"
expect_eq "an oversized header (20 kB)" 431 "$CODE"
security_headers "oversized header"
alive "the oversized header"

# TLS versions.
check_fails "TLS 1.1 is refused" bash -c "openssl s_client -connect 127.0.0.1:$HTTPS_PORT -tls1_1 \
  -cipher 'DEFAULT:@SECLEVEL=0' </dev/null"
alive "the TLS 1.1 attempt"
check "TLS 1.2 is accepted with a verified certificate" bash -c "openssl s_client -connect 127.0.0.1:$HTTPS_PORT \
  -tls1_2 -CAfile '$CA' -verify_ip 127.0.0.1 -verify_return_error </dev/null 2>&1 | grep -q 'Protocol *: TLSv1.2'"
check "TLS 1.3 is accepted with a verified certificate" bash -c "openssl s_client -connect 127.0.0.1:$HTTPS_PORT \
  -tls1_3 -CAfile '$CA' -verify_ip 127.0.0.1 -verify_return_error </dev/null 2>&1 | grep -q 'TLSv1.3'"
check_fails "a CBC suite is refused over TLS 1.2" bash -c "openssl s_client -connect 127.0.0.1:$HTTPS_PORT \
  -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256 </dev/null"
alive "the CBC suite attempt"
# curl prints 000 when no HTTP response came back at all.
PLAIN=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTPS_PORT/api/health")
expect_eq "plain HTTP to the HTTPS port gets no HTTP response" 000 "$PLAIN"
alive "the plain HTTP request"

# Logs: one line per request with user, never a password or a token.
check "requests are logged with method, path, status, client and user" \
  grep -q "HTTPS GET /api/stats 200 client 127.0.0.1 user admin" "$LOG"
check "the log never contains the password" bash -c "! grep -qF -- '$ADMIN_PW' '$LOG'"
check "the log never contains the token" bash -c "! grep -qF -- '$TOKEN' '$LOG'"
check "the log never contains the garbage token either" bash -c "! grep -q 'Bearer garbage' '$LOG'"

# Browser session: the same sign-in into an HttpOnly cookie, CSRF token for changes.
JAR=$WORK/cookies.txt
req -c "$JAR" -H "Content-Type: application/json" --data "$ADMIN_JSON" "$BASE/auth/session"
expect_eq "POST /auth/session" 200 "$CODE"
SETCOOKIE=$(header Set-Cookie)
check "the session cookie is Secure, HttpOnly, SameSite=Strict, Path=/" bash -c \
  "echo '$SETCOOKIE' | grep -q '^tresor_session=[^;]*; Path=/; Max-Age=[0-9]*; Secure; HttpOnly; SameSite=Strict$'"
CSRF=$(json 'd["csrf_token"]')
check "a CSRF token comes with it" test ${#CSRF} -eq 64
SESSION_TOKEN=$(awk '$6 == "tresor_session" {print $7}' "$JAR" | head -1)
check "curl stored the cookie" test -n "$SESSION_TOKEN"
expect_eq "the session says who signed in" admin "$(json 'd["user"]')"
req -b "$JAR" "$BASE/api/stats"
expect_eq "GET with the cookie alone" 200 "$CODE"
req -b "$JAR" "$BASE/auth/session"
expect_eq "GET /auth/session with the cookie" 200 "$CODE"
expect_eq "... recovers the same CSRF token" "$CSRF" "$(json 'd["csrf_token"]')"
expect_eq "... and the role" admin "$(json 'd["role"]')"
req -b "$JAR" -X POST "$BASE/auth/logout"
expect_eq "POST /auth/logout with the cookie but no CSRF token" 403 "$CODE"
json_error "CSRF refusal"
req -b "$JAR" -H "X-CSRF-Token: 0000$CSRF" -X POST "$BASE/auth/logout"
expect_eq "... or a wrong one" 403 "$CODE"
req -b "$JAR" "$BASE/api/stats"
expect_eq "the session survived the refused sign-outs" 200 "$CODE"
req -b "$JAR" -c "$JAR" -H "X-CSRF-Token: $CSRF" -X POST "$BASE/auth/logout"
expect_eq "POST /auth/logout with cookie and CSRF token" 200 "$CODE"
check "sign-out clears the cookie (Max-Age=0)" bash -c "grep -qi '^set-cookie: tresor_session=; Path=/; Max-Age=0;' '$HEADERS'"
req -H "Cookie: tresor_session=${SESSION_TOKEN:-none}" "$BASE/api/stats"
expect_eq "after sign-out the old cookie is refused" 401 "$CODE"
req -H "Authorization: Bearer $TOKEN" "$BASE/api/stats"
expect_eq "... while the bearer session still works" 200 "$CODE"

# CORS: no origin is configured by default, so nobody gets a grant.
req -H "Origin: https://evil.example" -H "Authorization: Bearer $TOKEN" "$BASE/api/stats"
expect_eq "a request from an unconfigured origin is still answered" 200 "$CODE"
expect_eq "... without a CORS grant" "" "$(header Access-Control-Allow-Origin)"
req -X OPTIONS -H "Origin: https://evil.example" -H "Access-Control-Request-Method: GET" \
  "$BASE/api/stats"
expect_eq "a preflight from an unconfigured origin" 403 "$CODE"
expect_eq "... without a CORS grant" "" "$(header Access-Control-Allow-Origin)"
security_headers "preflight"

# Back-off (last: it slows sign-ins for admin from this address for the rest of the run).
for i in 1 2 3 4 5 6; do
  req -H "Content-Type: application/json" \
    --data "{\"username\":\"admin\",\"password\":\"wrong $i\"}" "$BASE/auth/token"
done
expect_eq "repeated failed sign-ins for one user: back-off" 429 "$CODE"
security_headers "429"
req -H "Content-Type: application/json" --data "$ADMIN_JSON" "$BASE/auth/token"
expect_eq "even the right password is not checked during the back-off" 429 "$CODE"
req -H "Authorization: Bearer $TOKEN" "$BASE/api/stats"
expect_eq "a valid token from that address is never refused" 200 "$CODE"
req "$BASE/api/health"
expect_eq "health stays public while blocked" 200 "$CODE"

check "the server is still running" server_alive
stop_server

# The web limits come from tresor.conf ([web]).
sed -i '/^\[web\]/,/^\[/ s/^max_header_bytes = .*/max_header_bytes = 2048/' "$DATA/tresor.conf"
sed -i '/^\[web\]/,/^\[/ s|^cors_origins = .*|cors_origins = "https://viewer.example:3000"|' "$DATA/tresor.conf"
serve_https
BASE=https://127.0.0.1:$HTTPS_PORT
req -H "X-Big: $(head -c 4000 /dev/zero | tr '\0' a)" "$BASE/api/health"
expect_eq "with web.max_header_bytes = 2048 a 4 kB header" 431 "$CODE"
req -H "X-Small: $(head -c 1000 /dev/zero | tr '\0' a)" "$BASE/api/health"
expect_eq "... and a 1 kB header is still fine" 200 "$CODE"
req -X OPTIONS -H "Origin: https://viewer.example:3000" -H "Access-Control-Request-Method: GET" \
  -H "Access-Control-Request-Headers: authorization, accept" "$BASE/api/stats"
expect_eq "with web.cors_origins set, its preflight" 204 "$CODE"
expect_eq "... grants that origin" "https://viewer.example:3000" "$(header Access-Control-Allow-Origin)"
expect_eq "... with credentials" true "$(header Access-Control-Allow-Credentials)"
check "... allowing Authorization and Accept" bash -c \
  "grep -i '^access-control-allow-headers:' '$HEADERS' | grep -q Authorization"
req -H "Origin: https://viewer.example:3000" "$BASE/api/stats"
expect_eq "an unauthenticated request from the allowed origin" 401 "$CODE"
expect_eq "... carries the grant (the browser may read the 401)" "https://viewer.example:3000" \
  "$(header Access-Control-Allow-Origin)"
req -H "Origin: https://other.example" "$BASE/api/health"
expect_eq "another origin" 200 "$CODE"
expect_eq "... gets no grant" "" "$(header Access-Control-Allow-Origin)"
stop_server
finish
