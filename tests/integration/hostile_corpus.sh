#!/usr/bin/env bash
# The hostile corpus (tests/tools/hostile_corpus.py: truncation, lengths beyond the data,
# 0xFFFFFFFF lengths, deep and wide nesting, bad VRs, odd lengths, duplicate and
# out-of-order tags, pixel geometry that overflows or does not match, BitsAllocated 1, 12
# and 64, broken JPEG / JPEG-LS / RLE / JPEG 2000 streams, RLE bombs, hostile palette and
# LUT descriptors, character-set escapes that never end, polyglot preambles) sent over
# C-STORE and over STOW-RS (curl). Every object gets a clear answer: a DIMSE status (never
# an abort or a dropped connection) and an HTTP status with a Store Instances Response; a
# case that must be refused is refused, the controls are stored. Everything stored is then
# fetched through WADO-RS metadata (200, valid DICOM JSON), frames and rendered (200 with a
# body of the announced type, or a 4xx naming the problem; never a 5xx or a dropped
# connection). The server answers a positive control after every batch, and its resident
# memory stays under 256 MiB throughout (about 85 MiB measured; a decoded RLE bomb frame
# once took it to 570 MiB).
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools
RSS_BOUND_KB=$((256 * 1024))

echo "hostile corpus: C-STORE and STOW-RS, then WADO-RS metadata, frames and rendered"
init_data || { fail "init"; finish; exit 1; }
sed -i 's/^fsync = true/fsync = false/' "$DATA/tresor.conf"  # disposable archive
TOKEN=$("$TRESOR" token create hostile --user admin --data "$DATA" 2>/dev/null | tail -1)
[ -n "$TOKEN" ] || { fail "API token created"; finish; exit 1; }
start_server || { fail "server starts"; finish; exit 1; }
add_peer hostile HOSTILE echo,store
CA=$DATA/keys/ca.pem
BASE=https://127.0.0.1:$HTTPS_PORT/dicom-web
ROOT_DIMSE=1.2.826.0.1.3680043.2.1125.81
ROOT_STOW=1.2.826.0.1.3680043.2.1125.82

"$PY" "$TOOLS/hostile_corpus.py" write --out "$WORK/dimse" --uid-root "$ROOT_DIMSE" &&
  "$PY" "$TOOLS/hostile_corpus.py" write --out "$WORK/stow" --uid-root "$ROOT_STOW" ||
  { fail "corpus written"; finish; exit 1; }
CASES=$(($(wc -l <"$WORK/dimse/cases.tsv") - 1))
check "corpus of $CASES cases written (at least 90)" test "$CASES" -ge 90

PEAK_RSS=0
# A positive control after each batch: C-ECHO by DCMTK, a fresh valid object stored over
# C-STORE, the HTTPS health route; and the resident memory under the bound.
CONTROL=0
control() {
  local what=$1 rss
  CONTROL=$((CONTROL + 1))
  check "$what: server process alive" server_alive
  check "$what: C-ECHO answered" echoscu -aet HOSTILE -aec TRESOR 127.0.0.1 "$PORT"
  "$PY" "$TOOLS/dicom_bytes.py" valid --sop-instance "1.2.826.0.1.3680043.2.1125.83.$CONTROL" \
    -o "$WORK/control.$CONTROL"
  expect_eq "$what: a valid object is stored" status=0x0000 \
    "$("$PY" "$TOOLS/raw_scu.py" --port "$PORT" --calling HOSTILE store \
      --sop-instance "1.2.826.0.1.3680043.2.1125.83.$CONTROL" --dataset "$WORK/control.$CONTROL" 2>&1)"
  expect_eq "$what: HTTPS health answered" 200 \
    "$(curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$HTTPS_PORT/api/health")"
  rss=$(server_rss_kb)
  [ "${rss:-0}" -gt "$PEAK_RSS" ] && PEAK_RSS=$rss
  check "$what: resident memory ${rss} KiB < $((RSS_BOUND_KB / 1024)) MiB" \
    test "${rss:-999999999}" -lt "$RSS_BOUND_KB"
}

# judge PROTOCOL NAME EXPECT OUTCOME: OUTCOME is "stored", "refused DETAIL" or
# "unclear DETAIL"; records STORED_<protocol> for the fetch batch.
judge() {
  local proto=$1 name=$2 expect=$3 outcome=$4
  case "$outcome" in
    unclear*) fail "$proto $name: no clear answer ($outcome)"; return ;;
  esac
  case "$expect:$outcome" in
    refuse:stored) fail "$proto $name: must be refused, was stored" ;;
    store:refused*) fail "$proto $name: must be stored, was $outcome" ;;
    *) pass "$proto $name: $outcome" ;;
  esac
}

# ---------------------------------------------------------------- C-STORE
"$PY" "$TOOLS/hostile_corpus.py" store --dir "$WORK/dimse" --port "$PORT" --calling HOSTILE \
  >"$WORK/dimse.out" 2>"$WORK/dimse.err"
: >"$WORK/stored.tsv"
while IFS=$'\t' read -r name uid ts expect what; do
  [ "$name" = name ] && continue
  got=$(awk -v n="$name" '$1 == n {print $2}' "$WORK/dimse.out")
  case "$got" in
    status=0x0000) outcome=stored ;;
    # Failure statuses (PS3.4 B.2.3 and PS3.7 C): refused, error, cannot understand.
    status=0xa7*|status=0xa9*|status=0xc*|status=0x0111|status=0x0122|status=0x0124)
      outcome="refused $got" ;;
    *) outcome="unclear ${got:-nothing}" ;;
  esac
  judge C-STORE "$name" "$expect" "$outcome"
  [ "$outcome" = stored ] && printf '%s\t%s\t%s\t%s\n' dimse "$name" "$uid" "$ROOT_DIMSE" >>"$WORK/stored.tsv"
done <"$WORK/dimse/cases.tsv"
control "after the C-STORE batch"

# ---------------------------------------------------------------- STOW-RS
B=hostile-corpus-b0undary
while IFS=$'\t' read -r name uid ts expect what; do
  [ "$name" = name ] && continue
  "$PY" "$TOOLS/stow_body.py" files --boundary "$B" "$WORK/stow/$name.dcm" >"$WORK/body"
  code=$(curl -sS --max-time 120 --cacert "$CA" -o "$WORK/resp" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $TOKEN" \
    -H "Content-Type: multipart/related; type=\"application/dicom\"; boundary=$B" \
    -H 'Accept: application/dicom+json' --data-binary @"$WORK/body" "$BASE/studies" 2>/dev/null)
  # 200: stored; 409 with the instance in Failed SOP Sequence (0008,1198): refused; 400,
  # 413, 415 with an error body: refused before the part was read.
  verdict=$("$PY" - "$WORK/resp" "$code" "$uid" <<'EOF'
import json, sys
path, code, uid = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    body = json.load(open(path))
except Exception:
    body = None
def uids(seq):
    return [i.get("00081155", {}).get("Value", [None])[0] for i in seq]
if code == "200" and isinstance(body, dict):
    ok = uids(body.get("00081199", {}).get("Value", []))
    print("stored" if uid in ok else "unclear 200 without the instance")
elif code in ("409", "202") and isinstance(body, dict):
    bad = body.get("00081198", {}).get("Value", [])
    reasons = ["%04X" % i.get("00081197", {}).get("Value", [0])[0] for i in bad]
    print("refused %s %s" % (code, ",".join(reasons)) if bad else "unclear %s without a failed instance" % code)
elif code in ("400", "413", "415") and body is not None:
    print("refused %s" % code)
else:
    print("unclear http %s" % code)
EOF
)
  judge STOW-RS "$name" "$expect" "$verdict"
  [ "$verdict" = stored ] && printf '%s\t%s\t%s\t%s\n' stow "$name" "$uid" "$ROOT_STOW" >>"$WORK/stored.tsv"
done <"$WORK/stow/cases.tsv"
control "after the STOW-RS batch"

# ---------------------------------------------------------------- WADO-RS
# fetch URL ACCEPT: sets CODE, TYPE and the body in $WORK/fetched.
fetch() {
  local out
  out=$(curl -sS --max-time 120 --cacert "$CA" -o "$WORK/fetched" -w '%{http_code} %{content_type}' \
    -H "Authorization: Bearer $TOKEN" -H "Accept: $2" "$1" 2>/dev/null)
  CODE=${out%% *}
  TYPE=${out#* }
}
# A clear refusal of something stored: a 4xx with a JSON error naming it.
clear_refusal() {
  case "$CODE" in
    400|404|406|413|415|422) grep -q '"error"' "$WORK/fetched" ;;
    *) return 1 ;;
  esac
}
STORED=$(wc -l <"$WORK/stored.tsv")
check "some hostile objects were stored and are served next ($STORED)" test "$STORED" -gt 10
while IFS=$'\t' read -r proto name uid root; do
  url=$BASE/studies/$root.0/series/$root.0.1/instances/$uid
  fetch "$url/metadata" application/dicom+json
  if [ "$CODE" = 200 ] && "$PY" -c '
import json, sys
doc = json.load(open(sys.argv[1]))
assert isinstance(doc, list) and len(doc) == 1 and doc[0]["00080018"]["Value"] == [sys.argv[2]]
' "$WORK/fetched" "$uid" 2>/dev/null; then
    pass "$proto $name: metadata is valid DICOM JSON"
  else
    fail "$proto $name: metadata $CODE ($(head -c 200 "$WORK/fetched" | tr -d '\0'))"
  fi
  fetch "$url/frames/1" 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
  if [ "$CODE" = 200 ] && case "$TYPE" in multipart/related*) true ;; *) false ;; esac; then
    pass "$proto $name: frame 1 served ($TYPE)"
  elif clear_refusal; then
    pass "$proto $name: frame 1 refused clearly ($CODE $(head -c 120 "$WORK/fetched"))"
  else
    fail "$proto $name: frame 1: $CODE $TYPE ($(head -c 200 "$WORK/fetched" | tr -d '\0'))"
  fi
  # Decoded (explicit VR little endian, the default): RLE bombs and broken streams go
  # through a decoder here.
  fetch "$url/frames/1" 'multipart/related; type="application/octet-stream"'
  if [ "$CODE" = 200 ] && case "$TYPE" in multipart/related*) true ;; *) false ;; esac; then
    pass "$proto $name: frame 1 served decoded"
  elif clear_refusal; then
    pass "$proto $name: decoded frame 1 refused clearly ($CODE $(head -c 120 "$WORK/fetched"))"
  else
    fail "$proto $name: decoded frame 1: $CODE $TYPE ($(head -c 200 "$WORK/fetched" | tr -d '\0'))"
  fi
  fetch "$url/rendered" image/jpeg
  if [ "$CODE" = 200 ] && [ "$TYPE" = image/jpeg ] &&
     [ "$(head -c 2 "$WORK/fetched" | od -An -tx1 | tr -d ' \n')" = ffd8 ]; then
    pass "$proto $name: rendered as JPEG"
  elif clear_refusal; then
    pass "$proto $name: rendering refused clearly ($CODE $(head -c 120 "$WORK/fetched"))"
  else
    fail "$proto $name: rendered: $CODE $TYPE ($(head -c 200 "$WORK/fetched" | tr -d '\0'))"
  fi
done <"$WORK/stored.tsv"
control "after the WADO-RS batch"

# Polyglot preambles: what STOW-RS stored is served with a zeroed preamble.
poly=$(awk -F'\t' '$1 == "stow" && $2 == "control-valid" {print $3}' "$WORK/stored.tsv")
"$TRESOR" cat --data "$DATA" "$poly" 2>/dev/null | head -c 128 >"$WORK/preamble"
expect_eq "a hostile preamble (sent with every STOW-RS case) is stored zeroed" \
  "$(head -c 128 /dev/zero | od -An -tx1)" "$(od -An -tx1 "$WORK/preamble")"

hwm=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
echo "  peak resident memory: ${hwm} KiB (samples: max ${PEAK_RSS} KiB)"
check "server peak resident memory ${hwm} KiB < $((RSS_BOUND_KB / 1024)) MiB" \
  test "${hwm:-999999999}" -lt "$RSS_BOUND_KB"
check_fails "no crash or sanitizer report in the server log" grep -qE 'AddressSanitizer|runtime error|terminate called' "$LOG"
stop_server
finish
