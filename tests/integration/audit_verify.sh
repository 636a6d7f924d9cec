#!/usr/bin/env bash
# `tresor audit verify` against tampering on disk: an archive with a real trail (sign-ins,
# associations, stores, a checkpoint signed by `tresor serve` when it stopped) is copied
# once per kind of tampering -- one record edited, one deleted, two swapped, the tail cut
# after the checkpoint, the checkpoint forged -- and verify must report each with exit
# status 3 naming the first bad seq, while the untouched copy verifies intact (exit 0).
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools

echo "audit_verify: tampering with the trail is detected"
# The index is sealed: tampering goes through tests/tools/index_tamper.cc (built with the
# tests; CTest passes its path), which opens it with the data directory's own key.
INDEX_TAMPER=${INDEX_TAMPER:-$(dirname "$TRESOR")/../../tests/index_tamper}
if [ ! -x "$INDEX_TAMPER" ]; then
  fail "index_tamper not built: $INDEX_TAMPER (cmake --build build --target index_tamper)"; finish; exit 1
fi

# tamper DIR SQL: runs SQL on the stopped archive's index the way an insider holding the
# disk and the master key would (dropping the append-only triggers first). The one place
# that edits the index.
tamper() {
  "$INDEX_TAMPER" "$1" "DROP TRIGGER IF EXISTS audit_records_no_update;
    DROP TRIGGER IF EXISTS audit_records_no_delete; $2"
}
# sql DIR SELECT: one read-only query on the index, through the product's own command.
sql() { "$TRESOR" index sql --data "$1" "$2"; }

"$PY" "$TOOLS/make_studies.py" --out "$WORK/corpus" --patients 1 --studies 1 --series 1 --instances 3 \
  --rows 8 --cols 8 >/dev/null
rm "$WORK/corpus/manifest.tsv"
init_data || { fail "init"; finish; exit 1; }
sed -i 's/^fsync = true/fsync = false/' "$DATA/tresor.conf"
add_peer mod MOD echo,store
start_server || { fail "the server starts"; finish; exit 1; }
for i in 1 2 3; do echoscu -aet MOD -aec TRESOR 127.0.0.1 "$PORT" >/dev/null 2>&1; done
check "storescu stores the corpus" storescu -aet MOD -aec TRESOR 127.0.0.1 "$PORT" +sd +r "$WORK/corpus"
stop_server  # signs a checkpoint of the head
check "the stopped archive verifies intact" "$TRESOR" audit verify --data "$DATA"
HEAD=$(sql "$DATA" "SELECT max(seq) FROM audit_records")
SIGNED=$(sql "$DATA" "SELECT max(seq) FROM audit_checkpoints")
check "a checkpoint was signed at shutdown" test -n "$SIGNED" -a "$SIGNED" -ge 6
PUB=$("$TRESOR" audit public-key --data "$DATA")
check "verify against the public key kept elsewhere" "$TRESOR" audit verify --public-key "$PUB" --data "$DATA"

# case NAME SQL WANT_SEQ: a fresh copy, tampered, must fail verify naming WANT_SEQ.
case_() {
  local name=$1 sql=$2 want=$3 copy=$WORK/copy-$1
  rm -rf "$copy" "$copy.keys"; cp -a "$DATA" "$copy"; cp -a "$DATA.keys" "$copy.keys"
  tamper "$copy" "$sql" || { fail "$name: tampering failed"; return; }
  "$TRESOR" audit verify --data "$copy" >"$WORK/verify.$name" 2>&1
  local rc=$?
  if [ "$rc" -eq 3 ] && grep -q "first bad record seq $want:" "$WORK/verify.$name"; then
    pass "$name: reported at seq $want ($(sed -n 's/.*seq [0-9]*: //p' "$WORK/verify.$name" | head -1))"
  else
    fail "$name: expected exit 3 at seq $want, got $rc: $(head -2 "$WORK/verify.$name")"
  fi
}
case_ edited "UPDATE audit_records SET body = replace(body, '\"outcome\":0', '\"outcome\":4') WHERE seq = 3;" 3
case_ deleted "DELETE FROM audit_records WHERE seq = 4;" 4
case_ swapped "UPDATE audit_records SET seq = -1 WHERE seq = 2; UPDATE audit_records SET seq = 2 WHERE seq = 3;
  UPDATE audit_records SET seq = 3 WHERE seq = -1;" 2
case_ truncated "DELETE FROM audit_records WHERE seq > $((SIGNED - 2));" $((SIGNED - 1))
case_ forged_checkpoint "UPDATE audit_checkpoints SET time = time + 1;" "$SIGNED"
case_ column_only "UPDATE audit_records SET actors = char(10) || 'SOMEONE' || char(10) WHERE seq = 5;" 5

# The positive control: the untouched archive still verifies and serves.
check "the original still verifies intact" "$TRESOR" audit verify --data "$DATA"
check "verifying appended its own record (Audit Log Used)" test "$(sql "$DATA" "SELECT max(seq) FROM audit_records")" -gt "$HEAD"
finish
