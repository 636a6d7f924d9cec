#!/usr/bin/env bash
# The web site against the real binary, with curl: the embedded console (SPA fallback,
# CSP), path traversal refused (raw and percent-encoded), the OHIF viewer under /viewer/
# (sign-in redirect, headers, the generated app-config.js, MIME types, 404 for missing
# files, ETag revalidation). The viewer is the one scripts/install-viewer installs (run
# here; it is quick once installed). Every refusal is paired with a request that must
# succeed.
source "$(dirname "$0")/../lib.sh"

echo "site: console and viewer"
VIEWER=$("$ROOT/scripts/install-viewer" 2>"$WORK/install-viewer.err") || VIEWER=
init_data || { fail "init"; finish; exit 1; }
ADMIN_PW=$(sed -n 's/.*store it safely): //p' "$WORK/init.out" | head -1)
if [ -n "$VIEWER" ]; then
  sed -i "s|^viewer_dir = .*|viewer_dir = \"$VIEWER\"|" "$DATA/tresor.conf"
fi
start_server || { fail "server start"; finish; exit 1; }

BASE=https://127.0.0.1:$HTTPS_PORT
CA=$DATA/keys/ca.pem
JAR=$WORK/cookies
N=0
# req ARGS...: one curl request; sets CODE, BODY (file), HEADERS (file).
req() {
  N=$((N + 1))
  BODY=$WORK/body.$N
  HEADERS=$WORK/headers.$N
  CODE=$(curl -sS --max-time 30 --cacert "$CA" -o "$BODY" -D "$HEADERS" -w '%{http_code}' "$@" \
    2>"$WORK/curl.err.$N")
}
header() { grep -i "^$1:" "$HEADERS" | head -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
CONSOLE_CSP="default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

# --- The console ---
req "$BASE/"
expect_eq "GET / serves the console" 200 "$CODE"
expect_eq "its content type" "text/html; charset=utf-8" "$(header Content-Type)"
check "it is ui/console/index.html" cmp "$BODY" "$ROOT/ui/console/index.html"
expect_eq "console CSP" "$CONSOLE_CSP" "$(header Content-Security-Policy)"
check "HSTS still set" test -n "$(header Strict-Transport-Security)"
check "nosniff still set" test "$(header X-Content-Type-Options)" = nosniff
req "$BASE/app.js"
expect_eq "GET /app.js" 200 "$CODE"
expect_eq "its content type" "text/javascript; charset=utf-8" "$(header Content-Type)"
check "it is ui/console/app.js" cmp "$BODY" "$ROOT/ui/console/app.js"
ETAG=$(header ETag)
req -H "If-None-Match: $ETAG" "$BASE/app.js"
expect_eq "revalidation with the ETag: 304" 304 "$CODE"
req "$BASE/users/alice"
expect_eq "SPA fallback for a path without extension" 200 "$CODE"
check "the fallback is index.html" cmp "$BODY" "$ROOT/ui/console/index.html"
req "$BASE/no-such-file.js"
expect_eq "a missing file with an extension is a 404, not the fallback" 404 "$CODE"
req "$BASE/api/no-such-route"
expect_eq "an unknown API path is a JSON 404, not a console page" 404 "$CODE"
check "... with a JSON error" grep -q '"error"' "$BODY"
req -X POST "$BASE/users"
expect_eq "POST to a console path: 405" 405 "$CODE"
expect_eq "... naming GET and HEAD" "GET, HEAD" "$(header Allow)"
# HEAD: the GET's header (its length, type and ETag), no body.
req -I "$BASE/app.js"
expect_eq "HEAD /app.js" 200 "$CODE"
expect_eq "... the length of the file" "$(stat -c %s "$ROOT/ui/console/app.js")" "$(header Content-Length)"
expect_eq "... its type" "text/javascript; charset=utf-8" "$(header Content-Type)"
expect_eq "... its ETag" "$ETAG" "$(header ETag)"
check "... and no body (curl writes only the header)" cmp "$BODY" "$HEADERS"
req -I "$BASE/api/stats"
expect_eq "HEAD of an API route is authenticated like its GET" 401 "$CODE"

# Traversal: raw, encoded, double-encoded, backslash, NUL; each must not leak a file.
# (--path-as-is keeps curl from normalizing dot segments.)
for p in "/../tresor.conf" "/%2e%2e/tresor.conf" "/%2E%2E%2Ftresor.conf" "/a/%2e%2e/%2e%2e/etc/passwd" \
         "/..%2f..%2fetc%2fpasswd" "/%252e%252e/etc/passwd" "/..%5c..%5cetc%5cpasswd" \
         "/index.html%00.js" "/./index.html" "//etc/passwd" "/viewer/../../etc/passwd"; do
  req --path-as-is "$BASE$p"
  if grep -q "root:\|ae_title\|BEGIN" "$BODY"; then
    fail "traversal $p leaked a file"
  elif [ "$CODE" = 200 ] && ! cmp -s "$BODY" "$ROOT/ui/console/index.html"; then
    fail "traversal $p: 200 with something other than the console page"
  else
    pass "traversal $p refused ($CODE)"
  fi
done
req "$BASE/"
expect_eq "positive control after the traversal attempts" 200 "$CODE"

# --- The viewer ---
req -H "Accept: text/html,application/xhtml+xml" "$BASE/viewer/viewer?StudyInstanceUIDs=1.2.3"
expect_eq "signed-out navigation to the viewer: 303" 303 "$CODE"
expect_eq "... to the sign-in page with next" "/?next=/viewer/viewer%3FStudyInstanceUIDs%3D1.2.3" \
  "$(header Location)"
req "$BASE/viewer/app-config.js"
expect_eq "signed-out script request: 401" 401 "$CODE"
req "$BASE/viewer"
expect_eq "/viewer redirects to /viewer/" 308 "$CODE"

JSON=$("$PY" -c 'import json,sys; print(json.dumps({"username":"admin","password":sys.argv[1]}))' "$ADMIN_PW")
req -c "$JAR" -H "Content-Type: application/json" --data "$JSON" "$BASE/auth/session"
expect_eq "browser sign-in" 200 "$CODE"
CSRF=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["csrf_token"])' "$BODY")

req -b "$JAR" "$BASE/viewer/app-config.js"
expect_eq "app-config.js with the session cookie" 200 "$CODE"
expect_eq "its content type" "text/javascript; charset=utf-8" "$(header Content-Type)"
expect_eq "app-config.js is not cached" no-store "$(header Cache-Control)"
for want in "routerBasename: '/viewer'" "qidoRoot: '/dicom-web'" "wadoRoot: '/dicom-web'" \
            "wadoUriRoot: '/dicom-web/wado'" "imageRendering: 'wadors'" "enableStudyLazyLoad: true" \
            "qidoSupportsIncludeField: true" "supportsFuzzyMatching: true" "supportsWildcard: true" \
            "relativeResolution: 'series'" "investigationalUseDialog: { option: 'never' }"; do
  check "app-config.js: $want" grep -qF "$want" "$BODY"
done
check_fails "app-config.js names no other server" grep -E "https?://" "$BODY"

if [ -z "$VIEWER" ]; then
  skip --core "OHIF not installed here (scripts/install-viewer failed: $(tail -1 "$WORK/install-viewer.err"))"
  finish; exit $?
fi
req -b "$JAR" -H "Accept: text/html" "$BASE/viewer/"
expect_eq "GET /viewer/ signed in" 200 "$CODE"
check "it is OHIF's index.html" cmp "$BODY" "$VIEWER/index.html"
check "index.html has no inline script" bash -c "! grep -oE '<script[^>]*>[^<]+</script>' '$BODY'"
expect_eq "COOP" same-origin "$(header Cross-Origin-Opener-Policy)"
expect_eq "COEP" require-corp "$(header Cross-Origin-Embedder-Policy)"
expect_eq "CORP" same-origin "$(header Cross-Origin-Resource-Policy)"
VCSP=$(header Content-Security-Policy)
check "viewer CSP: script-src without unsafe-inline/unsafe-eval" \
  bash -c "echo \"$VCSP\" | grep -q \"script-src 'self' 'wasm-unsafe-eval';\""
check "viewer CSP: frame-ancestors 'none'" bash -c "echo \"$VCSP\" | grep -q \"frame-ancestors 'none'\""
req -b "$JAR" -H "Accept: text/html" "$BASE/viewer/viewer?StudyInstanceUIDs=1.2.3"
expect_eq "SPA fallback under /viewer/" 200 "$CODE"
check "... is index.html" cmp "$BODY" "$VIEWER/index.html"
BUNDLE=$(cd "$VIEWER" && ls app.bundle.*.js | head -1)
req -b "$JAR" "$BASE/viewer/$BUNDLE"
expect_eq "the hashed main bundle" 200 "$CODE"
expect_eq "... text/javascript" "text/javascript; charset=utf-8" "$(header Content-Type)"
check "... cacheable privately" bash -c "echo '$(header Cache-Control)' | grep -q '^private, max-age='"
check "... byte for byte" cmp "$BODY" "$VIEWER/$BUNDLE"
WASM=$(cd "$VIEWER" && ls ./*.wasm | head -1 | sed 's|^\./||')
req -b "$JAR" "$BASE/viewer/$WASM"
expect_eq "a wasm codec" 200 "$CODE"
expect_eq "... application/wasm" application/wasm "$(header Content-Type)"
req -b "$JAR" "$BASE/viewer/app.bundle.css"
expect_eq "the stylesheet: text/css" "text/css; charset=utf-8" "$(header Content-Type)"
check "... revalidated (no-cache) with an ETag" test "$(header Cache-Control)" = "private, no-cache"
check "... its fonts point under /viewer/" grep -q "url(/viewer/" "$BODY"
req -b "$JAR" "$BASE/viewer/assets/favicon.ico"
expect_eq "an icon: image/x-icon" image/x-icon "$(header Content-Type)"
req -b "$JAR" "$BASE/viewer/nothing.bundle.0000000000000000.js"
expect_eq "a missing asset is a 404, not the fallback" 404 "$CODE"
req -b "$JAR" "$BASE/viewer/sw.js"
expect_eq "no service worker is served" 404 "$CODE"
req -b "$JAR" "$BASE/viewer/assets/"
expect_eq "a directory is not listed" 404 "$CODE"
check_fails "... and its body lists no file" grep -q favicon "$BODY"
req -b "$JAR" --path-as-is "$BASE/viewer/%2e%2e/%2e%2e/tresor.conf"
check "encoded traversal under /viewer/ refused" test "$CODE" != 200 -o ! -s "$BODY" -o -z "$(grep ae_title "$BODY")"
req -b "$JAR" "$BASE/viewer/tresor-boot.js"
expect_eq "the boot script (moved out of index.html)" 200 "$CODE"
check "... sets PUBLIC_URL /viewer/" grep -q 'PUBLIC_URL = "/viewer/"' "$BODY"

# --- Sign-out ---
req -b "$JAR" "$BASE/dicom-web/studies"
expect_eq "DICOMweb with the cookie before sign-out" 200 "$CODE"
req -b "$JAR" -c "$JAR" -X POST -H "X-CSRF-Token: $CSRF" "$BASE/auth/logout"
expect_eq "sign-out" 200 "$CODE"
req -b "$JAR" -H "Accept: text/html" "$BASE/viewer/"
expect_eq "viewer after sign-out: 303 to sign-in" 303 "$CODE"
req -b "$JAR" "$BASE/dicom-web/studies"
expect_eq "DICOMweb after sign-out: 401" 401 "$CODE"
check "server still up" server_alive

finish
