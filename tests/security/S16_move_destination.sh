#!/usr/bin/env bash
# S16: C-MOVE to an unregistered destination fails with status 0xA801 and opens no
# outbound connection: not to a listener that answers to that AE title, not back to the
# requester. Hostile destination strings are refused the same way. A registered
# destination works (control).
source "$(dirname "$0")/../lib.sh"
SCPS=()
trap 'for p in "${SCPS[@]}"; do kill "$p" 2>/dev/null; done; cleanup' EXIT

echo "S16: C-MOVE only to registered destinations"
SAMPLE=$("$PY" -c 'import pydicom.data,os;print(os.path.join(os.path.dirname(pydicom.data.__file__),"test_files","CT_small.dcm"))')
STUDY=1.3.6.1.4.1.5962.1.2.1.20040119072730.12322

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# scp NAME AE PORT: a storescp writing to $WORK/NAME, verbose log $WORK/NAME.log.
scp() {
  mkdir -p "$WORK/$1"
  storescp -v -aet "$2" -od "$WORK/$1" "$3" >"$WORK/$1.log" 2>&1 &
  SCPS+=($!)
  for _ in $(seq 1 50); do ss -ltnH "sport = :$3" | grep -q . && return 0; sleep 0.1; done
  return 1
}
final_status() {
  awk '/Message Type *:/ { rsp = ($0 ~ /C-MOVE RSP/) }
       rsp && /DIMSE Status *:/ { s = $0; sub(/.*DIMSE Status *: */, "", s); sub(/[^0-9a-fA-Fx].*/, "", s); last = s }
       END { print tolower(last) }' "$1"
}
cmove() {  # cmove LOGNAME DEST_AE
  movescu -d -aet WS -aec TRESOR -aem "$2" -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="$STUDY" \
    127.0.0.1 "$PORT" >"$WORK/$1.log" 2>&1
}
files() { find "$WORK/$1" -type f | wc -l; }

init_data
start_server || { fail "server starts"; finish; exit 1; }
WS_PORT=$(free_port) DEST_PORT=$(free_port) ROGUE_PORT=$(free_port)
# The requester WS also listens (registered with its port): a server that sent objects
# "back to the caller" for an unknown destination would deliver here.
"$TRESOR" peer add ws --ae WS --host 127.0.0.1 --port "$WS_PORT" --allow echo,store,find,move --groups all \
  --data "$DATA" >/dev/null
"$TRESOR" peer add dest --ae DEST --host 127.0.0.1 --port "$DEST_PORT" --allow echo --data "$DATA" >/dev/null
check "storing the study succeeds" storescu -aet WS -aec TRESOR 127.0.0.1 "$PORT" "$SAMPLE"
if scp ws WS "$WS_PORT" && scp dest DEST "$DEST_PORT" && scp rogue ROGUE "$ROGUE_PORT"; then
  pass "receivers listening: requester WS, registered DEST, unregistered ROGUE"
else
  fail "starting the storescp receivers"
fi

# Control: the registered destination receives the study.
cmove ok DEST
expect_eq "control: move to registered DEST: final status 0x0000" 0x0000 "$(final_status "$WORK/ok.log")"
expect_eq "control: DEST received the instance" 1 "$(files dest)"

# Unregistered destinations, including one that is listening under that AE title.
for ae in ROGUE UNKNOWN_AE; do
  cmove "m_$ae" "$ae"
  expect_eq "move to unregistered '$ae': status 0xa801" 0xa801 "$(final_status "$WORK/m_$ae.log")"
done
# Hostile destination strings (AE titles are 16 characters at most).
i=0
for ae in '../../etc' '%n%n%n%n%s%s' '$(touch pwned)' '127.0.0.1:104' 'dest'; do
  i=$((i + 1))
  cmove "h_$i" "$ae"
  expect_eq "move to hostile/unregistered destination '$ae': status 0xa801" 0xa801 "$(final_status "$WORK/h_$i.log")"
done
check "each refusal is logged" test "$(grep -c 'C-MOVE from .*refused' "$LOG")" -ge 7
check_fails "no outbound association was attempted for them ('C-MOVE ... to X at')" \
  grep -E "C-MOVE from .* to (ROGUE|UNKNOWN_AE|\.\./|%n|\\\$\(|127\.0\.0\.1:104|dest) at" "$LOG"
expect_eq "the listening ROGUE receiver got nothing" 0 "$(files rogue)"
check_fails "the ROGUE receiver saw no association at all" grep -qi 'association' "$WORK/rogue.log"
expect_eq "nothing was sent back to the requester" 0 "$(files ws)"
check_fails "the requester's receiver saw no association" grep -qi 'association received' "$WORK/ws.log"
expect_eq "DEST still holds only the control delivery" 1 "$(files dest)"
check_fails "no file 'pwned' was created" test -e "$WORK/pwned" -o -e "$ROOT/pwned" -o -e pwned
check "server still up" server_alive
stop_server
finish
