#!/usr/bin/env bash
# WADO-RS retrieval over HTTPS with curl, checked with pydicom and numpy:
#   studies, series and instances as multipart/related application/dicom: with
#   transfer-syntax=* the stored data set bytes (and `tresor cat`'s file) byte for byte,
#   a study holds exactly the manifest's instances; transcoding (to Explicit VR Little
#   Endian and to JPEG-LS) keeps the pixels; tolerant Accept headers (quoted/unquoted
#   type, a type with parameters, q-values, several ranges, */*, none, repeated
#   transfer-syntax) all get 200; an impossible syntax gets 406; unknown and
#   out-of-scope UIDs the same 404; malformed requests 400.
#   Frames of uncompressed, RLE, JPEG-LS and JPEG lossless objects (single and
#   multi-frame) equal the stored fragments with transfer-syntax=* and the decoded
#   pixels with Explicit VR Little Endian; each part says its transfer syntax.
# Every negative check is followed by a positive one.
source "$(dirname "$0")/../lib.sh"
W="$PY $ROOT/tests/tools/wado.py"
DS="$PY $ROOT/tests/tools/dataset_bytes.py"
TESTFILES=$("$PY" -c 'import pydicom.data,os;print(os.path.join(os.path.dirname(pydicom.data.__file__),"test_files"))')
ELE=1.2.840.10008.1.2.1
JLS=1.2.840.10008.1.2.4.80

echo "wado: WADO-RS instances, negotiation, transcoding, frames"

# --- setup ---------------------------------------------------------------------------
CORPUS=$WORK/corpus
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$CORPUS" --patients 1 --studies 2 \
  --series 2 --instances 3 --charset ascii >/dev/null
expect_eq "corpus has 12 instances" 12 "$(($(wc -l <"$CORPUS/manifest.tsv") - 1))"
# Multi-frame objects, compressed with DCMTK's tools into RLE, JPEG-LS and JPEG lossless.
MULTI=$WORK/multi
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$MULTI" --seed 7 --frames 4 --rows 48 \
  --cols 40 --charset ascii >/dev/null
MF=$(find "$MULTI" -name '*.dcm' | head -1)
mkdir -p "$WORK/codec-src"
cp "$MF" "$WORK/codec-src/multi_native.dcm"
dcmcrle "$MF" "$WORK/codec-src/multi_rle.dcm"
dcmcjpls +el "$MF" "$WORK/codec-src/multi_jls.dcm"
dcmcjpeg +e1 "$MF" "$WORK/codec-src/multi_jpegll.dcm"
# Several fragments per frame and no offset table: frames the store cannot tell apart.
dcmcjpeg +e1 -ot +fs 1 "$MF" "$WORK/codec-src/multi_jpegll_fragments.dcm"
for f in MR_small_RLE.dcm MR_small_jpeg_ls_lossless.dcm SC_rgb_jpeg_gdcm.dcm rtdose.dcm \
         rtdose_rle.dcm JPGExtended.dcm MR_small_jp2klossless.dcm image_dfl.dcm \
         MR_small_bigendian.dcm; do
  cp "$TESTFILES/$f" "$WORK/codec-src/"
done
CODEC_STUDY=2.25.4242424242
$W prepare "$WORK/codec" "$CODEC_STUDY" "$WORK"/codec-src/*.dcm
expect_eq "14 codec objects prepared" 14 "$(wc -l <"$WORK/codec/files.tsv")"
# codec NAME COLUMN: a column (2 series, 3 sop, 4 syntax, 5 frames) of a prepared file.
codec() { awk -F'\t' -v n="$WORK/codec/$1" -v c="$2" '$1 == n {print $c}' "$WORK/codec/files.tsv"; }
expect_eq "the JPEG lossless object is JPEG lossless SV1" 1.2.840.10008.1.2.4.70 "$(codec multi_jpegll.dcm 4)"
expect_eq "the JPEG-LS object is JPEG-LS lossless" "$JLS" "$(codec multi_jls.dcm 4)"

init_data
sed -i 's/^fsync = true/fsync = false/' "$DATA/tresor.conf"  # disposable archive
start_server
add_peer mod MODALITY echo,store
check "storing the corpus with storescu succeeds" \
  storescu -aet MODALITY -aec TRESOR +sd +r +sp '*.dcm' 127.0.0.1 "$PORT" "$CORPUS"
check "importing the codec objects succeeds" "$TRESOR" import --data "$DATA" "$WORK"/codec/*.dcm
TOKEN=$("$TRESOR" token create wado --user admin --data "$DATA" | tail -1)
check "an API token for the administrator" test -n "$TOKEN"
"$TRESOR" user add viewer --role radiologist --groups elsewhere --password-stdin --data "$DATA" \
  <<<"viewer password 42" >/dev/null
OTHER=$("$TRESOR" token create other --user viewer --data "$DATA" | tail -1)

BASE=https://127.0.0.1:$HTTPS_PORT/dicom-web
CA=$DATA/keys/ca.pem
N=0
# get PATH [curl args]: GET as the administrator; sets CODE, BODY, HEADERS.
get() {
  local path=$1; shift
  N=$((N + 1))
  BODY=$WORK/body.$N
  HEADERS=$WORK/headers.$N
  CODE=$(curl -sS --max-time 60 --cacert "$CA" -H "Authorization: Bearer ${AS:-$TOKEN}" \
    -o "$BODY" -D "$HEADERS" -w '%{http_code}' "$@" "$BASE$path" 2>"$WORK/curl.err.$N")
}
header() { grep -i "^$1:" "$HEADERS" | tail -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
# split: parts of the last response into $WORK/parts.$N; prints their count.
split() { $W split "$HEADERS" "$BODY" "$WORK/parts.$N"; }
PARTS() { echo "$WORK/parts.$N"; }
STAR='multipart/related; type="application/dicom"; transfer-syntax=*'
row() { tail -n +2 "$CORPUS/manifest.tsv" | sed -n "${1}p"; }
STUDY=$(row 1 | cut -f3); SERIES=$(row 1 | cut -f4); SOP=$(row 1 | cut -f5)
FILE=$CORPUS/$(row 1 | cut -f1)
manifest_uids() { tail -n +2 "$CORPUS/manifest.tsv" | awk -F'\t' "$1 {print \$5}" | sort; }

# --- 1. instances, series, studies as stored -------------------------------------------
get "/studies/$STUDY/series/$SERIES/instances/$SOP" -H "Accept: $STAR"
expect_eq "instance with transfer-syntax=*: 200" 200 "$CODE"
check "the response is multipart/related; type=application/dicom" \
  bash -c "[[ '$(header Content-Type)' == 'multipart/related; type=\"application/dicom\"; boundary='* ]]"
expect_eq "one part" 1 "$(split)"
expect_eq "the part says its transfer syntax" "application/dicom; transfer-syntax=$ELE" \
  "$(cut -f2 "$(PARTS)/parts.tsv")"
expect_eq "the data set bytes are those stored" "$($DS sha "$FILE")" "$($DS sha "$(PARTS)/part-1.bin")"
"$TRESOR" cat --data "$DATA" "$SOP" >"$WORK/cat.dcm"
check "the part is byte for byte tresor cat's file" cmp "$WORK/cat.dcm" "$(PARTS)/part-1.bin"
check "the Content-Length is the body's size" \
  test "$(header Content-Length)" = "$(stat -c %s "$BODY")"

get "/studies/$STUDY" -H "Accept: $STAR"
expect_eq "study: 200" 200 "$CODE"
expect_eq "study: 6 parts" 6 "$(split)"
manifest_uids "\$3 == \"$STUDY\"" >"$WORK/want"
$W sops "$(PARTS)" >"$WORK/got"
check "study: exactly the manifest's instances" cmp "$WORK/want" "$WORK/got"
check "study: every part has the stored data set bytes" $W same-datasets "$(PARTS)" "$CORPUS/manifest.tsv"

get "/studies/$STUDY/series/$SERIES"
expect_eq "series without Accept: 200" 200 "$CODE"
expect_eq "series: 3 parts" 3 "$(split)"
manifest_uids "\$4 == \"$SERIES\"" >"$WORK/want"
$W sops "$(PARTS)" >"$WORK/got"
check "series: exactly the manifest's instances" cmp "$WORK/want" "$WORK/got"

# --- 2. not found, out of scope, malformed ----------------------------------------------
OTHER_STUDY=$(row 7 | cut -f3)
get "/studies/2.25.1"
expect_eq "unknown study: 404" 404 "$CODE"
cp "$BODY" "$WORK/unknown.body"
get "/studies/$OTHER_STUDY/series/$SERIES"
expect_eq "a series under the wrong study: 404" 404 "$CODE"
get "/studies/$STUDY/series/$SERIES/instances/2.25.99"
expect_eq "unknown instance: 404" 404 "$CODE"
AS=$OTHER get "/studies/$STUDY" -H "Accept: $STAR"
expect_eq "a study outside the caller's scope: 404" 404 "$CODE"
check "out of scope answers with the unknown study's body" cmp "$WORK/unknown.body" "$BODY"
get "/studies/not-a-uid"
expect_eq "a malformed UID: 400" 400 "$CODE"
get "/studies/$STUDY" -H 'Accept: multipart/related; type="application/dicom"; transfer-syntax=abc'
expect_eq "a malformed transfer-syntax: 400" 400 "$CODE"
get "/studies/$STUDY" -H 'Accept: application/dicom; q=7'
expect_eq "a malformed q-value: 400" 400 "$CODE"
CODE=$(curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' "$BASE/studies/$STUDY")
expect_eq "without credentials: 401" 401 "$CODE"
get "/studies/$STUDY" -H "Accept: $STAR"
expect_eq "after the refusals the study still answers 200" 200 "$CODE"

# --- 3. tolerant Accept ---------------------------------------------------------------
variants=(
  'multipart/related; type="application/dicom"'
  'multipart/related; type=application/dicom'
  'multipart/related;type="application/dicom";transfer-syntax=*'
  'multipart/related; type="application/dicom; transfer-syntax=*"'
  'multipart/related; type="application/dicom"; transfer-syntax=*; transfer-syntax=*'
  "multipart/related; type=\"application/dicom\"; transfer-syntax=1.2.840.10008.1.2.4.90; transfer-syntax=$ELE"
  'application/json;q=0.9, multipart/related; type="application/dicom"; q=0.5'
  'multipart/related; type="application/dicom"; q=0.2, */*; q=0.1'
  '*/*'
  'multipart/*'
  'multipart/related'
)
for accept in "${variants[@]}"; do
  get "/studies/$STUDY/series/$SERIES" -H "Accept: $accept"
  expect_eq "Accept: $accept" "200 3" "$CODE $(split 2>&1)"
done
get "/studies/$STUDY/series/$SERIES/instances/$SOP" -H "Accept: application/dicom"
expect_eq "single-part application/dicom for one instance: 200" 200 "$CODE"
check "single part: the body is the stored file" cmp "$WORK/cat.dcm" "$BODY"
expect_eq "single part: Content-Type names the syntax" "application/dicom; transfer-syntax=$ELE" \
  "$(header Content-Type)"

# --- 4. transcoding and 406 -------------------------------------------------------------
JLS_FILE=$WORK/codec/MR_small_jpeg_ls_lossless.dcm
jls_path="/studies/$CODEC_STUDY/series/$(codec MR_small_jpeg_ls_lossless.dcm 2)/instances/$(codec MR_small_jpeg_ls_lossless.dcm 3)"
get "$jls_path" -H 'Accept: multipart/related; type="application/dicom"'
expect_eq "JPEG-LS object without a syntax: 200" "200 1" "$CODE $(split)"
expect_eq "  ... sent as Explicit VR Little Endian" "$ELE" "$(cut -f3 "$(PARTS)/parts.tsv")"
check "  ... whose pixels equal the original's" $W same-pixels "$JLS_FILE" "$(PARTS)/part-1.bin"
RLE_FILE=$WORK/codec/MR_small_RLE.dcm
rle_path="/studies/$CODEC_STUDY/series/$(codec MR_small_RLE.dcm 2)/instances/$(codec MR_small_RLE.dcm 3)"
get "$rle_path" -H "Accept: multipart/related; type=\"application/dicom\"; transfer-syntax=$JLS"
expect_eq "RLE object to JPEG-LS: 200" "200 1" "$CODE $(split)"
expect_eq "  ... sent as JPEG-LS" "$JLS" "$(cut -f3 "$(PARTS)/parts.tsv")"
check "  ... whose pixels equal the original's" $W same-pixels "$RLE_FILE" "$(PARTS)/part-1.bin"
j2k_path="/studies/$CODEC_STUDY/series/$(codec MR_small_jp2klossless.dcm 2)/instances/$(codec MR_small_jp2klossless.dcm 3)"
get "$j2k_path" -H "Accept: multipart/related; type=\"application/dicom\"; transfer-syntax=$ELE"
expect_eq "JPEG 2000 object to Explicit VR Little Endian (no decoder): 406" 406 "$CODE"
get "$j2k_path" -H "Accept: $STAR"
expect_eq "  ... but as stored: 200" "200 1" "$CODE $(split)"
get "/studies/$STUDY/series/$SERIES" -H 'Accept: multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.90'
expect_eq "native objects to JPEG 2000 (no encoder): 406" 406 "$CODE"
lossy_path="/studies/$CODEC_STUDY/series/$(codec JPGExtended.dcm 2)/instances/$(codec JPGExtended.dcm 3)"
get "$lossy_path" -H "Accept: multipart/related; type=\"application/dicom\"; transfer-syntax=$JLS"
expect_eq "lossy JPEG to lossless JPEG-LS: 406" 406 "$CODE"
get "$lossy_path" -H 'Accept: multipart/related; type="application/dicom"'
expect_eq "  ... without a syntax it goes out as stored (lossy): 200" "200 1" "$CODE $(split)"
expect_eq "  ... in its stored syntax" 1.2.840.10008.1.2.4.51 "$(cut -f3 "$(PARTS)/parts.tsv")"
get "/studies/$STUDY" -H 'Accept: application/json'
expect_eq "only application/json accepted: 406" 406 "$CODE"
get "/studies/$STUDY" -H "Accept: $STAR"
expect_eq "after the 406s the study still answers 200" 200 "$CODE"

# --- 5. frames --------------------------------------------------------------------------
OCTET_STAR='multipart/related; type="application/octet-stream"; transfer-syntax=*'
OCTET_ELE="multipart/related; type=\"application/octet-stream\"; transfer-syntax=$ELE"
# frames_of NAME: the frames path of a prepared codec object.
frames_of() { echo "/studies/$CODEC_STUDY/series/$(codec "$1" 2)/instances/$(codec "$1" 3)/frames"; }
# check_frames NAME LIST ACCEPT MODE TS: GET frames LIST; every part is
# "application/octet-stream; transfer-syntax=TS" and holds its frame (MODE stored|decoded).
check_frames() {
  local name=$1 list=$2 accept=$3 mode=$4 ts=$5
  local what="$name frames $list ${accept:-(no Accept)}: $mode, transfer-syntax=$ts"
  get "$(frames_of "$name")/$list" ${accept:+-H "Accept: $accept"}
  if [ "$CODE" != 200 ]; then fail "$what: status $CODE"; return; fi
  local count; count=$(split) || { fail "$what: framing: $count"; return; }
  IFS=, read -ra numbers <<<"$list"
  check "$what" $W frames "$mode" "$WORK/codec/$name" "$(PARTS)" \
    "application/octet-stream; transfer-syntax=$ts" "${numbers[@]}"
}
for name in multi_native.dcm multi_rle.dcm multi_jls.dcm multi_jpegll.dcm MR_small_RLE.dcm \
            MR_small_jpeg_ls_lossless.dcm SC_rgb_jpeg_gdcm.dcm rtdose.dcm rtdose_rle.dcm \
            MR_small_bigendian.dcm; do
  stored_ts=$(codec "$name" 4)
  if [ "$(codec "$name" 5)" -gt 1 ]; then list="$(codec "$name" 5),1,2"; else list=1; fi
  check_frames "$name" "$list" "$OCTET_STAR" stored "$stored_ts"
  check_frames "$name" "$list" "$OCTET_ELE" decoded "$ELE"
done
check_frames multi_jls.dcm 3 "" decoded "$ELE"
check_frames multi_rle.dcm 2 '*/*' decoded "$ELE"
check_frames multi_jpegll.dcm 4 'multipart/related; type=application/octet-stream; transfer-syntax="*"' stored 1.2.840.10008.1.2.4.70
check_frames multi_jls.dcm 1 "$OCTET_STAR; transfer-syntax=$ELE" stored "$JLS"
# Frames the stored bytes do not address: decoded from the whole object, also for "*".
check_frames image_dfl.dcm 1 "$OCTET_STAR" decoded "$ELE"
check_frames image_dfl.dcm 1 "$OCTET_ELE" decoded "$ELE"
check_frames multi_jpegll_fragments.dcm 4,1,2 "$OCTET_ELE" decoded "$ELE"
check_frames multi_jpegll_fragments.dcm 3 "$OCTET_STAR" decoded "$ELE"
get "$(frames_of multi_jpegll_fragments.dcm)/5"
expect_eq "frame 5 of 4 (frames told apart by decoding): 404" 404 "$CODE"
get "$(frames_of multi_jls.dcm)/2" -H 'Accept: multipart/related; type="image/jls"'
expect_eq "JPEG-LS frame as image/jls: 200, one part" "200 1" "$CODE $(split)"
expect_eq "  ... typed image/jls with its syntax" "image/jls; transfer-syntax=$JLS" "$(cut -f2 "$(PARTS)/parts.tsv")"
check "  ... holding the stored frame" $W frame-stored "$WORK/codec/multi_jls.dcm" 2 "$(PARTS)/part-1.bin"
get "$(frames_of multi_rle.dcm)/3" -H 'Accept: application/octet-stream'
expect_eq "one frame as a single-part octet-stream: 200" 200 "$CODE"
check "  ... the decoded frame" $W frame-decoded "$WORK/codec/multi_rle.dcm" 3 "$BODY"
CT_FRAMES="/studies/$STUDY/series/$SERIES/instances/$SOP/frames"
get "$CT_FRAMES/1" -H "Accept: $OCTET_STAR"
expect_eq "a frame of a stored corpus image: 200" "200 1" "$CODE $(split)"
check "  ... equals its pixel data" $W frame-stored "$FILE" 1 "$(PARTS)/part-1.bin"
grep -a -m1 -n '' "$BODY" | grep -q "^1:--" && pass "the boundary line comes first" ||
  fail "the boundary line comes first"

get "$(frames_of multi_rle.dcm)/0"
expect_eq "frame 0: 400" 400 "$CODE"
get "$(frames_of multi_rle.dcm)/1,x"
expect_eq "a frame list with a non-number: 400" 400 "$CODE"
get "$(frames_of multi_rle.dcm)/5"
expect_eq "frame 5 of 4: 404" 404 "$CODE"
get "$(frames_of MR_small_jp2klossless.dcm)/1" -H "Accept: $OCTET_ELE"
expect_eq "a JPEG 2000 frame decoded (no decoder): 406" 406 "$CODE"
get "$(frames_of MR_small_jp2klossless.dcm)/1" -H "Accept: $OCTET_STAR"
expect_eq "  ... but as stored: 200" "200 1" "$CODE $(split)"
get "$(frames_of multi_jls.dcm)/1" -H 'Accept: multipart/related; type="image/jpeg"'
expect_eq "a JPEG-LS frame as image/jpeg (no re-encoding): 406" 406 "$CODE"
AS=$OTHER get "$CT_FRAMES/1" -H "Accept: $OCTET_STAR"
expect_eq "frames outside the caller's scope: 404" 404 "$CODE"
get "/studies/$OTHER_STUDY/series/$SERIES/instances/$SOP/frames/1"
expect_eq "frames under the wrong study: 404" 404 "$CODE"
get "$(frames_of multi_rle.dcm)/4,3" -H "Accept: $OCTET_STAR"
expect_eq "after the refusals frames still answer 200" "200 2" "$CODE $(split)"

stop_server
finish
