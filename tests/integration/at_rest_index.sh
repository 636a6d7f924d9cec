#!/usr/bin/env bash
# The index at rest (S34): a generated corpus (tests/tools/make_studies.py, names in
# Latin-1, UTF-8, Greek and Cyrillic) is stored over C-STORE into the real server; then a
# byte search of the index database, its WAL and its -shm file for every patient's name
# (whole and each component), ID and birth date, in ASCII/UTF-8, finds nothing, both
# while the server runs (the WAL holds the recent pages) and after it stopped (the final
# checkpoint moved them into the database file). Positive controls: the same search finds
# the values in the stored DICOM files, and C-FIND and QIDO-RS by name wildcard, fuzzy
# name, patient ID and date range answer exactly as tests/tools/query_oracle.py computes.
# Also: the index copied without its key (another master key) is refused with a clear
# error, never read as garbage.
source "$(dirname "$0")/../lib.sh"
ORACLE=$ROOT/tests/tools/query_oracle.py

echo "at_rest_index: no PHI in the index files, queries unchanged"
CORPUS=$WORK/corpus
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$CORPUS" --patients 8 --studies 2 \
  --series 1 --instances 2 --rows 16 --cols 16 >/dev/null
eval "$("$PY" "$ORACLE" names "$CORPUS/manifest.tsv" "$WORK/names.tsv")"
mv "$CORPUS/manifest.tsv" "$WORK/manifest.tsv"
IDX=$WORK/index.json
"$PY" "$ORACLE" index "$IDX" "$CORPUS"
expect() { "$PY" "$ORACLE" expect "$IDX" "$@"; }

# The needles: every patient's name, its components of 4 characters or more, ID and birth
# date, one per line in UTF-8 (which is ASCII for ASCII values).
NEEDLES=$WORK/needles.txt
"$PY" - "$CORPUS" >"$NEEDLES" <<'EOF'
import os, sys
import pydicom
values = set()
for dirpath, _, files in os.walk(sys.argv[1]):
    for name in files:
        ds = pydicom.dcmread(os.path.join(dirpath, name), stop_before_pixels=True)
        pn = str(ds.PatientName)
        values.update([pn, ds.PatientID, ds.PatientBirthDate])
        for group in pn.split("="):
            values.update(c for c in group.split("^") if len(c) >= 4)
for v in sorted(v for v in values if v):
    print(v)
EOF
# hits FILE...: prints "needle in file" for every needle found in one of the files.
hits() {
  "$PY" - "$NEEDLES" "$@" <<'EOF'
import sys
needles = [l.rstrip("\n") for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
for path in sys.argv[2:]:
    try:
        data = open(path, "rb").read()
    except FileNotFoundError:
        continue
    for n in needles:
        if n.encode("utf-8") in data:
            print(f"{n!r} in {path.rsplit('/', 1)[-1]}")
EOF
}
check "the needles include names, IDs and birth dates" test "$(wc -l <"$NEEDLES")" -ge 20
DCM_HITS=$(hits $(find "$CORPUS" -name '*.dcm' | head -4) | wc -l)
check "positive control: the search finds the values in the stored DICOM files ($DCM_HITS hits)" \
  test "$DCM_HITS" -gt 0

init_data || { fail "init"; finish; exit 1; }
if ! start_server || [ -z "$HTTPS_PORT" ]; then
  fail "the server starts"; finish; exit 1
fi
add_peer q QUERYSCU echo,store,find
check "storing the corpus over C-STORE succeeds" \
  storescu -aet QUERYSCU -aec TRESOR +sd +r +sp '*.dcm' 127.0.0.1 "$PORT" "$CORPUS"
expect_eq "index holds 32 instances" "instances: 32" "$("$TRESOR" stats --data "$DATA" | grep instances)"

INDEX=$DATA/index.db
check "the index, its WAL and -shm exist while the server runs" \
  test -s "$INDEX" -a -e "$INDEX-wal" -a -e "$INDEX-shm"
FOUND=$(hits "$INDEX" "$INDEX-wal" "$INDEX-shm")
expect_eq "no name, ID or birth date in index.db, -wal or -shm (server running)" "" "$FOUND"
expect_eq "index.db starts with the SQLite magic and 32 reserved bytes per page" "SQLite format 3 32" \
  "$("$PY" -c 'import sys; d=open(sys.argv[1],"rb").read(24); print(d[:15].decode(), d[20])' "$INDEX")"

# C-FIND against the oracle (the findscu driver of query.sh).
fq() {
  local out=$WORK/rsp/$1 level=$2; shift 2
  rm -rf "$out"; mkdir -p "$out"
  local args=(-k "QueryRetrieveLevel=$level" -k StudyInstanceUID -k "SpecificCharacterSet=ISO_IR 192")
  for kv in "$@"; do args+=(-k "$kv"); done
  findscu -aet QUERYSCU -aec TRESOR -S -X -od "$out" "${args[@]}" 127.0.0.1 "$PORT" >"$out.log" 2>&1
}
N=0
q() {  # q "description" KEY=VALUE...: a study-level C-FIND equal to the oracle's answer
  local what=$1; shift
  N=$((N + 1))
  fq "q$N" STUDY "$@"
  if [ "$(find "$WORK/rsp/q$N" -name 'rsp*.dcm' | wc -l)" -eq 0 ]; then
    fail "$what: no matches (a query that tests nothing)"; return
  fi
  check "$what" "$PY" "$ORACLE" compare "$IDX" STUDY "$WORK/rsp/q$N" ${FUZZY:-} "$@"
}
P1=$(cut -f2 "$WORK/manifest.tsv" | sed -n 2p)
DATES=$(cut -f10 "$WORK/manifest.tsv" | tail -n +2 | sort -u)
D_LO=$(echo "$DATES" | sed -n 2p)
D_HI=$(echo "$DATES" | sed -n 5p)
q "C-FIND by name wildcard $DE_PREFIX" "PatientName=$DE_PREFIX" PatientID=
q "C-FIND by name wildcard $GR_PREFIX (Greek)" "PatientName=$GR_PREFIX" PatientID=
q "C-FIND by patient ID $P1" "PatientID=$P1" PatientName=
q "C-FIND by study date range $D_LO-$D_HI" "StudyDate=$D_LO-$D_HI" PatientID=

# QIDO-RS: the study UIDs answered equal the oracle's.
TOKEN=$(echo 'correct horse battery staple' |
  "$TRESOR" user add reader --role radiologist --groups all --password-stdin --data "$DATA" >/dev/null &&
  "$TRESOR" token create t-reader --user reader --data "$DATA" | tail -1)
check "an API token was created" test -n "$TOKEN"
qido() {  # qido "description" QUERY ORACLE-KEYS...
  local what=$1 query=$2; shift 2
  local got want
  got=$(curl -sS --max-time 20 --cacert "$DATA/keys/ca.pem" -H "Authorization: Bearer $TOKEN" \
    "https://127.0.0.1:$HTTPS_PORT/dicom-web/studies?$query&limit=1000" |
    "$PY" -c 'import json,sys; print("\n".join(sorted(s["0020000D"]["Value"][0] for s in json.load(sys.stdin))))')
  want=$(expect STUDY "$@")
  if [ -z "$want" ]; then fail "$what: the oracle expects nothing (a query that tests nothing)"; return; fi
  expect_eq "$what ($(echo "$want" | wc -l) studies)" "$want" "$got"
}
urlenc() { "$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }
qido "QIDO by name wildcard $DE_PREFIX" "PatientName=$(urlenc "$DE_PREFIX")" "PatientName=$DE_PREFIX"
qido "QIDO by fuzzy name $DE_FOLD_PREFIX" "PatientName=$(urlenc "$DE_FOLD_PREFIX")&fuzzymatching=true" \
  "PatientName=$DE_FOLD_PREFIX" --fuzzy
qido "QIDO by patient ID $P1" "PatientID=$P1" "PatientID=$P1"
qido "QIDO by study date range" "StudyDate=$D_LO-$D_HI" "StudyDate=$D_LO-$D_HI"

# After the queries (the WAL may have grown) and after a clean stop (final checkpoint).
FOUND=$(hits "$INDEX" "$INDEX-wal" "$INDEX-shm")
expect_eq "still no PHI in the index files after the queries" "" "$FOUND"
stop_server
FOUND=$(hits "$INDEX" "$INDEX-wal" "$INDEX-shm")
expect_eq "no PHI in the index files after the server stopped" "" "$FOUND"
check "positive control: the stopped index still answers (stats)" \
  bash -c "'$TRESOR' stats --data '$DATA' | grep -q 'instances: 32'"

# The index copied into a data directory with another master key: a clear refusal.
OTHER=$WORK/other
"$TRESOR" init --data "$OTHER" >/dev/null 2>&1
cp "$INDEX" "$OTHER/index.db"
rm -f "$OTHER/index.db-wal" "$OTHER/index.db-shm"
"$TRESOR" stats --data "$OTHER" >"$WORK/other.out" 2>&1
RC=$?
check "an index copied without its key is refused" test "$RC" -ne 0
check "with a clear error" grep -q "cannot be decrypted with this key" "$WORK/other.out"
check "positive control: the original data directory still opens" \
  bash -c "'$TRESOR' stats --data '$DATA' | grep -q 'instances: 32'"
finish
