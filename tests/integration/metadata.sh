#!/usr/bin/env bash
# WADO-RS metadata and bulk data against the real binary: the series, study and instance
# metadata of generated and pydicom sample objects equals what pydicom reads from the
# files (every attribute), BulkDataURIs resolved against the request URL give the stored
# bytes (encapsulated Pixel Data one part per frame), unknown and out-of-scope objects are
# 404 alike, no credential is 401. Every refusal is followed by a request that succeeds.
source "$(dirname "$0")/../lib.sh"

echo "metadata: WADO-RS metadata and bulk data"
init_data || { fail "init"; finish; exit 1; }
ADMIN_PW=$(sed -n 's/.*store it safely): //p' "$WORK/init.out" | head -1)
CORPUS=$WORK/corpus
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$CORPUS" --patients 2 --instances 3 --frames 3 \
  >/dev/null || { fail "make_studies"; finish; exit 1; }
SAMPLES=$("$PY" -c 'import pydicom.data,os;print(os.path.join(os.path.dirname(pydicom.data.__file__),"test_files"))')
mkdir -p "$WORK/samples"
# (MR_small_RLE shares its SOP Instance UID with the JPEG-LS sample.)
for f in CT_small.dcm MR_small_jpeg_ls_lossless.dcm SC_rgb_rle_2frame.dcm rtdose_rle.dcm \
         JPEG-lossy.dcm SC_rgb_jpeg_dcmtk.dcm; do
  cp "$SAMPLES/$f" "$WORK/samples/"
done
check "import the corpus and the samples" "$TRESOR" import --data "$DATA" "$CORPUS"/p* "$WORK/samples"
"$TRESOR" user add viewer --role radiologist --groups elsewhere --password-stdin --data "$DATA" \
  >/dev/null <<<"viewer-password-1"

if ! start_server || [ -z "$HTTPS_PORT" ]; then fail "server start"; finish; exit 1; fi
BASE=https://127.0.0.1:$HTTPS_PORT
CA=$DATA/keys/ca.pem
login() {
  curl -sS --cacert "$CA" -H "Content-Type: application/json" \
    --data "$("$PY" -c 'import json,sys; print(json.dumps({"username":sys.argv[1],"password":sys.argv[2]}))' "$1" "$2")" \
    "$BASE/auth/token" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
TOKEN=$(login admin "$ADMIN_PW")
VIEWER=$(login viewer viewer-password-1)
check "tokens for admin and viewer" test -n "$TOKEN" -a -n "$VIEWER"

# status URL [curl args...]: prints the HTTP status of a GET.
status() {
  local url=$1; shift
  curl -sS --cacert "$CA" -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "$@" "$url"
}
field() { awk -F'\t' -v c="$1" 'NR==1{for(i=1;i<=NF;i++) if($i==c) n=i; next} {print $n}' "$CORPUS/manifest.tsv"; }

# A series of the corpus (multi-frame), attribute by attribute, at every level.
STUDY=$(field study_uid | head -1)
SERIES=$(field series_uid | head -1)
SOP=$(field sop_uid | head -1)
FILES=$(awk -F'\t' -v s="$SERIES" 'NR>1 && $4==s {print "'"$CORPUS"'/" $1}' "$CORPUS/manifest.tsv")
SERIES_URL=$BASE/dicom-web/studies/$STUDY/series/$SERIES/metadata
check "series metadata equals the stored files" "$PY" "$ROOT/tests/tools/check_metadata.py" \
  "$SERIES_URL" "$CA" "$TOKEN" $FILES
check "study metadata equals the stored files" "$PY" "$ROOT/tests/tools/check_metadata.py" \
  "$BASE/dicom-web/studies/$STUDY/metadata" "$CA" "$TOKEN" $FILES
FIRST=$(echo "$FILES" | head -1)
check "instance metadata equals the stored file" "$PY" "$ROOT/tests/tools/check_metadata.py" \
  "$BASE/dicom-web/studies/$STUDY/series/$SERIES/instances/$SOP/metadata" "$CA" "$TOKEN" "$FIRST"

# Every pydicom sample (native, RLE, JPEG-LS, JPEG; Latin-1 text), by its series.
for f in "$WORK"/samples/*.dcm; do
  read -r st se < <("$PY" -c 'import pydicom,sys; d=pydicom.dcmread(sys.argv[1]); print(d.StudyInstanceUID, d.SeriesInstanceUID)' "$f")
  check "metadata of $(basename "$f") equals the file" "$PY" "$ROOT/tests/tools/check_metadata.py" \
    "$BASE/dicom-web/studies/$st/series/$se/metadata" "$CA" "$TOKEN" "$f"
done

# Bulk data with Accept variants.
BULK=$BASE/dicom-web/studies/$STUDY/series/$SERIES/instances/$SOP/bulk/7FE00010
expect_eq "bulk data with the default Accept" 200 "$(status "$BULK" -H "Authorization: Bearer $TOKEN")"
check "bulk data is multipart/related octet-stream" grep -qi '^content-type: multipart/related; type="application/octet-stream"; boundary=' "$WORK/headers"
expect_eq "bulk data as bare application/octet-stream" 200 \
  "$(status "$BULK" -H "Authorization: Bearer $TOKEN" -H "Accept: application/octet-stream")"
WANT=$("$PY" -c 'import pydicom,sys; print(len(pydicom.dcmread(sys.argv[1]).PixelData))' "$FIRST")
expect_eq "the bare value has the stored length" "$WANT" "$(stat -c %s "$WORK/body")"
expect_eq "bulk data refused for image/png" 406 \
  "$(status "$BULK" -H "Authorization: Bearer $TOKEN" -H "Accept: image/png")"
expect_eq "bulk data for an absent attribute" 404 \
  "$(status "${BULK%/*}/00091001" -H "Authorization: Bearer $TOKEN")"
expect_eq "bulk data with a malformed path" 400 \
  "$(status "${BULK%/*}/7FE00010.x" -H "Authorization: Bearer $TOKEN")"
expect_eq "metadata refused for application/xml only" 406 \
  "$(status "$SERIES_URL" -H "Authorization: Bearer $TOKEN" -H "Accept: application/xml")"
expect_eq "metadata accepted for application/json" 200 \
  "$(status "$SERIES_URL" -H "Authorization: Bearer $TOKEN" -H "Accept: application/json")"

# Unknown and out of scope look alike; no credential is 401.
expect_eq "metadata without a token" 401 "$(status "$SERIES_URL")"
expect_eq "bulk data without a token" 401 "$(status "$BULK")"
expect_eq "metadata of an unknown series" 404 \
  "$(status "$BASE/dicom-web/studies/$STUDY/series/1.2.3.4/metadata" -H "Authorization: Bearer $TOKEN")"
expect_eq "metadata of a series under another study" 404 \
  "$(status "$BASE/dicom-web/studies/1.2.3.4/series/$SERIES/metadata" -H "Authorization: Bearer $TOKEN")"
expect_eq "metadata out of scope" 404 "$(status "$SERIES_URL" -H "Authorization: Bearer $VIEWER")"
cp "$WORK/body" "$WORK/hidden.body"
status "$BASE/dicom-web/studies/1.2.3.4/series/1.2.3.4.5/metadata" -H "Authorization: Bearer $VIEWER" >/dev/null
check "out of scope answers with the body of unknown" cmp "$WORK/hidden.body" "$WORK/body"
expect_eq "bulk data out of scope" 404 "$(status "$BULK" -H "Authorization: Bearer $VIEWER")"
expect_eq "instance metadata out of scope" 404 \
  "$(status "$BASE/dicom-web/studies/$STUDY/series/$SERIES/instances/$SOP/metadata" -H "Authorization: Bearer $VIEWER")"
expect_eq "the server still answers (admin, in scope)" 200 \
  "$(status "$SERIES_URL" -H "Authorization: Bearer $TOKEN")"
check "the viewer's own query works (positive check)" test "$(status "$BASE/api/stats" -H "Authorization: Bearer $VIEWER")" = 200
stop_server
finish
