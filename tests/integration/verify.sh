#!/usr/bin/env bash
# `tresor verify` on a real archive: clean gives exit 0; a removed blob is "missing"
# (exit 4), a modified one "corrupted" (8), a blob without index row "orphaned" (16), the
# statuses add up; each problem line names the object (SOP Instance UID) and its blob; a
# staged blob is not an orphan; progress is a bar on a terminal and plain lines otherwise.
source "$(dirname "$0")/../lib.sh"

echo "verify: missing, corrupted and orphaned objects"

CORPUS=$WORK/corpus
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$CORPUS" --patients 2 --studies 1 \
  --series 2 --instances 3 >/dev/null
TOTAL=$(($(wc -l <"$CORPUS/manifest.tsv") - 1))
init_data
sed -i 's/^fsync = true/fsync = false/' "$DATA/tresor.conf"
check "importing the corpus succeeds" "$TRESOR" import --data "$DATA" "$CORPUS"/p*

# verify: runs tresor verify; sets RC, OUT (stdout file), ERR (stderr file).
verify() {
  OUT=$WORK/verify.out ERR=$WORK/verify.err
  "$TRESOR" verify --data "$DATA" >"$OUT" 2>"$ERR"
  RC=$?
}
in_manifest() { awk -F'\t' -v u="$1" 'NR > 1 && $5 == u {found = 1} END {exit !found}' "$CORPUS/manifest.tsv"; }

verify
expect_eq "a fresh archive verifies clean (exit 0)" 0 "$RC"
check "... every instance and blob counted" grep -q "^verify: $TOTAL instance(s), $TOTAL blob(s), .* 0 missing, 0 corrupted, 0 orphaned" "$OUT"
check "without a terminal, progress is plain lines on stderr" grep -q "^verifying: $TOTAL/$TOTAL" "$ERR"
if command -v script >/dev/null; then
  script -qec "'$TRESOR' verify --data '$DATA'" /dev/null >"$WORK/tty.out" 2>&1
  check "on a terminal, progress is a bar" bash -c "grep -a -q 'verifying \[#*\] $TOTAL/$TOTAL' '$WORK/tty.out'"
else
  skip "progress bar on a terminal (no script(1) here)"
fi

mapfile -t FILES < <(find "$DATA/storage/blobs" -type f | sort)
GONE=${FILES[0]}
rm "$GONE"
verify
expect_eq "a removed blob: exit 4 (missing)" 4 "$RC"
UID_GONE=$(awk '$1 == "missing" {print $2}' "$OUT")
check "... the line names its blob" grep -q "^missing .*$(basename "$GONE")" "$OUT"
check "... and an archived instance" in_manifest "$UID_GONE"
check "... and nothing else is reported" grep -q "1 missing, 0 corrupted, 0 orphaned" "$OUT"

BAD=${FILES[1]}
"$PY" -c 'import sys, os; p = sys.argv[1]; f = open(p, "r+b"); f.seek(os.path.getsize(p) - 40); b = f.read(1); f.seek(-1, 1); f.write(bytes([b[0] ^ 1])); f.close()' "$BAD"
CUT=${FILES[2]}
truncate -s $(( $(stat -c %s "$CUT") - 1000 )) "$CUT"
verify
expect_eq "plus a modified and a truncated blob: exit 12 (missing + corrupted)" 12 "$RC"
check "... both named as corrupted, with an integrity error" bash -c \
  "grep -q '^corrupted .*$(basename "$BAD").*integrity error' '$OUT' && grep -q '^corrupted .*$(basename "$CUT").*integrity error' '$OUT'"
check "... counts" grep -q "1 missing, 2 corrupted, 0 orphaned" "$OUT"

ORPHAN=abcdef0123456789abcdef0123456789
cp "${FILES[3]}" "$DATA/storage/blobs/ab/$ORPHAN"
STAGED=0123456789abcdef0123456789abcdef
cp "${FILES[3]}" "$DATA/storage/staging/$STAGED"
verify
expect_eq "plus a blob without index row: exit 28 (missing + corrupted + orphaned)" 28 "$RC"
check "... named as orphaned" grep -q "^orphaned  blob $ORPHAN" "$OUT"
check "... a staged blob is not an orphan" bash -c "! grep -q '$STAGED' '$OUT'"
check "... counts" grep -q "1 missing, 2 corrupted, 1 orphaned" "$OUT"
check "no patient name or ID in the report" bash -c \
  "! grep -qF \"\$(tail -n +2 '$CORPUS/manifest.tsv' | head -1 | cut -f2)\" '$OUT'"

rm "$DATA/storage/blobs/ab/$ORPHAN" "$DATA/storage/staging/$STAGED"
verify
expect_eq "positive control: with the orphan gone, exit 12 again" 12 "$RC"
mv "$DATA.keys" "$WORK/keys.away"
verify
expect_eq "without the master key: exit 1" 1 "$RC"
check "... with a clear message" grep -q "master key .* not found" "$ERR"
mv "$WORK/keys.away" "$DATA.keys"
verify
expect_eq "positive control: with the key back, exit 12" 12 "$RC"

finish
