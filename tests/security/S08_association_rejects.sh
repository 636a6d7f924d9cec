#!/usr/bin/env bash
# S08: unknown calling AE title -> A-ASSOCIATE-RJ result 1 (permanent), source 1 (service
# user), reason 3; wrong called AE title -> reason 7; a known AE title from an
# unregistered host -> rejected. Checked on the wire (raw A-ASSOCIATE-RJ fields), with
# DCMTK's echoscu, over plain DICOM and DICOM TLS, and in the log with the source address.
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools

echo "S08: association rejects"
init_data
# S12's lockout (limits.max_failures rejections from one address) is tested on its own;
# here it would turn the later rejections from 127.0.0.1 into transient ones.
sed -i 's/^max_failures = .*/max_failures = 1000000/' "$DATA/tresor.conf"
start_server || { fail "server starts"; finish; exit 1; }
add_peer ct CT1 echo,store
"$TRESOR" peer add far --ae FAR1 --host 127.0.0.2 --allow echo --data "$DATA" >/dev/null
"$TRESOR" peer enroll ws --ae WS1 --host 127.0.0.1 --allow echo --data "$DATA" >/dev/null
B=$DATA/enrolled/ws
# rq [--source A] CALLING [CALLED]: the outcome of a plain association request.
rq() {
  local src=()
  [ "$1" = --source ] && { src=(--source "$2"); shift 2; }
  "$PY" "$TOOLS/secure_scu.py" "${src[@]}" --port "$PORT" --calling "$1" --called "${2:-TRESOR}" \
    --timeout 10 associate 2>&1
}
tls_rq() {
  "$PY" "$TOOLS/secure_scu.py" --tls --tls-cert "$B/ws.pem" --tls-key "$B/ws.key" --tls-ca "$B/ca.pem" \
    --port "$TLS_PORT" --calling "$1" --called "${2:-TRESOR}" --timeout 10 associate 2>&1
}
RJ3="rejected result=1 source=1 reason=3"
RJ7="rejected result=1 source=1 reason=7"

# Controls: the registered peers are accepted.
expect_eq "control: CT1 from 127.0.0.1 accepted" accepted "$(rq CT1)"
expect_eq "control: FAR1 from 127.0.0.2 accepted" accepted "$(rq --source 127.0.0.2 FAR1)"
expect_eq "control: WS1 over TLS accepted" accepted "$(tls_rq WS1)"

# Unknown calling AE titles, including ones resembling registered ones.
for ae in NOBODY ANY-SCU ct1 CT11 TRESOR STORESCU; do
  expect_eq "unknown calling AE '$ae': result 1, source 1, reason 3" "$RJ3" "$(rq "$ae")"
done
# Wrong called AE titles (calling AE known).
for called in NOT_TRESOR ANY-SCP tresor '*'; do
  expect_eq "wrong called AE '$called': result 1, source 1, reason 7" "$RJ7" "$(rq CT1 "$called")"
done
expect_eq "wrong called AE over TLS: reason 7" "$RJ7" "$(tls_rq WS1 WRONG)"
# Known AE titles from a host they are not registered for.
expect_eq "CT1 (registered for 127.0.0.1) from 127.0.0.2: reason 3" "$RJ3" "$(rq --source 127.0.0.2 CT1)"
expect_eq "FAR1 (registered for 127.0.0.2) from 127.0.0.1: reason 3" "$RJ3" "$(rq FAR1)"

# What DCMTK's echoscu reports for the same cases.
echoscu -aet NOBODY -aec TRESOR 127.0.0.1 "$PORT" >"$WORK/e1" 2>&1
check "echoscu, unknown calling AE: 'Rejected Permanent' + 'Calling AE Title Not Recognized'" \
  bash -c "grep -q 'Rejected Permanent' '$WORK/e1' && grep -q 'Calling AE Title Not Recognized' '$WORK/e1'"
echoscu -aet CT1 -aec WRONG 127.0.0.1 "$PORT" >"$WORK/e2" 2>&1
check "echoscu, wrong called AE: 'Called AE Title Not Recognized'" grep -q 'Called AE Title Not Recognized' "$WORK/e2"
echoscu -aet FAR1 -aec TRESOR 127.0.0.1 "$PORT" >"$WORK/e3" 2>&1
check "echoscu, FAR1 from the wrong host: 'Calling AE Title Not Recognized'" grep -q 'Calling AE Title Not Recognized' "$WORK/e3"

# The log names each reason and the source address.
check "log: unknown calling AE with its address" \
  grep -q "association rejected (unknown calling AE title): calling AE 'NOBODY', called AE 'TRESOR', from 127.0.0.1" "$LOG"
check "log: wrong called AE" grep -q "association rejected (wrong called AE title): calling AE 'CT1', called AE 'NOT_TRESOR', from 127.0.0.1" "$LOG"
check "log: known AE from an unregistered host, with that host" \
  grep -q "association rejected (calling AE title not registered for this host): calling AE 'CT1', called AE 'TRESOR', from 127.0.0.2" "$LOG"
expect_eq "log: one 'association rejected (reason)' line per rejection (16)" 16 "$(grep -c 'association rejected (' "$LOG")"

check "server still up" server_alive
check "control: CT1 C-ECHO with echoscu succeeds" echoscu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT"
stop_server
finish
