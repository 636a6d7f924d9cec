#!/usr/bin/env bash
# The command line: help for every command, init, peer administration, import with its
# summary, stats, cat, and the refusals a user can run into.
source "$(dirname "$0")/../lib.sh"

echo "cli: commands, help and errors"
check "tresor --help lists the commands" bash -c "'$TRESOR' --help | grep -q 'import'"
for cmd in init serve peer import stats cat; do
  check "tresor $cmd --help explains the command" bash -c "'$TRESOR' $cmd --help | grep -q 'Usage: tresor'"
done
check_fails "unknown command is an error" "$TRESOR" frobnicate
check_fails "unknown option is an error" "$TRESOR" stats --nonsense 1

init_data
check "init prints the admin password once" grep -q "Password (shown only now" "$WORK/init.out"
check_fails "init refuses an existing data directory" "$TRESOR" init --data "$DATA"
check "TRESOR_DATA selects the data directory" env TRESOR_DATA="$DATA" "$TRESOR" stats
check_fails "a missing data directory is a clear error" "$TRESOR" stats --data "$WORK/nope"
"$TRESOR" stats --data "$WORK/nope" 2>&1 | grep -q "tresor init" && pass "the error says how to create one" || fail "the error says how to create one"

# Peers.
check "peer add" "$TRESOR" peer add ct1 --ae CT_1 --host 127.0.0.1 --allow echo,store,find --groups all --data "$DATA"
check "peer list shows the peer and its grants" bash -c "'$TRESOR' peer list --data '$DATA' | grep -q 'CT_1.*echo,store,find'"
check_fails "peer add refuses an AE title over 16 characters" "$TRESOR" peer add x --ae ABCDEFGHIJKLMNOPQ --host 127.0.0.1 --data "$DATA"
check_fails "peer add refuses an unknown service" "$TRESOR" peer add x --ae X --host 127.0.0.1 --allow echo,delete --data "$DATA"
check_fails "peer add needs --host" "$TRESOR" peer add x --ae X --data "$DATA"
check "peer remove" "$TRESOR" peer remove ct1 --data "$DATA"
check_fails "peer remove of an unknown peer is an error" "$TRESOR" peer remove ct1 --data "$DATA"

# Import: a generated study, a real-world file twice, and a file that is not DICOM.
CORPUS=$WORK/corpus
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$CORPUS" --patients 2 --studies 1 --series 2 --instances 5 >/dev/null
SAMPLE=$("$PY" -c 'import pydicom.data,os;print(os.path.join(os.path.dirname(pydicom.data.__file__),"test_files","CT_small.dcm"))')
cp "$SAMPLE" "$CORPUS/copy1.dcm"
cp "$SAMPLE" "$CORPUS/copy2.dcm"
echo "not dicom" >"$CORPUS/notes.txt"
"$TRESOR" import --data "$DATA" "$CORPUS" >"$WORK/import.out" 2>"$WORK/import.err"
expect_eq "import with a rejected file exits 1" 1 "$?"
check "import summary counts stored, duplicate and rejected" \
  grep -q "import: 24 files: 21 stored, 1 duplicate, 2 rejected" "$WORK/import.out"
check "import names each rejected file with its reason" grep -q "rejected .*notes.txt: not a DICOM Part 10 file" "$WORK/import.out"
check "import shows progress" grep -q "import: 24/24 files" "$WORK/import.err"
expect_eq "stats after import" "instances: 21" "$("$TRESOR" stats --data "$DATA" | grep instances)"
check "import again: all duplicates, exit 1 only for the rejected files" \
  bash -c "'$TRESOR' import --data '$DATA' '$CORPUS' | grep -q '0 stored, 22 duplicate, 2 rejected'"

# cat.
uid=$(sed -n 2p "$CORPUS/manifest.tsv" | cut -f5)
path=$(sed -n 2p "$CORPUS/manifest.tsv" | cut -f1)
"$TRESOR" cat --data "$DATA" "$uid" >"$WORK/out.dcm"
check "cat writes the stored instance" cmp <("$PY" "$ROOT/tests/tools/dataset_bytes.py" sha "$WORK/out.dcm") \
  <("$PY" "$ROOT/tests/tools/dataset_bytes.py" sha "$CORPUS/$path")
check "dcmdump reads what cat wrote" dcmdump -q "$WORK/out.dcm"
check_fails "cat of an unknown UID is an error" "$TRESOR" cat --data "$DATA" 1.2.3.4
check_fails "cat of a hostile UID is an error" "$TRESOR" cat --data "$DATA" ../../etc/passwd

# Serving plain DICOM beyond loopback is refused (S03).
sed -i 's/^bind_address = .*/bind_address = "0.0.0.0"/' "$DATA/tresor.conf"
"$TRESOR" serve --data "$DATA" --dicom-port 0 --dicom-tls-port 0 >"$WORK/s3.out" 2>&1
expect_eq "serve on a non-loopback address without TLS exits non-zero" 1 "$?"
check "and says why" grep -q "refusing to serve plain DICOM on non-loopback address" "$WORK/s3.out"
sed -i 's/^bind_address = .*/bind_address = "127.0.0.1"/' "$DATA/tresor.conf"
echo 'ae_titel = "TYPO"' >>"$DATA/tresor.conf"
check_fails "a config typo stops the server from starting" "$TRESOR" serve --data "$DATA" --dicom-port 0 --dicom-tls-port 0
"$TRESOR" serve --data "$DATA" --dicom-port 0 --dicom-tls-port 0 >"$WORK/typo.out" 2>&1
check "and names the line" grep -q "config line [0-9]*: unknown setting '[a-z_]*\.ae_titel'" "$WORK/typo.out"
sed -i '/ae_titel/d' "$DATA/tresor.conf"

# One server per data directory.
start_server
"$TRESOR" serve --data "$DATA" --dicom-port 0 --dicom-tls-port 0 >"$WORK/second.out" 2>&1
expect_eq "a second server on the same data directory is refused" 1 "$?"
stop_server
finish
