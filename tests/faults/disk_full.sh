#!/usr/bin/env bash
# A full disk, for real: the data directory lives on a small tmpfs this test mounts. C-STORE
# and STOW-RS fill it until the kernel answers ENOSPC: every refused instance gets a
# clear status (C-STORE Out of Resources, STOW-RS a failure reason), the server stays up,
# nothing half-written is left. Then the filesystem grows (the operator frees space):
# resending everything succeeds without a restart. After a restart every acknowledged
# instance is present and intact.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.bash"

echo "faults: full disk (tmpfs)"
DISK=$WORK/disk
mkdir -p "$DISK"
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=10m,mode=0700 tmpfs "$DISK" 2>"$WORK/mount.err"; then
  skip --core "cannot mount a tmpfs here (needs root): $(cat "$WORK/mount.err" 2>/dev/null)"
  finish; exit $?
fi
trap 'stop_server; umount "$DISK" 2>/dev/null; cleanup' EXIT

CORPUS=$WORK/corpus
"$PY" "$TOOLS/make_studies.py" --out "$CORPUS" --seed 41 --series 2 --instances 60 \
  --rows 256 --cols 256 --modalities CT >/dev/null
total=$(($(wc -l <"$CORPUS/manifest.tsv") - 1))
DATA=$DISK/data
"$TRESOR" init --data "$DATA" >"$WORK/init.out" 2>&1 || { cat "$WORK/init.out"; fail "init"; finish; exit 1; }
start_server || { fail "server started"; finish; exit 1; }
add_peer faults FAULTS echo,store,find,get
token_for_admin
echo "  $total instances of $(du -sk "$CORPUS" | cut -f1) KiB onto $(df -k --output=size "$DISK" | tail -1) KiB"

# First half over C-STORE, second half over STOW-RS (10 per request).
mapfile -t files < <(corpus_files "$CORPUS")
half=$((total / 2))
printf '%s\n' "${files[@]:0:$half}" | storescu_to "$WORK/fill.store.log" "$CORPUS" -nh
stow_codes=()
for ((i = half; i < total; i += 10)); do
  stow "$WORK/fill.stow.$i" "$CORPUS" "${files[@]:$i:10}"
  stow_codes+=("$CODE:$(stow_reasons "$WORK/fill.stow.$i" | tr ' ' ',')")
done
acked=$(sort -u "$ACKED" | wc -l)
echo "  filled: $acked of $total acknowledged; $(df -k --output=avail "$DISK" | tail -1) KiB left"
echo "  C-STORE statuses: $(store_statuses "$WORK/fill.store.log" | sort | uniq -c | tr -s ' ' | paste -sd';')"
echo "  STOW-RS (code:failed,reasons): ${stow_codes[*]}"
refused=$(store_statuses "$WORK/fill.store.log" | grep -vc Success)
check "the disk filled up: not everything was acknowledged" test "$acked" -lt "$total"
check "C-STORE met the full disk too ($refused refused)" test "$refused" -gt 0
check "something was stored before it did" test "$acked" -gt 0
check "the log names the full disk" grep -q -i -e "No space left on device" -e "disk is full" -e "SQLITE_FULL" "$LOG"
stow_refused=$(printf '%s\n' "${stow_codes[@]}" | grep -c -v '^200:')
expect_eq "every C-STORE answer is Success or Out of Resources ($refused refused)" 0 \
  "$(store_statuses "$WORK/fill.store.log" | grep -c -v -e Success -e OutOfResources)"
expect_eq "every instance got an answer over C-STORE" "$half" \
  "$(store_statuses "$WORK/fill.store.log" | wc -l)"
expect_eq "STOW-RS answers 200, or 202/409 with reason A700 ($stow_refused requests not fully stored)" 0 \
  "$(printf '%s\n' "${stow_codes[@]}" | grep -c -v -E '^(200:0|202:[0-9]+,A700|409:[0-9]+,A700)$')"
check "the server is up on a full disk" server_alive
no_half_written

# The operator frees space: the same server accepts everything again.
mount -o remount,size=96m "$DISK"
printf '%s\n' "${files[@]:0:$half}" | storescu_to "$WORK/again.store.log" "$CORPUS" -nh
for ((i = half; i < total; i += 10)); do stow "$WORK/again.stow.$i" "$CORPUS" "${files[@]:$i:10}"; done
expect_eq "with space again, every C-STORE succeeds" "$half" \
  "$(store_statuses "$WORK/again.store.log" | grep -c Success)"
expect_eq "the archive holds the whole corpus" "$total" \
  "$("$TRESOR" index sql --data "$DATA" "SELECT count(*) FROM instances")"

stop_server
start_server || { fail "restart"; finish; exit 1; }
no_half_written
check_acked "$CORPUS"
stop_server
finish
