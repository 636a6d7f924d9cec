#!/usr/bin/env bash
# Association admission: default deny, registered peers only (S08, S17), and C-ECHO.
source "$(dirname "$0")/../lib.sh"

echo "association: admission and C-ECHO"
init_data
start_server
add_peer ct CT1 echo,store
"$TRESOR" peer add ws --ae WS1 --host 192.0.2.10 --allow echo --data "$DATA" >/dev/null

check "registered peer: C-ECHO succeeds" echoscu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT"

echoscu -aet NOBODY -aec TRESOR 127.0.0.1 "$PORT" >"$WORK/e1" 2>&1
expect_eq "unknown calling AE: rejected" 1 "$?"
check "unknown calling AE: permanent reject, service user, reason 3" \
  grep -q "Calling AE Title Not Recognized" "$WORK/e1"
grep -q "Rejected Permanent" "$WORK/e1" && pass "unknown calling AE: result permanent" || fail "unknown calling AE: result permanent"

echoscu -aet CT1 -aec NOT_TRESOR 127.0.0.1 "$PORT" >"$WORK/e2" 2>&1
expect_eq "wrong called AE: rejected" 1 "$?"
check "wrong called AE: reason 7" grep -q "Called AE Title Not Recognized" "$WORK/e2"

echoscu -aet WS1 -aec TRESOR 127.0.0.1 "$PORT" >"$WORK/e3" 2>&1
expect_eq "registered AE from another host: rejected" 1 "$?"
check "registered AE from another host: reason 3" grep -q "Calling AE Title Not Recognized" "$WORK/e3"

check "every reject is logged with its source address" \
  test "$(grep -c 'association rejected.*from 127.0.0.1' "$LOG")" -ge 3

# C-STORE from an unknown AE (S17): refused at association, nothing stored.
SAMPLE=$("$PY" -c 'import pydicom.data,os;print(os.path.join(os.path.dirname(pydicom.data.__file__),"test_files","CT_small.dcm"))')
check_fails "C-STORE from unknown AE refused" storescu -aet NOBODY -aec TRESOR 127.0.0.1 "$PORT" "$SAMPLE"
check "C-STORE from registered peer succeeds" storescu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT" "$SAMPLE"
expect_eq "exactly one instance stored" "instances: 1" "$("$TRESOR" stats --data "$DATA" | grep instances)"

# A peer granted echo only may not store.
"$TRESOR" peer add echo-only --ae ECHOER --host 127.0.0.1 --allow echo --data "$DATA" >/dev/null
check "echo-only peer: C-ECHO succeeds" echoscu -aet ECHOER -aec TRESOR 127.0.0.1 "$PORT"
storescu -v -aet ECHOER -aec TRESOR 127.0.0.1 "$PORT" "$SAMPLE" >"$WORK/s1" 2>&1
check "echo-only peer: C-STORE refused with status 0x0124" grep -q "Status: 0x124)" "$WORK/s1"

# Removing a peer takes effect for the next association, without a restart.
"$TRESOR" peer remove echo-only --data "$DATA" >/dev/null
check_fails "removed peer is rejected" echoscu -aet ECHOER -aec TRESOR 127.0.0.1 "$PORT"

# The server listens on loopback only (S01).
check "listener bound to loopback only" bash -c "ss -ltnH 'sport = :$PORT' | awk '{print \$4}' | grep -qx '127.0.0.1:$PORT'"
check "server still up" server_alive
stop_server
finish
