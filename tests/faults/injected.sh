#!/usr/bin/env bash
# Injected faults through the production interfaces: the archive of the tresor_faulty test
# binary runs over a blob store and an index that fail on demand (src/store/testing,
# switched by a control file while the server runs). For each fault -- a failing blob
# write, a full disk (ENOSPC), a failing sync, EIO on reading a blob, a busy (locked)
# index, a failing audit writer -- every request (C-STORE, STOW-RS, WADO, C-GET, C-FIND)
# gets a clear failure status, nothing is acknowledged that is not stored, nothing
# half-written is left, and the same requests succeed once the fault clears. At the end
# the shipped tresor binary restarts the archive: every acknowledged instance is there
# and intact (the number missing is printed; it must be 0).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.bash"

echo "faults: injected faults (tresor_faulty)"
FAULTY=${TRESOR_FAULTY:-$ROOT/build/tests/tresor_faulty}
[ -x "$FAULTY" ] || { skip --core "tresor_faulty not built ($FAULTY)"; finish; exit $?; }

# The shipped binary has no fault hooks; the test binary has (positive control).
expect_eq "the tresor binary holds no fault-injection code" 0 \
  "$(strings "$TRESOR" | grep -c -e TRESOR_FAULTS -e FaultyBlobStore -e FaultyIndex)"
check "the tresor_faulty binary does (control)" bash -c "strings '$FAULTY' | grep -q TRESOR_FAULTS"

CONTROL=$WORK/faults.control
export TRESOR_FAULTS=$CONTROL
# set_fault NAME...: the faults active from now on (replaced atomically).
set_fault() { printf '%s\n' "$@" >"$CONTROL.new" && mv "$CONTROL.new" "$CONTROL"; }
set_fault

BASE_CORPUS=$WORK/base
make_corpus "$BASE_CORPUS" 1 4
init_data
TRESOR=$FAULTY start_server || { fail "tresor_faulty serves"; finish; exit 1; }
check "the server announces the injected faults" grep -q "injected faults from" "$LOG"
add_peer faults FAULTS echo,store,find,get
token_for_admin
corpus_files "$BASE_CORPUS" | storescu_to "$WORK/base.log" "$BASE_CORPUS"
expect_eq "4 instances stored before any fault" 4 "$(sort -u "$ACKED" | wc -l)"
READ_PATH=$(corpus_files "$BASE_CORPUS" | head -1)

# Every store of a fault: 2 instances over C-STORE, 2 over STOW-RS.
n=0
# blob.sync+index.undo: the sync fails and so does taking the batch's rows out again.
for fault in blob.write blob.enospc blob.sync blob.sync+index.undo index.busy audit.write; do
  n=$((n + 1))
  corpus=$WORK/c$n
  make_corpus "$corpus" $((10 + n)) 4
  mapfile -t files < <(corpus_files "$corpus")
  before=$("$TRESOR" index sql --data "$DATA" "SELECT count(*) FROM instances")
  acked_before=$(wc -l <"$ACKED")
  set_fault ${fault//+/ }
  echo " $fault"
  printf '%s\n' "${files[0]}" "${files[1]}" | storescu_to "$WORK/$fault.store.log" "$corpus" -nh
  statuses=$(store_statuses "$WORK/$fault.store.log" | sort | uniq -c | tr -s ' ' | paste -sd';')
  case $fault in
    index.busy|audit.write)
      # Admission records an audit event: without the trail no association is admitted.
      echo "   C-STORE: $(grep -m1 -A1 'Association Rejected' "$WORK/$fault.store.log" | tail -1)"
      check "$fault: the association is rejected as transient (congestion), nothing sent" \
        grep -q "Rejected Transient.*" "$WORK/$fault.store.log" ;;
    *)
      echo "   C-STORE statuses: $statuses"
      expect_eq "$fault: C-STORE gets a failure status for both instances" 2 \
        "$(store_statuses "$WORK/$fault.store.log" | grep -vc Success)" ;;
  esac
  stow "$WORK/$fault.stow" "$corpus" "${files[2]}" "${files[3]}"
  echo "   STOW-RS: HTTP $CODE, failed/reasons: $(stow_reasons "$WORK/$fault.stow")"
  expect_eq "$fault: STOW-RS answers 409 with a failure reason per instance" "409 2" \
    "$CODE $(stow_reasons "$WORK/$fault.stow" | cut -d' ' -f1)"
  expect_eq "$fault: nothing acknowledged" "$acked_before" "$(wc -l <"$ACKED")"
  if [ "$fault" = blob.sync+index.undo ]; then
    # The rows could not be taken out: they stay (unconfirmed, with their staged blobs)
    # until the next batch removes them first.
    echo "   left until the next batch: $(("$("$TRESOR" index sql --data "$DATA" "SELECT count(*) FROM instances")" - before)) row(s)," \
      "$(find "$DATA/storage/staging" -type f | wc -l) staged blob(s)"
  else
    expect_eq "$fault: nothing indexed" "$before" \
      "$("$TRESOR" index sql --data "$DATA" "SELECT count(*) FROM instances")"
    no_half_written
  fi
  # Reads: C-FIND and WADO only write the audit trail, which only these two faults break.
  wado_get "$WORK/$fault.wado" "$BASE_CORPUS" "$READ_PATH"
  fstatus=$(findscu_study "$WORK/$fault.find.log" "$BASE_CORPUS")
  case $fault in
    index.busy|audit.write)
      expect_eq "$fault: WADO fails with 500 (its audit record cannot be written)" 500 "$CODE"
      check "$fault: C-FIND: the association is rejected as transient" \
        grep -q "Rejected Transient" "$WORK/$fault.find.log" ;;
    *)
      expect_eq "$fault: WADO still serves (reads are not affected)" 200 "$CODE"
      expect_eq "$fault: C-FIND still succeeds" 0x0000 "$fstatus" ;;
  esac
  set_fault
  printf '%s\n' "${files[0]}" "${files[1]}" | storescu_to "$WORK/$fault.store2.log" "$corpus"
  expect_eq "$fault cleared: C-STORE of the same instances succeeds" 2 \
    "$(store_statuses "$WORK/$fault.store2.log" | grep -c Success)"
  stow "$WORK/$fault.stow2" "$corpus" "${files[2]}" "${files[3]}"
  expect_eq "$fault cleared: STOW-RS of the same instances: 200" 200 "$CODE"
  wado_get "$WORK/$fault.wado2" "$corpus" "${files[3]}"
  check "$fault cleared: WADO returns the bytes stored" same_dataset "$corpus/${files[3]}" "$WORK/$fault.wado2"
  expect_eq "$fault cleared: the 4 instances are indexed once" $((before + 4)) \
    "$("$TRESOR" index sql --data "$DATA" "SELECT count(*) FROM instances")"
  no_half_written
done

# Reading a blob fails (EIO): retrievals fail clearly, then recover.
for fault in blob.read blob.open; do
  echo " $fault"
  set_fault "$fault"
  wado_get "$WORK/$fault.wado" "$BASE_CORPUS" "$READ_PATH"
  # An error before the response starts is a 500; one after the headers went out (the
  # object is read as it is sent) cuts the body short of its Content-Length, which no
  # HTTP client takes for a complete response.
  echo "   WADO: HTTP $CODE $(cat "$WORK/$fault.wado.err")"
  check "$fault: WADO fails visibly (500, or a body cut short of its length)" \
    bash -c "[ '$CODE' = 500 ] || grep -q 'transfer closed with .* remaining' '$WORK/$fault.wado.err'"
  check_fails "$fault: WADO did not deliver the object" \
    same_dataset "$BASE_CORPUS/$READ_PATH" "$WORK/$fault.wado"
  gstatus=$(getscu_one "$WORK/$fault.get.log" "$BASE_CORPUS" "$READ_PATH")
  echo "   C-GET final status: $gstatus"
  check "$fault: C-GET ends with a failure status, no object delivered" \
    test -n "$gstatus" -a "$gstatus" != 0x0000 -a "$(find "$WORK/got" -type f | wc -l)" = 0
  set_fault
  wado_get "$WORK/$fault.wado2" "$BASE_CORPUS" "$READ_PATH"
  check "$fault cleared: WADO returns the bytes stored" same_dataset "$BASE_CORPUS/$READ_PATH" "$WORK/$fault.wado2"
  gstatus=$(getscu_one "$WORK/$fault.get2.log" "$BASE_CORPUS" "$READ_PATH")
  expect_eq "$fault cleared: C-GET succeeds" 0x0000 "$gstatus"
  check "$fault cleared: C-GET delivered the object" test "$(find "$WORK/got" -type f | wc -l)" = 1
done
check "the server is up after every fault" server_alive

# Restart with the shipped binary, no faults: the oracle.
stop_server
cp "$LOG" "$WORK/faulty-server.log"
start_server || { fail "tresor restarts"; finish; exit 1; }
no_half_written
check_acked "$BASE_CORPUS" "$WORK"/c?
expect_eq "every instance stored once a fault cleared is there (4 + 6 x 4)" 28 \
  "$("$TRESOR" index sql --data "$DATA" "SELECT count(*) FROM instances")"
stop_server
finish
