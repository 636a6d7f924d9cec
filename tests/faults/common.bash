# Shared helpers of the fault suites (tests/faults/*.sh); sourced after tests/lib.sh.
#
# The oracle of every suite is the manifest of acknowledged instances: a SOP Instance
# UID goes into $ACKED only when a client got a success for it (storescu's "Store
# Response (Success)", a STOW-RS response listing it under ReferencedSOPSequence).
# After the fault and a restart, check_acked verifies each of them: in the index, read
# back over WADO with the data set bytes that were sent, and `tresor verify` clean.
TOOLS=$ROOT/tests/tools
ACKED=$WORK/acked.txt
: >"$ACKED"

# make_corpus DIR SEED INSTANCES: one study of INSTANCES CT instances (manifest.tsv).
make_corpus() {
  "$PY" "$TOOLS/make_studies.py" --out "$1" --seed "$2" --series 1 --instances "$3" \
    --modalities CT >/dev/null
}

# uid_of CORPUS PATH: the SOP Instance UID of a corpus file.
uid_of() { awk -F'\t' -v p="$2" '$1 == p { print $5 }' "$1/manifest.tsv"; }
# corpus_files CORPUS: the corpus' relative paths.
corpus_files() { tail -n +2 "$1/manifest.tsv" | cut -f1; }

# storescu_to LOG CORPUS [storescu options...] < paths: sends the paths (relative to
# CORPUS) over one association as AE $STORE_AE; records every acknowledged UID.
storescu_to() {
  local log=$1 corpus=$2; shift 2
  (cd "$corpus" && xargs storescu -v "$@" -aet "${STORE_AE:-FAULTS}" -aec TRESOR 127.0.0.1 "$PORT") \
    >"$log" 2>&1
  acked_storescu "$log" "$corpus" >>"$ACKED"
}
# acked_storescu LOG CORPUS: the UIDs storescu's log shows a success for.
acked_storescu() {
  awk '/Sending file:/ { f = $NF } /Received Store Response \(Success\)/ { print f }' "$1" |
    while read -r f; do uid_of "$2" "${f#"$2"/}"; done
}
# store_statuses LOG: the Store Response statuses in storescu's log, one per line.
store_statuses() { sed -n 's/.*Received Store Response (\(.*\)).*/\1/p' "$1"; }

# token_for_admin: an API token of the administrator (for STOW-RS and WADO).
token_for_admin() {
  TOKEN=$("$TRESOR" token create faults --user admin --data "$DATA" 2>/dev/null | tail -1)
  CA=$DATA/keys/ca.pem
}
# stow OUT CORPUS PATH...: one STOW-RS request with the files; sets CODE, records the
# UIDs the response references (acknowledged).
stow() {
  local out=$1 corpus=$2; shift 2
  local files=()
  for p in "$@"; do files+=("$corpus/$p"); done
  "$PY" "$TOOLS/stow_body.py" files --boundary faults-b0undary "${files[@]}" >"$out.body"
  CODE=$(curl -sS --max-time 120 --cacert "$CA" -o "$out" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: multipart/related; type="application/dicom"; boundary=faults-b0undary' \
    --data-binary @"$out.body" "https://127.0.0.1:$HTTPS_PORT/dicom-web/studies" 2>"$out.err")
  stow_referenced "$out" >>"$ACKED"
}
# stow_referenced RESPONSE: the SOP Instance UIDs a STOW-RS response acknowledges.
stow_referenced() {
  "$PY" - "$1" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    sys.exit(0)
for item in d.get("00081199", {}).get("Value", []):
    print(item["00081155"]["Value"][0])
EOF
}
# stow_reasons RESPONSE: "failed-count reasons..." of a STOW-RS response.
stow_reasons() {
  "$PY" - "$1" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    print("unparsable"); sys.exit(0)
bad = d.get("00081198", {}).get("Value", [])
print(len(bad), *sorted({"%04X" % i["00081197"]["Value"][0] for i in bad}))
EOF
}

# wado_get OUT CORPUS PATH: WADO-URI retrieve of the corpus file's instance as stored;
# sets CODE.
wado_get() {
  local row
  row=$(awk -F'\t' -v p="$3" '$1 == p' "$2/manifest.tsv")
  local study series sop
  study=$(cut -f3 <<<"$row"); series=$(cut -f4 <<<"$row"); sop=$(cut -f5 <<<"$row")
  CODE=$(curl -sS --max-time 60 --cacert "$CA" -o "$1" -w '%{http_code}' \
    -H "Authorization: Bearer $TOKEN" \
    "https://127.0.0.1:$HTTPS_PORT/dicom-web/wado?requestType=WADO&studyUID=$study&seriesUID=$series&objectUID=$sop&contentType=application/dicom&transferSyntax=*" \
    2>"$1.err")
}
# same_dataset A B: both Part 10 files carry the same data set bytes.
same_dataset() {
  [ "$("$PY" "$TOOLS/dataset_bytes.py" sha "$1" | cut -f1)" = \
    "$("$PY" "$TOOLS/dataset_bytes.py" sha "$2" | cut -f1)" ]
}

# getscu_one LOG CORPUS PATH: C-GET of one instance into $WORK/got; prints the final
# C-GET status (e.g. 0x0000).
getscu_one() {
  local row
  row=$(awk -F'\t' -v p="$3" '$1 == p' "$2/manifest.tsv")
  rm -rf "$WORK/got"; mkdir -p "$WORK/got"
  getscu -d -aet "${STORE_AE:-FAULTS}" -aec TRESOR -S -od "$WORK/got" -k QueryRetrieveLevel=IMAGE \
    -k StudyInstanceUID="$(cut -f3 <<<"$row")" -k SeriesInstanceUID="$(cut -f4 <<<"$row")" \
    -k SOPInstanceUID="$(cut -f5 <<<"$row")" 127.0.0.1 "$PORT" >"$1" 2>&1
  final_status "$1"
}
# findscu_study LOG CORPUS: C-FIND of the corpus' study; prints the final status.
findscu_study() {
  findscu -d -aet "${STORE_AE:-FAULTS}" -aec TRESOR -S -k QueryRetrieveLevel=STUDY \
    -k StudyInstanceUID="$(tail -n +2 "$2/manifest.tsv" | head -1 | cut -f3)" 127.0.0.1 "$PORT" \
    >"$1" 2>&1
  final_status "$1"
}
# Status of the last C-FIND/C-MOVE/C-GET response in a -d log, e.g. 0x0000.
final_status() {
  awk '/Message Type *:/ { rsp = ($0 ~ /C-(FIND|MOVE|GET) RSP/) }
       rsp && /DIMSE Status *:/ { s = $0; sub(/.*DIMSE Status *: */, "", s); sub(/[^0-9a-fA-Fx].*/, "", s); last = s }
       END { print tolower(last) }' "$1"
}

# no_half_written: nothing staged, and index rows and blobs match one to one.
no_half_written() {
  local staged indexed blobs
  staged=$(find "$DATA/storage/staging" -type f | wc -l)
  indexed=$("$TRESOR" index sql --data "$DATA" "SELECT count(*) FROM instances")
  blobs=$(find "$DATA/storage/blobs" -type f | wc -l)
  expect_eq "nothing half-written: no staged blob left" 0 "$staged"
  expect_eq "nothing half-written: one blob per index row ($indexed rows)" "$indexed" "$blobs"
}

# check_acked CORPUS...: every acknowledged UID is indexed and read back over WADO with the
# bytes sent (from the corpus that holds it); `tresor verify` passes. Prints the number
# of acknowledged instances missing. Needs a running server.
check_acked() {
  local missing=0 wrong=0 uid path corpus found
  "$TRESOR" index sql --data "$DATA" "SELECT sop_uid FROM instances" | sort >"$WORK/indexed.txt"
  sort -u "$ACKED" >"$WORK/acked.sorted"
  while read -r uid; do
    if ! grep -qxF "$uid" "$WORK/indexed.txt"; then missing=$((missing + 1)); continue; fi
    found=
    for corpus in "$@"; do
      path=$(awk -F'\t' -v u="$uid" '$5 == u { print $1 }' "$corpus/manifest.tsv")
      [ -n "$path" ] && { found=$corpus; break; }
    done
    [ -n "$found" ] || { wrong=$((wrong + 1)); continue; }
    wado_get "$WORK/back.dcm" "$found" "$path"
    if [ "$CODE" != 200 ] || ! same_dataset "$found/$path" "$WORK/back.dcm"; then
      wrong=$((wrong + 1))
    fi
  done <"$WORK/acked.sorted"
  echo "  acknowledged instances: $(wc -l <"$WORK/acked.sorted"); missing after restart: $missing;" \
    "not read back intact: $wrong"
  expect_eq "no acknowledged instance is missing after restart" 0 "$missing"
  expect_eq "every acknowledged instance reads back over WADO with the bytes sent" 0 "$wrong"
  check "tresor verify passes (every object decrypts, matches its hash, is indexed)" \
    "$TRESOR" verify --data "$DATA"
}

# serve_with ENV...: start_server (tests/lib.sh) with the environment assignments ENV
# given to the server process only (not to the CLI or the clients).
serve_with() { start_server "$@"; }

# acked_count: how many instances have been acknowledged so far (logs of running clients
# included).
acked_count() {
  local f files=("$ACKED")
  for f in "$WORK"/load.*.acked; do [ -f "$f" ] && files+=("$f"); done
  sort -u "${files[@]}" | grep -c .
}

# load_store NAME CORPUS: C-STORE of the corpus in the background (one association),
# acknowledged UIDs appended to $WORK/load.NAME.acked as they arrive.
load_store() {
  local name=$1 corpus=$2
  ( corpus_files "$corpus" | (cd "$corpus" && xargs storescu -v -nh -aet "${STORE_AE:-FAULTS}" \
      -aec TRESOR 127.0.0.1 "$PORT") 2>&1 |
      awk '/Sending file:/ { f = $NF } /Received Store Response \(Success\)/ { print f; fflush() }' |
      while read -r f; do uid_of "$corpus" "$f" >>"$WORK/load.$name.acked"; done ) &
}
# load_stow NAME CORPUS: STOW-RS of the corpus, 5 instances per request, in the
# background; acknowledged UIDs appended to $WORK/load.NAME.acked.
load_stow() {
  local name=$1 corpus=$2
  ( mapfile -t all < <(corpus_files "$corpus")
    i=0
    while [ $i -lt ${#all[@]} ]; do
      ACKED=$WORK/load.$name.acked stow "$WORK/load.$name.$i" "$corpus" "${all[@]:$i:5}" || break
      [ "$CODE" = 000 ] && break
      i=$((i + 5))
    done ) &
}
# wait_acked N: waits until N instances are acknowledged (or 600 s pass).
wait_acked() {
  for _ in $(seq 1 6000); do
    [ "$(acked_count)" -ge "$1" ] && return 0
    sleep 0.1
  done
  return 1
}
# collect_load: after the clients ended, the acknowledged UIDs of every load go to $ACKED.
collect_load() {
  cat "$WORK"/load.*.acked >>"$ACKED" 2>/dev/null
  rm -f "$WORK"/load.*.acked
}
