#!/usr/bin/env bash
# Retrieve: C-MOVE (study and patient root, every level, UID lists) to a registered
# storescp delivers exactly the requested instances with identical data set bytes; an
# unknown destination gets 0xA801 and no connection; C-GET of a series; a peer without
# the find/move/get grants is refused each; compressed objects are transcoded for a
# receiver that accepts only uncompressed syntaxes (pixel data equals the decompressed
# original); `tresor send` delivers a study and reports a destination that is down.
source "$(dirname "$0")/../lib.sh"
DS="$PY $ROOT/tests/tools/dataset_bytes.py"

echo "retrieve: C-MOVE, C-GET, grants, transcoding, tresor send"

# storescp processes started here; the trap ends them by their process ids.
SCP_PIDS=()
trap 'for p in "${SCP_PIDS[@]}"; do kill "$p" 2>/dev/null; done; cleanup' EXIT

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# start_scp NAME AE PORT: a bit-preserving storescp writing to $WORK/recv/NAME, log in
# $WORK/recv/NAME.log (-v, or $SCP_LOG).
start_scp() {
  mkdir -p "$WORK/recv/$1"
  storescp "${SCP_LOG:--v}" +B -od "$WORK/recv/$1" -aet "$2" "$3" >"$WORK/recv/$1.log" 2>&1 &
  SCP_PIDS+=($!)
  local pid=$!
  for _ in $(seq 1 50); do
    ss -ltn "sport = :$3" 2>/dev/null | grep -q LISTEN && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "storescp $1 did not start"; cat "$WORK/recv/$1.log"; return 1
}
# register_dest NAME AE PORT: a retrieve destination on loopback.
register_dest() {
  "$TRESOR" peer add "$1" --ae "$2" --host 127.0.0.1 --port "$3" --allow echo --data "$DATA" >/dev/null
}
# SOP Instance UIDs of the files in a directory, sorted, one per line.
sop_uids() {
  local f
  for f in "$1"/*; do
    [ -f "$f" ] || continue
    dcmdump -q +P 0008,0018 "$f" | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1
  done | sort
}
count_files() { find "$1" -type f | wc -l; }
# manifest_uids AWK-CONDITION: SOP UIDs of manifest rows matching ($2 patient id,
# $3 study, $4 series, $5 sop), sorted.
manifest_uids() { tail -n +2 "$CORPUS/manifest.tsv" | awk -F'\t' "$1 {print \$5}" | sort; }
# identical DIR: every file in DIR has the data set bytes (and transfer syntax) of the
# corpus file with its SOP Instance UID; prints the mismatches.
identical() {
  local f uid path bad=0
  for f in "$1"/*; do
    uid=$(dcmdump -q +P 0008,0018 "$f" | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1)
    path=$(awk -F'\t' -v u="$uid" '$5 == u {print $1}' "$CORPUS/manifest.tsv")
    if [ -z "$path" ] || [ "$($DS sha "$CORPUS/$path")" != "$($DS sha "$f")" ]; then
      echo "differs: $f"; bad=1
    fi
  done
  return $bad
}
# Status of the last C-FIND/C-MOVE/C-GET response in a findscu/movescu/getscu -d log
# (not the C-STORE responses getscu sends), e.g. 0x0000; empty if none arrived.
final_status() {
  awk '/Message Type *:/ { rsp = ($0 ~ /C-(FIND|MOVE|GET) RSP/) }
       rsp && /DIMSE Status *:/ { s = $0; sub(/.*DIMSE Status *: */, "", s); sub(/[^0-9a-fA-Fx].*/, "", s); last = s }
       END { print tolower(last) }' "$1"
}

# --- setup -------------------------------------------------------------------------
CORPUS=$WORK/corpus
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$CORPUS" --patients 3 --studies 2 \
  --series 2 --instances 5 >/dev/null
expect_eq "corpus has 60 instances" 60 "$(($(wc -l <"$CORPUS/manifest.tsv") - 1))"

init_data
sed -i 's/^fsync = true/fsync = false/' "$DATA/tresor.conf"  # disposable archive
start_server
add_peer ws WORKSTATION echo,store,find,move,get
add_peer mod MODALITY echo,store
check "storing the corpus succeeds" \
  storescu -aet WORKSTATION -aec TRESOR +sd +r +sp '*.dcm' 127.0.0.1 "$PORT" "$CORPUS"
expect_eq "index holds 60 instances" "instances: 60" "$("$TRESOR" stats --data "$DATA" | grep instances)"

DEST_PORT=$(free_port)
SCP_LOG=-d start_scp dest DEST "$DEST_PORT"
register_dest dest DEST "$DEST_PORT"

# The corpus rows used below.
row() { tail -n +2 "$CORPUS/manifest.tsv" | sed -n "${1}p"; }
STUDY=$(row 1 | cut -f3)
PATIENT2=$(row 21 | cut -f2)
SERIES=$(row 31 | cut -f4); SERIES_STUDY=$(row 31 | cut -f3)
IMG_STUDY=$(row 46 | cut -f3); IMG_SERIES=$(row 46 | cut -f4)
IMG_UIDS=$(tail -n +2 "$CORPUS/manifest.tsv" | awk -F'\t' -v s="$IMG_SERIES" '$4 == s {print $5}' | sed -n '1p;3p;5p' | paste -sd'\\')

# cmove NAME [movescu options] KEY=VALUE...: movescu as $MV_AET (WORKSTATION) to
# $MV_DEST (DEST); log in $WORK/NAME.log.
cmove() {
  local name=$1; shift
  local args=()
  while [ $# -gt 0 ]; do
    case $1 in -*) args+=("$1") ;; *) args+=(-k "$1") ;; esac; shift
  done
  movescu -d -aet "${MV_AET:-WORKSTATION}" -aec TRESOR -aem "${MV_DEST:-DEST}" "${args[@]}" \
    127.0.0.1 "$PORT" >"$WORK/$name.log" 2>&1
}
# pending_counts LOG: "remaining/completed/failed/warning" of each pending C-MOVE or C-GET
# response in a movescu/getscu -d log, one per line, in the order they arrived.
pending_counts() {
  awk '/Message Type *:/ { rsp = ($0 ~ /C-(MOVE|GET) RSP/); r = c = f = w = "" }
       rsp && /Remaining Suboperations/ { r = $NF }
       rsp && /Completed Suboperations/ { c = $NF }
       rsp && /Failed Suboperations/ { f = $NF }
       rsp && /Warning Suboperations/ { w = $NF }
       rsp && /DIMSE Status *: *0xff00/ { print r "/" c "/" f "/" w }' "$1"
}
# expected_pending N: what N successful sub-operations report while pending.
expected_pending() { local i; for ((i = 1; i < $1; i++)); do echo "$(($1 - i))/$i/0/0"; done; }
# fresh_dest: empty the destination directory between moves.
fresh_dest() { find "$WORK/recv/dest" -type f -delete; }

# --- 1. C-MOVE at every level ------------------------------------------------------
cmove study -S QueryRetrieveLevel=STUDY StudyInstanceUID="$STUDY"
expect_eq "study-level move: final status Success" 0x0000 "$(final_status "$WORK/study.log")"
manifest_uids "\$3 == \"$STUDY\"" >"$WORK/want"
sop_uids "$WORK/recv/dest" >"$WORK/got"
expect_eq "study-level move: 10 instances arrive" 10 "$(count_files "$WORK/recv/dest")"
check "study-level move: the SOP UIDs are exactly the study's" cmp "$WORK/want" "$WORK/got"
check "study-level move: every instance arrives with identical data set bytes" identical "$WORK/recv/dest"
check "study-level move: a pending response after each sub-operation but the last, counting down" \
  cmp <(expected_pending 10) <(pending_counts "$WORK/study.log")
check "the destination saw calling AE TRESOR, called AE DEST, move originator WORKSTATION" bash -c "
  grep -q 'Calling Application Name: *TRESOR\$' '$WORK/recv/dest.log' &&
  grep -q 'Called Application Name: *DEST\$' '$WORK/recv/dest.log' &&
  grep -q 'Move Originator AE Title *: *WORKSTATION\$' '$WORK/recv/dest.log'"
fresh_dest

cmove series -S QueryRetrieveLevel=SERIES StudyInstanceUID="$SERIES_STUDY" SeriesInstanceUID="$SERIES"
expect_eq "series-level move: final status Success" 0x0000 "$(final_status "$WORK/series.log")"
manifest_uids "\$4 == \"$SERIES\"" >"$WORK/want"
sop_uids "$WORK/recv/dest" >"$WORK/got"
check "series-level move: exactly the series' 5 instances arrive" cmp "$WORK/want" "$WORK/got"
check "series-level move: identical data set bytes" identical "$WORK/recv/dest"
fresh_dest

cmove image -S QueryRetrieveLevel=IMAGE StudyInstanceUID="$IMG_STUDY" SeriesInstanceUID="$IMG_SERIES" \
  SOPInstanceUID="$IMG_UIDS"
expect_eq "image-level move with a UID list: final status Success" 0x0000 "$(final_status "$WORK/image.log")"
tr '\\' '\n' <<<"$IMG_UIDS" | sort >"$WORK/want"
sop_uids "$WORK/recv/dest" >"$WORK/got"
check "image-level move: exactly the 3 listed instances arrive" cmp "$WORK/want" "$WORK/got"
check "image-level move: identical data set bytes" identical "$WORK/recv/dest"
fresh_dest

cmove patient -P QueryRetrieveLevel=PATIENT PatientID="$PATIENT2"
expect_eq "patient-root patient-level move: final status Success" 0x0000 "$(final_status "$WORK/patient.log")"
manifest_uids "\$2 == \"$PATIENT2\"" >"$WORK/want"
sop_uids "$WORK/recv/dest" >"$WORK/got"
expect_eq "patient-level move: 20 instances arrive" 20 "$(count_files "$WORK/recv/dest")"
check "patient-level move: exactly the patient's instances arrive" cmp "$WORK/want" "$WORK/got"
check "patient-level move: identical data set bytes" identical "$WORK/recv/dest"
fresh_dest

# A retrieve without the unique key of its level is refused, nothing is sent.
cmove nokey -S QueryRetrieveLevel=SERIES StudyInstanceUID="$SERIES_STUDY"
st=$(final_status "$WORK/nokey.log")
check "series-level move without SeriesInstanceUID is refused ($st)" test -n "$st" -a "$st" != 0x0000 -a "$st" != 0xff00
expect_eq "... and nothing arrives" 0 "$(count_files "$WORK/recv/dest")"

# --- 2. unknown destination ----------------------------------------------------------
ROGUE_PORT=$(free_port)
start_scp rogue ROGUE "$ROGUE_PORT"
MV_DEST=ROGUE cmove unknown -S QueryRetrieveLevel=STUDY StudyInstanceUID="$STUDY"
expect_eq "move to an unregistered AE: final status 0xa801" 0xa801 "$(final_status "$WORK/unknown.log")"
check "Tresor logs the refusal and no outbound association to ROGUE" \
  bash -c "grep -q 'C-MOVE from .*refused' '$LOG' && ! grep -q 'to ROGUE at' '$LOG'"
expect_eq "the storescp listening as ROGUE receives nothing" 0 "$(count_files "$WORK/recv/rogue")"
check "the ROGUE storescp saw no association" bash -c "! grep -qi 'association' '$WORK/recv/rogue.log'"

# --- 3. C-GET of a series ------------------------------------------------------------
mkdir -p "$WORK/get"
getscu -d -aet WORKSTATION -aec TRESOR -S -od "$WORK/get" -k QueryRetrieveLevel=SERIES \
  -k StudyInstanceUID="$SERIES_STUDY" -k SeriesInstanceUID="$SERIES" 127.0.0.1 "$PORT" >"$WORK/get.log" 2>&1
expect_eq "series-level get: final status Success" 0x0000 "$(final_status "$WORK/get.log")"
manifest_uids "\$4 == \"$SERIES\"" >"$WORK/want"
sop_uids "$WORK/get" >"$WORK/got"
check "series-level get: exactly the series' 5 instances arrive" cmp "$WORK/want" "$WORK/got"
check "series-level get: a pending response after each sub-operation but the last, counting down" \
  cmp <(expected_pending 5) <(pending_counts "$WORK/get.log")
check "series-level get: identical data set bytes" identical "$WORK/get"

# --- 4. a peer with only echo,store ----------------------------------------------------
findscu -d -aet MODALITY -aec TRESOR -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID \
  127.0.0.1 "$PORT" >"$WORK/nofind.log" 2>&1
expect_eq "C-FIND without the find grant: status 0x0124" 0x0124 "$(final_status "$WORK/nofind.log")"
check "... no study is returned" bash -c "! grep -q 'Find Response: 1 (Pending)' '$WORK/nofind.log'"
MV_AET=MODALITY cmove nomove -S QueryRetrieveLevel=STUDY StudyInstanceUID="$STUDY"
expect_eq "C-MOVE without the move grant: status 0x0124" 0x0124 "$(final_status "$WORK/nomove.log")"
expect_eq "... nothing arrives at the destination" 0 "$(count_files "$WORK/recv/dest")"
mkdir -p "$WORK/noget"
getscu -d -aet MODALITY -aec TRESOR -S -od "$WORK/noget" -k QueryRetrieveLevel=SERIES \
  -k StudyInstanceUID="$SERIES_STUDY" -k SeriesInstanceUID="$SERIES" 127.0.0.1 "$PORT" >"$WORK/noget.log" 2>&1
expect_eq "C-GET without the get grant: status 0x0124" 0x0124 "$(final_status "$WORK/noget.log")"
expect_eq "... nothing is delivered" 0 "$(count_files "$WORK/noget")"
expect_eq "Tresor logs the three refusals for MODALITY" 3 \
  "$(grep -E 'C-(FIND|MOVE|GET).*MODALITY.*(lacks the|not granted|refused)' "$LOG" | wc -l)"

# --- 5. transcoding for a receiver that accepts only uncompressed syntaxes -----------
# Copies of pydicom's compressed test files with fresh SOP Instance UIDs (same transfer
# syntax), and DCMTK-decompressed references of them. The JPEG 2000 copy, which no codec
# here can decode, also gets a study of its own.
PYDATA=$("$PY" -c 'import pydicom.data,os;print(os.path.dirname(pydicom.data.__file__))')/test_files
mkdir -p "$WORK/tc/in" "$WORK/tc/plain" "$WORK/tc/j2k"
uid_of() { dcmdump -q +P "$1" "$2" | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -1; }
n=0 tc_ok=0
while read -r name file decoder; do
  n=$((n + 1))
  [ -f "$PYDATA/$file" ] || { echo "  (missing: $file)"; continue; }
  cp "$PYDATA/$file" "$WORK/tc/in/$name.dcm"
  dcmodify -nb -m "(0008,0018)=2.25.$((424242000 + n))" "$WORK/tc/in/$name.dcm" >/dev/null 2>&1
  before=$($DS sha "$PYDATA/$file" | cut -f2); after=$($DS sha "$WORK/tc/in/$name.dcm" | cut -f2)
  if [ "$before" = "$after" ] && [ "$(uid_of 0008,0018 "$WORK/tc/in/$name.dcm")" = "2.25.$((424242000 + n))" ] &&
     "$decoder" "$WORK/tc/in/$name.dcm" "$WORK/tc/plain/$name.dcm" >/dev/null 2>&1; then
    tc_ok=$((tc_ok + 1))
  else
    echo "  preparing $file failed (transfer syntax $before -> $after)"
  fi
done <<'EOF'
rle MR_small_RLE.dcm dcmdrle
jls MR_small_jpeg_ls_lossless.dcm dcmdjpls
jpl SC_rgb_jpeg_gdcm.dcm dcmdjpeg
EOF
expect_eq "RLE, JPEG-LS and JPEG lossless copies keep their transfer syntax and decompress" 3 "$tc_ok"
cp "$PYDATA/MR_small_jp2klossless.dcm" "$WORK/tc/j2k/j2k.dcm"
dcmodify -nb -m "(0008,0018)=2.25.424242009" -m "(0020,000d)=2.25.424242019" \
  -m "(0020,000e)=2.25.424242029" "$WORK/tc/j2k/j2k.dcm" >/dev/null 2>&1
expect_eq "the JPEG 2000 copy keeps its transfer syntax" 1.2.840.10008.1.2.4.90 "$($DS sha "$WORK/tc/j2k/j2k.dcm" | cut -f2)"
check "tresor import stores the compressed copies" "$TRESOR" import --data "$DATA" "$WORK/tc/in" "$WORK/tc/j2k"

# pixels_match DIR: DIR holds exactly the 3 transcoded objects, each in little endian
# explicit or implicit VR, with native (not encapsulated) pixel data equal to the
# DCMTK-decompressed copy's; prints what differs.
cat >"$WORK/pixels.py" <<'EOF'
import os, sys, pydicom
plain = {}
for n in os.listdir(sys.argv[1]):
    ds = pydicom.dcmread(os.path.join(sys.argv[1], n))
    plain[str(ds.SOPInstanceUID)] = (n, ds)
bad, seen = 0, set()
for n in sorted(os.listdir(sys.argv[2])):
    ds = pydicom.dcmread(os.path.join(sys.argv[2], n))
    uid, ts = str(ds.SOPInstanceUID), str(ds.file_meta.TransferSyntaxUID)
    name, ref = plain.get(uid, (None, None))
    if ref is None:
        print("unexpected instance", uid); bad += 1; continue
    seen.add(uid)
    if ts not in ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2"):
        print(name, "arrived in", ts); bad += 1
    a, b = ref.PixelData, ds.PixelData
    if b[:4] == b"\xfe\xff\x00\xe0":
        print(name, "arrived labelled", ts, "but its pixel data is still encapsulated "
              "(%d bytes, want %d native)" % (len(b), len(a))); bad += 1; continue
    if a.ljust(len(a) + len(a) % 2, b"\0") != b.ljust(len(b) + len(b) % 2, b"\0"):
        print(name, "pixel data differs:", len(b), "bytes, want", len(a)); bad += 1
    for kw in ("PhotometricInterpretation", "PlanarConfiguration", "BitsStored", "Rows"):
        if kw in ref and ref.get(kw) != ds.get(kw):
            print(name, kw, ds.get(kw), "want", ref.get(kw)); bad += 1
for uid in set(plain) - seen:
    print("missing", plain[uid][0]); bad += 1
sys.exit(1 if bad else 0)
EOF
pixels_match() { "$PY" "$WORK/pixels.py" "$WORK/tc/plain" "$1"; }
TC_STUDIES=$(for f in "$WORK"/tc/in/*.dcm; do uid_of 0020,000d "$f"; done | sort -u | paste -sd'\\')

cmove transcode -S QueryRetrieveLevel=STUDY StudyInstanceUID="$TC_STUDIES"
expect_eq "move of the compressed objects' studies: final status Success" 0x0000 "$(final_status "$WORK/transcode.log")"
check "C-MOVE: each arrives uncompressed with the decompressed pixel data" pixels_match "$WORK/recv/dest"
fresh_dest

mkdir -p "$WORK/tcget"
getscu -d -aet WORKSTATION -aec TRESOR -S -od "$WORK/tcget" -k QueryRetrieveLevel=STUDY \
  -k StudyInstanceUID="$TC_STUDIES" 127.0.0.1 "$PORT" >"$WORK/tcget.log" 2>&1
expect_eq "get of the compressed objects' studies: final status Success" 0x0000 "$(final_status "$WORK/tcget.log")"
check "C-GET: each arrives uncompressed with the decompressed pixel data" pixels_match "$WORK/tcget"

"$TRESOR" send --to dest --data "$DATA" $(tr '\\' ' ' <<<"$TC_STUDIES") >"$WORK/tcsend.out" 2>&1
expect_eq "tresor send of the compressed objects exits 0" 0 $?
check "tresor send: each arrives uncompressed with the decompressed pixel data" pixels_match "$WORK/recv/dest"
fresh_dest

# JPEG 2000 cannot be decoded: the sub-operation fails (final 0xB000 listing the UID)
# and nothing reaches the receiver.
cmove j2k -S QueryRetrieveLevel=STUDY StudyInstanceUID=2.25.424242019
expect_eq "move of an undecodable JPEG 2000 object: final status 0xb000" 0xb000 "$(final_status "$WORK/j2k.log")"
check "... the final response lists it as failed" grep -q '2\.25\.424242009' "$WORK/j2k.log"
expect_eq "... nothing arrives" 0 "$(count_files "$WORK/recv/dest")"
fresh_dest

# --- 6. tresor send --------------------------------------------------------------------
"$TRESOR" send --to dest --data "$DATA" "$STUDY" >"$WORK/send.out" 2>&1
expect_eq "tresor send of a study exits 0" 0 $?
expect_eq "tresor send prints one 'sent' line per instance" 10 "$(grep -c '^sent ' "$WORK/send.out")"
check "tresor send prints the summary" grep -q '^send: 10 sent, 0 failed' "$WORK/send.out"
manifest_uids "\$3 == \"$STUDY\"" >"$WORK/want"
sop_uids "$WORK/recv/dest" >"$WORK/got"
check "tresor send: exactly the study's 10 instances arrive" cmp "$WORK/want" "$WORK/got"
check "tresor send: every delivered instance has identical data set bytes" identical "$WORK/recv/dest"
fresh_dest

DOWN_PORT=$(free_port)
register_dest down DOWN "$DOWN_PORT"
# Bounded by a generous 120 s: a hang would exit 124 instead of 1.
timeout 120 "$TRESOR" send --to down --retries 1 --data "$DATA" "$STUDY" >"$WORK/down.out" 2>&1
expect_eq "tresor send to a destination that is down gives up and exits 1" 1 $?
expect_eq "... prints a 'failed UID: reason' line per instance" 10 "$(grep -c '^failed 2\.25\.[0-9]*: .' "$WORK/down.out")"
check "... prints the summary with 10 failed" grep -q '^send: 0 sent, 10 failed' "$WORK/down.out"
check "... retries once (--retries 1), not more" bash -c "grep -q 'attempt 2' '$WORK/down.out' && ! grep -q 'attempt 3' '$WORK/down.out'"

# --- 7. still serving ---------------------------------------------------------------------
check "server still up" server_alive
check "echoscu succeeds" echoscu -aet WORKSTATION -aec TRESOR 127.0.0.1 "$PORT"
stop_server
finish
