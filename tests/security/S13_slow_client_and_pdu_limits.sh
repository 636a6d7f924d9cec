#!/usr/bin/env bash
# S13: slow clients never block other clients' handshakes; connections that never send
# (or never finish) their A-ASSOCIATE-RQ are dropped after limits.artim_seconds; idle
# associations are aborted after limits.idle_seconds (plain and TLS); an oversized PDU
# gets an A-ABORT, not a crash; associations are capped per peer
# (limits.max_associations_per_peer, transient reject) and in total
# (limits.max_associations workers + limits.max_pending_connections queue; beyond that a
# connection is closed at once).
# The deadlines themselves are decided on the injected clock and unit-tested there
# (core/clock_test Deadline, web/https_server_test); here the verdicts are what happened
# (answered, dropped, aborted, rejected), each bounded by a generous client timeout, never
# how long it took.
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools
BG=()
trap 'for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done; cleanup' EXIT

ARTIM=2 IDLE=5
echo "S13: slow clients, timeouts, PDU limit, association caps (artim $ARTIM s, idle $IDLE s)"
init_data
conf() { sed -i "s/^$1 = .*/$1 = $2/" "$DATA/tresor.conf"; grep -qx "$1 = $2" "$DATA/tresor.conf"; }
set_limits() {
  conf artim_seconds "$ARTIM" && conf idle_seconds "$IDLE" && conf max_associations 4 &&
    conf max_pending_connections 2
}
check "config: artim_seconds = $ARTIM, idle_seconds = $IDLE, 4 workers, queue of 2" set_limits
PER_PEER=no
conf max_associations_per_peer 2 && PER_PEER=yes
# S12's lockout is tested on its own; dropped and rejected probes must not trigger it here.
sed -i 's/^max_failures = .*/max_failures = 1000000/' "$DATA/tresor.conf"
start_server || { fail "server starts"; finish; exit 1; }
add_peer a PEERA echo
add_peer b PEERB echo
"$TRESOR" peer enroll ws --ae WS1 --host 127.0.0.1 --allow echo --data "$DATA" >/dev/null
W=$DATA/enrolled/ws
TLS_OPTS=(--tls --tls-cert "$W/ws.pem" --tls-key "$W/ws.key" --tls-ca "$W/ca.pem")
scu() { "$PY" "$TOOLS/secure_scu.py" "$@" 2>&1; }
# bg NAME ARGS...: secure_scu in the background, output in $WORK/NAME.out.
bg() { local name=$1; shift; "$PY" "$TOOLS/secure_scu.py" "$@" >"$WORK/$name.out" 2>&1 & BG+=($!); }
wait_bg() { for p in "${BG[@]}"; do wait "$p" 2>/dev/null; done; BG=(); }
# ended NAME PATTERN: $WORK/NAME.out (how the connection ended) matches PATTERN.
ended() { grep -qE "$2" "$WORK/$1.out"; }
# log_count PATTERN: lines of the server log matching PATTERN.
log_count() { grep -c -- "$1" "$LOG"; }
# wait_log PATTERN N: until the server log has at least N lines matching PATTERN (gives up
# after 30 s; the check that follows then fails).
wait_log() { for _ in $(seq 1 300); do [ "$(log_count "$1")" -ge "$2" ] && return 0; sleep 0.1; done; return 1; }
# wait_conns N: until N client connections to the DICOM ports are established.
wait_conns() {
  for _ in $(seq 1 300); do
    [ "$(ss -Htn state established "( dport = :$PORT or dport = :$TLS_PORT )" | wc -l)" -ge "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

# 1. Three slow clients (silent plain TCP, silent TCP on the TLS port, half an
# A-ASSOCIATE-RQ; the plain ones wait in the acceptor, the TLS one holds a worker) stay
# open (this first server has an ARTIM timeout of an hour) while another client's C-ECHO
# is answered, plain and over TLS.
stop_server
conf artim_seconds 3600
start_server || { fail "server restarts"; finish; exit 1; }
bg silent --port "$PORT" --timeout 120 silent
check "the silent plain connection is open" wait_conns 1
bg silent_tls --port "$TLS_PORT" --timeout 120 silent
check "the silent TLS connection is open" wait_conns 2
bg partial --port "$PORT" --calling PEERA --timeout 120 silent --partial 40
check "the half-sent association request is open" wait_conns 3
check "C-ECHO while three slow connections are open succeeds" echoscu -aet PEERA -aec TRESOR 127.0.0.1 "$PORT"
expect_eq "TLS C-ECHO while they are open succeeds" status=0x0000 \
  "$(scu "${TLS_OPTS[@]}" --port "$TLS_PORT" --calling WS1 echo)"
for i in 0 1 2; do
  check "slow client $((i + 1)) was still connected after the echoes" kill -0 "${BG[$i]}"
done
for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
wait_bg
stop_server

# Real-time smoke check of the ARTIM timer: with artim_seconds = $ARTIM the same slow
# connections are dropped by the server (the clients would wait 30 s).
conf artim_seconds "$ARTIM"
start_server || { fail "server restarts"; finish; exit 1; }
bg silent --port "$PORT" --timeout 30 silent
bg silent_tls --port "$TLS_PORT" --timeout 30 silent
bg partial --port "$PORT" --calling PEERA --timeout 30 silent --partial 40
wait_bg
for n in silent silent_tls partial; do
  check "slow connection '$n' dropped by the server at the ARTIM timeout: $(cat "$WORK/$n.out")" \
    ended "$n" '^closed'
done
check "log: plain connections dropped at the ARTIM timeout" \
  test "$(grep -c 'connection from 127.0.0.1 dropped: .*ARTIM' "$LOG")" -ge 2
check "log: the silent TLS connection dropped at the ARTIM timeout" \
  grep -q 'TLS connection from 127.0.0.1 dropped: .*ARTIM' "$LOG"

# 2. Real-time smoke check of the idle timer: idle associations (plain and TLS) are
# aborted by the server (the clients would wait 60 s).
bg idle --port "$PORT" --calling PEERA --timeout 60 idle
bg idle_tls "${TLS_OPTS[@]}" --port "$TLS_PORT" --calling WS1 --timeout 60 idle
wait_bg
for n in idle idle_tls; do
  check "$n association ended by the server at the idle timeout: $(cat "$WORK/$n.out")" \
    ended "$n" '^(aborted|closed)'
done
check "log: 'association idle for ... aborting'" test "$(grep -c 'association idle for' "$LOG")" -ge 2

# 3. Oversized and forged PDUs: A-ABORT (or close), never a crash.
for kind in oversized-pdata huge-pdata bad-pdv; do
  out=$(scu --port "$PORT" --calling PEERA --timeout 10 garbage --kind "$kind")
  check "plain '$kind': the server aborts ($out)" grep -qE '^(aborted|closed)' <<<"$out"
done
out=$(scu --port "$PORT" --calling PEERA --timeout 10 garbage --kind oversized-pdata)
expect_eq "plain oversized P-DATA: A-ABORT source 2 (provider), reason 6" "aborted source=2 reason=6" "$out"
out=$(scu "${TLS_OPTS[@]}" --port "$TLS_PORT" --calling WS1 --timeout 10 garbage --kind oversized-pdata)
expect_eq "TLS oversized P-DATA: A-ABORT source 2, reason 6" "aborted source=2 reason=6" "$out"
out=$(scu --port "$PORT" --calling PEERA --timeout 10 garbage --kind huge-associate)
check "A-ASSOCIATE-RQ declaring 4 GB: refused ($out)" grep -qE '^(aborted|closed|rejected)' <<<"$out"
check "log: 'association aborted' for the oversized PDUs" test "$(grep -c 'association aborted: ' "$LOG")" -ge 3
check "server still up after the PDU probes" server_alive
check "C-ECHO still answered" echoscu -aet PEERA -aec TRESOR 127.0.0.1 "$PORT"

# 4. Per-peer cap: PEERA holds two associations; its third is rejected (transient), while
# PEERB still gets in.
ACCEPTED_A="association accepted: peer 'a'"
ACCEPTED="association accepted: "
if [ "$PER_PEER" = yes ]; then
  n0=$(log_count "$ACCEPTED_A")
  bg hold_a1 --port "$PORT" --calling PEERA --timeout 60 idle
  bg hold_a2 --port "$PORT" --calling PEERA --timeout 60 idle
  check "PEERA holds two associations" wait_log "$ACCEPTED_A" $((n0 + 2))
  expect_eq "PEERA's third association: transient reject (result 2, source 3, reason 2)" \
    "rejected result=2 source=3 reason=2" "$(scu --port "$PORT" --calling PEERA --timeout 10 associate)"
  expect_eq "PEERB is not affected" accepted "$(scu --port "$PORT" --calling PEERB --timeout 10 associate)"
  check "log: the per-peer limit is named" grep -q 'associations, the limit' "$LOG"
  wait_bg
else
  echo "  note: this build has no limits.max_associations_per_peer; per-peer cap not checked"
fi

# 5. Total cap: four held associations fill the workers, two more connections wait in
# the queue, the next one is closed at once. When the held ones time out, the queued
# ones are served.
n0=$(log_count "$ACCEPTED")
for n in 1 2 3 4; do
  bg "hold_$n" --port "$PORT" --calling "$([ $n -le 2 ] && echo PEERA || echo PEERB)" --timeout 60 idle
done
check "four held associations fill the workers" wait_log "$ACCEPTED" $((n0 + 4))
q0=$(log_count "queued: all workers busy")
bg queued_1 --port "$PORT" --calling WS1 --timeout 60 associate   # WS1 is TLS-only:
check "the first extra connection waits in the queue" wait_log "queued: all workers busy" $((q0 + 1))
bg queued_2 --port "$PORT" --calling NOBODY --timeout 60 associate # both get an answer
check "the second one too" wait_log "queued: all workers busy" $((q0 + 2))
# The extra client sends a complete association request (a silent one would only wait in
# the acceptor's poll set until ARTIM, holding no worker). It is closed, not left waiting
# (the client would wait 30 s).
scu --port "$PORT" --calling PEERB --timeout 30 associate >"$WORK/extra.out" 2>&1
check "a connection beyond workers + queue is closed ($(tr '\n' ' ' <"$WORK/extra.out"))" \
  grep -qE '^closed' "$WORK/extra.out"
check "log: 'all workers busy and the queue is full'" grep -q 'all workers busy and the queue is full' "$LOG"
wait_bg
for n in queued_1 queued_2; do
  check "queued connection '$n' is answered once a worker frees ($(cat "$WORK/$n.out"))" \
    grep -q '^rejected result=1 source=1 reason=3' "$WORK/$n.out"
done
for n in 1 2 3 4; do
  check "held association $n ended by idle timeout ($(cat "$WORK/hold_$n.out"))" grep -qE '^(aborted|closed)' "$WORK/hold_$n.out"
done

check "server still up" server_alive
check "C-ECHO answered at the end" echoscu -aet PEERB -aec TRESOR 127.0.0.1 "$PORT"
rss=$(server_rss_kb)
check "server RSS ${rss} KiB < 200 MiB" test "${rss:-999999}" -lt 204800
stop_server
finish
