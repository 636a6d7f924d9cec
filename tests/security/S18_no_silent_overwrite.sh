#!/usr/bin/env bash
# S18: a second instance with an existing SOP Instance UID but different content is never
# silently overwritten: C-STORE gets 0x0111 (refused, logged "... different content"), the
# archived bytes stay the first ones, over raw C-STORE, DCMTK's storescu and `tresor
# import`, and after a restart. An identical re-send is accepted without a new copy.
# (The audit-trail half of S18 needs the audit log, which Tresor does not have yet; the
# refusal is checked in the server log.)
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools

echo "S18: no silent overwrite of an existing SOP Instance UID"
init_data
start_server || { fail "server starts"; finish; exit 1; }
add_peer ct CT1 echo,store
instances() { "$TRESOR" stats --data "$DATA" | awk '/^instances:/ {print $2}'; }
blobs() { find "$DATA/storage/blobs" -type f | wc -l; }
raw_store() {
  "$PY" "$TOOLS/raw_scu.py" --port "$PORT" --calling CT1 --timeout 20 store --sop-instance "$1" --dataset "$2" 2>&1
}
# same_as_first UID FILE: `tresor cat UID` ends with exactly FILE's bytes (data set).
cat_ends_with() { cmp -s <("$TRESOR" cat --data "$DATA" "$1" | tail -c "$(stat -c %s "$2")") "$2"; }

# 1. Raw C-STORE: first, identical duplicate, different content.
U1=1.2.826.0.1.3680043.2.1125.18.1
"$PY" "$TOOLS/dicom_bytes.py" valid --sop-instance "$U1" --extra "first version" -o "$WORK/first"
"$PY" "$TOOLS/dicom_bytes.py" valid --sop-instance "$U1" --extra "second version" -o "$WORK/second"
"$PY" "$TOOLS/dicom_bytes.py" valid --sop-instance "$U1" --extra "first version" --patient-name "Other^Patient" -o "$WORK/third"
expect_eq "first store: 0x0000" status=0x0000 "$(raw_store "$U1" "$WORK/first")"
expect_eq "identical re-send: 0x0000" status=0x0000 "$(raw_store "$U1" "$WORK/first")"
expect_eq "identical re-send adds no instance and no blob" "1 1" "$(instances) $(blobs)"
expect_eq "same UID, other Image Comments: 0x0111" status=0x0111 "$(raw_store "$U1" "$WORK/second")"
expect_eq "same UID, other patient: 0x0111" status=0x0111 "$(raw_store "$U1" "$WORK/third")"
expect_eq "still one instance, one blob" "1 1" "$(instances) $(blobs)"
check "tresor cat returns the first content" cat_ends_with "$U1" "$WORK/first"
check_fails "... holding nothing of the second" bash -c "'$TRESOR' cat --data '$DATA' '$U1' | grep -aq 'second version'"
check "log: the refusal names the UID and 'different content'" \
  grep -q "refused $U1 from .*different content" "$LOG"

# 2. DCMTK's storescu with a real Part 10 file, then a modified copy under the same UID.
SAMPLE=$("$PY" -c 'import pydicom.data,os;print(os.path.join(os.path.dirname(pydicom.data.__file__),"test_files","CT_small.dcm"))')
U2=1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322
cp "$SAMPLE" "$WORK/orig.dcm"
cp "$SAMPLE" "$WORK/changed.dcm"
dcmodify -nb -m "(0010,0010)=Changed^Name" "$WORK/changed.dcm" >/dev/null 2>&1
check "storescu: the original is stored" storescu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT" "$WORK/orig.dcm"
"$TRESOR" cat --data "$DATA" "$U2" >"$WORK/orig_archived.dcm"
storescu -v -aet CT1 -aec TRESOR 127.0.0.1 "$PORT" "$WORK/changed.dcm" >"$WORK/st.log" 2>&1
check "storescu: the changed copy is refused with status 0x0111" grep -q 'Status: 0x111)' "$WORK/st.log"
check "storescu: the archived object is unchanged" cmp -s <("$TRESOR" cat --data "$DATA" "$U2") "$WORK/orig_archived.dcm"
check_fails "storescu: the new name is not archived" bash -c "'$TRESOR' cat --data '$DATA' '$U2' | grep -aq 'Changed^Name'"

# 3. tresor import of the changed copy.
"$TRESOR" import --data "$DATA" "$WORK/changed.dcm" >"$WORK/import.out" 2>&1
echo "  (tresor import exit $?: $(tr '\n' ' ' <"$WORK/import.out" | cut -c1-160))"
check "import: reports the refusal for that UID" grep -q "refused $U2 .*differ" "$WORK/import.out"
check "import: the archived object is unchanged" cmp -s <("$TRESOR" cat --data "$DATA" "$U2") "$WORK/orig_archived.dcm"
expect_eq "import: still two instances, two blobs" "2 2" "$(instances) $(blobs)"

# 4. After a restart the first content still wins.
stop_server
start_server || { fail "server restarts"; finish; exit 1; }
expect_eq "after restart: same UID, different content still 0x0111" status=0x0111 "$(raw_store "$U1" "$WORK/second")"
check "after restart: tresor cat still returns the first content" cat_ends_with "$U1" "$WORK/first"
expect_eq "after restart: still two instances, two blobs" "2 2" "$(instances) $(blobs)"
check "server still up" server_alive
stop_server
finish
