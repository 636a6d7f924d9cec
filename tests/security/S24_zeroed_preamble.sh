#!/usr/bin/env bash
# S24: the 128-byte preamble of stored and served files is zeroed: Part 10 files whose
# preamble holds a PE ("MZ"), ELF or JSON header, imported with `tresor import` or sent
# with storescu, come back from `tresor cat` with 128 zero bytes before "DICM", and no
# blob on disk starts with those headers. (DIMSE transfers carry no preamble at all.)
source "$(dirname "$0")/../lib.sh"

echo "S24: zeroed preamble"
init_data
start_server || { fail "server starts"; finish; exit 1; }
add_peer ct CT1 echo,store
U=1.2.826.0.1.3680043.2.1125.24

cat >"$WORK/mk.py" <<'EOF'
import sys
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
kind, uid, path = sys.argv[1:4]
pre = {"pe": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"This program cannot be run in DOS mode.",
       "elf": b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00\x01\x00\x00\x00",
       "json": b'{"polyglot": true, "x": "'}[kind]
pre = pre.ljust(128, b"A")[:128]
meta = FileMetaDataset()
meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
meta.MediaStorageSOPInstanceUID = uid
meta.TransferSyntaxUID = ExplicitVRLittleEndian
ds = FileDataset(path, {}, file_meta=meta, preamble=pre)
ds.is_little_endian, ds.is_implicit_VR = True, False
ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, uid
ds.StudyInstanceUID, ds.SeriesInstanceUID = uid + ".1", uid + ".1.1"
ds.PatientName, ds.PatientID, ds.Modality = "Preamble^Test", "PRE1", "OT"
ds.save_as(path, write_like_original=False)
EOF
n=0
for kind in pe elf json; do
  n=$((n + 1))
  "$PY" "$WORK/mk.py" "$kind" "$U.$n" "$WORK/$kind.dcm"
  n=$((n + 1))
  "$PY" "$WORK/mk.py" "$kind" "$U.$n" "$WORK/${kind}_scu.dcm"
done
check "test files carry the hostile preambles (MZ, ELF, JSON)" bash -c "
  [ \"\$(head -c 2 '$WORK/pe.dcm')\" = MZ ] && head -c 4 '$WORK/elf.dcm' | grep -q ELF &&
  [ \"\$(head -c 1 '$WORK/json.dcm')\" = '{' ] && [ \"\$(tail -c +129 '$WORK/pe.dcm' | head -c 4)\" = DICM ]"

check "tresor import of the three files" "$TRESOR" import --data "$DATA" "$WORK/pe.dcm" "$WORK/elf.dcm" "$WORK/json.dcm"
for f in pe_scu elf_scu json_scu; do
  check "storescu of $f.dcm" storescu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT" "$WORK/$f.dcm"
done
expect_eq "six instances archived" "instances: 6" "$("$TRESOR" stats --data "$DATA" | grep instances)"

zeros=$(head -c 128 /dev/zero | od -An -tx1 | tr -d ' \n')
for n in 1 2 3 4 5 6; do
  "$TRESOR" cat --data "$DATA" "$U.$n" >"$WORK/cat$n.dcm"
  expect_eq "tresor cat $U.$n: 128 zero bytes" "$zeros" "$(head -c 128 "$WORK/cat$n.dcm" | od -An -tx1 | tr -d ' \n')"
  expect_eq "tresor cat $U.$n: then DICM" DICM "$(tail -c +129 "$WORK/cat$n.dcm" | head -c 4)"
done
check "the served files are valid DICOM" dcmftest "$WORK"/cat*.dcm
check_fails "no served file holds the PE/ELF/JSON preamble bytes" \
  grep -l -a -e 'This program cannot be run' -e '"polyglot"' "$WORK"/cat*.dcm
check_fails "no blob on disk starts with MZ, ELF or {" bash -c "
  for b in \$(find '$DATA/storage/blobs' -type f); do
    case \"\$(head -c 4 \"\$b\" | od -An -c | tr -d ' ')\" in MZ*|177ELF*|\\{*) echo \"\$b\"; exit 0 ;; esac
  done; exit 1"
check_fails "no blob holds the PE text or the JSON preamble" \
  grep -r -l -a -e 'This program cannot be run' -e '"polyglot"' "$DATA/storage"
check "server still up" server_alive
stop_server
finish
