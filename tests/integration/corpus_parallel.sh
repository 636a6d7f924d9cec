#!/usr/bin/env bash
# Ingest of a generated corpus (2,000 instances) over 4 parallel associations: every
# instance is indexed exactly once and comes back with identical data set bytes.
source "$(dirname "$0")/../lib.sh"

echo "corpus: 2,000 instances over 4 parallel associations"
CORPUS=$WORK/corpus
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$CORPUS" --patients 10 --studies 2 \
  --series 4 --instances 25 --jobs 2 >/dev/null
total=$(($(wc -l <"$CORPUS/manifest.tsv") - 1))
expect_eq "corpus has 2000 instances" 2000 "$total"

init_data
start_server
add_peer ct CT1 echo,store

tail -n +2 "$CORPUS/manifest.tsv" | cut -f1 | split -n r/4 - "$WORK/part."
pids=()
for part in "$WORK"/part.*; do
  (cd "$CORPUS" && xargs storescu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT" <"$part" \
     >"$part.log" 2>&1) &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
expect_eq "all four storescu runs succeed" 0 "$rc"

expect_eq "index holds 2000 instances" "instances: 2000" \
  "$("$TRESOR" stats --data "$DATA" | grep instances)"
expect_eq "index holds 10 patients" "patients:  10" "$("$TRESOR" stats --data "$DATA" | grep patients)"
expect_eq "index holds 20 studies" "studies:   20" "$("$TRESOR" stats --data "$DATA" | grep studies)"

# Every manifest UID is indexed exactly once, and nothing else is.
tail -n +2 "$CORPUS/manifest.tsv" | cut -f5 | sort >"$WORK/want"
"$TRESOR" index sql --data "$DATA" "SELECT sop_uid FROM instances" | sort >"$WORK/got"
check "indexed SOP Instance UIDs equal the manifest, each once" cmp "$WORK/want" "$WORK/got"

# Spot-check 50 instances: data set bytes identical to what was sent.
bad=0
while IFS=$'\t' read -r path _ _ _ uid _; do
  "$TRESOR" cat --data "$DATA" "$uid" >"$WORK/out.dcm" || { bad=$((bad + 1)); continue; }
  a=$("$PY" "$ROOT/tests/tools/dataset_bytes.py" sha "$CORPUS/$path" | cut -f1)
  b=$("$PY" "$ROOT/tests/tools/dataset_bytes.py" sha "$WORK/out.dcm" | cut -f1)
  [ "$a" = "$b" ] || bad=$((bad + 1))
done < <(tail -n +2 "$CORPUS/manifest.tsv" | awk 'NR % 40 == 1')
expect_eq "50 sampled instances come back byte-identical" 0 "$bad"

# Sending everything again changes nothing (idempotent duplicates).
check "resending the first 100 succeeds" bash -c "cd '$CORPUS' && head -100 '$WORK/part.aa' | xargs storescu -aet CT1 -aec TRESOR 127.0.0.1 $PORT"
expect_eq "still 2000 instances" "instances: 2000" "$("$TRESOR" stats --data "$DATA" | grep instances)"
check "server still up" server_alive
stop_server
finish
