#!/usr/bin/env bash
# S22: malformed objects (truncated, wrong and huge lengths, deep nesting, bad VR, stray
# delimiters, garbage) get an error status (0xC000); the server stays up, answers the
# next client after every one, and its memory stays bounded. Nothing malformed is
# archived.
#
# Not covered here, because current Tresor does not check them (see the report):
# Rows x Columns x Frames overflow and inconsistent LUT descriptors are archived with
# 0x0000 (the pixel module is not validated).
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools

echo "S22: malformed objects"
init_data
start_server || { fail "server starts"; finish; exit 1; }
add_peer ct CT1 echo,store
mkdir -p "$WORK/ds"
instances() { "$TRESOR" stats --data "$DATA" | awk '/^instances:/ {print $2}'; }
U=1.2.826.0.1.3680043.2.1125.22

cat >"$WORK/gen.py" <<'EOF'
import os, struct, sys
sys.path.insert(0, sys.argv[1])
import dicom_bytes as d
out, U = sys.argv[2], sys.argv[3] + ".%d"
def w(n, name, data):
    open(os.path.join(out, "%02d_%s" % (n, name)), "wb").write(data)
base = lambda i: d.identifying_elements(U % i)
w(1, "truncated-in-value", d.truncated_dataset(U % 1))
w(2, "length-0x7FFFFFF0", d.huge_length_dataset(U % 2, 0x7FFFFFF0))
w(3, "length-0xFFFFFFFE", d.huge_length_dataset(U % 3, 0xFFFFFFFE))
w(4, "nested-17", d.nested_dataset(U % 4, 17))
w(5, "nested-10000", d.nested_dataset(U % 5, 10000))
w(6, "bad-VR", d.bad_vr_dataset(U % 6))
w(7, "undefined-length-OB-without-items",
  d.assemble(base(7) + [((0x42, 0x11), d.header(0x42, 0x11, "OB", 0xFFFFFFFF) + b"ABCDEFGH")]))
w(8, "item-at-top-level", d.assemble(base(8)) + d.item_start(8) + b"ABCDEFGH")
w(9, "item-longer-than-its-sequence", d.assemble(base(9) + [((0x40, 0xA730),
  d.header(0x40, 0xA730, "SQ", 20) + d.item_start(100) + b"12345678xxxx")]))
w(10, "sequence-delimiter-at-top-level", d.assemble(base(10)) + d.sequence_end())
w(11, "US-length-past-the-end", d.assemble(base(11)) +
  struct.pack("<HH2sH", 0x28, 0x10, b"US", 200) + b"\x02\x00")
w(12, "implicit-VR-bytes-as-explicit", d.implicit_valid_dataset(U % 12))
w(13, "garbage-4KiB", bytes((i * 7919 + 13) & 0xFF for i in range(4096)))
w(14, "empty", b"")
w(15, "five-bytes", d.assemble(base(15))[:5])
w(16, "truncated-header", d.assemble(base(16)) + struct.pack("<HH", 0x0028, 0x0010))
EOF
"$PY" "$WORK/gen.py" "$TOOLS" "$WORK/ds" "$U"
expect_eq "16 malformed data sets generated" 16 "$(ls "$WORK/ds" | wc -l)"

for f in "$WORK"/ds/*; do
  name=$(basename "$f")
  n=$((10#${name%%_*}))
  out=$("$PY" "$TOOLS/raw_scu.py" --port "$PORT" --calling CT1 --timeout 30 store \
    --sop-instance "$U.$n" --dataset "$f" 2>&1)
  expect_eq "${name#*_}: status 0xC000" status=0xc000 "$out"
  if ! server_alive || ! echoscu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT" >/dev/null 2>&1; then
    fail "${name#*_}: server no longer serving"
  fi
done
check "server answered a C-ECHO after every malformed object" server_alive
expect_eq "nothing malformed archived" 0 "$(instances)"
expect_eq "no blob and no staged file left" 0 "$(find "$DATA/storage" -type f ! -path "$DATA/storage/sealed" | wc -l)"
check "the refusals are logged with their reason" test "$(grep -c 'refused (0xc000)' "$LOG")" -ge 16

# Controls: the limits are limits, not blanket refusals.
"$PY" "$TOOLS/dicom_bytes.py" nested --sop-instance "$U.100" --depth 16 -o "$WORK/nested16"
expect_eq "control: nesting at the limit (16) is accepted" status=0x0000 \
  "$("$PY" "$TOOLS/raw_scu.py" --port "$PORT" --calling CT1 store --sop-instance "$U.100" --dataset "$WORK/nested16" 2>&1)"
"$PY" "$TOOLS/dicom_bytes.py" valid --sop-instance "$U.101" -o "$WORK/valid"
expect_eq "control: a well-formed object is accepted" status=0x0000 \
  "$("$PY" "$TOOLS/raw_scu.py" --port "$PORT" --calling CT1 store --sop-instance "$U.101" --dataset "$WORK/valid" 2>&1)"

hwm=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
check "server peak RSS ${hwm} KiB < 200 MiB (huge declared lengths were not allocated)" \
  test "${hwm:-999999999}" -lt 204800
check "server still up" server_alive
stop_server
finish
