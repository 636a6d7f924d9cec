#!/usr/bin/env bash
# Crash safety: kill -9 the server during a large ingest, restart it, and check that
# every instance acknowledged with success is present and intact, that no partial blob
# or index row remains, and that resending the rest completes the set.
source "$(dirname "$0")/../lib.sh"

echo "crash safety: kill -9 during ingest"
CORPUS=$WORK/corpus
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$CORPUS" --patients 2 --studies 2 \
  --series 3 --instances 50 --rows 256 --cols 256 >/dev/null
total=$(($(wc -l <"$CORPUS/manifest.tsv") - 1))

init_data
start_server
add_peer ct CT1 echo,store

# Two associations, so the kill can land in the middle of a group commit of several.
tail -n +2 "$CORPUS/manifest.tsv" | cut -f1 | split -n r/2 - "$WORK/part."
for part in "$WORK"/part.a?; do
  (cd "$CORPUS" && xargs storescu -v -aet CT1 -aec TRESOR 127.0.0.1 "$PORT" <"$part" \
     >"$part.log" 2>&1) &
done
# Kill once a good number of instances has been acknowledged.
acked=$(wait_for_acks 120 "$WORK/part.a?.log")
kill -9 "$PID"
wait "$PID" 2>/dev/null
PID=
wait
echo "  killed after $acked acknowledged instances (of $total)"
check "the kill happened mid-ingest" test "$acked" -lt "$total"

# Files whose C-STORE got a success response, per storescu's log.
for log in "$WORK"/part.a?.log; do
  awk '/Sending file:/ { f = $NF } /Received Store Response \(Success\)/ { print f }' "$log"
done | sort -u >"$WORK/acked.txt"
echo "  $(wc -l <"$WORK/acked.txt") instances acknowledged before the crash"

start_server
check "restart after kill -9 succeeds" server_alive
staged=$(find "$DATA/storage/staging" -type f | wc -l)
expect_eq "no staged (partial) blob remains after recovery" 0 "$staged"
indexed=$("$TRESOR" stats --data "$DATA" | sed -n 's/instances: *//p')
blobs=$(find "$DATA/storage/blobs" -type f | wc -l)
expect_eq "every blob belongs to an index row and vice versa (count)" "$indexed" "$blobs"
check "every acknowledged instance was kept" test "$indexed" -ge "$(wc -l <"$WORK/acked.txt")"

# Every acknowledged instance, and every other indexed one, is intact.
"$TRESOR" index sql --data "$DATA" "SELECT sop_uid FROM instances" | sort >"$WORK/indexed_uids"
missing=0 corrupt=0
while IFS=$'\t' read -r path _ _ _ uid _; do
  if grep -qxF "$path" "$WORK/acked.txt" && ! grep -qxF "$uid" "$WORK/indexed_uids"; then
    missing=$((missing + 1)); continue
  fi
  grep -qxF "$uid" "$WORK/indexed_uids" || continue
  "$TRESOR" cat --data "$DATA" "$uid" >"$WORK/back.dcm" 2>/dev/null || { corrupt=$((corrupt + 1)); continue; }
  a=$("$PY" "$ROOT/tests/tools/dataset_bytes.py" sha "$CORPUS/$path" | cut -f1)
  b=$("$PY" "$ROOT/tests/tools/dataset_bytes.py" sha "$WORK/back.dcm" | cut -f1)
  [ "$a" = "$b" ] || corrupt=$((corrupt + 1))
done < <(tail -n +2 "$CORPUS/manifest.tsv")
expect_eq "no acknowledged instance is missing" 0 "$missing"
expect_eq "no indexed instance is partial or corrupt" 0 "$corrupt"

# Resending everything completes the set; what was already there is a duplicate.
check "resending the whole corpus succeeds" bash -c "cd '$CORPUS' && tail -n +2 manifest.tsv | cut -f1 | xargs storescu -aet CT1 -aec TRESOR 127.0.0.1 $PORT"
expect_eq "the set is complete" "instances: $total" "$("$TRESOR" stats --data "$DATA" | grep instances)"
tail -n +2 "$CORPUS/manifest.tsv" | cut -f5 | sort >"$WORK/want"
"$TRESOR" index sql --data "$DATA" "SELECT sop_uid FROM instances" | sort >"$WORK/got"
check "indexed UIDs equal the manifest" cmp "$WORK/want" "$WORK/got"
grep -q "storage recovery" "$LOG" && echo "  recovery: $(grep -o 'storage recovery.*' "$LOG")"
stop_server
finish
