#!/usr/bin/env bash
# S17: C-STORE from unknown AE titles is refused by default: a fresh install accepts no
# store from anyone; later, only a registered peer granted `store`, from its host (and
# over TLS with its certificate when bound to one), can store. Nothing refused reaches
# the index or the blob store.
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools

echo "S17: C-STORE from unknown AE titles is refused"
SAMPLE=$("$PY" -c 'import pydicom.data,os;print(os.path.join(os.path.dirname(pydicom.data.__file__),"test_files","CT_small.dcm"))')
init_data
# S12's lockout is tested on its own; here it would make later rejections transient.
sed -i 's/^max_failures = .*/max_failures = 1000000/' "$DATA/tresor.conf"
start_server || { fail "server starts"; finish; exit 1; }
instances() { "$TRESOR" stats --data "$DATA" | awk '/^instances:/ {print $2}'; }
# storage/sealed is the marker naming the key the storage is sealed under (no object).
blobs() { find "$DATA/storage" -type f ! -path "$DATA/storage/sealed" | wc -l; }
"$PY" "$TOOLS/dicom_bytes.py" valid --sop-instance 1.2.826.0.1.3680043.2.1125.17.1 -o "$WORK/ds"
raw_store() {  # raw_store CALLING [secure_scu options...]
  local ae=$1; shift
  "$PY" "$TOOLS/secure_scu.py" "$@" --port "${RAW_PORT:-$PORT}" --calling "$ae" --timeout 10 store \
    --sop-instance 1.2.826.0.1.3680043.2.1125.17.1 --dataset "$WORK/ds" 2>&1
}
RJ3="rejected result=1 source=1 reason=3"

# A fresh install: no peer, so nobody can store.
expect_eq "fresh install: no registered peer" "" "$("$TRESOR" peer list --data "$DATA" | tail -n +2)"
for ae in STORESCU ANY-SCU ECHOSCU MODALITY TRESOR; do
  check_fails "fresh install: storescu as '$ae' refused" storescu -aet "$ae" -aec TRESOR 127.0.0.1 "$PORT" "$SAMPLE"
done
expect_eq "fresh install: raw C-STORE as 'NOBODY' rejected at association (reason 3)" "$RJ3" "$(raw_store NOBODY)"
expect_eq "fresh install: raw C-STORE with a blank calling AE rejected (reason 3)" "$RJ3" "$(raw_store ' ')"
expect_eq "fresh install: nothing archived" 0 "$(instances)"

# With peers registered: only the right one, from the right place, may store.
"$TRESOR" peer add ct --ae CT1 --host 127.0.0.1 --allow echo,store --data "$DATA" >/dev/null
"$TRESOR" peer add viewer --ae VIEW1 --host 127.0.0.1 --allow echo,find --groups all --data "$DATA" >/dev/null
"$TRESOR" peer enroll ws --ae WS1 --host 127.0.0.1 --allow echo,store --data "$DATA" >/dev/null
W=$DATA/enrolled/ws
TLS_OPTS=(--tls --tls-cert "$W/ws.pem" --tls-key "$W/ws.key" --tls-ca "$W/ca.pem")
check_fails "unknown AE 'STORESCU' still refused" storescu -aet STORESCU -aec TRESOR 127.0.0.1 "$PORT" "$SAMPLE"
expect_eq "unknown AE over TLS with a valid enrolled certificate: reason 3" "$RJ3" \
  "$(RAW_PORT=$TLS_PORT raw_store NOBODY "${TLS_OPTS[@]}")"
expect_eq "CT1 from another host (127.0.0.2): reason 3" "$RJ3" "$(raw_store CT1 --source 127.0.0.2)"
expect_eq "TLS-bound WS1 over plain TCP: reason 3" "$RJ3" "$(raw_store WS1)"
expect_eq "registered peer without the store grant (VIEW1): status 0x0124" status=0x0124 "$(raw_store VIEW1)"
expect_eq "after all refusals: nothing archived" 0 "$(instances)"
expect_eq "after all refusals: no file in the blob store" 0 "$(blobs)"
check "refusals are logged with their addresses" \
  test "$(grep -cE "association rejected \(.*\): calling AE '(STORESCU|ANY-SCU|ECHOSCU|MODALITY|TRESOR|NOBODY|CT1|WS1|)', .*from 127\.0\.0\.[12]" "$LOG")" -ge 10

# Controls.
check "control: registered CT1 stores with storescu" storescu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT" "$SAMPLE"
expect_eq "control: registered WS1 stores over TLS" status=0x0000 "$(RAW_PORT=$TLS_PORT raw_store WS1 "${TLS_OPTS[@]}")"
expect_eq "exactly the two accepted instances are archived" 2 "$(instances)"
check "server still up" server_alive
stop_server
finish
