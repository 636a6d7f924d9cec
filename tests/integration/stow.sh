#!/usr/bin/env bash
# STOW-RS (POST /dicom-web/studies[/{study}]) against the real binary with curl: 100
# generated instances in one request (found by C-FIND, data sets byte-identical), good parts
# mixed with hostile ones (a result per part, the good ones stored, the server still up),
# chunked bodies, part types with parameters, parts without headers, LF line ends, the
# statuses PS3.18 prescribes (200, 202, 409, 400, 415), refusals before the body is read
# (401, 403, 413 on a declared Content-Length over the limit) and a 1 GB chunked upload that
# grows the server's resident memory by less than 100 MB.
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools

echo "stow: STOW-RS over HTTPS"
init_data || { fail "init"; finish; exit 1; }
# Uploads are bounded by the server's body limit (web.max_body_bytes) and the STOW route's
# own (DicomWebOptions::max_upload_bytes), the smaller of both: 2 GiB here.
LIMIT=2147483648
sed -i "/^\[web\]/,/^\[/ s/^max_body_bytes = .*/max_body_bytes = $LIMIT/" "$DATA/tresor.conf"
# The 1 GB upload takes longer than the default 30 s a request may take to arrive.
sed -i "/^\[web\]/,/^\[/ s/^read_timeout_seconds = .*/read_timeout_seconds = 300/" \
  "$DATA/tresor.conf"
sed -i 's/^fsync = true/fsync = false/' "$DATA/tresor.conf"  # disposable archive
grep -q "^max_body_bytes = $LIMIT" "$DATA/tresor.conf" || fail "tresor.conf has web.max_body_bytes"
TOKEN=$("$TRESOR" token create stow --user admin --data "$DATA" 2>/dev/null | tail -1)
echo "a-long-password-for-the-reader" |
  "$TRESOR" user add reader --role radiologist --groups all --password-stdin \
    --data "$DATA" >/dev/null
READER=$("$TRESOR" token create reader --user reader --data "$DATA" 2>/dev/null | tail -1)
[ -n "$TOKEN" ] && [ -n "$READER" ] || { fail "tokens created"; finish; exit 1; }

"$PY" "$TOOLS/make_studies.py" --out "$WORK/corpus" --series 2 --instances 50 --jobs 2 >/dev/null ||
  { fail "corpus generated"; finish; exit 1; }
"$PY" "$TOOLS/make_studies.py" --out "$WORK/good" --instances 5 --seed 7 >/dev/null
"$PY" "$TOOLS/make_studies.py" --out "$WORK/other" --instances 2 --seed 8 --charset ascii >/dev/null
CORPUS_STUDY=$(tail -n +2 "$WORK/corpus/manifest.tsv" | cut -f3 | sort -u)
OTHER_STUDY=$(tail -n +2 "$WORK/other/manifest.tsv" | cut -f3 | sort -u)

start_server || { fail "server started"; finish; exit 1; }
add_peer q STOWFIND echo,find
BASE=https://127.0.0.1:$HTTPS_PORT/dicom-web
CA=$DATA/keys/ca.pem
N=0
# stow [CURL ARGS...] URL: one POST; sets CODE and BODY (the response file).
stow() {
  N=$((N + 1))
  BODY=$WORK/resp.$N
  CODE=$(curl -sS --max-time 120 --cacert "$CA" -o "$BODY" -w '%{http_code}' -X POST "$@" \
    2>"$WORK/curl.err.$N")
}
AUTH=(-H "Authorization: Bearer $TOKEN")
MP='multipart/related; type="application/dicom"; boundary=tresor-stow-b0undary'
healthy() {
  [ "$(curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' \
    "https://127.0.0.1:$HTTPS_PORT/api/health")" = 200 ]
}
# summary FILE: "referenced failed reasons..." of a Store Instances Response.
summary() {
  "$PY" - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
ref = d.get("00081199", {}).get("Value", [])
bad = d.get("00081198", {}).get("Value", [])
print(len(ref), len(bad), *sorted({"%04X" % i["00081197"]["Value"][0] for i in bad}))
EOF
}
body() { "$PY" "$TOOLS/stow_body.py" "$@"; }
files_of() { find "$1" -name '*.dcm' | sort; }

# Refusals before the body: each followed by a request the server answers.
body files --boundary tresor-stow-b0undary $(files_of "$WORK/good") >"$WORK/good.body"
stow -H "Content-Type: $MP" --data-binary @"$WORK/good.body" "$BASE/studies"
expect_eq "without credentials: 401" 401 "$CODE"
stow -H "Authorization: Bearer $READER" -H "Content-Type: $MP" --data-binary @"$WORK/good.body" \
  "$BASE/studies"
expect_eq "a radiologist (no store grant): 403" 403 "$CODE"
stow "${AUTH[@]}" -H "Content-Type: application/dicom" --data-binary @"$WORK/good.body" \
  "$BASE/studies"
expect_eq "Content-Type application/dicom (not multipart): 415" 415 "$CODE"
stow "${AUTH[@]}" -H 'Content-Type: multipart/related; type="application/json"; boundary=x' \
  --data-binary @"$WORK/good.body" "$BASE/studies"
expect_eq "multipart/related of application/json: 415" 415 "$CODE"
stow "${AUTH[@]}" -H 'Content-Type: multipart/related; type="application/dicom"' \
  --data-binary @"$WORK/good.body" "$BASE/studies"
expect_eq "no boundary: 400" 400 "$CODE"
stow "${AUTH[@]}" -H "Content-Type: $MP" --data-binary @"$WORK/good.body" "$BASE/studies/1.2.x"
expect_eq "a {study} that is not a UID: 400" 400 "$CODE"
expect_eq "nothing was stored by the refused requests" "instances: 0" \
  "$("$TRESOR" stats --data "$DATA" | grep instances)"
check "server still answering" healthy

# 100 instances in one request, the part headers cycling through Content-Type,
# Content-Type with transfer-syntax, no headers at all, Content-Length; with a preamble
# and an epilogue.
body files --boundary tresor-stow-b0undary --headers cycle --framing $(files_of "$WORK/corpus") \
  >"$WORK/corpus.body"
BYTES=$(stat -c %s "$WORK/corpus.body")
T0=$(date +%s.%N)
stow "${AUTH[@]}" -H "Content-Type: $MP" --data-binary @"$WORK/corpus.body" "$BASE/studies"
T1=$(date +%s.%N)
expect_eq "STOW of 100 instances in one request: 200" 200 "$CODE"
check "response is application/dicom+json with 100 referenced, none failed, retrieve URLs" \
  "$PY" - "$BODY" "$WORK/corpus/manifest.tsv" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])][1:]
want = {r[4]: (r[2], r[3], r[6]) for r in rows}
ref = d["00081199"]["Value"]
assert "00081198" not in d, "FailedSOPSequence present"
assert len(ref) == 100, len(ref)
study = rows[0][2]
assert d["00081190"] == {"vr": "UR", "Value": ["/dicom-web/studies/" + study]}, d["00081190"]
for item in ref:
    uid = item["00081155"]["Value"][0]
    st, se, cls = want.pop(uid)
    assert item["00081150"]["Value"] == [cls]
    url = item["00081190"]["Value"][0]
    assert url == "/dicom-web/studies/%s/series/%s/instances/%s" % (st, se, uid), url
assert not want, want
EOF
"$PY" -c "
import sys; t = float(sys.argv[2]) - float(sys.argv[1]); b = int(sys.argv[3])
print('  100-instance STOW: %.2f s, %.0f instances/s, %.1f MB/s (%d bytes)' % (
    t, 100 / t, b / t / 1e6, b))
" "$T0" "$T1" "$BYTES"
expect_eq "the archive holds the 100 instances" "instances: 100" \
  "$("$TRESOR" stats --data "$DATA" | grep instances)"

# C-FIND finds every one of them.
mkdir -p "$WORK/find"
findscu -aet STOWFIND -aec TRESOR -S -X -od "$WORK/find" -k QueryRetrieveLevel=IMAGE \
  -k "StudyInstanceUID=$CORPUS_STUDY" -k SeriesInstanceUID -k SOPInstanceUID \
  127.0.0.1 "$PORT" >"$WORK/find.log" 2>&1
check "C-FIND at IMAGE level returns exactly the 100 SOP Instance UIDs" \
  "$PY" - "$WORK/find" "$WORK/corpus/manifest.tsv" <<'EOF'
import glob, sys, pydicom
got = sorted(str(pydicom.dcmread(f).SOPInstanceUID) for f in glob.glob(sys.argv[1] + "/rsp*.dcm"))
want = sorted(l.split("\t")[4] for l in list(open(sys.argv[2]))[1:])
assert got == want, (len(got), len(want))
EOF
# ... and their data sets are byte-identical to what was sent.
check "all 100 stored data sets are byte-identical to the uploaded files" \
  "$PY" - "$TRESOR" "$DATA" "$WORK/corpus" <<'EOF'
import subprocess, sys
sys.path.insert(0, sys.argv[0].rsplit("/", 1)[0])
tresor, data, corpus = sys.argv[1:4]
def dataset(b):
    import struct
    pos = 132
    while pos + 8 <= len(b):
        g, e = struct.unpack_from("<HH", b, pos)
        if g != 2: break
        vr = b[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT"):
            pos += 12 + struct.unpack_from("<I", b, pos + 8)[0]
        else:
            pos += 8 + struct.unpack_from("<H", b, pos + 6)[0]
    return b[pos:]
bad = 0
for line in list(open(corpus + "/manifest.tsv"))[1:]:
    path, uid = line.split("\t")[0], line.split("\t")[4]
    out = subprocess.run([tresor, "cat", "--data", data, uid], capture_output=True).stdout
    if dataset(out) != dataset(open(corpus + "/" + path, "rb").read()): bad += 1
assert bad == 0, "%d differ" % bad
EOF

# The same request again: identical duplicates count as stored.
stow "${AUTH[@]}" -H "Content-Type: $MP" --data-binary @"$WORK/corpus.body" "$BASE/studies"
expect_eq "the same 100 again (identical duplicates): 200" 200 "$CODE"
expect_eq "... 100 referenced, none failed" "100 0" "$(summary "$BODY")"
expect_eq "... and still 100 instances" "instances: 100" \
  "$("$TRESOR" stats --data "$DATA" | grep instances)"

# Good parts mixed with hostile ones, chunked.
body hostile --boundary tresor-stow-b0undary --expect "$WORK/hostile.expect" \
  $(files_of "$WORK/good") >"$WORK/hostile.body"
stow "${AUTH[@]}" -H "Content-Type: $MP" -H "Transfer-Encoding: chunked" --data-binary @- \
  "$BASE/studies" <"$WORK/hostile.body"
expect_eq "5 good parts among 8 hostile ones (chunked): 202" 202 "$CODE"
check "one result per part: the good ones referenced, each hostile one failed with 0xC000" \
  "$PY" - "$BODY" "$WORK/hostile.expect" "$WORK/good/manifest.tsv" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
expect = [l.split() for l in open(sys.argv[2])]
uid_of = {l.split("\t")[0].rsplit("/", 1)[1]: l.split("\t")[4] for l in list(open(sys.argv[3]))[1:]}
ref = [i["00081155"]["Value"][0] for i in d["00081199"]["Value"]]
failed = d["00081198"]["Value"]
assert ref == [uid_of[name] for kind, name in expect if kind == "stored"], ref
want_failed = [uid for kind, uid in expect if kind == "failed"]
assert len(failed) == len(want_failed) == 8, len(failed)
for item, uid in zip(failed, want_failed):
    assert item["00081197"] == {"vr": "US", "Value": [0xC000]}, item
    got = item["00081155"].get("Value", ["-"])[0]
    assert got == uid, (got, uid)
EOF
check "server still answering after the hostile parts" healthy
expect_eq "the 5 good ones were stored" "instances: 105" \
  "$("$TRESOR" stats --data "$DATA" | grep instances)"

# Only hostile parts: none stored, 409.
"$PY" - "$WORK/hostile.body" >"$WORK/hostile-only.body" <<'EOF'
import sys
b = open(sys.argv[1], "rb").read()
import re
parts = b.split(b"--tresor-stow-b0undary")
out = sys.stdout.buffer
# Drop the good parts (generated files carry 2.25.<long decimal> UIDs; the hostile ones not).
good = re.compile(rb"2\.25\.\d{20,}")
keep = [p for p in parts[1:-1] if not good.search(p)]
for p in keep: out.write(b"--tresor-stow-b0undary" + p)
out.write(b"--tresor-stow-b0undary--\r\n")
EOF
stow "${AUTH[@]}" -H "Content-Type: $MP" --data-binary @"$WORK/hostile-only.body" "$BASE/studies"
expect_eq "only hostile parts: 409" 409 "$CODE"
expect_eq "... 8 failed, none referenced" "0 8 C000" "$(summary "$BODY")"

# Same SOP Instance UID, different content: refused with 0x0111, nothing overwritten.
"$PY" - "$WORK/good/manifest.tsv" "$WORK/good" "$WORK/changed.dcm" <<'EOF'
import sys, pydicom
row = list(open(sys.argv[1]))[1].split("\t")
ds = pydicom.dcmread(sys.argv[2] + "/" + row[0])
ds.ImageComments = "changed content"
ds.save_as(sys.argv[3], write_like_original=False)
EOF
body files --boundary tresor-stow-b0undary "$WORK/changed.dcm" $(files_of "$WORK/other") \
  >"$WORK/conflict.body"
stow "${AUTH[@]}" -H "Content-Type: $MP" --data-binary @"$WORK/conflict.body" "$BASE/studies"
expect_eq "a changed instance under an archived UID and two new ones: 202" 202 "$CODE"
expect_eq "... 2 referenced, 1 failed with 0x0111" "2 1 0111" "$(summary "$BODY")"

# POST /studies/{study}: instances of another study are refused.
body files --boundary tresor-stow-b0undary --headers ts --lf $(files_of "$WORK/other") \
  >"$WORK/other.body"
stow "${AUTH[@]}" -H "Content-Type: $MP" --data-binary @"$WORK/other.body" \
  "$BASE/studies/$CORPUS_STUDY"
expect_eq "instances of another study to /studies/{study}: 409" 409 "$CODE"
expect_eq "... both failed with 0xC409" "0 2 C409" "$(summary "$BODY")"
TS_TYPE='type="application/dicom; transfer-syntax=1.2.840.10008.1.2.1"'
stow "${AUTH[@]}" -H "Content-Type: multipart/related; $TS_TYPE; boundary=tresor-stow-b0undary" \
  --data-binary @"$WORK/other.body" "$BASE/studies/$OTHER_STUDY"
expect_eq "the same to their own study (LF, transfer-syntax in type and parts): 200" 200 "$CODE"
expect_eq "... with the study's retrieve URL" "/dicom-web/studies/$OTHER_STUDY" \
  "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["00081190"]["Value"][0])' \
    "$BODY")"

# Chunked from a pipe, an unquoted type with parameters of its own, no part headers.
# (stow reads the pipe through process substitution: it must run in this shell to set CODE.)
stow "${AUTH[@]}" -H 'Content-Type: multipart/related; type=application/dicom; boundary=b1' \
  -H "Transfer-Encoding: chunked" --data-binary @- "$BASE/studies" \
  < <(body files --boundary b1 --headers none $(files_of "$WORK/corpus" | head -3))
expect_eq "chunked from a pipe, unquoted type, parts without headers: 200" 200 "$CODE"

# A body without its closing boundary: 400, and the server goes on.
head -c -40 "$WORK/good.body" >"$WORK/cut.body"
stow "${AUTH[@]}" -H "Content-Type: $MP" --data-binary @"$WORK/cut.body" "$BASE/studies"
expect_eq "a body cut before its closing boundary: 400" 400 "$CODE"
check "server still answering" healthy

# A declared Content-Length over the limit: 413 at once, the body is never read (only the
# head is sent; the server must answer without waiting for a single body byte).
check "Content-Length 10 GB (limit 2 GiB): 413 before any body byte" \
  "$PY" - "$HTTPS_PORT" "$CA" "$TOKEN" <<'EOF'
import socket, ssl, sys
port, ca, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(("POST /dicom-web/studies HTTP/1.1\r\nHost: localhost\r\n"
                   "Authorization: Bearer %s\r\n"
                   "Content-Type: multipart/related; type=\"application/dicom\"; boundary=x\r\n"
                   "Content-Length: 10000000000\r\n\r\n" % token).encode())
        status = s.recv(4096).split(b"\r\n", 1)[0]
        assert status.startswith(b"HTTP/1.1 413"), status
EOF
check "server still answering" healthy

# 1 GB chunked: 1000 objects of 1 MB streamed from a generator; the server's resident
# memory may grow by less than 100 MB (peak measured with VmHWM, reset just before).
rss_before=$(server_rss_kb)
echo 5 >"/proc/$PID/clear_refs" 2>/dev/null
T0=$(date +%s.%N)
stow "${AUTH[@]}" -H 'Content-Type: multipart/related; type="application/dicom"; boundary=b2' \
  -H "Transfer-Encoding: chunked" --data-binary @- "$BASE/studies" \
  < <(body big --boundary b2 --parts 1000 --bytes 1048576)
T1=$(date +%s.%N)
expect_eq "1 GB chunked STOW of 1000 objects: 200" 200 "$CODE"
expect_eq "... 1000 referenced" "1000 0" "$(summary "$BODY")"
rss_peak=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
rss_after=$(server_rss_kb)
"$PY" -c "
import sys; t = float(sys.argv[2]) - float(sys.argv[1])
print('  1 GB STOW: %.1f s, %.0f MB/s; RSS before %d kB, peak %d kB, after %d kB' % (
    t, 1000 * 1048.9e3 / t / 1e6, int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])))
" "$T0" "$T1" "$rss_before" "$rss_peak" "$rss_after"
check "resident memory grew by less than 100 MB during the 1 GB upload" \
  test $((rss_peak - rss_before)) -lt 102400
expect_eq "the archive holds them" "instances: 1107" \
  "$("$TRESOR" stats --data "$DATA" | grep instances)"
check "server still answering" healthy
stop_server
finish
