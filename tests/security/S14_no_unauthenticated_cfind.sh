#!/usr/bin/env bash
# S14 (DIMSE half): an unauthenticated caller obtains no patient data by C-FIND. Unknown
# AE titles, registered AE titles from the wrong host, certificate-bound peers without
# their certificate, identity-requiring peers without an identity, and peers without the
# find grant all get nothing, at every level and in both information models.
# The QIDO-RS half of S14 needs the HTTPS API and is not covered here.
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools
NAME="Confidential^Patient"
PATID="CONF-4711"

echo "S14: no patient data by C-FIND without authentication"
init_data
# S12's lockout is tested on its own; here it would make later rejections transient.
sed -i 's/^max_failures = .*/max_failures = 1000000/' "$DATA/tresor.conf"
start_server || { fail "server starts"; finish; exit 1; }
"$TRESOR" peer add mod --ae MOD1 --host 127.0.0.1 --allow echo,store --data "$DATA" >/dev/null
"$TRESOR" peer add far --ae FAR1 --host 127.0.0.2 --allow echo,find --groups all --data "$DATA" >/dev/null
"$TRESOR" peer enroll ws1 --ae WS1 --host 127.0.0.1 --allow echo,find --groups all --data "$DATA" >/dev/null
"$TRESOR" peer enroll ws2 --ae WS2 --host 127.0.0.1 --allow echo --data "$DATA" >/dev/null
"$TRESOR" peer add idp --ae IDP1 --host 127.0.0.1 --allow echo,find --groups all --require-identity --data "$DATA" >/dev/null
B1=$DATA/enrolled/ws1 B2=$DATA/enrolled/ws2

"$PY" - "$TOOLS" "$WORK/ds" "$NAME" "$PATID" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import dicom_bytes as d
open(sys.argv[2], "wb").write(d.valid_dataset("1.2.826.0.1.3680043.2.1125.14.1",
                                              patient_name=sys.argv[3], patient_id=sys.argv[4]))
EOF
expect_eq "a study of '$NAME' is archived (by MOD1)" status=0x0000 \
  "$("$PY" "$TOOLS/raw_scu.py" --port "$PORT" --calling MOD1 store \
     --sop-instance 1.2.826.0.1.3680043.2.1125.14.1 --dataset "$WORK/ds" 2>&1)"

# leaks LOG: the find output holds the patient's name or ID.
leaks() { grep -qE "Confidential|CONF-4711" "$1"; }
# rejected_clean LOG: the association was rejected and nothing leaked.
rejected_clean() { grep -q 'Association Rejected' "$1" && ! leaks "$1"; }
# refused_clean LOG: the C-FIND got status 0x0124 (Refused: not authorized), nothing leaked.
refused_clean() { grep -qE 'Received Final Find Response \((Refused: NotAuthorized|Unknown Status: 0x124)\)' "$1" && ! leaks "$1"; }
# q NAME AE MODEL LEVEL [extra findscu args...]: one C-FIND with PatientName=* into $WORK/NAME.log.
q() {
  local name=$1 ae=$2 model=$3 level=$4; shift 4
  local port=$PORT
  [ "${1:-}" = +tls ] && port=$TLS_PORT
  findscu -v "$@" -aet "$ae" -aec TRESOR "$model" -k QueryRetrieveLevel="$level" -k PatientName='*' \
    -k PatientID -k StudyInstanceUID 127.0.0.1 "$port" >"$WORK/$name.log" 2>&1
}
n=0
for model in -P -S; do
  for level in PATIENT STUDY; do
    [ "$model$level" = -SPATIENT ] && continue
    n=$((n + 1))
    for ae in NOBODY FINDSCU FAR1 WS1 IDP1; do
      q "u$n$ae" "$ae" "$model" "$level"
      check "$ae ($model $level): association rejected, no patient data" rejected_clean "$WORK/u$n$ae.log"
    done
    q "t$n" WS1 "$model" "$level" +tls "$B2/ws2.key" "$B2/ws2.pem" +cf "$B2/ca.pem"
    check "WS1 over TLS with WS2's certificate ($model $level): rejected, no patient data" \
      rejected_clean "$WORK/t$n.log"
    q "g$n" MOD1 "$model" "$level"
    check "MOD1 without the find grant ($model $level): refused (0x0124), no patient data" \
      refused_clean "$WORK/g$n.log"
  done
done
q anon WS1 -S STUDY +tla +cf "$B1/ca.pem"
check_fails "WS1 over TLS without a certificate: no patient data" leaks "$WORK/anon.log"
check_fails "... and no C-FIND response at all" grep -q 'Find Response' "$WORK/anon.log"

# Controls: the same query by an authenticated, granted peer finds the patient.
q ok WS1 -S STUDY +tls "$B1/ws1.key" "$B1/ws1.pem" +cf "$B1/ca.pem"
check "control: WS1 with its certificate finds '$NAME'" grep -q Confidential "$WORK/ok.log"
expect_eq "control: FAR1 is accepted from its own host (127.0.0.2)" status=0x0000 \
  "$("$PY" "$TOOLS/secure_scu.py" --source 127.0.0.2 --port "$PORT" --calling FAR1 echo 2>&1)"
check_fails "the server log holds neither the patient's name nor ID" grep -qE 'Confidential|CONF-4711' "$LOG"
check "server still up" server_alive
stop_server
finish
