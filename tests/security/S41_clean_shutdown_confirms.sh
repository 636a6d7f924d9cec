#!/usr/bin/env bash
# S41: a clean stop (SIGTERM) confirms the last group commit, so the next start has no
# unconfirmed instance to re-check; after kill -9 right after a store it has (the
# positive control: the re-check is visible in the log when there is something to check).
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools

echo "S41: a clean shutdown confirms its last batch"
init_data
grep -q '^fsync = true' "$DATA/tresor.conf" || fail "fsync on (the default) for this test"
store() {
  "$PY" "$TOOLS/dicom_bytes.py" valid --sop-instance "$1" -o "$WORK/ds"
  "$PY" "$TOOLS/raw_scu.py" --port "$PORT" --calling CT1 store --sop-instance "$1" --dataset "$WORK/ds"
}
start_server || { fail "server starts"; finish; exit 1; }
add_peer ct CT1 echo,store
expect_eq "stored before the clean stop" status=0x0000 "$(store 1.2.826.0.1.3680043.2.1125.41.1)"
expect_eq "a second one" status=0x0000 "$(store 1.2.826.0.1.3680043.2.1125.41.2)"
stop_server
start_server || { fail "server restarts"; finish; exit 1; }
check_fails "after SIGTERM: the next start re-checks no unconfirmed instance" \
  grep -q "unconfirmed instance" "$LOG"
expect_eq "both instances are there" 2 "$("$TRESOR" stats --data "$DATA" | awk '/^instances:/ {print $2}')"

expect_eq "stored before kill -9" status=0x0000 "$(store 1.2.826.0.1.3680043.2.1125.41.3)"
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
start_server || { fail "server starts after kill -9"; finish; exit 1; }
check "control: after kill -9 the next start re-checks the last batch" \
  grep -q "index recovery: 1 unconfirmed instance(s) intact" "$LOG"
expect_eq "all three instances are there" 3 "$("$TRESOR" stats --data "$DATA" | awk '/^instances:/ {print $2}')"
stop_server
start_server || { fail "server restarts"; finish; exit 1; }
check_fails "and after the next clean stop, nothing to re-check again" grep -q "unconfirmed instance" "$LOG"
stop_server
finish
