#!/usr/bin/env bash
# S30 (and S25's quick checks) over DICOMweb: a token whose access groups exclude a study
# gets, on every DICOMweb route of that study (QIDO by StudyInstanceUID and below the
# study, metadata, retrieve at every level, frames, rendered, thumbnail, bulkdata,
# WADO-URI), exactly what it gets for a UID that does not exist: the same status (404 on
# every resource route), body and headers (Date aside). A token whose groups include the
# study gets 200 on the same URLs. Without credentials QIDO, WADO-RS, WADO-URI and STOW-RS
# answer 401 (the OpenAPI sweep over every route is the transport suite's). Roles: the
# auditor may not query, the technologist may query and store but not retrieve.
source "$(dirname "$0")/../lib.sh"

echo "S30: DICOMweb out of scope answers exactly like missing"
check "corpus: 2 patients, one CT study each" "$PY" "$ROOT/tests/tools/make_studies.py" \
  --out "$WORK/corpus" --patients 2 --rows 16 --cols 16 --modalities CT
M=$WORK/corpus/manifest.tsv
row() { awk -F'\t' -v n="$1" -v c="$2" 'NR == n + 1 {print $c}' "$M"; }
A_ST=$(row 1 3) A_SE=$(row 1 4) A_SOP=$(row 1 5)
B_ST=$(row 2 3) B_SE=$(row 2 4) B_SOP=$(row 2 5) B_PID=$(row 2 2)
X_ST=2.25.1111111111111111111 X_SE=2.25.2222222222222222222 X_SOP=2.25.3333333333333333333

init_data
mapfile -t files < <(find "$WORK/corpus" -name '*.dcm' | sort)
check "tresor import" "$TRESOR" import --data "$DATA" "${files[@]}"
check "study A goes to group site-a" "$TRESOR" group assign site-a "$A_ST" --data "$DATA"
check "study B goes to group site-b" "$TRESOR" group assign site-b "$B_ST" --data "$DATA"
start_server || { fail "server starts"; finish; exit 1; }
user() { echo "correct horse battery" | "$TRESOR" user add "$1" --role "$2" --groups "$3" --password-stdin --data "$DATA" >/dev/null; }
user reader-a radiologist site-a
user reader-b radiologist site-b
user tech technologist all
user audit auditor all
token() {
  curl -s --cacert "$DATA/keys/ca.pem" "https://127.0.0.1:$HTTPS_PORT/auth/token" \
    -H 'Content-Type: application/json' -d "{\"username\":\"$1\",\"password\":\"correct horse battery\"}" |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
T_A=$(token reader-a) T_B=$(token reader-b) T_TECH=$(token tech) T_AUDIT=$(token audit)
check "tokens for reader-a (site-a), reader-b (site-b), tech and audit" \
  test -n "$T_A" -a -n "$T_B" -a -n "$T_TECH" -a -n "$T_AUDIT"
BASE=https://127.0.0.1:$HTTPS_PORT/dicom-web

# get NAME TOKEN URL [ACCEPT]: status; body in NAME.body, headers (Date removed, names
# lower-cased, sorted) in NAME.hdr.
get() {
  local name=$1 tok=$2 url=$3 accept=${4:-*/*} auth=()
  [ -z "$tok" ] || auth=(-H "Authorization: Bearer $tok")
  curl -s --cacert "$DATA/keys/ca.pem" "${auth[@]}" -H "Accept: $accept" -D "$WORK/$name.rawhdr" \
    -o "$WORK/$name.body" -w '%{http_code}' "$url"
  tr -d '\r' <"$WORK/$name.rawhdr" | grep -v '^HTTP/' | grep -vi '^date:' |
    awk -F': ' 'NF { print tolower($1) ": " $2 }' | sort >"$WORK/$name.hdr"
}
# routes ST SE SOP: "name|path|accept" of every DICOMweb route of one study.
routes() {
  local st=$1 se=$2 sop=$3 i="studies/$1/series/$2/instances/$3"
  cat <<EOF
qido-study|studies?StudyInstanceUID=$st|application/dicom+json
qido-series-of-study|studies/$st/series|application/dicom+json
qido-instances-of-study|studies/$st/instances|application/dicom+json
qido-instances-of-series|studies/$st/series/$se/instances|application/dicom+json
qido-series-by-uid|series?StudyInstanceUID=$st|application/dicom+json
qido-instances-by-uid|instances?SOPInstanceUID=$sop|application/dicom+json
metadata-study|studies/$st/metadata|application/dicom+json
metadata-series|studies/$st/series/$se/metadata|application/dicom+json
metadata-instance|$i/metadata|application/dicom+json
retrieve-study|studies/$st|multipart/related; type="application/dicom"; transfer-syntax=*
retrieve-series|studies/$st/series/$se|multipart/related; type="application/dicom"; transfer-syntax=*
retrieve-instance|$i|multipart/related; type="application/dicom"; transfer-syntax=*
frames|$i/frames/1|multipart/related; type="application/octet-stream"; transfer-syntax=*
rendered-instance|$i/rendered|image/jpeg
rendered-frame|$i/frames/1/rendered|image/png
thumbnail-series|studies/$st/series/$se/thumbnail|image/jpeg
thumbnail-instance|$i/thumbnail|image/jpeg
thumbnail-study|studies/$st/thumbnail|image/jpeg
wado-uri|wado?requestType=WADO&studyUID=$st&seriesUID=$se&objectUID=$sop&contentType=application/dicom|application/dicom
wado-uri-jpeg|wado?requestType=WADO&studyUID=$st&seriesUID=$se&objectUID=$sop&contentType=image/jpeg|image/jpeg
EOF
}
# The pixel data BulkDataURI of an instance, from its metadata as reader-b sees it, made
# absolute; the same URI for the missing UIDs by substitution.
get meta-b "$T_B" "$BASE/studies/$B_ST/series/$B_SE/instances/$B_SOP/metadata" application/dicom+json >/dev/null
BULK=$("$PY" - "$WORK/meta-b.body" "$BASE/studies/$B_ST/series/$B_SE/instances/$B_SOP/metadata" <<'PY' 2>/dev/null
import json, sys, urllib.parse
o = json.load(open(sys.argv[1]))[0]
print(urllib.parse.urljoin(sys.argv[2], o["7FE00010"]["BulkDataURI"]))
PY
)
check "instance metadata as reader-b gives a PixelData BulkDataURI" test -n "$BULK"
is_empty_qido() {  # a QIDO answer with no match: 204, or 200 with []
  [ "$1" = 204 ] || { [ "$1" = 200 ] && [ "$(tr -d ' \n' <"$2")" = "[]" ]; }
}
check_route() {  # check_route NAME PATH_B PATH_X ACCEPT
  local name=$1 pb=$2 px=$3 accept=$4 sh sx so
  sh=$(get "$name-hidden" "$T_A" "$pb" "$accept")
  sx=$(get "$name-missing" "$T_A" "$px" "$accept")
  so=$(get "$name-own" "$T_B" "$pb" "$accept")
  case $name in
    qido-*) if is_empty_qido "$sh" "$WORK/$name-hidden.body"; then pass "$name: out of scope gets no match ($sh)"; else fail "$name: out of scope got $sh $(head -c 120 "$WORK/$name-hidden.body")"; fi ;;
    *) expect_eq "$name: out of scope gets 404" 404 "$sh" ;;
  esac
  if [ "$sh" = "$sx" ] && cmp -s "$WORK/$name-hidden.body" "$WORK/$name-missing.body" &&
     cmp -s "$WORK/$name-hidden.hdr" "$WORK/$name-missing.hdr"; then
    pass "$name: same status, body and headers as a missing UID"
  else
    fail "$name: hidden $sh vs missing $sx: $(diff "$WORK/$name-hidden.hdr" "$WORK/$name-missing.hdr" | tr '\n' ' ' | head -c 200) $(head -c 80 "$WORK/$name-hidden.body") / $(head -c 80 "$WORK/$name-missing.body")"
  fi
  expect_eq "$name: a token whose groups include the study gets 200" 200 "$so"
  check_fails "$name: the hidden answer carries no patient data" grep -q "$B_PID" "$WORK/$name-hidden.body"
}
while IFS='|' read -r name path accept; do
  px=$(routes "$X_ST" "$X_SE" "$X_SOP" | awk -F'|' -v n="$name" '$1 == n {print $2}')
  check_route "$name" "$BASE/$path" "$BASE/$px" "$accept"
done < <(routes "$B_ST" "$B_SE" "$B_SOP")
if [ -n "$BULK" ]; then
  check_route bulkdata "$BULK" "$(sed "s/$B_ST/$X_ST/; s/$B_SE/$X_SE/; s/$B_SOP/$X_SOP/" <<<"$BULK")" \
    'multipart/related; type="application/octet-stream"'
fi
# Control: reader-a reads its own study.
expect_eq "reader-a retrieves its own study A: 200" 200 \
  "$(get own-a "$T_A" "$BASE/studies/$A_ST/series/$A_SE/instances/$A_SOP" 'multipart/related; type="application/dicom"; transfer-syntax=*')"
check "the hidden DICOMweb requests are logged as security events naming the user" \
  grep -q "security event: .*user 'reader-a'.*outside its access scope.*$B_ST" "$LOG"
check_fails "a missing UID is not reported as out of scope" grep -q "outside its access scope.*$X_ST" "$LOG"

# Without credentials: 401 (and a token gets through: the positive counterpart).
expect_eq "QIDO /studies without credentials: 401" 401 "$(get anon-qido "" "$BASE/studies")"
expect_eq "... with reader-a's token: 200" 200 "$(get tok-qido "$T_A" "$BASE/studies")"
expect_eq "WADO-RS instance without credentials: 401" 401 \
  "$(get anon-wado "" "$BASE/studies/$A_ST/series/$A_SE/instances/$A_SOP")"
expect_eq "WADO-RS metadata without credentials: 401" 401 "$(get anon-meta "" "$BASE/studies/$A_ST/metadata")"
expect_eq "WADO-URI without credentials: 401" 401 \
  "$(get anon-uri "" "$BASE/wado?requestType=WADO&studyUID=$A_ST&seriesUID=$A_SE&objectUID=$A_SOP&contentType=application/dicom")"
expect_eq "QIDO with a forged bearer token: 401" 401 "$(get forged "not.a.token" "$BASE/studies")"
stow() {  # stow TOKEN FILE: status of a one-part STOW-RS
  local auth=()
  [ -z "$1" ] || auth=(-H "Authorization: Bearer $1")
  { printf -- '--b0undary\r\nContent-Type: application/dicom\r\n\r\n'; cat "$2"; printf -- '\r\n--b0undary--\r\n'; } >"$WORK/stow.body"
  curl -s --cacert "$DATA/keys/ca.pem" "${auth[@]}" -o "$WORK/stow.out" -w '%{http_code}' \
    -H 'Content-Type: multipart/related; type="application/dicom"; boundary=b0undary' \
    -H 'Accept: application/dicom+json' --data-binary @"$WORK/stow.body" "$BASE/studies"
}
check "a new instance to STOW" "$PY" "$ROOT/tests/tools/make_studies.py" --out "$WORK/new" --seed 9 --rows 16 --cols 16
NEW=$(find "$WORK/new" -name '*.dcm' | head -1)
expect_eq "STOW-RS without credentials: 401" 401 "$(stow "" "$NEW")"
# Roles: the core's grants, through DICOMweb.
st=$(stow "$T_A" "$NEW")
expect_eq "STOW-RS as a radiologist (no store grant): 403" 403 "$st"
expect_eq "STOW-RS as a technologist (store grant): 200" 200 "$(stow "$T_TECH" "$NEW")"
expect_eq "QIDO as a technologist (find grant): 200" 200 "$(get tech-qido "$T_TECH" "$BASE/studies")"
st=$(get tech-wado "$T_TECH" "$BASE/studies/$A_ST/series/$A_SE/instances/$A_SOP" 'multipart/related; type="application/dicom"')
expect_eq "WADO-RS as a technologist (no get grant): 403" 403 "$st"
st=$(get audit-qido "$T_AUDIT" "$BASE/studies")
expect_eq "QIDO as an auditor (no find grant): 403" 403 "$st"
check "server still up" server_alive
stop_server
finish
