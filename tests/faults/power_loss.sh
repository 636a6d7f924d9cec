#!/usr/bin/env bash
# Power loss: the server runs under the power_cut.so shim (tests/tools/power_cut.c), which
# keeps an undo log of every write to the data directory not yet fsync'ed/syncfs'ed. Under
# load (two C-STORE associations and STOW-RS), the power is cut: the shim undoes every
# unsynced write, file creation and rename -- the disk as a power cut leaves it -- and
# kills the server. After a restart every acknowledged instance must be present and
# intact (tresor verify, WADO bytes), with nothing half-written. Two cuts in a row, then
# a control: with fsync = false the same cut must lose acknowledged instances, which shows
# the shim really drops what was not synced.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.bash"

echo "faults: power loss (unsynced writes dropped)"
SHIM=${POWER_CUT:-$ROOT/build/tests/power_cut.so}
[ -f "$SHIM" ] || { skip --core "power_cut.so not built ($SHIM)"; finish; exit $?; }

# A sanitizer build wants its runtime first among the preloaded libraries.
PRELOAD=$SHIM
ASAN_RT=$(ldd "$TRESOR" | awk '/libasan/ { print $3 }')
[ -n "$ASAN_RT" ] && PRELOAD="$ASAN_RT $SHIM"

init_data
"$TRESOR" peer add faults --ae FAULTS --host 127.0.0.1 --allow echo,store,find,get \
  --groups all --data "$DATA" >/dev/null
token_for_admin
FIFO=$WORK/cut.fifo
mkfifo "$FIFO"

# loaders_running: a background client of this shell is still running (not the server).
loaders_running() {
  local p
  for p in $(jobs -rp); do [ "$p" != "$PID" ] && return 0; done
  return 1
}
# cut_under_load ROUND AFTER [SYNCFS]: load, power cut once AFTER instances are
# acknowledged (or, with SYNCFS, at the start of the server's SYNCFS-th syncfs, before it
# takes effect); the clients finish (they see the server vanish), acknowledged UIDs
# collected.
cut_under_load() {
  local round=$1 after=$2 at_sync=${3:-}
  local seed=$((100 + 3 * round))
  for k in a b c; do make_corpus "$WORK/r$round$k" $((seed++)) 40; done
  rm -f "$WORK/cut.report"
  serve_with LD_PRELOAD="$PRELOAD" POWER_CUT_DIR="$DATA" POWER_CUT_FIFO="$FIFO" \
    POWER_CUT_REPORT="$WORK/cut.report" POWER_CUT_AT_SYNCFS="$at_sync" || return 1
  local base
  base=$(acked_count)
  load_store a "$WORK/r${round}a"
  load_store b "$WORK/r${round}b"
  load_stow c "$WORK/r${round}c"
  if [ -n "$at_sync" ]; then
    # The shim cuts by itself; should the load end first, the FIFO cuts instead.
    while kill -0 "$PID" 2>/dev/null; do
      loaders_running || { echo "  (load ended before syncfs $at_sync)"; echo x >"$FIFO"; break; }
      sleep 0.1
    done
  else
    wait_acked $((base + after)) || echo "  (load ended before $after acknowledgements)"
    echo x >"$FIFO"
  fi
  wait "$PID" 2>/dev/null
  PID=
  wait  # the clients end: the server is gone
  collect_load
  echo "  round $round: cut after $(($(sort -u "$ACKED" | wc -l) - base)) new acknowledgements;" \
    "$(cat "$WORK/cut.report" 2>/dev/null || echo 'no report')"
}

for round in 1 2; do
  # Round 1 at a moment chosen by acknowledgements, round 2 just before a group commit's sync.
  if [ $round = 1 ]; then cut_under_load 1 40; else cut_under_load 2 0 15; fi
  check "round $round: the shim cut the power and undid unsynced changes" \
    grep -q "undone:" "$WORK/cut.report"
  if [ $round = 2 ]; then
    check "round 2: the cut before a sync undid unsynced writes" \
      grep -q "undone: [1-9][0-9]* writes" "$WORK/cut.report"
  fi
  start_server || { fail "restart after the power cut"; finish; exit 1; }
  grep -o 'storage recovery.*' "$LOG" | sed 's/^/  /'
  no_half_written
  check_acked "$WORK"/r?[abc]
  stop_server
done

# Control: without syncs nothing acknowledged is durable, and the same cut loses it.
echo " control: fsync = false"
sed -i 's/^fsync = true/fsync = false/' "$DATA/tresor.conf"
grep -q '^fsync = false' "$DATA/tresor.conf" || fail "tresor.conf has fsync = false"
before=$(sort -u "$ACKED" | wc -l)
cut_under_load 3 20
start_server || { fail "restart after the control cut"; finish; exit 1; }
"$TRESOR" index sql --data "$DATA" "SELECT sop_uid FROM instances" | sort >"$WORK/indexed.txt"
lost=$(sort -u "$ACKED" | comm -23 - "$WORK/indexed.txt" | wc -l)
echo "  control: $(($(sort -u "$ACKED" | wc -l) - before)) acknowledged without sync, $lost lost"
check "control: without syncs the power cut loses acknowledged instances (the shim bites)" \
  test "$lost" -gt 0
stop_server
finish
