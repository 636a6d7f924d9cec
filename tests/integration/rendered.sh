#!/usr/bin/env bash
# WADO-RS rendered and thumbnail resources and WADO-URI against the real binary, with curl.
# Reference pixels come from tests/tools/render_check.py (pydicom, the PS3.3 formulas):
# modality LUT, then LINEAR VOI, rounded; tolerance: 1 grey level (rounding only).
# Every refusal is followed by a request that must succeed.
source "$(dirname "$0")/../lib.sh"

echo "rendered: rendered, thumbnail and WADO-URI"
TOL=1
RC=$ROOT/tests/tools/render_check.py
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$WORK/corpus" --patients 1 --series 1 \
  --instances 3 --rows 512 --cols 512 --bits 16 --modalities CT >/dev/null ||
  { fail "make_studies"; finish; exit 1; }
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$WORK/multi" --patients 1 --rows 64 --cols 64 \
  --frames 3 --seed 2 --modalities CT >/dev/null || { fail "make_studies --frames"; finish; exit 1; }
read -r CT_PATH _ STUDY SERIES SOP _ < <(sed -n 2p "$WORK/corpus/manifest.tsv")
read -r _ _ MF_STUDY MF_SERIES MF_SOP _ < <(sed -n 2p "$WORK/multi/manifest.tsv")
CT=$WORK/corpus/$CT_PATH
mkdir -p "$WORK/variants"
"$PY" "$RC" variants "$CT" "$WORK/variants" >"$WORK/variants.txt" || { fail "variants"; finish; exit 1; }
read -r _ _ M1_SERIES M1_SOP < <(grep '^mono1 ' "$WORK/variants.txt")
read -r _ _ BIG_SERIES BIG_SOP < <(grep '^overcap ' "$WORK/variants.txt")

# pydicom's test files: RGB, YBR_FULL_422, signed 16-bit (RLE), JPEG baseline, JPEG 2000.
SAMPLES=$("$PY" -c 'import pydicom.data,os;print(os.path.join(os.path.dirname(pydicom.data.__file__),"test_files"))')
mkdir -p "$WORK/samples"
for f in SC_rgb_small_odd SC_ybr_full_422_uncompressed MR_small_RLE SC_rgb_jpeg_dcmtk JPEG2000; do
  cp "$SAMPLES/$f.dcm" "$WORK/samples/"
done
uids() { "$PY" -c 'import pydicom,sys; d=pydicom.dcmread(sys.argv[1]); print(d.StudyInstanceUID, d.SeriesInstanceUID, d.SOPInstanceUID)' "$1"; }
sample_url() {
  local st se so
  read -r st se so < <(uids "$WORK/samples/$1.dcm")
  echo "$BASE/dicom-web/studies/$st/series/$se/instances/$so"
}

init_data || { fail "init"; finish; exit 1; }
ADMIN_PW=$(sed -n 's/.*store it safely): //p' "$WORK/init.out" | head -1)
"$TRESOR" import --data "$DATA" "$WORK/corpus" "$WORK/variants" "$WORK/samples" "$WORK/multi" \
  >"$WORK/import.out" 2>&1
check "import the CT series, the variants, the samples and an Enhanced CT" \
  grep -q "11 stored" "$WORK/import.out"
echo "an outsider password" | "$TRESOR" user add outsider --role radiologist --groups none \
  --password-stdin --data "$DATA" >/dev/null
start_server || { fail "server start"; finish; exit 1; }

BASE=https://127.0.0.1:$HTTPS_PORT
CA=$DATA/keys/ca.pem
N=0
# req ARGS...: one curl request; sets CODE, BODY (file), HEADERS (file).
req() {
  N=$((N + 1))
  BODY=$WORK/body.$N
  HEADERS=$WORK/headers.$N
  CODE=$(curl -sS --max-time 30 --cacert "$CA" -o "$BODY" -D "$HEADERS" -w '%{http_code}' "$@" \
    2>"$WORK/curl.err.$N")
}
header() { grep -i "^$1:" "$HEADERS" | head -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
token() {
  local json
  json=$("$PY" -c 'import json,sys; print(json.dumps({"username":sys.argv[1],"password":sys.argv[2]}))' "$1" "$2")
  curl -sS --cacert "$CA" -H "Content-Type: application/json" --data "$json" "$BASE/auth/token" |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
TOKEN=$(token admin "$ADMIN_PW")
OUTSIDER=$(token outsider "an outsider password")
AUTH=(-H "Authorization: Bearer $TOKEN")
INST=$BASE/dicom-web/studies/$STUDY/series/$SERIES/instances/$SOP

# Rendered PNG of the 16-bit CT: the object's window.
req "${AUTH[@]}" -H "Accept: image/png" "$INST/rendered"
expect_eq "rendered PNG of the 512x512 16-bit CT" 200 "$CODE"
expect_eq "rendered PNG content type" image/png "$(header Content-Type)"
DIFF=$("$PY" "$RC" compare "$CT" "$BODY" 2>&1)
check "PNG equals the reference with the object's window (max diff $DIFF <= $TOL)" \
  test "$DIFF" -le "$TOL" 2>/dev/null
ORIG_PNG=$BODY

# The window parameter (soft tissue) wins over the object's.
req "${AUTH[@]}" -H "Accept: image/png" "$INST/rendered?window=40,400,linear"
expect_eq "rendered with window=40,400,linear" 200 "$CODE"
DIFF=$("$PY" "$RC" compare "$CT" "$BODY" --window 40,400 2>&1)
check "PNG equals the reference with window=40,400 (max diff $DIFF <= $TOL)" \
  test "$DIFF" -le "$TOL" 2>/dev/null
req "${AUTH[@]}" -H "Accept: image/png" "$INST/rendered?window=40"
expect_eq "a window without width is 400" 400 "$CODE"
req "${AUTH[@]}" -H "Accept: image/png" "$INST/rendered?window=40,400,sigmoid"
expect_eq "then window=40,400,sigmoid renders" 200 "$CODE"

# MONOCHROME1: the same pixels display inverted.
req "${AUTH[@]}" -H "Accept: image/png" \
  "$BASE/dicom-web/studies/$STUDY/series/$M1_SERIES/instances/$M1_SOP/rendered"
expect_eq "rendered MONOCHROME1" 200 "$CODE"
DIFF=$("$PY" "$RC" compare "$WORK/variants/mono1.dcm" "$BODY" --invert 2>&1)
check "MONOCHROME1 equals the inverted reference (max diff $DIFF <= $TOL)" \
  test "$DIFF" -le "$TOL" 2>/dev/null
check "MONOCHROME1 is exactly the inverse of the MONOCHROME2 rendering" \
  test "$("$PY" "$RC" pngdiff "$ORIG_PNG" "$BODY")" = 0

# JPEG by default, for image/jpeg and for */*.
for accept in "" "image/jpeg" "*/*" "image/*" "image/png;q=0.5, image/jpeg"; do
  req "${AUTH[@]}" ${accept:+-H "Accept: $accept"} "$INST/rendered?quality=80"
  expect_eq "rendered with Accept '${accept:-none}'" "200 image/jpeg" "$CODE $(header Content-Type)"
done
expect_eq "the JPEG decodes to 512x512" 512x512 "$("$PY" "$RC" jpegsize "$BODY" 2>&1)"
req "${AUTH[@]}" "$INST/frames/1/rendered?viewport=256,128"
expect_eq "frame 1 rendered into a 256x128 viewport" 200 "$CODE"
expect_eq "the viewport keeps the aspect ratio" 128x128 "$("$PY" "$RC" jpegsize "$BODY" 2>&1)"
req "${AUTH[@]}" "$INST/frames/2/rendered"
expect_eq "frame 2 of a single-frame object is 400" 400 "$CODE"
MF=$BASE/dicom-web/studies/$MF_STUDY/series/$MF_SERIES/instances/$MF_SOP
req "${AUTH[@]}" "$MF/frames/3/rendered"
expect_eq "frame 3 of a 3-frame Enhanced CT" "200 64x64" "$CODE $("$PY" "$RC" jpegsize "$BODY" 2>&1)"
req "${AUTH[@]}" "$MF/frames/4/rendered"
expect_eq "frame 4 of it is 400" 400 "$CODE"
req "${AUTH[@]}" "$MF/frames/1,2/rendered"
expect_eq "a frame list is 400 (one frame per rendered request)" 400 "$CODE"
req "${AUTH[@]}" -H "Accept: image/png" "$MF/frames/2/rendered"
expect_eq "then frame 2 as PNG" "200 64x64" "$CODE $("$PY" "$RC" pngsize "$BODY" 2>&1)"

# Negotiation: image/gif is not available.
req "${AUTH[@]}" -H "Accept: image/gif" "$INST/rendered"
expect_eq "Accept: image/gif is 406" 406 "$CODE"
req "${AUTH[@]}" -H "Accept: image/gif, image/png;q=0.2" "$INST/rendered"
expect_eq "then image/gif with image/png as a fallback is PNG" "200 image/png" \
  "$CODE $(header Content-Type)"

# Thumbnails: fitted into 128x128.
req "${AUTH[@]}" "$INST/thumbnail"
expect_eq "instance thumbnail" 200 "$CODE"
expect_eq "instance thumbnail is 128x128" 128x128 "$("$PY" "$RC" jpegsize "$BODY" 2>&1)"
req "${AUTH[@]}" -H "Accept: image/png" "$BASE/dicom-web/studies/$STUDY/series/$SERIES/thumbnail"
expect_eq "series thumbnail (PNG)" "200 128x128" "$CODE $("$PY" "$RC" pngsize "$BODY" 2>&1)"
req "${AUTH[@]}" "$BASE/dicom-web/studies/$STUDY/thumbnail?viewport=64,64"
expect_eq "study thumbnail with viewport=64,64" "200 64x64" \
  "$CODE $("$PY" "$RC" jpegsize "$BODY" 2>&1)"

# Unknown and out of scope look alike.
req "${AUTH[@]}" "$BASE/dicom-web/studies/$STUDY/series/$SERIES/instances/1.2.3.4.5.6/rendered"
expect_eq "unknown instance is 404" 404 "$CODE"
UNKNOWN_BODY=$(cat "$BODY")
req -H "Authorization: Bearer $OUTSIDER" "$INST/rendered"
expect_eq "out-of-scope instance is 404" 404 "$CODE"
expect_eq "out of scope answers like unknown" "$UNKNOWN_BODY" "$(cat "$BODY")"
req -H "Authorization: Bearer $OUTSIDER" "$BASE/dicom-web/studies/$STUDY/thumbnail"
expect_eq "out-of-scope study thumbnail is 404" 404 "$CODE"
req "$INST/rendered"
expect_eq "without credentials 401" 401 "$CODE"
req "${AUTH[@]}" "$INST/rendered"
expect_eq "then the instance renders" 200 "$CODE"

# pydicom's samples: color conversions, signed pixels through the RLE codec.
req "${AUTH[@]}" -H "Accept: image/png" "$(sample_url SC_rgb_small_odd)/rendered"
DIFF=$("$PY" "$RC" color "$WORK/samples/SC_rgb_small_odd.dcm" "$BODY" 2>&1)
check "RGB renders its own pixels (code $CODE, max diff $DIFF = 0)" test "$CODE" = 200 -a "$DIFF" = 0
req "${AUTH[@]}" -H "Accept: image/png" "$(sample_url SC_ybr_full_422_uncompressed)/rendered"
DIFF=$("$PY" "$RC" color "$WORK/samples/SC_ybr_full_422_uncompressed.dcm" "$BODY" 2>&1)
check "YBR_FULL_422 renders as RGB (code $CODE, max diff $DIFF <= 2)" \
  test "$CODE" = 200 -a "$DIFF" -le 2 2>/dev/null
req "${AUTH[@]}" -H "Accept: image/png" "$(sample_url MR_small_RLE)/rendered"
DIFF=$("$PY" "$RC" compare "$SAMPLES/MR_small.dcm" "$BODY" 2>&1)
check "signed 16-bit MR (RLE) equals the reference of its uncompressed twin (code $CODE, max diff $DIFF <= $TOL)" \
  test "$CODE" = 200 -a "$DIFF" -le "$TOL" 2>/dev/null
req "${AUTH[@]}" "$(sample_url SC_rgb_jpeg_dcmtk)/rendered"
expect_eq "JPEG baseline YBR_FULL renders" "200 100x100" "$CODE $("$PY" "$RC" jpegsize "$BODY" 2>&1)"
req "${AUTH[@]}" "$(sample_url JPEG2000)/rendered"
expect_eq "JPEG 2000 (no decoder here) is 406" 406 "$CODE"
req "${AUTH[@]}" "$(sample_url MR_small_RLE)/thumbnail"
expect_eq "then the MR thumbnail is 64x64 (never enlarged)" "200 64x64" \
  "$CODE $("$PY" "$RC" jpegsize "$BODY" 2>&1)"

# An object declaring more pixels than the render limit: refused before decoding.
req "${AUTH[@]}" "$BASE/dicom-web/studies/$STUDY/series/$BIG_SERIES/instances/$BIG_SOP/rendered"
expect_eq "over-cap object is 413" 413 "$CODE"
check "with a clear message" grep -q "more than the render limit" "$BODY"
check "the server is still up" server_alive

# WADO-URI.
WADO="$BASE/dicom-web/wado?requestType=WADO&studyUID=$STUDY&seriesUID=$SERIES&objectUID=$SOP"
req "${AUTH[@]}" "$WADO&contentType=application/dicom"
expect_eq "WADO-URI application/dicom" "200 application/dicom" "$CODE $(header Content-Type)"
expect_eq "WADO-URI returns the stored data set byte for byte" \
  "$("$PY" "$ROOT/tests/tools/dataset_bytes.py" sha "$CT")" \
  "$("$PY" "$ROOT/tests/tools/dataset_bytes.py" sha "$BODY" 2>&1)"
tsof() { "$PY" "$ROOT/tests/tools/dataset_bytes.py" sha "$1" 2>&1 | cut -f2; }
req "${AUTH[@]}" "$WADO&contentType=application/dicom&transferSyntax=1.2.840.10008.1.2.4.70"
expect_eq "WADO-URI transcodes to JPEG lossless on request" "200 1.2.840.10008.1.2.4.70" \
  "$CODE $(tsof "$BODY")"
read -r RLE_ST RLE_SE RLE_SO < <(uids "$WORK/samples/MR_small_RLE.dcm")
RLE_WADO="$BASE/dicom-web/wado?requestType=WADO&studyUID=$RLE_ST&seriesUID=$RLE_SE&objectUID=$RLE_SO&contentType=application/dicom"
req "${AUTH[@]}" "$RLE_WADO"
expect_eq "WADO-URI of an RLE object defaults to Explicit VR Little Endian" \
  "200 1.2.840.10008.1.2.1" "$CODE $(tsof "$BODY")"
req "${AUTH[@]}" "$RLE_WADO&transferSyntax=*"
expect_eq "WADO-URI transferSyntax=* is the stored RLE data set" \
  "$("$PY" "$ROOT/tests/tools/dataset_bytes.py" sha "$WORK/samples/MR_small_RLE.dcm")" \
  "$("$PY" "$ROOT/tests/tools/dataset_bytes.py" sha "$BODY" 2>&1)"
read -r J2K_ST J2K_SE J2K_SO < <(uids "$WORK/samples/JPEG2000.dcm")
req "${AUTH[@]}" "$BASE/dicom-web/wado?requestType=WADO&studyUID=$J2K_ST&seriesUID=$J2K_SE&objectUID=$J2K_SO&contentType=application/dicom&transferSyntax=1.2.840.10008.1.2.1"
expect_eq "WADO-URI JPEG 2000 to explicit little endian is 406 (no decoder here)" 406 "$CODE"
req "${AUTH[@]}" "$WADO&contentType=application/dicom&transferSyntax=not-a-uid"
expect_eq "WADO-URI with a malformed transferSyntax is 400" 400 "$CODE"
req "${AUTH[@]}" "$WADO&contentType=application%2Fdicom&transferSyntax=1.2.840.10008.1.2.1"
expect_eq "then the URL cornerstone's wadouri loader builds (explicit little endian) is 200" \
  "200 application/dicom" "$CODE $(header Content-Type)"
req "${AUTH[@]}" "$WADO&contentType=image/jpeg"
expect_eq "WADO-URI image/jpeg" "200 image/jpeg" "$CODE $(header Content-Type)"
expect_eq "WADO-URI JPEG is 512x512" 512x512 "$("$PY" "$RC" jpegsize "$BODY" 2>&1)"
req "${AUTH[@]}" "$WADO&contentType=image/png&windowCenter=40&windowWidth=400"
DIFF=$("$PY" "$RC" compare "$CT" "$BODY" --window 40,400 2>&1)
check "WADO-URI PNG with windowCenter/windowWidth equals the reference (max diff $DIFF)" \
  test "$CODE" = 200 -a "$DIFF" -le "$TOL" 2>/dev/null
req "${AUTH[@]}" "$WADO&rows=100&columns=50"
expect_eq "WADO-URI rows/columns fit the image" "200 50x50" "$CODE $("$PY" "$RC" jpegsize "$BODY" 2>&1)"
req "${AUTH[@]}" "$BASE/dicom-web/wado?requestType=WADO&studyUID=$STUDY&seriesUID=$SERIES"
expect_eq "WADO-URI without objectUID is 400" 400 "$CODE"
req "${AUTH[@]}" "$BASE/dicom-web/wado?studyUID=$STUDY&seriesUID=$SERIES&objectUID=$SOP"
expect_eq "WADO-URI without requestType is 400" 400 "$CODE"
req "${AUTH[@]}" "$WADO&windowCenter=40"
expect_eq "WADO-URI windowCenter without windowWidth is 400" 400 "$CODE"
req "${AUTH[@]}" "$WADO&contentType=image/gif"
expect_eq "WADO-URI contentType image/gif is 406" 406 "$CODE"
req "${AUTH[@]}" "$BASE/dicom-web/wado?requestType=WADO&studyUID=$STUDY&seriesUID=$SERIES&objectUID=1.2.3.4.5.6"
expect_eq "WADO-URI unknown object is 404" 404 "$CODE"
req -H "Authorization: Bearer $OUTSIDER" "$WADO&contentType=application/dicom"
expect_eq "WADO-URI out of scope is 404" 404 "$CODE"
req "${AUTH[@]}" "$WADO"
expect_eq "then WADO-URI with defaults is a JPEG" "200 image/jpeg" "$CODE $(header Content-Type)"

# OpenAPI lists the routes.
req "$BASE/api/openapi.json"
for path in "/dicom-web/studies/{study}/series/{series}/instances/{instance}/rendered" \
  "/dicom-web/studies/{study}/series/{series}/instances/{instance}/frames/{frame}/rendered" \
  "/dicom-web/studies/{study}/thumbnail" "/dicom-web/wado"; do
  check "openapi lists $path" "$PY" -c \
    'import json,sys; sys.exit(0 if sys.argv[2] in json.load(open(sys.argv[1]))["paths"] else 1)' \
    "$BODY" "$path"
done

# Concurrency: 12 renders at once against max_concurrent_renders slots. Whether some wait
# or get 503 depends on timing, so the verdict is only that each answer is a render or a
# 503 with Retry-After, and that the server renders again afterwards.
PIDS=()
for i in $(seq 1 12); do
  curl -sS --max-time 60 --cacert "$CA" "${AUTH[@]}" -H "Accept: image/png" -o /dev/null \
    -D "$WORK/par.$i.h" -w '%{http_code}\n' "$INST/rendered?window=$i,400" >"$WORK/par.$i.code" &
  PIDS+=($!)
done
wait "${PIDS[@]}"
BAD=0
for i in $(seq 1 12); do
  code=$(cat "$WORK/par.$i.code")
  case $code in
    200) ;;
    503) grep -qi '^retry-after: [0-9]' "$WORK/par.$i.h" || BAD=$((BAD + 1)) ;;
    *) BAD=$((BAD + 1)) ;;
  esac
done
expect_eq "12 concurrent renders: each is 200, or 503 with Retry-After" 0 "$BAD"
req "${AUTH[@]}" "$INST/rendered"
expect_eq "then a render succeeds" 200 "$CODE"

# Latency of a rendered JPEG of the 512x512 16-bit CT (a figure, not a verdict): 20
# requests on one kept-alive connection; the median and the slowest after the first.
ARGS=()
for _ in $(seq 1 20); do ARGS+=(-o /dev/null "$INST/rendered"); done
curl -sS --cacert "$CA" "${AUTH[@]}" -w '%{time_total}\n' "${ARGS[@]}" >"$WORK/times" 2>/dev/null
echo "  info render latency, 512x512 16-bit CT to JPEG over HTTPS (keep-alive): $("$PY" -c '
import sys; t = sorted(float(x) * 1000 for x in open(sys.argv[1]).read().split()[1:])
print(f"median {t[len(t) // 2]:.1f} ms, max {t[-1]:.1f} ms over {len(t)} requests")' "$WORK/times")"

check "the server is still up at the end" server_alive
stop_server
finish
