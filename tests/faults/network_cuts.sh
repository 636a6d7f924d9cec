#!/usr/bin/env bash
# Real network faults against the running server, each followed by the same checks:
#  1. a STOW-RS client killed (kill -9) in the middle of its request body;
#  2. a DICOM TLS connection cut (TCP reset, no close_notify) in the middle of a C-STORE's
#     P-DATA PDU;
#  3. a C-MOVE destination killed (kill -9) while it receives the study.
# Every time: the server stays up, the requester that is still there gets a clear
# status, nothing half-written is left once the server noticed, and the same request
# succeeds afterwards. At the end, after a restart, every acknowledged instance is there.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.bash"

echo "faults: network cuts"
SCP_PIDS=()
trap 'for p in "${SCP_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; cleanup' EXIT
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_for SECONDS COMMAND...: waits until COMMAND succeeds (a condition, not a verdict).
wait_for() {
  local limit=$(($1 * 10)); shift
  for _ in $(seq 1 "$limit"); do "$@" && return 0; sleep 0.1; done
  return 1
}
staging_empty() { [ -z "$(find "$DATA/storage/staging" -type f)" ]; }
staging_busy() { [ -n "$(find "$DATA/storage/staging" -type f)" ]; }

BIG=$WORK/big
"$PY" "$TOOLS/make_studies.py" --out "$BIG" --seed 61 --series 1 --instances 30 --rows 512 \
  --cols 512 --modalities CT >/dev/null
init_data
start_server || { fail "server started"; finish; exit 1; }
add_peer faults FAULTS echo,store,find,get,move
token_for_admin

# --- 1. STOW-RS client killed mid-body -------------------------------------------------
echo " 1. STOW-RS client killed mid-body"
mapfile -t files < <(corpus_files "$BIG")
abs=(); for f in "${files[@]:0:10}"; do abs+=("$BIG/$f"); done
"$PY" "$TOOLS/stow_body.py" files --boundary faults-b0undary "${abs[@]}" >"$WORK/stow.body"
size=$(stat -c %s "$WORK/stow.body")
mkfifo "$WORK/stow.pipe"
curl -sS --max-time 300 --cacert "$CA" -o "$WORK/stow.cut" -X POST -T "$WORK/stow.pipe" \
  -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: multipart/related; type="application/dicom"; boundary=faults-b0undary' \
  "https://127.0.0.1:$HTTPS_PORT/dicom-web/studies" 2>/dev/null &
CURL=$!
exec 7>"$WORK/stow.pipe"
head -c $((size / 2 + 1000)) "$WORK/stow.body" >&7
check "the server is receiving the body (a part is being staged)" wait_for 60 staging_busy
kill -9 "$CURL"; wait "$CURL" 2>/dev/null
exec 7>&-
check "the cut upload's staged part is discarded" wait_for 60 staging_empty
check "the server is up" server_alive
stow "$WORK/stow.full" "$BIG" "${files[@]:0:10}"
expect_eq "the same STOW-RS, complete, is answered 200" 200 "$CODE"
no_half_written

# --- 2. DICOM TLS connection cut mid-PDU --------------------------------------------------
echo " 2. DICOM TLS connection cut mid-PDU"
"$TRESOR" peer enroll tlsws --ae TLSWS --host 127.0.0.1 --allow echo,store --groups all \
  --out "$WORK/tlsws" --data "$DATA" >/dev/null
TLS=(+tls "$WORK/tlsws/tlsws.key" "$WORK/tlsws/tlsws.pem" +cf "$WORK/tlsws/ca.pem")
# One object is ~512 KiB: cut inside the third one's P-DATA.
"$PY" "$TOOLS/cut_relay.py" --listen-port-file "$WORK/relay.port" --to "$TLS_PORT" \
  --cut-after 1300000 >"$WORK/relay.out" 2>&1 &
RELAY=$!
wait_for 30 test -s "$WORK/relay.port"
printf '%s\n' "${files[@]:10:10}" | (cd "$BIG" && xargs storescu -v -nh "${TLS[@]}" -aet TLSWS \
  -aec TRESOR 127.0.0.1 "$(cat "$WORK/relay.port")") >"$WORK/tls.cut.log" 2>&1
wait "$RELAY"
acked_storescu "$WORK/tls.cut.log" "$BIG" >>"$ACKED"
echo "  relay: $(cat "$WORK/relay.out"); $(acked_storescu "$WORK/tls.cut.log" "$BIG" | wc -l) acknowledged before the cut"
check "the cut came in the middle of the transfer" grep -q "cut after" "$WORK/relay.out"
check "the client saw the association fail" grep -q -i -e "abort" -e "fail" -e "error" "$WORK/tls.cut.log"
check "the server noticed and dropped the partial object" wait_for 60 staging_empty
check "the server is up" server_alive
printf '%s\n' "${files[@]:10:10}" | (cd "$BIG" && xargs storescu -v -nh "${TLS[@]}" -aet TLSWS \
  -aec TRESOR 127.0.0.1 "$TLS_PORT") >"$WORK/tls.full.log" 2>&1
acked_storescu "$WORK/tls.full.log" "$BIG" >>"$ACKED"
expect_eq "the same C-STORE over TLS succeeds afterwards" 10 \
  "$(store_statuses "$WORK/tls.full.log" | grep -c Success)"
no_half_written

# --- 3. C-MOVE destination killed mid-transfer ----------------------------------------
echo " 3. C-MOVE destination killed mid-transfer"
printf '%s\n' "${files[@]:20:10}" | storescu_to "$WORK/rest.log" "$BIG" -nh
DEST_PORT=$(free_port)
start_dest() {
  rm -rf "$WORK/dest"; mkdir -p "$WORK/dest"
  storescp -v +B -od "$WORK/dest" -aet DEST "$DEST_PORT" >"$WORK/dest.log" 2>&1 &
  DEST=$!
  SCP_PIDS+=("$DEST")
  wait_for 30 bash -c "ss -ltn | grep -q ':$DEST_PORT '"
}
received() { find "$WORK/dest" -type f | wc -l; }
STUDY=$(tail -n +2 "$BIG/manifest.tsv" | head -1 | cut -f3)
start_dest
# The destination vanishes inside the sixth object (~512 KiB each): a relay in front of it
# resets both connections after 3,000,000 bytes, whatever the speed of either side.
"$PY" "$TOOLS/cut_relay.py" --listen-port-file "$WORK/relay.move.port" --to "$DEST_PORT" \
  --cut-after 3000000 >"$WORK/relay.move.out" 2>&1 &
RELAY=$!
wait_for 30 test -s "$WORK/relay.move.port"
"$TRESOR" peer add dest --ae DEST --host 127.0.0.1 --port "$(cat "$WORK/relay.move.port")" \
  --allow echo,store --groups all --data "$DATA" >/dev/null
movescu -d -aet FAULTS -aec TRESOR -aem DEST -S -k QueryRetrieveLevel=STUDY \
  -k StudyInstanceUID="$STUDY" 127.0.0.1 "$PORT" >"$WORK/move.cut.log" 2>&1
wait "$RELAY"
kill -9 "$DEST" 2>/dev/null; wait "$DEST" 2>/dev/null
got=$(received)
status=$(final_status "$WORK/move.cut.log")
echo "  relay: $(cat "$WORK/relay.move.out"); destination had $got of 30 objects; C-MOVE final status $status"
check "the destination vanished mid-transfer" grep -q "cut after" "$WORK/relay.move.out"
check "... after it had received some objects, not all" test "$got" -ge 1 -a "$got" -lt 30
check "the C-MOVE ends with a failure or warning status, not success ($status)" \
  test -n "$status" -a "$status" != 0x0000
check "the final response counts failed sub-operations" \
  grep -q -e "Failed Suboperations *: *[1-9]" "$WORK/move.cut.log"
check "the final response lists the failed instances" grep -q FailedSOPInstanceUIDList "$WORK/move.cut.log"
check "the server is up" server_alive
"$TRESOR" peer remove dest --data "$DATA" >/dev/null
"$TRESOR" peer add dest --ae DEST --host 127.0.0.1 --port "$DEST_PORT" --allow echo,store \
  --groups all --data "$DATA" >/dev/null
start_dest
movescu -d -aet FAULTS -aec TRESOR -aem DEST -S -k QueryRetrieveLevel=STUDY \
  -k StudyInstanceUID="$STUDY" 127.0.0.1 "$PORT" >"$WORK/move.full.log" 2>&1
expect_eq "the same C-MOVE to the restarted destination succeeds" 0x0000 "$(final_status "$WORK/move.full.log")"
expect_eq "the destination has the whole study" 30 "$(received)"
kill "$DEST" 2>/dev/null

stop_server
start_server || { fail "restart"; finish; exit 1; }
no_half_written
check_acked "$BIG"
stop_server
finish
