#!/usr/bin/env bash
# S11: services are granted per peer. A peer allowed only to store cannot C-FIND, C-MOVE
# or C-GET (status 0x0124, nothing returned or sent, refusal logged); each grant opens
# exactly its own service; a changed grant applies to the next association.
source "$(dirname "$0")/../lib.sh"
trap 'for p in ${SCP:-}; do kill "$p" 2>/dev/null; done; cleanup' EXIT

echo "S11: services granted per peer"
SAMPLE=$("$PY" -c 'import pydicom.data,os;print(os.path.join(os.path.dirname(pydicom.data.__file__),"test_files","CT_small.dcm"))')
STUDY=1.3.6.1.4.1.5962.1.2.1.20040119072730.12322
SERIES=1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322

init_data
start_server || { fail "server starts"; finish; exit 1; }
for p in store find move get echo; do
  "$TRESOR" peer add "only-$p" --ae "${p^^}ONLY" --host 127.0.0.1 --allow "$p" --groups all --data "$DATA" >/dev/null
done
DEST_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/recv"
storescp -aet DEST "$DEST_PORT" -od "$WORK/recv" >"$WORK/scp.log" 2>&1 &
SCP=$!
"$TRESOR" peer add dest --ae DEST --host 127.0.0.1 --port "$DEST_PORT" --allow echo --data "$DATA" >/dev/null
instances() { "$TRESOR" stats --data "$DATA" | awk '/^instances:/ {print $2}'; }
received() { find "$WORK/recv" -type f | wc -l; }

# Status of the last C-FIND/C-MOVE/C-GET response in a -d log, e.g. 0x0124.
final_status() {
  awk '/Message Type *:/ { rsp = ($0 ~ /C-(FIND|MOVE|GET) RSP/) }
       rsp && /DIMSE Status *:/ { s = $0; sub(/.*DIMSE Status *: */, "", s); sub(/[^0-9a-fA-Fx].*/, "", s); last = s }
       END { print tolower(last) }' "$1"
}
# C-STORE status as 0xNNNN (storescu -v prints "(Success)" or "... Status: 0x124)").
store_status() {
  local out st
  out=$(storescu -v -aet "$1" -aec TRESOR 127.0.0.1 "$PORT" "$SAMPLE" 2>&1)
  if grep -q 'Received Store Response (Success)' <<<"$out"; then echo 0x0000; return; fi
  st=$(sed -n 's/.*Status: 0x\([0-9A-Fa-f]*\)).*/\1/p' <<<"$out" | tail -1)
  [ -n "$st" ] && printf '0x%04x\n' "0x$st"
}
echo_status() { "$PY" "$ROOT/tests/tools/raw_scu.py" --port "$PORT" --calling "$1" echo 2>&1; }
find_q() { findscu -d -aet "$1" -aec TRESOR -S -k QueryRetrieveLevel=STUDY -k PatientName='*' \
  -k StudyInstanceUID 127.0.0.1 "$PORT" >"$WORK/$2.log" 2>&1; }
move_q() { movescu -d -aet "$1" -aec TRESOR -aem DEST -S -k QueryRetrieveLevel=STUDY \
  -k StudyInstanceUID="$STUDY" 127.0.0.1 "$PORT" >"$WORK/$2.log" 2>&1; }
get_q() { mkdir -p "$WORK/$2"; getscu -d -aet "$1" -aec TRESOR -S -od "$WORK/$2" -k QueryRetrieveLevel=SERIES \
  -k StudyInstanceUID="$STUDY" -k SeriesInstanceUID="$SERIES" 127.0.0.1 "$PORT" >"$WORK/$2.log" 2>&1; }
got_files() { find "$WORK/$1" -type f | wc -l; }

# store only
expect_eq "STOREONLY: C-STORE succeeds" 0x0000 "$(store_status STOREONLY)"
expect_eq "one instance archived" 1 "$(instances)"
expect_eq "STOREONLY: C-ECHO refused (0x0124)" status=0x0124 "$(echo_status STOREONLY)"
find_q STOREONLY f_store
expect_eq "STOREONLY: C-FIND refused (0x0124)" 0x0124 "$(final_status "$WORK/f_store.log")"
check_fails "STOREONLY: ... no match returned" grep -q 'CompressedSamples' "$WORK/f_store.log"
move_q STOREONLY m_store
expect_eq "STOREONLY: C-MOVE refused (0x0124)" 0x0124 "$(final_status "$WORK/m_store.log")"
get_q STOREONLY g_store
expect_eq "STOREONLY: C-GET refused (0x0124)" 0x0124 "$(final_status "$WORK/g_store.log")"
expect_eq "STOREONLY: nothing retrieved" "0 0" "$(received) $(got_files g_store)"

# find only
find_q FINDONLY f_find
expect_eq "FINDONLY: C-FIND succeeds" 0x0000 "$(final_status "$WORK/f_find.log")"
check "FINDONLY: ... and returns the study" grep -q 'CompressedSamples' "$WORK/f_find.log"
expect_eq "FINDONLY: C-STORE refused (0x0124)" 0x0124 "$(store_status FINDONLY)"
move_q FINDONLY m_find
expect_eq "FINDONLY: C-MOVE refused (0x0124)" 0x0124 "$(final_status "$WORK/m_find.log")"
get_q FINDONLY g_find
expect_eq "FINDONLY: C-GET refused (0x0124)" 0x0124 "$(final_status "$WORK/g_find.log")"
expect_eq "FINDONLY: nothing retrieved" "0 0" "$(received) $(got_files g_find)"

# move only
move_q MOVEONLY m_move
expect_eq "MOVEONLY: C-MOVE succeeds" 0x0000 "$(final_status "$WORK/m_move.log")"
expect_eq "MOVEONLY: ... the instance arrives at DEST" 1 "$(received)"
find_q MOVEONLY f_move
expect_eq "MOVEONLY: C-FIND refused (0x0124)" 0x0124 "$(final_status "$WORK/f_move.log")"
get_q MOVEONLY g_move
expect_eq "MOVEONLY: C-GET refused (0x0124), nothing retrieved" "0x0124 0" \
  "$(final_status "$WORK/g_move.log") $(got_files g_move)"
expect_eq "MOVEONLY: C-STORE refused (0x0124)" 0x0124 "$(store_status MOVEONLY)"

# get only
get_q GETONLY g_get
expect_eq "GETONLY: C-GET succeeds with the instance" "0x0000 1" "$(final_status "$WORK/g_get.log") $(got_files g_get)"
move_q GETONLY m_get
expect_eq "GETONLY: C-MOVE refused (0x0124), nothing more arrives" "0x0124 1" \
  "$(final_status "$WORK/m_get.log") $(received)"
find_q GETONLY f_get
expect_eq "GETONLY: C-FIND refused (0x0124)" 0x0124 "$(final_status "$WORK/f_get.log")"

# echo only
expect_eq "ECHOONLY: C-ECHO succeeds" status=0x0000 "$(echo_status ECHOONLY)"
expect_eq "ECHOONLY: C-STORE refused (0x0124)" 0x0124 "$(store_status ECHOONLY)"
find_q ECHOONLY f_echo
expect_eq "ECHOONLY: C-FIND refused (0x0124)" 0x0124 "$(final_status "$WORK/f_echo.log")"
expect_eq "still one instance archived" 1 "$(instances)"

check "every refusal is logged with the peer" \
  test "$(grep -cE "(C-(ECHO|FIND|MOVE|GET|STORE)|refused).*'only-(store|find|move|get|echo)'.*(lacks the|not granted)" "$LOG")" -ge 12

# A grant changed with `peer remove` + `peer add` applies to the next association.
"$TRESOR" peer remove only-store --data "$DATA" >/dev/null
"$TRESOR" peer add only-store --ae STOREONLY --host 127.0.0.1 --allow store,find --groups all --data "$DATA" >/dev/null
find_q STOREONLY f_store2
expect_eq "STOREONLY granted find (no restart): C-FIND succeeds" 0x0000 "$(final_status "$WORK/f_store2.log")"
check "server still up" server_alive
stop_server
finish
