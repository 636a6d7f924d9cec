#!/usr/bin/env bash
# S20: file names in storage are chosen by the server, never derived from UIDs or tags:
# every stored file is storage/blobs/XX/<32 hex>, XX being its first two characters; no
# name contains any UID, patient ID or name; the same objects stored into two fresh
# archives get different names (so names are not a function of the content or its tags).
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools

echo "S20: storage file names are chosen by the server"
init_data
start_server || { fail "server starts"; finish; exit 1; }
add_peer ct CT1 echo,store
mkdir -p "$WORK/ds"
# Objects whose identifying values look like file names.
declare -A PN=([1]="evil.dcm" [2]="..^..^etc^passwd" [3]="Plain^Patient")
for i in 1 2 3; do
  "$PY" "$TOOLS/dicom_bytes.py" valid --sop-instance "1.2.826.0.1.3680043.2.1125.20.$i" \
    --patient-name "${PN[$i]}" -o "$WORK/ds/obj$i"
  expect_eq "object $i stored" status=0x0000 "$("$PY" "$TOOLS/raw_scu.py" --port "$PORT" --calling CT1 \
    store --sop-instance "1.2.826.0.1.3680043.2.1125.20.$i" --dataset "$WORK/ds/obj$i" 2>&1)"
done
SAMPLE=$("$PY" -c 'import pydicom.data,os;print(os.path.join(os.path.dirname(pydicom.data.__file__),"test_files","CT_small.dcm"))')
check "a real CT object stored with storescu" storescu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT" "$SAMPLE"
stop_server

names() { (cd "$1/storage/blobs" && find . -type f -printf '%P\n' | sort); }
names "$DATA" >"$WORK/names_a"
expect_eq "one file per archived instance (4)" 4 "$(wc -l <"$WORK/names_a")"
expect_eq "every file is blobs/XX/<32 lowercase hex>, XX = its first two characters" "" \
  "$(grep -vE '^([0-9a-f]{2})/\1[0-9a-f]{30}$' "$WORK/names_a")"
expect_eq "nothing else in storage (only blobs/, shards, an empty staging/ and the sealing marker)" "" \
  "$(find "$DATA/storage" -mindepth 1 -printf '%P\n' | grep -vE '^(sealed|staging|blobs(/[0-9a-f]{2}(/[0-9a-f]{32})?)?)$')"
expect_eq "no file left in staging" 0 "$(find "$DATA/storage/staging" -type f | wc -l)"
check_fails "no name contains a dot, a UID fragment or an identifying value" \
  bash -c "find '$DATA/storage' -mindepth 1 -printf '%P\\n' | grep -E '\.|1\.2\.826|5962|HOSTILE|evil|passwd|Patient|CompressedSamples|1CT1'"

# Not derived from UIDs, tags or content: a second fresh archive gets other names for the
# same objects (import, so the objects are byte-identical).
for i in 1 2 3; do
  "$TRESOR" cat --data "$DATA" "1.2.826.0.1.3680043.2.1125.20.$i" >"$WORK/ds/obj$i.dcm"
done
"$TRESOR" init --data "$WORK/b" >/dev/null 2>&1
check "the same objects imported into a second archive" \
  "$TRESOR" import --data "$WORK/b" "$WORK/ds/obj1.dcm" "$WORK/ds/obj2.dcm" "$WORK/ds/obj3.dcm" "$SAMPLE"
names "$WORK/b" >"$WORK/names_b"
expect_eq "the second archive also has 4 files" 4 "$(wc -l <"$WORK/names_b")"
expect_eq "no file name in common between the two archives" "" "$(comm -12 "$WORK/names_a" "$WORK/names_b")"
# Names are not a hash of the UID either (sha256/sha1/md5 of the SOP Instance UID).
for i in 1 2 3; do
  u="1.2.826.0.1.3680043.2.1125.20.$i"
  for h in sha256sum sha1sum md5sum; do printf '%s' "$u" | $h | cut -c1-32; done
done >"$WORK/uid_hashes"
check_fails "no name is a hash of a SOP Instance UID" grep -qFf "$WORK/uid_hashes" <(cat "$WORK/names_a" "$WORK/names_b")
check "tresor cat finds every object by UID (the index maps UIDs to blobs)" bash -c "
  for i in 1 2 3; do '$TRESOR' cat --data '$DATA' 1.2.826.0.1.3680043.2.1125.20.\$i >/dev/null || exit 1; done"
finish
