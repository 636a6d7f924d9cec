#!/usr/bin/env bash
# S21: no tag value (nor AE title, nor query key) ever reaches a shell or a format string.
# Shell syntax and printf conversions are stored, queried, retrieved, logged and printed
# verbatim; nothing runs, no marker file appears, the server stays up.
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools

echo "S21: tag values are data, never commands or format strings"
init_data
# S12's lockout is tested on its own; here it would make later rejections transient.
sed -i 's/^max_failures = .*/max_failures = 1000000/' "$DATA/tresor.conf"
mkdir -p "$WORK/cwd"
cd "$WORK/cwd" || exit 1
start_server || { fail "server starts"; finish; exit 1; }
cd "$ROOT" || exit 1
add_peer ct CT1 echo,store,find,get
M=$WORK/pwned
SHELL_PN="\$(touch $M.1)\`touch $M.2\`;touch $M.3|touch $M.4"
FMT_PN='%n%n%n%n%s%s%s%s%x%x%p%p'
FMT_ID='%s%s%s%s%s%n'
SHELL_ID="\$(touch $M.5)"

cat >"$WORK/gen.py" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import dicom_bytes as d
uid, name, pid, comment, out = sys.argv[2:7]
pairs = d.identifying_elements(uid, patient_name=name, patient_id=pid,
                               study=uid + ".1", series=uid + ".1.1")
pairs.append(((0x0020, 0x4000), d.element(0x0020, 0x4000, "LT", comment)))
pairs.append(((0x0008, 0x1030), d.element(0x0008, 0x1030, "LO", comment[:64])))
open(out, "wb").write(d.assemble(pairs))
EOF
store() {
  "$PY" "$WORK/gen.py" "$TOOLS" "$@" "$WORK/ds"
  "$PY" "$TOOLS/raw_scu.py" --port "$PORT" --calling CT1 store --sop-instance "$1" --dataset "$WORK/ds" 2>&1
}
U1=1.2.826.0.1.3680043.2.1125.21.1 U2=1.2.826.0.1.3680043.2.1125.21.2
expect_eq "store: PatientName with \$(), backticks, ; and | (status 0x0000)" status=0x0000 \
  "$(store "$U1" "$SHELL_PN" "$SHELL_ID" "\$(touch $M.6) %n%n%s%s \`touch $M.7\`")"
expect_eq "store: PatientName and PatientID made of printf conversions (status 0x0000)" status=0x0000 \
  "$(store "$U2" "$FMT_PN" "$FMT_ID" '%n%n%n%s%s%s%99999999d')"
check "server up after the stores" server_alive

# Query: the values come back verbatim, and the query keys themselves are hostile too.
findscu -aet CT1 -aec TRESOR -S -k QueryRetrieveLevel=STUDY -k PatientName='*' -k PatientID \
  -k StudyDescription -k StudyInstanceUID 127.0.0.1 "$PORT" >"$WORK/find_all.log" 2>&1
check "C-FIND PatientName=*: the shell-syntax name comes back verbatim" grep -qF "\$(touch $M.1)" "$WORK/find_all.log"
check "C-FIND PatientName=*: the printf name comes back verbatim" grep -qF "$FMT_PN" "$WORK/find_all.log"
check "C-FIND PatientName=*: the printf ID comes back verbatim" grep -qF "$FMT_ID" "$WORK/find_all.log"
for key in "\$(touch $M.8)" '`touch '"$M"'.9`' '%n%n%n%n%n%n%s%s' "$FMT_PN"; do
  findscu -v -aet CT1 -aec TRESOR -S -k QueryRetrieveLevel=STUDY -k PatientName="$key" \
    -k StudyInstanceUID 127.0.0.1 "$PORT" >"$WORK/find_key.log" 2>&1
  check "C-FIND with PatientName='${key:0:24}': answered (final response)" \
    grep -q 'Received Final Find Response (Success)' "$WORK/find_key.log"
done
check "C-FIND PatientName='$FMT_PN' finds exactly that study" grep -q "$U2.1" "$WORK/find_key.log"
mkdir -p "$WORK/get"
getscu -aet CT1 -aec TRESOR -S -od "$WORK/get" -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="$U1.1" \
  127.0.0.1 "$PORT" >"$WORK/get.log" 2>&1
check "C-GET returns the object with the shell syntax intact" \
  bash -c "dcmdump '$WORK'/get/* 2>/dev/null | grep -qF '\$(touch $M.1)'"

# AE titles (logged on rejection) made of shell syntax and printf conversions.
# (16 characters at most: relative marker names, which would land in the server's
# working directory, checked below.)
for ae in '%n%n%n%n%n%n%n%n' '%s%s%s%s%s%s%s%s' '$(touch pw1)' '`touch pw2`' ';touch pw3|'; do
  out=$("$PY" "$TOOLS/raw_scu.py" --port "$PORT" --calling "$ae" echo 2>&1)
  expect_eq "calling AE '$ae': rejected (reason 3)" "rejected result=1 source=1 reason=3" "$out"
  check "... logged verbatim" grep -qF "calling AE '$ae'" "$LOG"
done
out=$("$PY" "$TOOLS/raw_scu.py" --port "$PORT" --calling CT1 --called '%n%n%n%n%n%n%n%n' echo 2>&1)
expect_eq "called AE '%n%n%n%n%n%n%n%n': rejected (reason 7)" "rejected result=1 source=1 reason=7" "$out"

# The command line prints the values as data too.
"$TRESOR" cat --data "$DATA" "$U1" >"$WORK/cat1" 2>&1
check "tresor cat: the value is stored byte for byte" grep -qF "$SHELL_PN" "$WORK/cat1"
"$TRESOR" stats --data "$DATA" >/dev/null 2>&1
"$TRESOR" peer list --data "$DATA" >/dev/null 2>&1

sleep 0.3
check_fails "no marker file was created anywhere ($M.*)" bash -c "ls '$M'.* 2>/dev/null | grep -q ."
check "the server's working directory is still empty" test -z "$(ls -A "$WORK/cwd")"
check "server still up" server_alive
check "C-ECHO still answered" echoscu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT"
check_fails "the log holds no patient name or ID from these objects" \
  grep -qF -e "touch $M.1" -e "$FMT_PN" -e "$FMT_ID" "$LOG"
stop_server
finish
