#!/usr/bin/env bash
# Every test file shipped with Debian's pydicom that storescu can send is stored and
# comes back with the same data set; files that cannot be sent are listed with the
# reason. The server stays up throughout.
#
# Some test files reuse one SOP Instance UID for different content (the same image in
# several encodings). Tresor refuses such a second object (S18), so files are sent in
# rounds: round k holds the k-th file of each UID, each round into a fresh archive.
source "$(dirname "$0")/../lib.sh"

echo "pydicom test files: store and read back"
DATADIR=$("$PY" -c 'import pydicom.data,os;print(os.path.dirname(pydicom.data.__file__))')
DS="$PY $ROOT/tests/tools/dataset_bytes.py"

# "round<TAB>file" for every candidate file; files without a readable UID go to round 1.
find "$DATADIR" -type f ! -name '*.py' ! -name '*.pyc' ! -name '*.json' ! -name '*.md' \
  ! -name '*.txt' ! -name '*.dump' | sort | while IFS= read -r f; do
  uid=$(dcmdump -q -Un +P 0008,0018 "$f" 2>/dev/null | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1)
  printf '%s\t%s\n' "${uid:-none-$RANDOM$RANDOM}" "$f"
done | awk -F'\t' '{ n[$1]++; print n[$1] "\t" $2 }' >"$WORK/rounds.tsv"

# The storescu option that proposes the transfer syntax `$1` is encoded in.
propose_option() {
  case "$($DS sha "$1" 2>/dev/null | cut -f2)" in
    1.2.840.10008.1.2) echo -xi ;;
    1.2.840.10008.1.2.2) echo -xb ;;
    1.2.840.10008.1.2.1.99) echo -xd ;;
    1.2.840.10008.1.2.4.50) echo -xy ;;
    1.2.840.10008.1.2.4.51) echo -xx ;;
    1.2.840.10008.1.2.4.70) echo -xs ;;
    1.2.840.10008.1.2.4.80) echo -xt ;;
    1.2.840.10008.1.2.4.81) echo -xu ;;
    1.2.840.10008.1.2.4.90) echo -xv ;;
    1.2.840.10008.1.2.4.91) echo -xw ;;
    1.2.840.10008.1.2.5) echo -xr ;;
    *) echo -xe ;;
  esac
}

sent=0 unsendable=0 refused=0 mismatched=0 rounds=0 died=0
: >"$WORK/unsendable.txt"
for round in $(cut -f1 "$WORK/rounds.tsv" | sort -un); do
  rounds=$((rounds + 1))
  DATA=$WORK/data$round
  init_data_dir() { "$TRESOR" init --data "$DATA" >/dev/null; }
  init_data_dir
  start_server || { fail "server start for round $round"; break; }
  add_peer ct CT1 echo,store
  stored_this_round=0
  while IFS=$'\t' read -r _ f; do
    name=${f#"$DATADIR"/}
    # -R and the option proposing the file's own transfer syntax first: Tresor takes
    # the sender's first choice, so the file travels in its own encoding.
    storescu -v -R $(propose_option "$f") -aet CT1 -aec TRESOR 127.0.0.1 "$PORT" "$f" >"$WORK/out" 2>&1
    response=$(sed -n 's/.*Received Store Response (\(.*\))/\1/p' "$WORK/out" | head -1)
    if [ -z "$response" ]; then
      unsendable=$((unsendable + 1))
      reason=$(grep -E '^(E|F): ' "$WORK/out" | grep -v 'Store Failed\|Store SCU Failed\|Association Rejected:$' | head -1)
      [ -n "$reason" ] || reason=$(grep -E '^W: ' "$WORK/out" | head -1)
      echo "$name: ${reason:0:150}" >>"$WORK/unsendable.txt"
    elif [ "$response" != "Success" ]; then
      refused=$((refused + 1))
      echo "  refused by the server: $name: $response: $(grep -m1 'refused' "$LOG" | sed 's/.*): //' | cut -c1-120)"
      sed -i '/refused/d' "$LOG"
    else
      sent=$((sent + 1)); stored_this_round=$((stored_this_round + 1))
      uid=$(dcmdump -q -Un +P 0008,0018 "$f" 2>/dev/null | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1)
      if ! "$TRESOR" cat --data "$DATA" "$uid" >"$WORK/back.dcm" 2>"$WORK/cat.err"; then
        mismatched=$((mismatched + 1)); echo "  not retrievable: $name"
      elif [ "$($DS sha "$f" 2>/dev/null)" != "$($DS sha "$WORK/back.dcm")" ]; then
        # storescu re-encoded it (sequence lengths, padding): compare element for element.
        if ! "$PY" "$ROOT/tests/tools/compare_datasets.py" "$f" "$WORK/back.dcm" >"$WORK/cmp" 2>&1; then
          mismatched=$((mismatched + 1)); echo "  data set differs: $name: $(head -3 "$WORK/cmp" | tr '\n' ' ')"
        fi
      fi
      [ "$($DS preamble "$WORK/back.dcm")" = zero ] || { mismatched=$((mismatched + 1)); echo "  preamble not zeroed: $name"; }
    fi
    server_alive || { died=1; fail "server died after $name"; break; }
  done < <(awk -F'\t' -v r="$round" '$1 == r' "$WORK/rounds.tsv")
  got=$("$TRESOR" stats --data "$DATA" | sed -n 's/instances: *//p')
  [ "$got" = "$stored_this_round" ] || { mismatched=$((mismatched + 1)); echo "  round $round: index holds $got, expected $stored_this_round"; }
  check "round $round: server still answers C-ECHO" echoscu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT"
  stop_server
  [ "$died" -eq 0 ] || break
done

echo "  $rounds rounds; stored: $sent, refused by the server: $refused, not sendable by storescu: $unsendable"
if [ -s "$WORK/unsendable.txt" ]; then
  echo "  files storescu could not send (its reason):"
  sed 's/^/    /' "$WORK/unsendable.txt"
fi
total=$(wc -l <"$WORK/rounds.tsv")
expect_eq "every file was stored or is listed as not sendable" "$total" "$((sent + refused + unsendable))"
expect_eq "no file that storescu could send was refused" 0 "$refused"
check "a substantial set was stored (>= 50 files)" test "$sent" -ge 50
expect_eq "every stored file comes back with the same data set and a zeroed preamble" 0 "$mismatched"
expect_eq "the server never went down" 0 "$died"
finish
