#!/usr/bin/env bash
# DICOMweb with a third-party client: npm `dicomweb-client` (the library OHIF uses), run
# with node against the real `tresor serve` over HTTPS (the project CA through
# NODE_EXTRA_CA_CERTS, bearer tokens through the client's `headers` option). On a
# generated corpus (names in Latin, Greek, Cyrillic and Japanese) every answer is checked
# against its manifest: QIDO at every level with every matching kind, WADO-RS instances
# byte for byte, frames of uncompressed, RLE, JPEG-LS and JPEG-lossless objects (stored
# fragments with `*`, decoded pixels with explicit little endian), metadata, bulkdata,
# rendered and thumbnail, WADO-URI, STOW-RS of 100 instances then QIDO.
# The checks themselves are tests/tools/dicomweb_client_check.js (one line each).
source "$(dirname "$0")/../lib.sh"

echo "DICOMweb: npm dicomweb-client against tresor serve"
NODE_MODULES=$("$ROOT/scripts/install-node-deps") || { fail "node packages install (scripts/install-node-deps)"; finish; exit 1; }
pass "dicomweb-client $(node -p "require('$NODE_MODULES/dicomweb-client/package.json').version") installed ($NODE_MODULES)"

gen() { "$PY" "$ROOT/tests/tools/make_studies.py" "$@" >/dev/null; }
ROWS=32 COLS=32
check "corpus: 10 patients x 2 studies x 2 series x 2 instances, mixed character sets" \
  gen --out "$WORK/corpus" --patients 10 --studies 2 --series 2 --instances 2 --rows $ROWS --cols $COLS
check "STOW corpus: 100 instances of one study" \
  gen --out "$WORK/stow" --seed 7 --patients 1 --studies 1 --series 2 --instances 50 --rows 16 --cols 16
# Multi-frame CTs (4 frames of 64x64, 16-bit), one per transfer syntax.
mkdir -p "$WORK/mf"
for s in 3 4 5 6; do
  gen --out "$WORK/mf/gen$s" --seed "$s" --patients 1 --frames 4 --rows 64 --cols 64 --modalities CT
done
mf() { awk -F'\t' 'NR == 2 {print $1}' "$WORK/mf/gen$1/manifest.tsv"; }
cp "$WORK/mf/gen3/$(mf 3)" "$WORK/mf/native.dcm"
check "RLE copy (dcmcrle)" dcmcrle "$WORK/mf/gen4/$(mf 4)" "$WORK/mf/rle.dcm"
check "JPEG-LS lossless copy (dcmcjpls)" dcmcjpls "$WORK/mf/gen5/$(mf 5)" "$WORK/mf/jpls.dcm"
check "JPEG lossless SV1 copy (dcmcjpeg +e1)" dcmcjpeg +e1 "$WORK/mf/gen6/$(mf 6)" "$WORK/mf/jpll.dcm"
# Expected frames: as stored (fragments) and decoded (DCMTK's decoders, then the raw frame).
frames_json=
for kind in native rle jpls jpll; do
  f=$WORK/mf/$kind.dcm d=$WORK/mf/$kind.frames
  case $kind in
    native) cp "$f" "$WORK/mf/$kind.dec.dcm" ;;
    rle) dcmdrle "$f" "$WORK/mf/$kind.dec.dcm" ;;
    jpls) dcmdjpls "$f" "$WORK/mf/$kind.dec.dcm" ;;
    jpll) dcmdjpeg "$f" "$WORK/mf/$kind.dec.dcm" ;;
  esac
  n=$("$PY" "$ROOT/tests/tools/frame_bytes.py" "$f" "$d" stored) &&
    "$PY" "$ROOT/tests/tools/frame_bytes.py" "$WORK/mf/$kind.dec.dcm" "$d" raw >/dev/null ||
    { fail "expected frames of $kind"; continue; }
  read -r study series sop ts < <("$PY" - "$f" <<'PY'
import sys, pydicom
ds = pydicom.dcmread(sys.argv[1], stop_before_pixels=True)
print(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.file_meta.TransferSyntaxUID)
PY
)
  frames_json+="${frames_json:+,}{\"label\":\"a $n-frame $kind CT ($ts)\",\"study\":\"$study\",\"series\":\"$series\",\"sop\":\"$sop\",\"ts\":\"$ts\",\"count\":$n,\"dir\":\"$d\"}"
done

init_data
mapfile -t files < <(find "$WORK/corpus" -name '*.dcm' | sort)
check "tresor import of the corpus and the multi-frame objects" \
  "$TRESOR" import --data "$DATA" "${files[@]}" "$WORK/mf/native.dcm" "$WORK/mf/rle.dcm" "$WORK/mf/jpls.dcm" "$WORK/mf/jpll.dcm"
# What Tresor stored, as `tresor cat` writes it, and the stored pixel data of each instance.
mkdir -p "$WORK/stored" "$WORK/pixels"
while IFS=$'\t' read -r _ _ _ _ sop _; do
  "$TRESOR" cat "$sop" --data "$DATA" >"$WORK/stored/$sop.dcm" 2>>"$WORK/cat.err" || echo "cat $sop failed" >>"$WORK/cat.err"
done < <(tail -n +2 "$WORK/corpus/manifest.tsv")
"$PY" "$ROOT/tests/tools/frame_bytes.py" --pixel-data "$WORK/pixels" "${files[@]}" || echo "pixel data" >>"$WORK/cat.err"
check "tresor cat of every instance" test ! -s "$WORK/cat.err"

start_server || { fail "server starts"; finish; exit 1; }
echo "correct horse battery" | "$TRESOR" user add reader --role radiologist --groups all --password-stdin --data "$DATA" >/dev/null
echo "correct horse battery" | "$TRESOR" user add tech --role technologist --groups all --password-stdin --data "$DATA" >/dev/null
token() {
  curl -s --cacert "$DATA/keys/ca.pem" "https://127.0.0.1:$HTTPS_PORT/auth/token" \
    -H 'Content-Type: application/json' -d "{\"username\":\"$1\",\"password\":\"correct horse battery\"}" |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
READER=$(token reader) TECH=$(token tech)
check "bearer tokens for a radiologist and a technologist" test -n "$READER" -a -n "$TECH"

cat >"$WORK/config.json" <<EOF
{ "url": "https://127.0.0.1:$HTTPS_PORT/dicom-web", "token": "$READER", "storeToken": "$TECH",
  "corpus": "$WORK/corpus", "stored": "$WORK/stored", "pixels": "$WORK/pixels",
  "rows": $ROWS, "cols": $COLS, "frames": [ $frames_json ], "stow": "$WORK/stow",
  "alsoStored": [ "$WORK/mf/gen3", "$WORK/mf/gen4", "$WORK/mf/gen5", "$WORK/mf/gen6" ] }
EOF
NODE_PATH=$NODE_MODULES NODE_EXTRA_CA_CERTS=$DATA/keys/ca.pem timeout 300 \
  node "$ROOT/tests/tools/dicomweb_client_check.js" "$WORK/config.json" >"$WORK/node.out" 2>"$WORK/node.err"
rc=$?
while IFS= read -r line; do
  case $line in
    "ok   "*) pass "${line#ok   }" ;;
    "FAIL "*) fail "${line#FAIL }" ;;
  esac
done <"$WORK/node.out"
grep -q '^dicomweb-client checks:' "$WORK/node.out" || { fail "the node checks ran to the end (exit $rc)"; tail -5 "$WORK/node.err"; }
check "server still up" server_alive
check_fails "the server log carries no patient names" grep -qE 'Bäcker|Δημητρίου|Волков|Tanaka' "$LOG"
stop_server
finish
