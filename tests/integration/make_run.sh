#!/usr/bin/env bash
# `make run` on this checkout starts a server that echoscu reaches using only what
# `make run` printed.
source "$(dirname "$0")/../lib.sh"

echo "make run: first start prints how to connect"
make -C "$ROOT" --no-print-directory run DATA="$WORK/run-data" SERVE_ARGS="--dicom-port 0 --dicom-tls-port 0 --http-port 0" \
  >"$WORK/run.out" 2>"$WORK/run.err" &
PID=$!
for _ in $(seq 1 600); do
  grep -q "Stop with Ctrl-C" "$WORK/run.out" && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.2
done
check "make run printed its connection instructions" grep -q "Check the connection with" "$WORK/run.out"
check "the admin password was printed once at first start" grep -q "Password (shown only now" "$WORK/run.out"
cmd=$(grep -A1 "Check the connection with" "$WORK/run.out" | tail -1)
echo "  printed: $cmd"
if [[ "$cmd" == *echoscu* ]]; then
  check "the printed echoscu command succeeds" bash -c "$cmd"
else
  fail "make run printed no echoscu command"
  tail -20 "$WORK/run.err"
fi
# The server is the child of make; stop the whole group.
pkill -TERM -P "$PID" 2>/dev/null
kill -TERM "$PID" 2>/dev/null
wait "$PID" 2>/dev/null
PID=
check "the data directory is private (mode 700)" test "$(stat -c %a "$WORK/run-data")" = 700
check "key material is readable by the owner only" test "$(stat -c %a "$WORK/run-data/keys/token.key")" = 600
check "the master key is outside the data directory, owner only" test "$(stat -c %a "$WORK/run-data.keys/master.key")" = 600
check "no password in the data directory in clear text" bash -c "! grep -rqF '$(sed -n 's/.*Password (shown only now, store it safely): //p' "$WORK/run.out")' '$WORK/run-data'"
finish
