#!/usr/bin/env bash
# The console (ui/console, served by the real tresor at /) in Debian's Chromium, driven by
# npm playwright-core: tests/browser/console.js does the checks (one line each). The
# corpus: tests/tools/make_studies.py (12 patients x 2 studies x 2 series, four character
# sets) plus one ASCII study whose PatientName is markup (`<img src=x onerror=alert(1)>`,
# set with pydicom), which must show as text. Users: the administrator made by
# `tresor init` (its printed password), a radiologist, an auditor; one registered peer.
# Screenshots go to $BROWSER_ARTIFACTS, else $ARTIFACTS (set by tests/CMakeLists.txt), else
# build/test-artifacts/browser.
source "$(dirname "$0")/../lib.sh"
export BROWSER_ARTIFACTS=${BROWSER_ARTIFACTS:-${ARTIFACTS:-$ROOT/build/test-artifacts/browser}}

echo "browser.console: the web console in Chromium"
NODE_MODULES=$("$ROOT/scripts/install-node-deps") || { fail "node packages install (scripts/install-node-deps)"; finish; exit 1; }
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  skip --core "Chromium is not installed (scripts/install-deps installs Debian's chromium)"; finish; exit $?
fi

CORPUS=$WORK/corpus
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$CORPUS" --patients 12 --studies 2 \
  --series 2 --instances 1 --rows 64 --cols 64 >/dev/null || { fail "corpus generation"; finish; exit 1; }
XSS_NAME='<img src=x onerror=alert(1)>'
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$WORK/xss" --patients 1 --studies 1 --series 1 \
  --instances 1 --rows 64 --cols 64 --charset ascii --seed 2 >/dev/null || { fail "markup study generation"; finish; exit 1; }
XSS_FILE=$(cd "$WORK/xss" && ls p*/st*/se*/*.dcm)
"$PY" - "$WORK/xss/$XSS_FILE" "$XSS_NAME" <<'PY' || { fail "setting the markup PatientName"; finish; exit 1; }
import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
ds.PatientName = sys.argv[2]
ds.save_as(sys.argv[1])
PY
MANIFEST=$WORK/manifest.tsv
{ cat "$CORPUS/manifest.tsv"; tail -n +2 "$WORK/xss/manifest.tsv" |
  awk -F'\t' -v OFS='\t' -v n="$XSS_NAME" '{ $9 = n; print }'; } >"$MANIFEST"
rm "$CORPUS/manifest.tsv" "$WORK/xss/manifest.tsv"
XSS_UID=$(tail -1 "$MANIFEST" | cut -f3)
XSS_PID=$(tail -1 "$MANIFEST" | cut -f2)
STUDIES=$(tail -n +2 "$MANIFEST" | cut -f3 | sort -u | wc -l)

init_data || { fail "init"; finish; exit 1; }
sed -i 's/^fsync = true/fsync = false/' "$DATA/tresor.conf"  # disposable archive
ADMIN_PASSWORD=$(sed -n 's/^Password (shown only now[^:]*: *//p' "$WORK/init.out")
check "tresor init printed the administrator's password" test -n "$ADMIN_PASSWORD"
check "importing the corpus and the markup study succeeds" "$TRESOR" import --data "$DATA" "$CORPUS" "$WORK/xss"
READER_PASSWORD='correct horse battery staple'
for u in reader:radiologist auditor:auditor; do
  echo "$READER_PASSWORD" | "$TRESOR" user add "${u%%:*}" --role "${u#*:}" --groups all \
    --password-stdin --data "$DATA" >/dev/null || fail "user add ${u%%:*}"
done
add_peer pacs1 PACS1 echo,store

if ! start_server || [ -z "$HTTPS_PORT" ]; then
  fail "the server starts with its HTTPS listener"; finish; exit 1
fi
BASE=https://127.0.0.1:$HTTPS_PORT
if ! curl -sS --cacert "$DATA/keys/ca.pem" "$BASE/" 2>/dev/null | grep -q 'src="/js/main.js"'; then
  skip --core "this build does not serve the console at / (ui/console embedding)"
  stop_server; finish; exit $?
fi

cat >"$WORK/config.json" <<JSON
{"base": "$BASE", "manifest": "$MANIFEST", "series": 2, "peer": "pacs1",
 "admin": {"user": "admin", "password": "$ADMIN_PASSWORD"},
 "reader": {"user": "reader", "password": "$READER_PASSWORD"},
 "users": ["admin", "reader", "auditor"],
 "xss": {"uid": "$XSS_UID", "pid": "$XSS_PID", "name": "$XSS_NAME", "series": 1}}
JSON

while IFS= read -r line; do
  case $line in
    PASS\ *) pass "${line#PASS }" ;;
    FAIL\ *) fail "${line#FAIL }" ;;
    SKIP\ *) skip "${line#SKIP }" ;;
    *) echo "       $line" ;;
  esac
done < <(NODE_PATH=$NODE_MODULES timeout 150 node "$ROOT/tests/browser/console.js" "$WORK/config.json" 2>&1)
check "the server is still running" server_alive
stop_server
expect_eq "the archive holds the $STUDIES studies the checks expect" "studies: $STUDIES" \
  "$("$TRESOR" stats --data "$DATA" 2>/dev/null | grep studies | tr -s ' ')"
if grep -qF 'onerror=alert' "$LOG"; then fail "the log carries the patient name"; else pass "the log carries no patient name"; fi
finish
