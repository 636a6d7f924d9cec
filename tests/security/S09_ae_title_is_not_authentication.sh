#!/usr/bin/env bash
# S09: AE titles are routing, not authentication. Knowing a valid calling/called AE pair
# gains nothing without the peer's host binding, its certificate or its user identity:
# no echo, no store, no query result, no retrieve.
#
# "Another host" is another loopback source address: the legitimate peer CT1 is
# registered for 127.0.0.2 and connects from there (secure_scu --source); the attacker
# uses the standard DCMTK tools, which connect from 127.0.0.1.
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools
SECRET_NAME="Secret^Patient"
trap 'for p in ${SCP:-}; do kill "$p" 2>/dev/null; done; cleanup' EXIT

echo "S09: an AE title is not a credential"
init_data
# S12's lockout (limits.max_failures rejections from one address) is tested on its own;
# here it would turn the later rejections from 127.0.0.1 into transient ones.
sed -i 's/^max_failures = .*/max_failures = 1000000/' "$DATA/tresor.conf"
ADMIN_PW=$(sed -n 's/^Password (shown only now, store it safely): //p' "$WORK/init.out")
start_server || { fail "server starts"; finish; exit 1; }
"$TRESOR" peer add ct --ae CT1 --host 127.0.0.2 --allow echo,store,find,move,get --groups all --data "$DATA" >/dev/null
"$TRESOR" peer enroll ws1 --ae WS1 --host 127.0.0.1 --allow echo,store,find,move,get --groups all --data "$DATA" >/dev/null
"$TRESOR" peer enroll ws2 --ae WS2 --host 127.0.0.1 --allow echo --data "$DATA" >/dev/null
"$TRESOR" peer add mod --ae MOD2 --host 127.0.0.1 --allow echo,store --require-identity --data "$DATA" >/dev/null
B1=$DATA/enrolled/ws1 B2=$DATA/enrolled/ws2
instances() { "$TRESOR" stats --data "$DATA" | awk '/^instances:/ {print $2}'; }

# The legitimate CT1 stores one instance from its own host.
"$PY" "$TOOLS/dicom_bytes.py" valid --sop-instance 1.2.826.0.1.3680043.2.1125.90.1 \
  --patient-name "$SECRET_NAME" -o "$WORK/secret.ds"
expect_eq "control: CT1 from 127.0.0.2 stores" status=0x0000 \
  "$("$PY" "$TOOLS/secure_scu.py" --source 127.0.0.2 --port "$PORT" --calling CT1 store \
     --sop-instance 1.2.826.0.1.3680043.2.1125.90.1 --dataset "$WORK/secret.ds" 2>&1)"
expect_eq "control: CT1 from 127.0.0.2 echoes" status=0x0000 \
  "$("$PY" "$TOOLS/secure_scu.py" --source 127.0.0.2 --port "$PORT" --calling CT1 echo 2>&1)"

# A file the attacker tries to inject, and a receiver the attacker controls, registered
# as a destination (so a retrieve would have somewhere to go).
cp "$("$PY" -c 'import pydicom.data,os;print(os.path.join(os.path.dirname(pydicom.data.__file__),"test_files","CT_small.dcm"))')" \
  "$WORK/inject.dcm"
check "the file to inject is a valid DICOM file" dcmftest "$WORK/inject.dcm"
DEST_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/recv"
storescp -aet EVIL "$DEST_PORT" -od "$WORK/recv" >"$WORK/scp.log" 2>&1 &
SCP=$!
"$TRESOR" peer add evil --ae EVIL --host 127.0.0.1 --port "$DEST_PORT" --allow echo --data "$DATA" >/dev/null
before=$(instances)

# 1. Right AE pair, wrong host: every service refused at association.
check_fails "CT1's AE pair from 127.0.0.1: C-ECHO refused" echoscu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT"
check_fails "CT1's AE pair from 127.0.0.1: C-STORE refused" \
  storescu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT" "$WORK/inject.dcm"
findscu -aet CT1 -aec TRESOR -S -k QueryRetrieveLevel=STUDY -k PatientName='*' -k StudyInstanceUID \
  127.0.0.1 "$PORT" >"$WORK/find1.log" 2>&1
check "CT1's AE pair from 127.0.0.1: C-FIND association rejected" grep -q 'Association Rejected' "$WORK/find1.log"
check_fails "... and returns no patient data" grep -q 'Secret' "$WORK/find1.log"
movescu -aet CT1 -aec TRESOR -aem EVIL -S -k QueryRetrieveLevel=STUDY \
  -k StudyInstanceUID=1.2.826.0.1.3680043.2.1125.1 127.0.0.1 "$PORT" >"$WORK/move1.log" 2>&1
check "CT1's AE pair from 127.0.0.1: C-MOVE association rejected" grep -q 'Association Rejected' "$WORK/move1.log"
mkdir -p "$WORK/get1"
getscu -aet CT1 -aec TRESOR -S -od "$WORK/get1" -k QueryRetrieveLevel=STUDY \
  -k StudyInstanceUID=1.2.826.0.1.3680043.2.1125.1 127.0.0.1 "$PORT" >"$WORK/get1.log" 2>&1
check "CT1's AE pair from 127.0.0.1: C-GET association rejected" grep -q 'Association Rejected' "$WORK/get1.log"
expect_eq "... nothing retrieved by C-GET" 0 "$(find "$WORK/get1" -type f | wc -l)"

# 2. A certificate-bound peer's AE pair, from its own host, without its certificate.
check_fails "WS1's AE pair over plain TCP: C-ECHO refused" echoscu -aet WS1 -aec TRESOR 127.0.0.1 "$PORT"
findscu -aet WS1 -aec TRESOR -S -k QueryRetrieveLevel=STUDY -k PatientName='*' -k StudyInstanceUID \
  127.0.0.1 "$PORT" >"$WORK/find2.log" 2>&1
check "WS1's AE pair over plain TCP: C-FIND rejected, no patient data" \
  bash -c "grep -q 'Association Rejected' '$WORK/find2.log' && ! grep -q Secret '$WORK/find2.log'"
check_fails "WS1's AE pair over TLS with WS2's (valid) certificate: C-STORE refused" \
  storescu +tls "$B2/ws2.key" "$B2/ws2.pem" +cf "$B2/ca.pem" -aet WS1 -aec TRESOR 127.0.0.1 "$TLS_PORT" "$WORK/inject.dcm"
findscu +tls "$B2/ws2.key" "$B2/ws2.pem" +cf "$B2/ca.pem" -aet WS1 -aec TRESOR -S -k QueryRetrieveLevel=STUDY \
  -k PatientName='*' -k StudyInstanceUID 127.0.0.1 "$TLS_PORT" >"$WORK/find3.log" 2>&1
check "WS1's AE pair over TLS with WS2's certificate: C-FIND rejected, no patient data" \
  bash -c "grep -q 'Association Rejected' '$WORK/find3.log' && ! grep -q Secret '$WORK/find3.log'"
check_fails "WS1's AE pair over TLS without a certificate: C-ECHO fails" \
  echoscu +tla +cf "$B1/ca.pem" -aet WS1 -aec TRESOR 127.0.0.1 "$TLS_PORT"

# 3. A peer that requires a user identity: right AE pair and host are not enough.
check_fails "MOD2 (identity required) without an identity: C-STORE refused" \
  storescu -aet MOD2 -aec TRESOR 127.0.0.1 "$PORT" "$WORK/inject.dcm"
check_fails "MOD2 with a wrong password: C-STORE refused" \
  storescu -aet MOD2 -aec TRESOR --user admin --password not-the-password 127.0.0.1 "$PORT" "$WORK/inject.dcm"
check_fails "MOD2 with an unknown user: C-STORE refused" \
  storescu -aet MOD2 -aec TRESOR --user nobody --password x 127.0.0.1 "$PORT" "$WORK/inject.dcm"

expect_eq "nothing was injected by any attempt" "$before" "$(instances)"
expect_eq "the attacker's receiver got nothing" 0 "$(find "$WORK/recv" -type f | wc -l)"
check "every attempt was rejected at association and logged" \
  test "$(grep -c 'association rejected (' "$LOG")" -ge 9

# Controls: the real holders of those credentials get their services.
findscu +tls "$B1/ws1.key" "$B1/ws1.pem" +cf "$B1/ca.pem" -aet WS1 -aec TRESOR -S \
  -k QueryRetrieveLevel=STUDY -k PatientName='*' -k StudyInstanceUID 127.0.0.1 "$TLS_PORT" >"$WORK/find_ok.log" 2>&1
check "control: WS1 with its certificate finds the study" grep -q 'Secret' "$WORK/find_ok.log"
check "control: MOD2 with the admin's identity stores" \
  storescu -aet MOD2 -aec TRESOR --user admin --password "$ADMIN_PW" 127.0.0.1 "$PORT" "$WORK/inject.dcm"
check "server still up" server_alive
stop_server
finish
