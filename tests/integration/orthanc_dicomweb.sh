#!/usr/bin/env bash
# DICOMweb with a second third-party client: Orthanc 1.10 and its DICOMweb plugin (Debian's
# orthanc and orthanc-dicomweb, installed by scripts/install-deps) configured with Tresor as
# a remote DICOMweb server (DicomWeb.Servers, a bearer token in HttpHeaders, Tresor's CA in
# HttpsCACertificates with HttpsVerifyPeers). Through Orthanc's REST API it lists Tresor's
# studies and series (.../servers/tresor/qido), reads metadata (.../get) and retrieves a
# study and a series (.../retrieve, WADO-RS); the retrieved instances must then be in
# Orthanc, counted and named as in the corpus manifest. Orthanc runs with its own
# configuration, ports and storage under $WORK and is killed at exit.
source "$(dirname "$0")/../lib.sh"

echo "DICOMweb: Orthanc's DICOMweb plugin as a client of tresor serve"
ORTHANC=${ORTHANC:-/usr/sbin/Orthanc}
PLUGIN=$(dpkg -L orthanc-dicomweb 2>/dev/null | grep -m1 '/plugins/libOrthancDicomWeb\.so$')
PLUGIN=${PLUGIN:-/usr/share/orthanc/plugins/libOrthancDicomWeb.so}
check "Orthanc is installed (scripts/install-deps)" test -x "$ORTHANC"
check "its DICOMweb plugin is installed ($PLUGIN)" test -f "$PLUGIN"
[ -x "$ORTHANC" ] && [ -f "$PLUGIN" ] || { finish; exit 1; }

OPID=
trap 'if [ -n "$OPID" ]; then kill -9 "$OPID" 2>/dev/null; fi; cleanup' EXIT

check "corpus: 3 patients x 1 study x 2 series x 3 instances" \
  "$PY" "$ROOT/tests/tools/make_studies.py" --out "$WORK/corpus" --patients 3 --series 2 --instances 3 --rows 32 --cols 32
M=$WORK/corpus/manifest.tsv
init_data
mapfile -t files < <(find "$WORK/corpus" -name '*.dcm' | sort)
check "tresor import" "$TRESOR" import --data "$DATA" "${files[@]}"
start_server || { fail "server starts"; finish; exit 1; }
echo "correct horse battery" | "$TRESOR" user add orthanc --role radiologist --groups all --password-stdin --data "$DATA" >/dev/null
TOKEN=$(curl -s --cacert "$DATA/keys/ca.pem" "https://127.0.0.1:$HTTPS_PORT/auth/token" \
  -H 'Content-Type: application/json' -d '{"username":"orthanc","password":"correct horse battery"}' |
  "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
check "a bearer token for the radiologist 'orthanc'" test -n "$TOKEN"

# Orthanc: HTTP on a free loopback port, no DICOM listener, its own storage.
OHTTP=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
O=$WORK/orthanc
mkdir -p "$O/storage" "$O/index" "$O/tmp"
cat >"$O/orthanc.json" <<EOF
{
  "Name" : "tresor-test",
  "StorageDirectory" : "$O/storage",
  "IndexDirectory" : "$O/index",
  "TemporaryDirectory" : "$O/tmp",
  "Plugins" : [ "$PLUGIN" ],
  "LuaScripts" : [],
  "HttpServerEnabled" : true,
  "HttpPort" : $OHTTP,
  "RemoteAccessAllowed" : false,
  "AuthenticationEnabled" : false,
  "DicomServerEnabled" : false,
  "SaveJobs" : false,
  "HttpsVerifyPeers" : true,
  "HttpsCACertificates" : "$DATA/keys/ca.pem",
  "HttpTimeout" : 60,
  "DicomWeb" : {
    "Enable" : true,
    "Root" : "/dicom-web/",
    "Servers" : {
      "tresor" : {
        "Url" : "https://127.0.0.1:$HTTPS_PORT/dicom-web/",
        "HttpHeaders" : { "Authorization" : "Bearer $TOKEN" }
      },
      "tresor-anonymous" : { "Url" : "https://127.0.0.1:$HTTPS_PORT/dicom-web/" }
    }
  }
}
EOF
"$ORTHANC" "$O/orthanc.json" >"$O/orthanc.log" 2>&1 &
OPID=$!
OURL=http://127.0.0.1:$OHTTP
for _ in $(seq 1 300); do
  curl -sf "$OURL/system" >/dev/null 2>&1 && break
  kill -0 "$OPID" 2>/dev/null || break
  sleep 0.1
done
check "Orthanc $(dpkg-query -W -f='${Version}' orthanc 2>/dev/null) serves its REST API" curl -sf "$OURL/system"
check "... with the DICOMweb plugin $(dpkg-query -W -f='${Version}' orthanc-dicomweb 2>/dev/null) loaded" \
  bash -c "curl -sf '$OURL/plugins' | grep -q dicom-web"
check "... and knows the remote server 'tresor'" bash -c "curl -sf '$OURL/dicom-web/servers' | grep -q '\"tresor\"'"

post() {  # post PATH JSON OUT: Orthanc REST POST; prints the HTTP status, body in OUT
  curl -s -o "$3" -w '%{http_code}' -X POST "$OURL$1" -H 'Content-Type: application/json' -d "$2"
}
# value FILE TAG: the values of TAG in a JSON array of results, one a line, sorted. Orthanc's
# .../qido answers its own simplified form ({"Value": "text"}); .../get passes the DICOM
# JSON through ({"Value": ["text"]}, person names as {"Alphabetic": ...}).
values() {
  "$PY" - "$1" "$2" <<'PY' 2>/dev/null
import json, sys
out = []
for o in json.load(open(sys.argv[1])):
    v = o[sys.argv[2]]["Value"]
    v = v[0] if isinstance(v, list) else v
    out.append(v["Alphabetic"] if isinstance(v, dict) else v)
print("\n".join(sorted(out)))
PY
}
uids() { values "$@"; }
col() { awk -F'\t' -v c="$1" 'NR > 1 {print $c}' "$M" | sort -u; }

st=$(post /dicom-web/servers/tresor-anonymous/qido '{"Uri":"/studies"}' "$WORK/anon.json")
check "QIDO through Orthanc without a token is refused by Tresor (Orthanc answers $st)" test "$st" != 200
st=$(post /dicom-web/servers/tresor/qido '{"Uri":"/studies"}' "$WORK/studies.json")
expect_eq "QIDO /studies through Orthanc: HTTP status" 200 "$st"
expect_eq "... lists the corpus' 3 studies" "$(col 3)" "$(uids "$WORK/studies.json" 0020000D)"
PID2=$(awk -F'\t' 'NR > 1 && $8 == "ISO_IR 126" {print $2; exit}' "$M")
NAME2=$(awk -F'\t' 'NR > 1 && $8 == "ISO_IR 126" {print $9; exit}' "$M")
post /dicom-web/servers/tresor/qido "{\"Uri\":\"/studies\",\"Arguments\":{\"PatientID\":\"$PID2\"}}" "$WORK/pid.json" >/dev/null
expect_eq "QIDO /studies?PatientID=$PID2 through Orthanc: the Greek patient's name intact" "$NAME2" \
  "$(values "$WORK/pid.json" 00100010)"

STUDY=$(awk -F'\t' 'NR == 2 {print $3}' "$M")
want_series=$(awk -F'\t' -v s="$STUDY" 'NR > 1 && $3 == s {print $4}' "$M" | sort -u)
want_sops=$(awk -F'\t' -v s="$STUDY" 'NR > 1 && $3 == s {print $5}' "$M" | sort)
post /dicom-web/servers/tresor/qido "{\"Uri\":\"/studies/$STUDY/series\"}" "$WORK/series.json" >/dev/null
expect_eq "QIDO /studies/{study}/series through Orthanc" "$want_series" "$(uids "$WORK/series.json" 0020000E)"
post /dicom-web/servers/tresor/get "{\"Uri\":\"/studies/$STUDY/metadata\"}" "$WORK/meta.json" >/dev/null
expect_eq "WADO-RS study metadata through Orthanc (.../get)" "$want_sops" "$(uids "$WORK/meta.json" 00080018)"

st=$(post /dicom-web/servers/tresor/retrieve "{\"Resources\":[{\"Study\":\"$STUDY\"}]}" "$WORK/retrieve.json")
expect_eq "WADO-RS retrieve of a study through Orthanc: HTTP status" 200 "$st"
o_sops() {
  curl -sf "$OURL/instances?expand" |
    "$PY" -c 'import json,sys; print("\n".join(sorted(i["MainDicomTags"]["SOPInstanceUID"] for i in json.load(sys.stdin))))'
}
expect_eq "... Orthanc now holds 1 study" 1 \
  "$(curl -sf "$OURL/studies" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')"
expect_eq "... with its $(wc -l <<<"$want_sops") instances (SOP Instance UIDs as in the manifest)" "$want_sops" "$(o_sops)"
got_name=$(curl -sf "$OURL/patients?expand" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["MainDicomTags"]["PatientName"])')
expect_eq "... and the patient's name" "$(awk -F'\t' 'NR == 2 {print $9}' "$M")" "$got_name"
# The objects Orthanc received are the ones Tresor stored (pixel data included).
SOP=$(awk -F'\t' 'NR == 2 {print $5}' "$M")
OID=$(curl -sf "$OURL/tools/lookup" -d "$SOP" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["ID"])')
curl -sf "$OURL/instances/$OID/file" -o "$WORK/from-orthanc.dcm"
"$TRESOR" cat "$SOP" --data "$DATA" >"$WORK/from-tresor.dcm" 2>/dev/null
check "... an instance Orthanc retrieved has the data set Tresor stored" \
  "$PY" "$ROOT/tests/tools/compare_datasets.py" "$WORK/from-tresor.dcm" "$WORK/from-orthanc.dcm"

SERIES=$(awk -F'\t' 'NR > 1 && $3 != s {print $3, $4; exit}' s="$STUDY" "$M")
st=$(post /dicom-web/servers/tresor/retrieve "{\"Resources\":[{\"Study\":\"${SERIES% *}\",\"Series\":\"${SERIES#* }\"}]}" "$WORK/retrieve2.json")
expect_eq "WADO-RS retrieve of one series through Orthanc: HTTP status" 200 "$st"
want_all=$( (echo "$want_sops"; awk -F'\t' -v se="${SERIES#* }" 'NR > 1 && $4 == se {print $5}' "$M") | sort)
expect_eq "... Orthanc then holds the study and that series' instances" "$want_all" "$(o_sops)"
check "server still up" server_alive
kill -TERM "$OPID" 2>/dev/null; wait "$OPID" 2>/dev/null; OPID=
stop_server
finish
