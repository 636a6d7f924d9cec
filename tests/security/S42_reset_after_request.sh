#!/usr/bin/env bash
# S42: a client that resets its connection right after its A-ASSOCIATE-RQ costs the
# server nothing that lasts. The request is parsed after it has arrived; a reset that
# comes first makes DCMTK fail before it has taken the socket over (its getpeername
# fails), and the server used to leave that socket open: one descriptor per connection,
# for anyone who can reach the port, until the server could accept nothing (found by
# fuzzing, 2026-12-02). Checked: 400 such connections leave the server's open
# descriptors where they were, and it still answers.
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools

echo "S42: connections reset right after their association request leak nothing"
init_data
# The failures count against 127.0.0.1; the back-off must not hide the connections.
sed -i 's/^max_failures = .*/max_failures = 100000/' "$DATA/tresor.conf"
start_server || { fail "server starts"; finish; exit 1; }
add_peer hostile HOSTILE echo
probe() { "$PY" "$TOOLS/associate_probe.py" --port "$PORT" --timeout 60 "$@" 2>&1; }
fds() { ls "/proc/$PID/fd" | wc -l; }

expect_eq "control: a request done right is accepted and its C-ECHO answered" \
  "ac status=0x0000" "$(probe --then echo)"
before=$(fds)
expect_eq "400 requests, each followed by a reset" "sent 400" "$(probe --reset-after-request 400)"
expect_eq "the server still accepts and answers" "ac status=0x0000" "$(probe --then echo)"
# Connections still being handled close on their own; wait (bounded) until the count
# settles, then compare.
after=$(fds)
for _ in $(seq 1 100); do
  [ "$after" -le $((before + 2)) ] && break
  sleep 0.2
  after=$(fds)
done
check "open descriptors: $before before, $after after (at most 2 more)" \
  test "$after" -le $((before + 2))
echo "  info: $(grep -c 'getpeername' "$LOG" || true) of the 400 failed in DCMTK before it took the socket"
check "server alive" server_alive
finish
