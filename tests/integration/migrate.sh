#!/usr/bin/env bash
# tresor migrate: a generated archive (imported files, C-STOREs from a peer, users, an API
# token, peers, access groups with a rule and a hand-removed membership, an audit trail
# with a signed checkpoint and a forwarding cursor) is copied into a new data directory.
# The target's backends are SQLite + local files by default; PostgreSQL + S3 (a private
# cluster, tests/tools/pg_cluster.sh, and s3rver, tests/tools/s3_server.sh) with
# MIGRATE_TARGET=pg-s3 (integration.migrate_pg_s3). Checks:
#   - every file of the source is byte-identical before and after (checksums);
#   - `tresor verify` on the target: nothing missing, corrupted or orphaned;
#   - `tresor audit verify` holds on the target (seq, hashes and checkpoint preserved);
#   - C-FIND at study, series and image level and QIDO-RS (the source's API token) answer
#     the same on source and target, and access scope is the same;
#   - an interrupted run (kill -9 mid-copy) resumes without duplicates;
#   - refusals (source served, non-empty target) each paired with a positive control.
source "$(dirname "$0")/../lib.sh"

echo "migrate: embedded archive -> new data directory"
CORPUS=$WORK/corpus
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$CORPUS" --patients 6 --studies 2 \
  --series 2 --instances 5 --rows 32 --cols 32 >/dev/null
mv "$CORPUS/manifest.tsv" "$WORK/manifest.tsv"
TOTAL=$(find "$CORPUS" -type f | wc -l)

init_data || { fail "init"; finish; exit 1; }
SRC=$DATA
# Half imported, the other half C-STOREd by a peer (provenance: AE, peer, receive time).
mapfile -t FILES < <(find "$CORPUS" -type f | sort)
HALF=$((TOTAL / 2))
check "import of $HALF instances" "$TRESOR" import --data "$SRC" "${FILES[@]:0:$HALF}"
add_peer MOD MOD "echo,store,find" all
add_peer FINDER FINDER "echo,find" reading
echo 'correct horse battery staple' |
  "$TRESOR" user add reader --role radiologist --groups all --password-stdin --data "$SRC" >/dev/null
echo 'correct horse battery staple' |
  "$TRESOR" user add narrow --role radiologist --groups reading --password-stdin --data "$SRC" >/dev/null
TOKEN=$("$TRESOR" token create t-reader --user reader --data "$SRC" | tail -1)
NARROW=$("$TRESOR" token create t-narrow --user narrow --data "$SRC" | tail -1)
check "API tokens created on the source" test -n "$TOKEN" -a -n "$NARROW"
# Group "reading": every study the peer MOD sends (a rule), one imported study by hand,
# and one of MOD's studies taken out again by hand (the target must keep it out).
check "group rule added" "$TRESOR" group rule add reading --peer MOD --data "$SRC"

start_server || { fail "source server starts"; finish; exit 1; }
check "storescu C-STORE of $((TOTAL - HALF)) instances from peer MOD" \
  storescu -aet MOD -aec TRESOR 127.0.0.1 "$PORT" "${FILES[@]:$HALF}"
check "a checkpoint is signed on the source" "$TRESOR" audit checkpoint --data "$SRC"
# Refused while the source is served; the source server keeps answering.
check_fails "migrate refuses while the source is being served" \
  "$TRESOR" migrate --data "$SRC" --to "$WORK/refused"
check "positive control: the source server still answers C-ECHO" \
  echoscu -aet MOD -aec TRESOR 127.0.0.1 "$PORT"
check "the refused migration created nothing" test ! -e "$WORK/refused/tresor.conf"
stop_server

src_sql() { "$TRESOR" index sql "$1" --data "$SRC" 2>/dev/null; }
IMPORTED_STUDY=$(src_sql "SELECT st.study_uid FROM studies st JOIN series se ON se.study=st.id JOIN instances i ON i.series=se.id WHERE i.source_peer='' LIMIT 1")
MOD_STUDY=$(src_sql "SELECT st.study_uid FROM studies st JOIN series se ON se.study=st.id JOIN instances i ON i.series=se.id WHERE i.source_peer='MOD' LIMIT 1")
check "one imported and one of MOD's studies found" test -n "$IMPORTED_STUDY" -a -n "$MOD_STUDY"
check "an imported study assigned to group reading by hand" \
  "$TRESOR" group assign reading "$IMPORTED_STUDY" --data "$SRC"
check "one of MOD's studies taken out of group reading by hand" \
  "$TRESOR" group unassign reading "$MOD_STUDY" --data "$SRC"
# A forwarding cursor as the audit forwarder would leave it (the test-only insider tool
# writes the sealed index with the key).
if [ -n "${INDEX_TAMPER:-}" ] && [ -x "$INDEX_TAMPER" ]; then
  "$INDEX_TAMPER" "$SRC" "INSERT INTO audit_forward_cursor(destination,seq) VALUES('collector:6514',3)" \
    >/dev/null 2>&1 || true
fi
CURSORS_SRC=$(src_sql "SELECT destination||'='||seq FROM audit_forward_cursor ORDER BY destination")
GROUPS_SRC=$("$TRESOR" group list --data "$SRC")
STATS_SRC=$("$TRESOR" stats --data "$SRC")
HEAD_SRC=$(src_sql "SELECT seq||' '||hash FROM audit_records ORDER BY seq DESC LIMIT 1")

checksums() {  # every file of the data directory and the master key, with its path
  (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) 
  sha256sum "$1.keys/master.key" | cut -d' ' -f1
}
checksums "$SRC" >"$WORK/src.before"
check "the source checksums were taken ($(wc -l <"$WORK/src.before") files)" \
  test "$(wc -l <"$WORK/src.before")" -gt 20

# --- the target ---------------------------------------------------------------------
DST=$WORK/target
CONFIG_ARGS=()
TARGET_KIND="SQLite + local files"
# target_config NAME DB PREFIX: a target configuration on the test cluster and s3rver.
target_config() {
  local conf=$WORK/$1.conf
  cp "$SRC/tresor.conf" "$conf"
  set_conf "$conf" keys master_key_file '""'
  set_conf "$conf" index backend '"postgresql"'
  set_conf "$conf" index postgresql "\"$TRESOR_TEST_PG dbname=$2\""
  set_conf "$conf" storage backend '"s3"'
  set_conf "$conf" storage s3_endpoint "\"$TRESOR_TEST_S3_ENDPOINT\""
  set_conf "$conf" storage s3_bucket "\"$TRESOR_TEST_S3_BUCKET\""
  set_conf "$conf" storage s3_prefix "\"$3\""
  set_conf "$conf" storage s3_credentials_file "\"$WORK/s3.credentials\""
  echo "$conf"
}
if [ "${MIGRATE_TARGET:-}" = pg-s3 ]; then
  source "$ROOT/tests/tools/pg_cluster.sh"
  source "$ROOT/tests/tools/s3_server.sh"
  PGDIR=$WORK/pg
  trap 'pg_stop "$PGDIR" 2>/dev/null; s3_stop "$WORK/s3" 2>/dev/null; cleanup' EXIT
  pg_start "$PGDIR" >/dev/null || { fail "PostgreSQL starts"; finish; exit 1; }
  s3_start "$WORK/s3" >/dev/null || { fail "s3rver starts"; finish; exit 1; }
  S3_DATA_DIR=$WORK/s3
  printf '%s\n%s\n' "$TRESOR_TEST_S3_ACCESS_KEY" "$TRESOR_TEST_S3_SECRET_KEY" >"$WORK/s3.credentials"
  chmod 600 "$WORK/s3.credentials"
  for db in target resumed; do
    "$PG_BIN/psql" "$TRESOR_TEST_PG" -q -c "CREATE DATABASE $db" >/dev/null ||
      { fail "database $db created"; finish; exit 1; }
  done
  CONFIG_ARGS=(--config "$(target_config target target target)")
  RESUMED_ARGS=(--config "$(target_config resumed resumed resumed)")
  TARGET_KIND="PostgreSQL + S3"
else
  RESUMED_ARGS=()
fi
echo "  target: $TARGET_KIND"

# Usage and clear errors (the migration below is the positive control).
"$TRESOR" migrate --data "$SRC" >"$WORK/usage.out" 2>&1
expect_eq "migrate without --to is a usage error (exit 2)" 2 "$?"
check "the usage error names --to" grep -q -- "--to DIR" "$WORK/usage.out"
check "migrate --help explains resuming and the untouched source" \
  bash -c "'$TRESOR' migrate --help | grep -qi 'run the same command' && '$TRESOR' migrate --help | grep -q 'byte for byte'"
check_fails "migrate from a directory that is no data directory fails" \
  "$TRESOR" migrate --data "$WORK/nothing" --to "$WORK/never"
cp "$WORK/check.out" "$WORK/nosource.out"
check "... and says so" grep -q "is not a Tresor data directory" "$WORK/nosource.out"
check "... creating nothing" test ! -e "$WORK/never"

# Refused: a target directory that is already a data directory (positive control below:
# the real migration into a new one succeeds).
"$TRESOR" init --data "$WORK/occupied" >/dev/null 2>&1
check_fails "migrate refuses a target that is already a data directory" \
  "$TRESOR" migrate --data "$SRC" --to "$WORK/occupied" "${CONFIG_ARGS[@]}"

# Interrupted, deterministically: a copy of the source with one object damaged late in
# index order (after the first batch of 64) stops the migration with an error naming the
# object; the object put back, the same command resumes and copies nothing twice.
BROKEN=$WORK/broken
cp -a "$SRC" "$BROKEN" && cp -a "$SRC.keys" "$BROKEN.keys"
BAD_BLOB=$("$TRESOR" index sql "SELECT blob FROM instances ORDER BY id LIMIT 1 OFFSET 99" --data "$BROKEN")
BAD_UID=$("$TRESOR" index sql "SELECT sop_uid FROM instances ORDER BY id LIMIT 1 OFFSET 99" --data "$BROKEN")
BAD_FILE=$BROKEN/storage/blobs/${BAD_BLOB:0:2}/$BAD_BLOB
cp "$BAD_FILE" "$WORK/bad.orig"
# The byte at offset 1000 is inverted (a constant could equal the ciphertext byte there).
BYTE=$(od -An -tu1 -j1000 -N1 "$BAD_FILE" | tr -d ' ')
printf "\\$(printf '%03o' $((BYTE ^ 0xFF)))" | dd of="$BAD_FILE" bs=1 seek=1000 conv=notrunc 2>/dev/null
check_fails "the damaged object differs from the original" cmp -s "$WORK/bad.orig" "$BAD_FILE"
check_fails "migrate of a source with a damaged object fails" \
  "$TRESOR" migrate --data "$BROKEN" --to "$WORK/resumed" "${RESUMED_ARGS[@]}"
cp "$WORK/check.out" "$WORK/damaged.out"
check "the error names the damaged object and says to verify the source" \
  grep -q "source instance $BAD_UID .*tresor verify on the source" "$WORK/damaged.out"
check "the failed run left its unfinished-migration mark" test -e "$WORK/resumed/migrating"
cp "$WORK/bad.orig" "$BAD_FILE"
check "the damaged object is put back" cmp "$WORK/bad.orig" "$BAD_FILE"
"$TRESOR" migrate --data "$BROKEN" --to "$WORK/resumed" "${RESUMED_ARGS[@]}" >"$WORK/resumed.out" 2>&1
expect_eq "the resumed migration completes" 0 "$?"
RESUMED=$(sed -n 's/^migrate: \([0-9]*\) instance(s) (\([0-9]*\) copied, [0-9]* bytes; \([0-9]*\) already there).*/\2 \3/p' "$WORK/resumed.out")
expect_eq "resumed: the 64 of the first batch were already there, the other $((TOTAL - 64)) copied" \
  "$((TOTAL - 64)) 64" "$RESUMED"
check "resumed: tresor verify on that target finds nothing missing, corrupted or orphaned" \
  "$TRESOR" verify --data "$WORK/resumed"

# Interrupted by kill -9 wherever it is once objects arrive, then run again: whatever the
# moment, the second run must complete with every instance once.
# Objects arrive in the target's storage folder, or for S3 in the server's folder.
WATCH="$DST/storage"
[ -n "${S3_DATA_DIR:-}" ] && WATCH="$S3_DATA_DIR"
BASE_FILES=$(find "$WATCH" -type f 2>/dev/null | wc -l)
"$TRESOR" migrate --data "$SRC" --to "$DST" "${CONFIG_ARGS[@]}" >"$WORK/migrate1.out" 2>&1 &
MPID=$!
for _ in $(seq 1 400); do
  kill -0 "$MPID" 2>/dev/null || break
  [ "$(find "$WATCH" -type f 2>/dev/null | wc -l)" -gt $((BASE_FILES + 40)) ] && break
  sleep 0.02
done
kill -9 "$MPID" 2>/dev/null
wait "$MPID" 2>/dev/null
RERUN=1
SUMMARY=1
if [ -e "$DST/migrating" ]; then
  echo "       (the first run was killed and left $DST/migrating)"
elif grep -q "^migrate: complete" "$WORK/migrate1.out"; then
  echo "       (the first run finished before it could be killed: its own result is checked)"
  RERUN=0
else
  # Killed after its last step (the mark is gone) but before it printed its summary:
  # the target is checked below, the summary cannot be.
  echo "       (the first run was killed between its last step and its summary)"
  RERUN=0
  SUMMARY=0
fi

if [ "$RERUN" = 0 ]; then
  cp "$WORK/migrate1.out" "$WORK/migrate.out"
  pass "migrate completes and verifies ($TARGET_KIND, in one run)"
elif "$TRESOR" migrate --data "$SRC" --to "$DST" "${CONFIG_ARGS[@]}" >"$WORK/migrate.out" 2>&1; then
  pass "migrate completes and verifies ($TARGET_KIND)"
else
  fail "migrate completes and verifies ($TARGET_KIND)"; sed 's/^/       /' "$WORK/migrate.out" | tail -20
fi
sed 's/^/       /' "$WORK/migrate.out"
if [ "$SUMMARY" = 1 ]; then
  check "migrate said complete" grep -q "^migrate: complete" "$WORK/migrate.out"
  COPIED=$(sed -n 's/^migrate: \([0-9]*\) instance(s) (\([0-9]*\) copied, [0-9]* bytes; \([0-9]*\) already there).*/\2 \3/p' "$WORK/migrate.out")
  expect_eq "copied + already there = the $TOTAL instances (no duplicate)" "$TOTAL" \
    "$(( ${COPIED% *} + ${COPIED#* } ))"
fi
check "the unfinished-migration mark is gone" test ! -e "$DST/migrating"

checksums "$SRC" >"$WORK/src.after"
if cmp -s "$WORK/src.before" "$WORK/src.after"; then
  pass "every source file is byte-identical after the migration"
else
  fail "the source changed:"; diff "$WORK/src.before" "$WORK/src.after" | head -10 | sed 's/^/       /'
fi

"$TRESOR" verify --data "$DST" >"$WORK/verify.out" 2>&1
VRC=$?
expect_eq "tresor verify on the target exits 0" 0 "$VRC"
check "tresor verify on the target: $TOTAL instances, nothing missing" \
  grep -q "^verify: $TOTAL instance(s), $TOTAL blob(s), .* 0 missing, 0 corrupted, 0 orphaned" "$WORK/verify.out"
[ "$VRC" = 0 ] || sed 's/^/       /' "$WORK/verify.out" | tail -5
check "tresor audit verify holds on the target" "$TRESOR" audit verify --data "$DST"
expect_eq "the target's stats equal the source's" "$STATS_SRC" "$("$TRESOR" stats --data "$DST")"
expect_eq "the target's groups, counts, rules and members equal the source's" "$GROUPS_SRC" \
  "$("$TRESOR" group list --data "$DST")"
if [ "$TARGET_KIND" = "SQLite + local files" ]; then
  dst_sql() { "$TRESOR" index sql "$1" --data "$DST" 2>/dev/null; }
  expect_eq "the source's head record is in the target at the same seq with the same hash" \
    "$HEAD_SRC" "$(dst_sql "SELECT seq||' '||hash FROM audit_records WHERE seq=${HEAD_SRC%% *}")"
  check "the source has a forwarding cursor to copy" test -n "$CURSORS_SRC"
  expect_eq "the forwarding cursors were copied" "$CURSORS_SRC" \
    "$(dst_sql "SELECT destination||'='||seq FROM audit_forward_cursor ORDER BY destination")"
  expect_eq "no blob of the interrupted run is left in the target's staging" 0 \
    "$(find "$DST/storage/staging" -type f | wc -l)"
  check "the target's blobs are sealed (no DICM magic at offset 128)" bash -c \
    "! find '$DST/storage/blobs' -type f -exec sh -c 'dd if=\"\$1\" bs=1 skip=128 count=4 2>/dev/null | grep -q DICM' _ {} \; -print | grep -q ."
else
  expect_eq "the S3 server holds the $TOTAL objects of the target and the resumed target" \
    "$((2 * TOTAL))" "$(find "$WORK/s3/objects" -path '*/blobs/*' -name '*._S3rver_object' | wc -l)"
  # The Part 10 magic where a plain file has it (offset 128): anywhere else, four bytes
  # of ciphertext can spell it by chance.
  check "no blob object on the S3 server holds plaintext DICOM (DICM magic at offset 128)" bash -c \
    "! find '$WORK/s3/objects' -path '*/blobs/*' -name '*._S3rver_object' -exec sh -c 'dd if=\"\$1\" bs=1 skip=128 count=4 2>/dev/null | grep -q DICM' _ {} \; -print | grep -q ."
  check "positive control: the source's corpus does hold the DICM magic" \
    grep -rlq DICM "$CORPUS"
fi

# --- answers: source and target served in turn ----------------------------------------
answers() {  # DATA OUT: C-FIND at three levels (peer MOD and peer FINDER), QIDO (two tokens)
  local data=$1 out=$2
  DATA=$data
  start_server || return 1
  mkdir -p "$out"
  local n=0
  for aet in MOD FINDER; do
    for keys in "-k QueryRetrieveLevel=STUDY -k PatientName=* -k PatientID -k StudyDate -k StudyInstanceUID -k ModalitiesInStudy -k NumberOfStudyRelatedInstances -k AccessionNumber" \
                "-k QueryRetrieveLevel=SERIES -k StudyInstanceUID=$IMPORTED_STUDY -k SeriesInstanceUID -k Modality -k SeriesNumber -k NumberOfSeriesRelatedInstances" \
                "-k QueryRetrieveLevel=IMAGE -k StudyInstanceUID=$MOD_STUDY -k SeriesInstanceUID -k SOPInstanceUID -k InstanceNumber"; do
      n=$((n + 1))
      mkdir -p "$out/find$n"
      # shellcheck disable=SC2086
      findscu -aet "$aet" -aec TRESOR -S -X -od "$out/find$n" $keys 127.0.0.1 "$PORT" >/dev/null 2>&1
      # The data sets only: findscu writes each response with a file meta header of its
      # own (a fresh MediaStorageSOPInstanceUID per file).
      for f in $(ls "$out/find$n" | sort); do dcmdump +L "$out/find$n/$f" | grep -v -e '^#' -e '^(0002,'; done \
        >"$out/find$n.txt"
    done
  done
  for tok in "$TOKEN" "$NARROW"; do
    n=$((n + 1))
    curl -sS --cacert "$data/keys/ca.pem" -H "Authorization: Bearer $tok" \
      "https://127.0.0.1:$HTTPS_PORT/dicom-web/studies?includefield=all" >"$out/qido$n.json"
  done
  stop_server
}
answers "$SRC" "$WORK/answers-src" || fail "the source serves"
answers "$DST" "$WORK/answers-dst" || fail "the target serves"
for f in "$WORK"/answers-src/*.txt "$WORK"/answers-src/*.json; do
  name=$(basename "$f")
  lines=$(grep -c . "$f")
  if cmp -s "$f" "$WORK/answers-dst/$name"; then
    pass "$name answers the same on source and target ($lines lines)"
  else
    fail "$name differs between source and target"
    diff "$f" "$WORK/answers-dst/$name" | head -6 | sed 's/^/       /'
  fi
done
expect_eq "positive control: C-FIND by peer MOD finds all 12 studies" 12 \
  "$(grep -c 'StudyInstanceUID' "$WORK/answers-src/find1.txt")"
check "positive control: QIDO-RS with the reader's token (copied API token) finds studies on the target" \
  grep -q '"0020000D"' "$WORK/answers-dst/qido7.json"
check "positive control: peer FINDER (group reading) sees fewer studies than MOD" \
  test "$(grep -c 'StudyInstanceUID' "$WORK/answers-src/find4.txt")" -lt \
       "$(grep -c 'StudyInstanceUID' "$WORK/answers-src/find1.txt")" -a \
       "$(grep -c 'StudyInstanceUID' "$WORK/answers-src/find4.txt")" -gt 0
check "the hand-removed study stays out of group reading on the target" \
  bash -c "! grep -q '$MOD_STUDY' '$WORK/answers-dst/find4.txt' && grep -q '$MOD_STUDY' '$WORK/answers-dst/find1.txt'"
check "the hand-assigned imported study is in group reading on the target" \
  grep -q "$IMPORTED_STUDY" "$WORK/answers-dst/find4.txt"

finish
