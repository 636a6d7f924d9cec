#!/usr/bin/env bash
# Every test file shipped with Debian's pydicom that storescu can send is stored and
# comes back with the same data set; files that cannot be sent are listed with the
# reason. The server stays up throughout.
source "$(dirname "$0")/../lib.sh"

echo "pydicom test files: store and read back"
DATADIR=$("$PY" -c 'import pydicom.data,os;print(os.path.join(os.path.dirname(pydicom.data.__file__),"test_files"))')
init_data
start_server
add_peer ct CT1 echo,store

sent=0 unsendable=0 mismatched=0 refused=0
: >"$WORK/unsendable.txt"
while IFS= read -r f; do
  name=${f#"$DATADIR"/}
  # -R: propose only the file's own transfer syntax, so nothing is converted on the way.
  if ! storescu -R -aet CT1 -aec TRESOR 127.0.0.1 "$PORT" "$f" >"$WORK/out" 2>&1; then
    if grep -q "Store SCP Status\|Store Failed" "$WORK/out" && ! grep -qi "no presentation context\|cannot\|unable\|not a valid\|I/O suspension\|read error\|missing\|unsupported" "$WORK/out"; then
      refused=$((refused + 1))
      echo "  refused by server: $name: $(grep -m1 -o 'Status.*' "$WORK/out")"
    else
      unsendable=$((unsendable + 1))
      echo "$name: $(grep -m1 '^E:' "$WORK/out" | cut -c1-150)" >>"$WORK/unsendable.txt"
    fi
    server_alive || { fail "server died after $name"; break; }
    continue
  fi
  if grep -q "Store SCP Status\|W: " "$WORK/out" && grep -q "Status: 0x[^0]" "$WORK/out"; then
    refused=$((refused + 1)); echo "  warning status for $name"; continue
  fi
  sent=$((sent + 1))
  uid=$(dcmdump -q +P 0008,0018 "$f" 2>/dev/null | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1)
  if ! "$TRESOR" cat --data "$DATA" "$uid" >"$WORK/back.dcm" 2>"$WORK/cat.err"; then
    mismatched=$((mismatched + 1)); echo "  not retrievable: $name ($(cat "$WORK/cat.err"))"; continue
  fi
  want=$("$PY" "$ROOT/tests/tools/dataset_bytes.py" sha "$f" 2>/dev/null)
  got=$("$PY" "$ROOT/tests/tools/dataset_bytes.py" sha "$WORK/back.dcm")
  if [ "$want" != "$got" ]; then
    # Same data set in another encoding? Compare element for element.
    if ! diff <(dcmdump -q +L +U8 "$f" | grep -v '^(0002' | grep -v '^#') \
              <(dcmdump -q +L +U8 "$WORK/back.dcm" | grep -v '^(0002' | grep -v '^#') >/dev/null; then
      mismatched=$((mismatched + 1)); echo "  data set differs: $name"
    fi
  fi
done < <(find "$DATADIR" -type f \( -name '*.dcm' -o -name '*.DCM' \) | sort)

echo "  sent: $sent, refused by server: $refused, not sendable by storescu: $unsendable"
if [ -s "$WORK/unsendable.txt" ]; then
  echo "  files storescu could not send (reason):"
  sed 's/^/    /' "$WORK/unsendable.txt"
fi
check "at least 60 pydicom files were stored" test "$sent" -ge 60
expect_eq "every stored file comes back with the same data set" 0 "$mismatched"
expect_eq "index holds every stored file" "$sent" \
  "$(( $("$TRESOR" stats --data "$DATA" | sed -n 's/instances: *//p') ))"
check "server still up" server_alive
check "server still answers C-ECHO" echoscu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT"
check "stored files have a zeroed preamble" \
  bash -c "test \"\$('$PY' '$ROOT/tests/tools/dataset_bytes.py' preamble '$WORK/back.dcm')\" = zero"
stop_server
finish
