#!/usr/bin/env bash
# Hostile C-STORE input from a registered peer: malformed data sets, hostile UIDs,
# duplicates and conflicts, forged PDUs. Every refusal must be a DIMSE failure status
# (or, for broken PDUs, an abort), the server must stay up and keep answering, stay
# bounded in memory, and write nothing but server-named blobs inside its data directory.
#
# Data sets are forged with tests/tools/dicom_bytes.py and sent with tests/tools/raw_scu.py,
# which sends whatever bytes it is given.
source "$(dirname "$0")/../lib.sh"

TOOLS=$ROOT/tests/tools
DS=$WORK/datasets
mkdir -p "$DS"

gen() { "$PY" "$TOOLS/dicom_bytes.py" "$@"; }
raw() { "$PY" "$TOOLS/raw_scu.py" --port "$PORT" --calling RAWSCU --timeout 60 "$@"; }

# Passes if the server process lives and a real DICOM client gets a C-ECHO answered.
serving() { server_alive && echoscu -aet RAWSCU -aec TRESOR 127.0.0.1 "$PORT"; }

# store_expect WHAT WANT_STATUS AFFECTED_SOP_INSTANCE_UID DATASET_FILE
store_expect() {
  local what=$1 want=$2 uid=$3 file=$4 out
  out=$(raw store --sop-instance "$uid" --dataset "$file" 2>&1)
  expect_eq "$what: status $want" "status=$want" "$out"
  check "$what: server still serving" serving
}

instances() { "$TRESOR" stats --data "$DATA" | awk '/^instances:/ {print $2}'; }

echo "hostile input: malformed C-STORE data sets, UIDs and PDUs"
init_data
# A 16 MiB object limit keeps the size-limit probes small and fast.
sed -i 's/^max_object_bytes = .*/max_object_bytes = 16777216/' "$DATA/tresor.conf"
check "object size limit set to 16 MiB" grep -qx 'max_object_bytes = 16777216' "$DATA/tresor.conf"
start_server || { fail "server starts"; finish; exit 1; }
add_peer raw RAWSCU echo,store

expect_eq "raw_scu C-ECHO answered" status=0x0000 "$(raw echo 2>&1)"

# (a) Invalid SOP Instance UIDs, in the data set only and in the command as well.
LONG_UID="1.2.$(printf '9%.0s' $(seq 1 70))"
i=0
for bad in '../x' '1.2.abc' '1.2.3/../../etc' "$LONG_UID"; do
  i=$((i + 1))
  gen valid --sop-instance "$bad" -o "$DS/bad_uid_$i"
  store_expect "invalid UID #$i in the data set only" 0xc000 "1.2.826.0.1.3680043.2.1125.2.$i" \
    "$DS/bad_uid_$i"
  if [ "$bad" = "$LONG_UID" ]; then
    # DCMTK's command parser cannot hold a UID over 64 characters (DIC_UI_LEN), so the
    # server cannot answer with a status: it aborts the association instead.
    out=$(raw store --sop-instance "$bad" --dataset "$DS/bad_uid_$i" 2>&1)
    case "$out" in
      status=0x0000) fail "invalid UID #$i in the command: accepted" ;;
      status=*|aborted*) pass "invalid UID #$i in the command: refused ($out)" ;;
      *) fail "invalid UID #$i in the command: unexpected outcome '$out'" ;;
    esac
    check "invalid UID #$i in the command: server still serving" serving
  else
    store_expect "invalid UID #$i in command and data set" 0xc000 "$bad" "$DS/bad_uid_$i"
  fi
done

# (b) Truncated in the middle of an element value.
gen truncated --sop-instance 1.2.826.0.1.3680043.2.1125.3.1 -o "$DS/truncated"
store_expect "truncated data set" 0xc000 1.2.826.0.1.3680043.2.1125.3.1 "$DS/truncated"

# (c) A declared element length of ~2 GB with 8 bytes behind it.
gen huge-length --sop-instance 1.2.826.0.1.3680043.2.1125.4.1 --length 0x7FFFFFF0 -o "$DS/huge"
store_expect "element length 0x7FFFFFF0" 0xc000 1.2.826.0.1.3680043.2.1125.4.1 "$DS/huge"
gen huge-length --sop-instance 1.2.826.0.1.3680043.2.1125.4.2 --length 0xFFFFFFFE -o "$DS/huge2"
store_expect "element length 0xFFFFFFFE" 0xc000 1.2.826.0.1.3680043.2.1125.4.2 "$DS/huge2"

# (d) Sequence nesting: the limit (16) is accepted, beyond it and 10,000 deep refused.
gen nested --sop-instance 1.2.826.0.1.3680043.2.1125.5.1 --depth 16 -o "$DS/nested16"
store_expect "sequences nested 16 deep" 0x0000 1.2.826.0.1.3680043.2.1125.5.1 "$DS/nested16"
gen nested --sop-instance 1.2.826.0.1.3680043.2.1125.5.2 --depth 17 -o "$DS/nested17"
store_expect "sequences nested 17 deep" 0xc000 1.2.826.0.1.3680043.2.1125.5.2 "$DS/nested17"
gen nested --sop-instance 1.2.826.0.1.3680043.2.1125.5.3 --depth 10000 -o "$DS/nested10000"
store_expect "sequences nested 10,000 deep" 0xc000 1.2.826.0.1.3680043.2.1125.5.3 "$DS/nested10000"

# (e) VR bytes that are no VR.
gen bad-vr --sop-instance 1.2.826.0.1.3680043.2.1125.6.1 -o "$DS/bad_vr"
store_expect "invalid VR" 0xc000 1.2.826.0.1.3680043.2.1125.6.1 "$DS/bad_vr"

# Size limits: a plain data set over the object limit, and a deflate bomb (~64 KiB of
# deflate that inflates to 64 MiB) are refused without holding the data in memory.
gen valid --sop-instance 1.2.826.0.1.3680043.2.1125.10.1 --pixel-bytes $((17 << 20)) \
  -o "$DS/too_big"
store_expect "data set over max_object_bytes" 0xa700 1.2.826.0.1.3680043.2.1125.10.1 "$DS/too_big"
gen deflated --sop-instance 1.2.826.0.1.3680043.2.1125.10.2 -o "$DS/deflated"
out=$(raw --ts 1.2.840.10008.1.2.1.99 store --sop-instance 1.2.826.0.1.3680043.2.1125.10.2 \
  --dataset "$DS/deflated" 2>&1)
expect_eq "valid deflated data set: status 0x0000" status=0x0000 "$out"
gen deflate-bomb --sop-instance 1.2.826.0.1.3680043.2.1125.10.3 --inflated $((64 << 20)) \
  -o "$DS/bomb"
out=$(raw --ts 1.2.840.10008.1.2.1.99 store --sop-instance 1.2.826.0.1.3680043.2.1125.10.3 \
  --dataset "$DS/bomb" 2>&1)
case "$out" in
  status=0x0000|status=0x0111) fail "deflate bomb: accepted ($out)" ;;
  status=*) pass "deflate bomb: refused ($out)" ;;
  *) fail "deflate bomb: unexpected outcome '$out'" ;;
esac
check "deflate bomb: server still serving" serving
# A data set that inflates beyond the size limit is a size-limit refusal (0xA700).
expect_eq "deflate bomb: size-limit status" status=0xa700 "$out"

# (f) The data set names another instance than the command.
gen valid --sop-instance 1.2.826.0.1.3680043.2.1125.7.1 -o "$DS/other"
store_expect "data set UID differs from the command's" 0xc000 1.2.826.0.1.3680043.2.1125.7.2 \
  "$DS/other"
check_fails "mismatched instance not archived under the command's UID" \
  "$TRESOR" cat --data "$DATA" 1.2.826.0.1.3680043.2.1125.7.2
check_fails "mismatched instance not archived under the data set's UID" \
  "$TRESOR" cat --data "$DATA" 1.2.826.0.1.3680043.2.1125.7.1

# (g) Store, identical duplicate, then same UID with different content.
UID_G=1.2.826.0.1.3680043.2.1125.8.1
gen valid --sop-instance "$UID_G" --extra "first version" -o "$DS/first"
gen valid --sop-instance "$UID_G" --extra "second version" -o "$DS/second"
before=$(instances)
store_expect "valid object" 0x0000 "$UID_G" "$DS/first"
store_expect "identical duplicate" 0x0000 "$UID_G" "$DS/first"
store_expect "same UID, different content" 0x0111 "$UID_G" "$DS/second"
expect_eq "duplicate and conflict added no instance" "$((before + 1))" "$(instances)"
"$TRESOR" cat --data "$DATA" "$UID_G" >"$WORK/cat_g" 2>"$WORK/cat_g.err"
expect_eq "tresor cat of the conflicted UID succeeds" 0 "$?"
check "tresor cat returns the first content" \
  cmp <(tail -c "$(stat -c %s "$DS/first")" "$WORK/cat_g") "$DS/first"
check_fails "tresor cat holds none of the second content" grep -q "second version" "$WORK/cat_g"

# (i) Shell metacharacters in a stored value are data, never commands (S21).
UID_I=1.2.826.0.1.3680043.2.1125.9.1
gen valid --sop-instance "$UID_I" --patient-name "\$(touch $WORK/pwned)\`touch $WORK/pwned\`" \
  -o "$DS/pwn"
store_expect "PatientName with shell syntax" 0x0000 "$UID_I" "$DS/pwn"
"$TRESOR" stats --data "$DATA" >/dev/null 2>&1
"$TRESOR" cat --data "$DATA" "$UID_I" >"$WORK/cat_i" 2>/dev/null
check "PatientName with shell syntax kept verbatim" grep -qF "\$(touch $WORK/pwned)" "$WORK/cat_i"
check_fails "PatientName with shell syntax executed nothing" test -e "$WORK/pwned"

# Forged PDUs: refused by reject, abort or close; never a crash or a hang.
for kind in junk huge-associate huge-pdata oversized-pdata bad-pdv unknown-pdu; do
  out=$(raw garbage --kind "$kind" 2>&1)
  expect_eq "forged PDU '$kind': refused" 0 "$?"
  check "forged PDU '$kind': server still serving ($out)" serving
done

# A command set nested 20,000 deep would overflow DCMTK's recursive command parser;
# the PDU guard refuses it before DCMTK sees it.
raw garbage --kind nested-command --depth 20000 >/dev/null 2>&1
sleep 0.5
check "command set nested 20,000 deep: server still serving" serving
check "command set nested 20,000 deep: refused (size)" grep -q "aborted: command set larger than" "$LOG"
raw garbage --kind nested-command --depth 2000 >/dev/null 2>&1
sleep 0.5
check "command set nested 2,000 deep: server still serving" serving
check "command set nested 2,000 deep: refused (nesting)" grep -q "aborted: malformed command set" "$LOG"

# (h) Bounded memory, and nothing but server-named blobs inside the data directory.
rss=$(server_rss_kb)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
check "server RSS ${rss} KiB < 300 MiB" test "${rss:-999999999}" -lt 307200
check "server peak RSS ${hwm} KiB < 300 MiB" test "${hwm:-999999999}" -lt 307200
bad_names=$(find "$DATA/storage" -mindepth 1 -printf '%P\n' |
  grep -Ev '^(sealed|(blobs|staging)(/[0-9a-f]+)*)$' || true)
expect_eq "storage holds only hex-named blobs and shards" "" "$bad_names"
check_fails "no stored file name contains a UID (no dots)" \
  bash -c "find '$DATA/storage' -name '*.*' | grep -q ."
expect_eq "no staged upload left behind" "" "$(find "$DATA/storage/staging" -type f)"
expect_eq "one blob per archived instance" "$(instances)" \
  "$(find "$DATA/storage/blobs" -type f | wc -l | tr -d ' ')"
# '../x' or '1.2.3/../../etc' used as a path would land beside the storage or the server's
# working directory.
check_fails "no file named after a hostile UID" \
  bash -c "{ find '$WORK' -name x -o -name etc; find '$(readlink "/proc/$PID/cwd")/..' \
    -maxdepth 2 \( -name x -o -name etc \) -newer '$DATA/tresor.conf'; } 2>/dev/null | grep -q ."
unexpected=$(find "$WORK" -mindepth 1 -maxdepth 1 -printf '%f\n' |
  grep -Evx 'data|data.keys|datasets|init.out|serve.out|server.log|check.out|cat_g|cat_g.err|cat_i' || true)
expect_eq "nothing written beside the data directory" "" "$unexpected"

check "server still up at the end" serving
stop_server
finish
