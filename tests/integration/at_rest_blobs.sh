#!/usr/bin/env bash
# Encryption at rest of blobs (docs/encryption.md), with the real binary and real clients:
#   after storing a generated corpus over C-STORE, no file of the storage directory holds
#   a patient's name (UTF-8 or as encoded), ID or birth date, while the corpus does (the
#   search works); the master key lives outside the data directory (mode 0600);
#   WADO-RS and C-GET return the exact original data sets, a multi-segment object
#   included; one flipped byte in one blob makes WADO-RS and C-GET fail for that object
#   with an integrity error while the others still work, and `tresor verify` names it;
#   a copy of the data directory without its key, or with another key, cannot be opened
#   (clear error), with the key it can; `tresor keys rotate` keeps every object readable
#   and the old key then opens nothing.
source "$(dirname "$0")/../lib.sh"
DS="$PY $ROOT/tests/tools/dataset_bytes.py"
W="$PY $ROOT/tests/tools/wado.py"

echo "at_rest_blobs: sealed blobs, integrity, missing key, rotation"

sop_of() { dcmdump -q +P 0008,0018 "$1" | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1; }
# identical DIR: every file in DIR has the data set bytes of the corpus file with its UID.
identical() {
  local f uid path bad=0 n=0
  for f in "$1"/*; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    uid=$(sop_of "$f")
    path=$(awk -F'\t' -v u="$uid" '$5 == u {print $1}' "$CORPUS/manifest.tsv")
    if [ -z "$path" ]; then
      echo "not in the corpus: $f"; bad=1
    elif [ "$($DS sha "$CORPUS/$path")" != "$($DS sha "$f")" ]; then
      # getscu has no bit-preserving mode: it re-encodes what it received (the
      # multi-frame object's sequences); WADO-RS above checks that one byte for byte.
      if [ "$f" = "$WORK/get/$(basename "$f")" ] && [ "$uid" = "$BIGUID" ] &&
         $W same-pixels "$CORPUS/$path" "$f"; then
        echo "re-encoded by the receiver, same pixels: $f"
      else
        echo "differs: $f"; bad=1
      fi
    fi
  done
  [ "$n" -gt 0 ] || { echo "no files"; return 1; }
  return $bad
}
final_status() {
  awk '/Message Type *:/ { rsp = ($0 ~ /C-(FIND|MOVE|GET) RSP/) }
       rsp && /DIMSE Status *:/ { s = $0; sub(/.*DIMSE Status *: */, "", s); sub(/[^0-9a-fA-Fx].*/, "", s); last = s }
       END { print tolower(last) }' "$1"
}

# --- setup: a corpus in several character sets and one object of many segments --------
CORPUS=$WORK/corpus
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$CORPUS" --patients 4 --studies 1 \
  --series 2 --instances 2 >/dev/null
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$WORK/big" --seed 5 --frames 6 --rows 256 \
  --cols 256 >/dev/null
BIGREL=big/$(tail -n +2 "$WORK/big/manifest.tsv" | cut -f1)
mkdir -p "$CORPUS/big" && cp "$WORK/$BIGREL" "$CORPUS/big/"
tail -n +2 "$WORK/big/manifest.tsv" | awk -F'\t' 'BEGIN{OFS="\t"} {$1="big/" substr($1, match($1, /[^\/]*$/)); print}' >>"$CORPUS/manifest.tsv"
TOTAL=$(($(wc -l <"$CORPUS/manifest.tsv") - 1))
BIGUID=$(tail -1 "$CORPUS/manifest.tsv" | cut -f5)
expect_eq "corpus has 17 instances" 17 "$TOTAL"
check "the multi-frame object spans more than 10 segments of 64 KiB" \
  test "$(stat -c %s "$CORPUS/$(tail -1 "$CORPUS/manifest.tsv" | cut -f1)")" -gt 700000

init_data
sed -i 's/^fsync = true/fsync = false/' "$DATA/tresor.conf"  # disposable archive
KEY=$DATA.keys/master.key
check "init put the master key outside the data directory" test -f "$KEY"
check "no master key inside the data directory" bash -c "! find '$DATA' -name 'master.key*' | grep -q ."
expect_eq "the master key is 32 bytes, mode 600" "32 600" "$(stat -c '%s %a' "$KEY")"
check "init printed where the key is" grep -q "master key $KEY" "$WORK/init.out"
start_server
add_peer mod MODALITY echo,store,find,get all
check "storing the corpus with storescu succeeds" \
  storescu -aet MODALITY -aec TRESOR +sd +r +sp '*.dcm' 127.0.0.1 "$PORT" "$CORPUS"
expect_eq "all instances archived" "$TOTAL" "$("$TRESOR" stats --data "$DATA" | awk '/instances/ {print $2}')"

# --- 1. nothing readable at rest ----------------------------------------------------------
$PY "$ROOT/tests/tools/phi_search.py" "$CORPUS" "$CORPUS" >"$WORK/control.txt"
check "positive control: the search finds the patients' data in the corpus" \
  bash -c "tail -1 '$WORK/control.txt' | grep -qv '^0 hit'"
check "... names in UTF-8 and as encoded, IDs and birth dates" bash -c \
  "grep -q 'name (as stored)' '$WORK/control.txt' && grep -q 'patient ID' '$WORK/control.txt' && grep -q 'birth date' '$WORK/control.txt'"
$PY "$ROOT/tests/tools/phi_search.py" "$CORPUS" "$DATA/storage" >"$WORK/storage.txt"
expect_eq "a byte search of the storage finds no name, ID or birth date" "0 hit(s) in 0 file(s)" \
  "$(tail -1 "$WORK/storage.txt")"
BLOBS=$(find "$DATA/storage/blobs" -type f | wc -l)
expect_eq "one blob per instance in the storage" "$TOTAL" "$BLOBS"
check "no blob is a readable DICOM file" bash -c \
  "! grep -rlq --binary-files=text DICM '$DATA/storage/blobs'"

# --- 2. WADO-RS and C-GET return the exact originals --------------------------------------
TOKEN=$("$TRESOR" token create rest --user admin --data "$DATA" | tail -1)
BASE=https://127.0.0.1:$HTTPS_PORT/dicom-web
CA=$DATA/keys/ca.pem
ALL='multipart/related; type="application/dicom"; transfer-syntax=*'
N=0
get() {
  local path=$1; shift
  N=$((N + 1))
  BODY=$WORK/body.$N
  HEADERS=$WORK/headers.$N
  CODE=$(curl -sS --max-time 60 --cacert "$CA" -H "Authorization: Bearer $TOKEN" \
    -o "$BODY" -D "$HEADERS" -w '%{http_code}' "$@" "$BASE$path" 2>"$WORK/curl.err.$N")
  CURL_RC=$?
}
wado_ok=0
for study in $(tail -n +2 "$CORPUS/manifest.tsv" | cut -f3 | sort -u); do
  get "/studies/$study" -H "Accept: $ALL"
  if [ "$CODE" = 200 ] && $W split "$HEADERS" "$BODY" "$WORK/parts.$N" >/dev/null &&
     $W same-datasets "$WORK/parts.$N" "$CORPUS/manifest.tsv"; then
    wado_ok=$((wado_ok + $(ls "$WORK/parts.$N" | grep -c '^part-')))
  fi
done
expect_eq "WADO-RS returns every instance with its exact data set bytes" "$TOTAL" "$wado_ok"

mkdir -p "$WORK/get"
for study in $(tail -n +2 "$CORPUS/manifest.tsv" | cut -f3 | sort -u); do
  getscu -d -aet MODALITY -aec TRESOR -S -od "$WORK/get" -k QueryRetrieveLevel=STUDY \
    -k StudyInstanceUID="$study" 127.0.0.1 "$PORT" >>"$WORK/get.log" 2>&1
done
expect_eq "C-GET delivers every instance" "$TOTAL" "$(find "$WORK/get" -type f | wc -l)"
check "C-GET: identical data set bytes" identical "$WORK/get"

# --- 3. one flipped byte in one blob -------------------------------------------------------
# One of the small objects, so its study holds three more (the multi-frame one is alone).
VICTIM=$(find "$DATA/storage/blobs" -type f -size -300k | sort | head -1)
SIZE=$(stat -c %s "$VICTIM")
OFF=$((SIZE / 2))
flip() {
  "$PY" -c 'import sys; p, o = sys.argv[1], int(sys.argv[2]); f = open(p, "r+b"); f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0x10])); f.close()' "$1" "$2"
}
flip "$VICTIM" "$OFF"
"$TRESOR" verify --data "$DATA" >"$WORK/verify.out" 2>"$WORK/verify.err"
VERIFY_RC=$?
expect_eq "tresor verify exits 8 (corrupted objects)" 8 "$VERIFY_RC"
BAD=$(awk '$1 == "corrupted" {print $2}' "$WORK/verify.out")
check "tresor verify names exactly one corrupted object, by its blob" bash -c \
  "[ \$(grep -c '^corrupted' '$WORK/verify.out') = 1 ] && grep -q \"$(basename "$VICTIM")\" '$WORK/verify.out'"
check "... with an integrity error" grep -q "integrity error" "$WORK/verify.out"
ROW=$(awk -F'\t' -v u="$BAD" '$5 == u' "$CORPUS/manifest.tsv")
BST=$(cut -f3 <<<"$ROW"); BSE=$(cut -f4 <<<"$ROW")
check "the corrupted object is one of the corpus" test -n "$ROW"
OTHER=$(awk -F'\t' -v u="$BAD" -v se="$BSE" 'NR > 1 && $5 != u && $4 == se {print $5; exit}' "$CORPUS/manifest.tsv")

get "/studies/$BST/series/$BSE/instances/$BAD" -H "Accept: $ALL"
if [ "$CURL_RC" -ne 0 ] || [ "$CODE" -ge 500 ]; then
  pass "WADO-RS of the modified object fails (HTTP $CODE, curl exit $CURL_RC)"
else
  fail "WADO-RS of the modified object answered $CODE with a complete body"
fi
check "... and the server logs an integrity error for it" grep -q "integrity error" "$LOG"
get "/studies/$BST/series/$BSE/instances/$OTHER" -H "Accept: $ALL"
check "positive control: WADO-RS of another instance of the same series still works" bash -c \
  "[ '$CODE' = 200 ] && $W split '$HEADERS' '$BODY' '$WORK/parts.$N' >/dev/null && $W same-datasets '$WORK/parts.$N' '$CORPUS/manifest.tsv'"

mkdir -p "$WORK/getbad" "$WORK/getgood"
getscu -d -aet MODALITY -aec TRESOR -S -od "$WORK/getbad" -k QueryRetrieveLevel=IMAGE \
  -k StudyInstanceUID="$BST" -k SeriesInstanceUID="$BSE" -k SOPInstanceUID="$BAD" \
  127.0.0.1 "$PORT" >"$WORK/getbad.log" 2>&1
ST=$(final_status "$WORK/getbad.log")
check "C-GET of the modified object ends with a failure status (got $ST)" bash -c \
  "[ -n '$ST' ] && [ '$ST' != 0x0000 ]"
expect_eq "... and delivers nothing" 0 "$(find "$WORK/getbad" -type f | wc -l)"
getscu -d -aet MODALITY -aec TRESOR -S -od "$WORK/getgood" -k QueryRetrieveLevel=IMAGE \
  -k StudyInstanceUID="$BST" -k SeriesInstanceUID="$BSE" -k SOPInstanceUID="$OTHER" \
  127.0.0.1 "$PORT" >"$WORK/getgood.log" 2>&1
expect_eq "positive control: C-GET of another instance succeeds" 0x0000 "$(final_status "$WORK/getgood.log")"
check "... with its exact data set" identical "$WORK/getgood"
# A study-level C-GET reads each object ahead while the previous one is being stored:
# the damaged one fails alone, wherever it falls, and every other one arrives intact.
STUDY_N=$(awk -F'\t' -v st="$BST" 'NR > 1 && $3 == st' "$CORPUS/manifest.tsv" | wc -l)
mkdir -p "$WORK/getstudy"
getscu -d -aet MODALITY -aec TRESOR -S -od "$WORK/getstudy" -k QueryRetrieveLevel=STUDY \
  -k StudyInstanceUID="$BST" 127.0.0.1 "$PORT" >"$WORK/getstudy.log" 2>&1
expect_eq "C-GET of the damaged object's study ends with 'some sub-operations failed'" 0xb000 \
  "$(final_status "$WORK/getstudy.log" | tr 'A-F' 'a-f')"
expect_eq "... delivers every other instance of the study ($((STUDY_N - 1)))" "$((STUDY_N - 1))" \
  "$(find "$WORK/getstudy" -type f | wc -l)"
check "... each with its exact data set" identical "$WORK/getstudy"
check "... and not the damaged one" bash -c "! grep -rlq '$BAD' '$WORK/getstudy'"
flip "$VICTIM" "$OFF"  # repaired
check "after repairing the byte, tresor verify is clean" "$TRESOR" verify --data "$DATA"
stop_server

# --- 4. a copy without its master key -----------------------------------------------------
cp -a "$DATA" "$WORK/copy"
for cmd in "stats" "verify" "cat $BAD" "serve --dicom-port 0 --dicom-tls-port 0 --http-port 0"; do
  # shellcheck disable=SC2086
  timeout 20 "$TRESOR" $cmd --data "$WORK/copy" >"$WORK/copy.out" 2>"$WORK/copy.err"
  rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q "master key .* not found" "$WORK/copy.err" &&
     ! grep -q DICM "$WORK/copy.out"; then
    pass "copy without its key: '$cmd' refuses with a clear error"
  else
    fail "copy without its key: '$cmd' exit $rc: $(head -c 300 "$WORK/copy.err")"
  fi
done
check "positive control: the copy opens with its key given" \
  "$TRESOR" stats --data "$WORK/copy" --master-key "$KEY"
"$TRESOR" init --data "$WORK/stranger" >/dev/null 2>&1
"$TRESOR" stats --data "$WORK/copy" --master-key "$WORK/stranger.keys/master.key" \
  >/dev/null 2>"$WORK/wrong.err"
check "another archive's key is refused, naming this archive's key id" bash -c \
  "grep -q 'is not this archive' '$WORK/wrong.err' && grep -q \"\$('$TRESOR' keys show --data '$DATA' | awk '/key id/ {print \$3}')\" '$WORK/wrong.err'"
cp "$KEY" "$WORK/key.copy" && chmod 644 "$WORK/key.copy"
"$TRESOR" stats --data "$WORK/copy" --master-key "$WORK/key.copy" >/dev/null 2>"$WORK/perm.err"
check "a key file readable by others is refused" grep -q "accessible to group or others" "$WORK/perm.err"

# --- 5. rotation --------------------------------------------------------------------------
OLD_ID=$("$TRESOR" keys show --data "$DATA" | awk '/key id/ {print $3}')
cp -p "$KEY" "$WORK/old.key"
SUMS_BEFORE=$(find "$DATA/storage/blobs" -type f -exec tail -c +177 {} \; | sha256sum)
check "tresor keys rotate succeeds" "$TRESOR" keys rotate --data "$DATA"
NEW_ID=$("$TRESOR" keys show --data "$DATA" | awk '/key id/ {print $3}')
check "the key id changed ($OLD_ID -> $NEW_ID)" bash -c "[ -n '$NEW_ID' ] && [ '$OLD_ID' != '$NEW_ID' ]"
expect_eq "the blob payloads were not rewritten (only headers)" "$SUMS_BEFORE" \
  "$(find "$DATA/storage/blobs" -type f -exec tail -c +177 {} \; | sha256sum)"
check "after rotation tresor verify is clean" "$TRESOR" verify --data "$DATA"
"$TRESOR" stats --data "$DATA" --master-key "$WORK/old.key" >/dev/null 2>"$WORK/old.err"
check "the old key no longer opens the archive" grep -q "is not this archive" "$WORK/old.err"
start_server
BASE=https://127.0.0.1:$HTTPS_PORT/dicom-web
rot_ok=0
for study in $(tail -n +2 "$CORPUS/manifest.tsv" | cut -f3 | sort -u); do
  get "/studies/$study" -H "Accept: $ALL"
  if [ "$CODE" = 200 ] && $W split "$HEADERS" "$BODY" "$WORK/parts.$N" >/dev/null &&
     $W same-datasets "$WORK/parts.$N" "$CORPUS/manifest.tsv"; then
    rot_ok=$((rot_ok + $(ls "$WORK/parts.$N" | grep -c '^part-')))
  fi
done
expect_eq "after rotation WADO-RS returns every instance exactly" "$TOTAL" "$rot_ok"
check "storing after rotation works" storescu -aet MODALITY -aec TRESOR 127.0.0.1 "$PORT" "$WORK/$BIGREL"
stop_server
check "the server refused nothing and logged no integrity error after the repair" bash -c \
  "! grep -q 'integrity error' '$LOG'"

finish
