#!/usr/bin/env bash
# Large objects stream to disk: three 32 MB images over parallel associations leave
# the server's memory bounded, and come back byte-identical.
source "$(dirname "$0")/../lib.sh"

echo "large objects: streamed to disk with bounded memory"
CORPUS=$WORK/corpus
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$CORPUS" --patients 1 --studies 1 \
  --series 3 --instances 1 --rows 4096 --cols 4096 >/dev/null
init_data
start_server
add_peer ct CT1 echo,store
base=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
pids=()
while IFS=$'\t' read -r path _; do
  storescu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT" "$CORPUS/$path" >"$WORK/$(basename "$path").log" 2>&1 &
  pids+=($!)
done < <(tail -n +2 "$CORPUS/manifest.tsv")
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
expect_eq "three 32 MB objects stored in parallel" 0 "$rc"
peak=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
echo "  peak RSS: $((base / 1024)) MiB before, $((peak / 1024)) MiB after ~100 MB received"
check "peak memory grew by less than 48 MiB for 96 MiB of data" test $((peak - base)) -lt 49152
bad=0
while IFS=$'\t' read -r path _ _ _ uid _; do
  "$TRESOR" cat --data "$DATA" "$uid" >"$WORK/out.dcm"
  [ "$("$PY" "$ROOT/tests/tools/dataset_bytes.py" sha "$WORK/out.dcm")" = \
    "$("$PY" "$ROOT/tests/tools/dataset_bytes.py" sha "$CORPUS/$path")" ] || bad=$((bad + 1))
done < <(tail -n +2 "$CORPUS/manifest.tsv")
expect_eq "each large object comes back byte-identical" 0 "$bad"
stop_server
finish
