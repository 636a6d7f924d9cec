#!/usr/bin/env bash
# Nothing readable at rest, the whole data directory (issue acceptance "At rest"): a
# generated corpus (tests/tools/make_studies.py; names in Latin-1, UTF-8, Greek and
# Cyrillic) is stored half over C-STORE and half over STOW-RS, queried by name over C-FIND
# and QIDO-RS, with the audit trail on and audit forwarding configured to a collector
# that is down, so every record (patient IDs, query keys with names) is pending in the
# spool. Then a byte search of every file under the data directory (blobs, staging,
# index, WAL, -shm, temp and spool files, keys, configuration: everything) for every
# patient's name (whole and each component), ID and birth date, in ASCII/UTF-8 and as
# encoded in the files (tests/tools/phi_search.py), finds nothing: while the server runs
# and after it stopped. Positive controls: the same search finds them in the plaintext
# corpus; the stored objects and the pending records are really there (stats, queries
# answered, the trail names the patient, the forwarding cursor behind the head).
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools

echo "at_rest_all: no patient data anywhere in the data directory"
CORPUS=$WORK/corpus
"$PY" "$TOOLS/make_studies.py" --out "$CORPUS" --patients 8 --studies 1 --series 2 --instances 2 \
  --rows 16 --cols 16 >/dev/null
# phi_search.py takes its needles from the corpus (manifest.tsv and files); only the .dcm
# files are sent to the server.
search() { "$PY" "$TOOLS/phi_search.py" "$CORPUS" "$@"; }
hits() { search "$@" | tail -1 | awk '{print $1}'; }
CONTROL=$(hits "$CORPUS")
check "positive control: the search finds the PHI in the plaintext corpus ($CONTROL hits)" \
  test "${CONTROL:-0}" -gt 0
FILES=($(find "$CORPUS" -name '*.dcm' | sort))
HALF=$((${#FILES[@]} / 2))

init_data || { fail "init"; finish; exit 1; }
# Forwarding to a loopback port nobody listens on: records stay in the spool.
DEAD_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >>"$DATA/tresor.conf" <<EOF

[audit]
forward_host = "127.0.0.1"
forward_port = $DEAD_PORT
forward_ca_file = "keys/ca.pem"
forward_max_backoff_seconds = 1
EOF
start_server && [ -n "$HTTPS_PORT" ] || { fail "the server starts"; finish; exit 1; }
check "the forwarder finds the collector down and spools" \
  bash -c "for i in \$(seq 1 100); do grep -q 'records wait in the trail' '$LOG' && exit 0; sleep 0.1; done; exit 1"
add_peer a RESTSCU echo,store,find
check "C-STORE of ${HALF} instances succeeds" \
  storescu -aet RESTSCU -aec TRESOR 127.0.0.1 "$PORT" "${FILES[@]:0:$HALF}"
TOKEN=$("$TRESOR" token create rest --user admin --data "$DATA" | tail -1)
B=tresor-at-rest-b0undary
"$PY" "$TOOLS/stow_body.py" files --boundary "$B" "${FILES[@]:$HALF}" >"$WORK/stow.body"
CODE=$(curl -sS --cacert "$DATA/keys/ca.pem" -o "$WORK/stow.out" -w '%{http_code}' -X POST \
  -H "Authorization: Bearer $TOKEN" \
  -H "Content-Type: multipart/related; type=\"application/dicom\"; boundary=$B" \
  --data-binary @"$WORK/stow.body" "https://127.0.0.1:$HTTPS_PORT/dicom-web/studies")
expect_eq "STOW-RS of $((${#FILES[@]} - HALF)) instances succeeds" 200 "$CODE"
rm -f "$WORK/stow.body"
expect_eq "the index holds all ${#FILES[@]} instances" "instances: ${#FILES[@]}" \
  "$("$TRESOR" stats --data "$DATA" | grep instances)"

# Queries whose keys (names, IDs) go into the pending audit records.
P1=$(cut -f2 "$CORPUS/manifest.tsv" | sed -n 2p)
NAME1=$(cut -f9 "$CORPUS/manifest.tsv" | sed -n 2p)
FAMILY1=${NAME1%%^*}
mkdir -p "$WORK/rsp"
check "C-FIND by patient name $FAMILY1* answers with patient $P1" bash -c \
  "findscu -aet RESTSCU -aec TRESOR -S -X -od '$WORK/rsp' -k QueryRetrieveLevel=STUDY \
    -k 'PatientName=$FAMILY1*' -k PatientID -k 'SpecificCharacterSet=ISO_IR 192' 127.0.0.1 $PORT \
    >/dev/null 2>&1 && grep -lq '$P1' '$WORK'/rsp/*"
ENC=$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$FAMILY1*")
check "QIDO-RS by patient name answers" bash -c \
  "curl -sS --cacert '$DATA/keys/ca.pem' -H 'Authorization: Bearer $TOKEN' \
    'https://127.0.0.1:$HTTPS_PORT/dicom-web/studies?PatientName=$ENC' | grep -q '$P1'"
check "QIDO-RS by patient ID answers" bash -c \
  "curl -sS --cacert '$DATA/keys/ca.pem' -H 'Authorization: Bearer $TOKEN' \
    'https://127.0.0.1:$HTTPS_PORT/dicom-web/studies?PatientID=$P1' | grep -q '$P1'"

sql() { "$TRESOR" index sql "$1" --data "$DATA" 2>/dev/null; }
HEAD=$(sql "SELECT max(seq) FROM audit_records")
CURSOR=$(sql "SELECT seq FROM audit_forward_cursor")
check "the audit records are pending in the spool (head ${HEAD:-?}, forwarded up to ${CURSOR:-0})" \
  test "${HEAD:-0}" -gt 5 -a "${CURSOR:-0}" -lt "${HEAD:-0}"
check "positive control: the pending trail holds patient $P1 (it is sealed, not absent)" \
  test "$(sql "SELECT count(*) FROM audit_records WHERE instr(patient_ids, '$P1') > 0")" -gt 0
check "the index WAL exists while the server runs" test -e "$DATA/index.db-wal"
echo "  (files searched: $(find "$DATA" -type f | wc -l), $(du -sk "$DATA" | cut -f1) KiB)"

FOUND=$(search "$DATA")
expect_eq "no name, ID or birth date in any file of the data directory (server running)" \
  "0 hit(s) in 0 file(s)" "$(tail -1 <<<"$FOUND")"
[ "$(tail -1 <<<"$FOUND")" = "0 hit(s) in 0 file(s)" ] || sed 's/^/       /' <<<"$FOUND" | head -20
check "the server is up after the search (negative control)" server_alive

stop_server
FOUND=$(search "$DATA")
expect_eq "no name, ID or birth date in any file of the data directory (server stopped)" \
  "0 hit(s) in 0 file(s)" "$(tail -1 <<<"$FOUND")"
[ "$(tail -1 <<<"$FOUND")" = "0 hit(s) in 0 file(s)" ] || sed 's/^/       /' <<<"$FOUND" | head -20
check "positive control: the stopped archive still holds everything" \
  bash -c "'$TRESOR' stats --data '$DATA' | grep -q 'instances: ${#FILES[@]}'"
check "positive control: the trail still holds the pending records of $P1" \
  test "$(sql "SELECT count(*) FROM audit_records WHERE seq > ${CURSOR:-0} AND instr(patient_ids, '$P1') > 0")" -gt 0
finish
