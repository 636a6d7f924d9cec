#!/usr/bin/env bash
# OHIF in headless Chromium against the real binary (tests/browser/viewer.js): a
# generated 200-slice 512x512 CT series, the study list and the study under /viewer/, the
# network log, CSP and the rendered pixels; screenshots into $ARTIFACTS
# (build/test-artifacts/browser by default).
source "$(dirname "$0")/../lib.sh"

echo "browser: OHIF viewer"
VIEWER=$("$ROOT/scripts/install-viewer" 2>"$WORK/install-viewer.err") || VIEWER=
NODE_MODULES=$("$ROOT/scripts/install-node-deps" 2>"$WORK/install-node.err") || NODE_MODULES=
if [ -z "$VIEWER" ] || [ -z "$NODE_MODULES" ] || [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  skip --core "OHIF, node packages or chromium missing (scripts/install-deps)"
  finish; exit $?
fi
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$WORK/ct" --patients 1 --series 1 \
  --instances 200 --rows 512 --cols 512 --modalities CT --jobs 2 >/dev/null ||
  { fail "make_studies"; finish; exit 1; }
read -r _ _ STUDY _ < <(sed -n 2p "$WORK/ct/manifest.tsv")
init_data || { fail "init"; finish; exit 1; }
ADMIN_PW=$(sed -n 's/.*store it safely): //p' "$WORK/init.out" | head -1)
sed -i "s|^viewer_dir = .*|viewer_dir = \"$VIEWER\"|" "$DATA/tresor.conf"
"$TRESOR" import --data "$DATA" "$WORK/ct" >"$WORK/import.out" 2>&1
check "import the 200-slice CT series" grep -q "200 stored" "$WORK/import.out"
start_server || { fail "server start"; finish; exit 1; }

if BASE=https://127.0.0.1:$HTTPS_PORT USERNAME=admin PASSWORD=$ADMIN_PW STUDY=$STUDY FRAMES=200 \
   ARTIFACTS=${ARTIFACTS:-$ROOT/build/test-artifacts/browser} NODE_PATH=$NODE_MODULES \
   timeout 240 node "$ROOT/tests/browser/viewer.js" >"$WORK/viewer.out" 2>&1; then
  pass "OHIF viewer checks"
else
  fail "OHIF viewer checks"
fi
sed 's/^/  /' "$WORK/viewer.out"
if grep -q " 429 \| 503 " "$LOG"; then fail "the server refused requests (429/503) during the load"; fi
check "server still up" server_alive
finish
