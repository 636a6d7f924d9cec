#!/usr/bin/env bash
# kill -9 during mixed load: two C-STORE associations and STOW-RS store while C-FIND,
# C-GET and WADO read what is there; the server is killed once enough is acknowledged.
# (integration.crash_safety kills a pure C-STORE ingest; this adds the readers and
# STOW-RS, whose transactions and audit records interleave with the group commits.)
# After a restart: every acknowledged instance is present and intact, nothing
# half-written remains, and the readers' own requests work again.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.bash"

echo "faults: kill -9 under mixed load"
for k in a b c; do make_corpus "$WORK/$k" $((70 + ${#k} + $(printf '%d' "'$k"))) 50; done
init_data
start_server || { fail "server started"; finish; exit 1; }
add_peer faults FAULTS echo,store,find,get
token_for_admin
SEED=$WORK/seed
make_corpus "$SEED" 69 5
corpus_files "$SEED" | storescu_to "$WORK/seed.log" "$SEED"
READ=$(corpus_files "$SEED" | head -1)

# Readers: C-FIND, C-GET and WADO in a loop until the server goes away.
readers() {
  local i=0
  while server_alive; do
    i=$((i + 1))
    findscu_study "$WORK/rd.find.log" "$SEED" >/dev/null
    getscu_one "$WORK/rd.get.log" "$SEED" "$READ" >/dev/null
    wado_get "$WORK/rd.wado" "$SEED" "$READ"
    echo "$i" >"$WORK/reads"
  done
}
readers &
READERS=$!
load_store a "$WORK/a"
load_store b "$WORK/b"
load_stow c "$WORK/c"
wait_acked 80 || echo "  (load ended before 80 acknowledgements)"
kill -9 "$PID"; wait "$PID" 2>/dev/null
PID=
wait
collect_load
echo "  killed after $(sort -u "$ACKED" | wc -l) acknowledged instances, $(cat "$WORK/reads" 2>/dev/null || echo 0) read rounds"
check "the kill came mid-load (not everything acknowledged)" test "$(sort -u "$ACKED" | wc -l)" -lt 155

start_server || { fail "restart after kill -9"; finish; exit 1; }
grep -o 'storage recovery.*' "$LOG" | sed 's/^/  /'
no_half_written
check_acked "$SEED" "$WORK/a" "$WORK/b" "$WORK/c"
expect_eq "C-FIND works after the restart" 0x0000 "$(findscu_study "$WORK/after.find.log" "$SEED")"
expect_eq "C-GET works after the restart" 0x0000 "$(getscu_one "$WORK/after.get.log" "$SEED" "$READ")"
stop_server
finish
