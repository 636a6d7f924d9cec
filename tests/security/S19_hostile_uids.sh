#!/usr/bin/env bash
# S19: values that are not valid UIDs (`../x`, `..\x`, `/abs`, NUL, > 64 characters,
# non-digits, leading zeros, empty components) are refused wherever a UID is used to
# file an object (SOP Instance, Study and Series Instance UID; in the data set and in
# the command), used as query or retrieve keys they find and send nothing, `tresor cat`
# refuses them, and nothing is ever written outside the storage root.
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools
trap 'for p in ${SCP:-}; do kill "$p" 2>/dev/null; done; cleanup' EXIT

echo "S19: hostile UIDs"
init_data
mkdir -p "$WORK/cwd" "$WORK/ds"
touch "$WORK/marker"
# The server runs in an empty working directory of its own: relative paths would land here.
cd "$WORK/cwd" || exit 1
start_server || { fail "server starts"; finish; exit 1; }
cd "$ROOT" || exit 1
add_peer ct CT1 echo,store,find,get
instances() { "$TRESOR" stats --data "$DATA" | awk '/^instances:/ {print $2}'; }

# Data sets: dicom_bytes' valid data set with one UID replaced. The values, by index
# (NUL cannot travel through argv, so the generator holds the list).
cat >"$WORK/gen.py" <<'EOF'
import os, sys
sys.path.insert(0, sys.argv[1])
import dicom_bytes as d
out = sys.argv[2]
BAD = [("dot-dot-slash", "../x"), ("dot-dot-backslash", "..\\x"), ("absolute", "/abs"),
       ("absolute-deep", "/tmp/tresor-s19-abs/x"), ("traversal", "1.2.3/../../../x"),
       ("nul-inside", "1.2\x00.3"), ("65-chars", "1." + "2" * 63),
       ("100-chars", "1.2." + "3" * 96), ("non-digits", "1.2.abc"), ("leading-zero", "1.02.3"),
       ("empty-component", "1..2"), ("trailing-dot", "1.2."), ("space-inside", "1.2 .3"),
       ("newline", "1.2\n3")]
good_sop = "1.2.826.0.1.3680043.2.1125.19.%d"
manifest = []
for i, (name, bad) in enumerate(BAD):
    for field in ("sop", "study", "series"):
        sop = bad if field == "sop" else good_sop % (i * 10 + {"study": 1, "series": 2}[field])
        kw = {}
        if field == "study": kw["study"] = bad
        if field == "series": kw["series"] = bad
        pairs = d.identifying_elements(sop, **kw)
        data = d.assemble(pairs)
        fn = "%s_%s" % (field, name)
        with open(os.path.join(out, fn), "wb") as f:
            f.write(data)
        # the command UID: the hostile value when argv can carry it, else a valid one
        cmd = sop if (field != "sop" or "\x00" not in bad) else good_sop % (i * 10 + 3)
        manifest.append("%s\t%s\t%s" % (fn, field, cmd.encode("unicode_escape").decode()))
# boundary controls: a 64-character UID is valid
ok64 = "1.2." + "3" * 60
with open(os.path.join(out, "ok_64"), "wb") as f:
    f.write(d.valid_dataset(ok64, study="1.2." + "4" * 60, series="1.2." + "5" * 60))
manifest.append("ok_64\tcontrol\t%s" % ok64)
print("\n".join(manifest))
EOF
"$PY" "$WORK/gen.py" "$TOOLS" "$WORK/ds" >"$WORK/manifest"
expect_eq "hostile data sets generated (14 values x 3 fields + control)" 43 "$(wc -l <"$WORK/manifest")"

# Each hostile data set: a refusal (0xC000, or an abort when DCMTK cannot even hold the
# command's UID), never success; the server keeps serving.
refused=0 accepted=0 odd=()
while IFS=$'\t' read -r fn field cmd; do
  [ "$field" = control ] && continue
  cmd=$(printf '%b' "$cmd")
  out=$("$PY" "$TOOLS/raw_scu.py" --port "$PORT" --calling CT1 --timeout 20 store \
    --sop-instance "$cmd" --dataset "$WORK/ds/$fn" 2>&1)
  case $out in
    status=0xc000) refused=$((refused + 1)) ;;
    status=0x0000|status=0x0001|status=0xb*) accepted=$((accepted + 1)); odd+=("$fn:$out") ;;
    status=*|aborted*) refused=$((refused + 1)); echo "  ($fn: $out)" ;;
    *) odd+=("$fn:$out") ;;
  esac
done <"$WORK/manifest"
expect_eq "all 42 hostile UIDs refused" 42 "$refused"
expect_eq "none accepted" 0 "$accepted"
expect_eq "no unexpected outcome" "" "${odd[*]}"
check "the server is still serving" echoscu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT"
expect_eq "nothing archived" 0 "$(instances)"
c64=$(awk -F'\t' '$2 == "control" {print $3}' "$WORK/manifest")
expect_eq "control: a valid 64-character UID is accepted" status=0x0000 \
  "$("$PY" "$TOOLS/raw_scu.py" --port "$PORT" --calling CT1 store --sop-instance "$c64" --dataset "$WORK/ds/ok_64" 2>&1)"

# Hostile UIDs as query and retrieve keys.
final_status() {
  awk '/Message Type *:/ { rsp = ($0 ~ /C-(FIND|GET) RSP/) }
       rsp && /DIMSE Status *:/ { s = $0; sub(/.*DIMSE Status *: */, "", s); sub(/[^0-9a-fA-Fx].*/, "", s); last = s }
       END { print tolower(last) }' "$1"
}
i=0
for key in '../../../etc/passwd' '/etc/passwd' '..\..\x' '1.2.abc' '*' '?'; do
  i=$((i + 1))
  findscu -d -aet CT1 -aec TRESOR -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="$key" \
    127.0.0.1 "$PORT" >"$WORK/f$i.log" 2>&1
  st=$(final_status "$WORK/f$i.log")
  check "C-FIND StudyInstanceUID='$key': answered, no error crash (status ${st:-none})" test -n "$st"
  mkdir -p "$WORK/get$i"
  getscu -d -aet CT1 -aec TRESOR -S -od "$WORK/get$i" -k QueryRetrieveLevel=IMAGE \
    -k StudyInstanceUID="$key" -k SeriesInstanceUID="$key" -k SOPInstanceUID="$key" \
    127.0.0.1 "$PORT" >"$WORK/g$i.log" 2>&1
  expect_eq "C-GET with UID keys '$key': nothing delivered" 0 "$(find "$WORK/get$i" -type f | wc -l)"
done
for key in '../x' '/etc/passwd' "$DATA/index.db" '../../keys/ca.key'; do
  "$TRESOR" cat --data "$DATA" "$key" >"$WORK/cat.out" 2>"$WORK/cat.err"
  rc=$?
  check "tresor cat '$key' fails (exit $rc) and prints nothing" test "$rc" -ne 0 -a ! -s "$WORK/cat.out"
done

# Nothing outside the storage root.
check "the server's working directory is still empty" test -z "$(ls -A "$WORK/cwd")"
check_fails "no /abs or /tmp/tresor-s19-abs was created" \
  bash -c "find /abs /tmp/tresor-s19-abs -newer '$WORK/marker' 2>/dev/null | grep -q ."
check_fails "no file named 'x' or 'passwd' appeared near the data" \
  bash -c "find '$WORK' '$(dirname "$WORK")' -maxdepth 3 \\( -name x -o -name passwd -o -name '..*' \\) -newer '$WORK/marker' 2>/dev/null | grep -q ."
bad_names=$(find "$DATA/storage" -mindepth 1 -printf '%P\n' | grep -Ev '^(sealed|(blobs|staging)(/[0-9a-f]{2}(/[0-9a-f]{32})?)?)$' || true)
expect_eq "storage holds only server-named blobs" "" "$bad_names"
expect_eq "exactly one blob (the control)" 1 "$(find "$DATA/storage/blobs" -type f | wc -l)"
new_outside=$(find "$WORK" -newer "$WORK/marker" -type f ! -path "$DATA/*" ! -path "$WORK/ds/*" \
  ! -path "$WORK/get*" ! -name '*.log' ! -name '*.out' ! -name '*.err' ! -name manifest ! -name gen.py \
  ! -name serve.out ! -name server.log -printf '%P\n' || true)
expect_eq "no other new file in the test area" "" "$new_outside"
check "server still up" server_alive
stop_server
finish
