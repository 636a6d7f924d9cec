#!/usr/bin/env bash
# The audit trail against the real binary: every DIMSE and HTTP action driven here
# (associations accepted and rejected, C-ECHO, C-STORE, C-FIND, C-GET, C-MOVE, sign-in,
# failed sign-in, sign-out, QIDO-RS, WADO-RS, STOW-RS, the audit API, a peer added and a
# user created through the CLI, an import) must leave its record with the right EventID,
# outcome and participants, read back with `tresor audit list --format json`; the export
# is DICOM audit XML; patient IDs and query keys reach the trail but never the text log.
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools

echo "audit: every action leaves its audit record"
CORPUS=$WORK/corpus
"$PY" "$TOOLS/make_studies.py" --out "$CORPUS" --patients 3 --studies 1 --series 1 --instances 2 \
  --rows 8 --cols 8 >/dev/null
MAN=$CORPUS/manifest.tsv
col() { awk -F'\t' -v p="$1" -v c="$2" 'NR > 1 && $2 == p { print $c; exit }' "$MAN"; }
PIDS=($(awk -F'\t' 'NR > 1 { print $2 }' "$MAN" | sort -u))
P_IMPORT=${PIDS[0]} P_STORE=${PIDS[1]} P_STOW=${PIDS[2]}
S_IMPORT=$(col "$P_IMPORT" 3) S_STORE=$(col "$P_STORE" 3) S_STOW=$(col "$P_STOW" 3)
files_of() { awk -F'\t' -v p="$1" -v d="$CORPUS" 'NR > 1 && $2 == p { print d "/" $1 }' "$MAN"; }

init_data || { fail "init"; finish; exit 1; }
sed -i 's/^fsync = true/fsync = false/' "$DATA/tresor.conf"  # disposable archive
check "import of one patient succeeds" "$TRESOR" import --data "$DATA" $(files_of "$P_IMPORT")
add_peer mod MOD echo,store,find,move,get all
"$TRESOR" peer add ws WS --host 127.0.0.1 --port 1 --allow echo,store --groups all --data "$DATA" >/dev/null
mkuser() { echo 'correct horse battery staple' | "$TRESOR" user add "$1" --role "$2" --groups all --password-stdin --data "$DATA" >/dev/null; }
mkuser alice radiologist; mkuser tech technologist; mkuser eve auditor
TECH_TOKEN=$("$TRESOR" token create t-tech --user tech --data "$DATA" | tail -1)
EVE_TOKEN=$("$TRESOR" token create t-eve --user eve --data "$DATA" | tail -1)

start_server || { fail "the server starts"; finish; exit 1; }
BASE=https://127.0.0.1:$HTTPS_PORT
CA=$DATA/keys/ca.pem

# DIMSE
check "echoscu as MOD is accepted" echoscu -aet MOD -aec TRESOR 127.0.0.1 "$PORT"
check_fails "echoscu as STRANGER is rejected" echoscu -aet STRANGER -aec TRESOR 127.0.0.1 "$PORT"
check "storescu C-STORE of a second patient" storescu -aet MOD -aec TRESOR 127.0.0.1 "$PORT" $(files_of "$P_STORE")
check "findscu C-FIND by PatientID" findscu -S -aet MOD -aec TRESOR 127.0.0.1 "$PORT" \
  -k QueryRetrieveLevel=STUDY -k "PatientID=$P_STORE" -k StudyInstanceUID
mkdir -p "$WORK/get"
check "getscu C-GET of the study" getscu -S -aet MOD -aec TRESOR -od "$WORK/get" 127.0.0.1 "$PORT" \
  -k QueryRetrieveLevel=STUDY -k "StudyInstanceUID=$S_STORE"
check "the C-GET delivered 2 instances" test "$(ls "$WORK/get" | wc -l)" -eq 2
# C-MOVE to WS, which listens nowhere: the move is refused or fails, and is recorded either way.
movescu -S -aet MOD -aec TRESOR -aem WS 127.0.0.1 "$PORT" -k QueryRetrieveLevel=STUDY \
  -k "StudyInstanceUID=$S_IMPORT" >"$WORK/move.out" 2>&1
pass "movescu C-MOVE to WS ran"

# HTTP
curl_json() { curl -sS --cacert "$CA" -o "$WORK/body" -w '%{http_code}' "$@"; }
CODE=$(curl_json -H 'Content-Type: application/json' -d '{"username":"alice","password":"wrong"}' "$BASE/auth/session")
expect_eq "failed sign-in is 401" 401 "$CODE"
CODE=$(curl_json -c "$WORK/jar" -H 'Content-Type: application/json' \
  -d '{"username":"alice","password":"correct horse battery staple"}' "$BASE/auth/session")
expect_eq "sign-in is 200" 200 "$CODE"
CSRF=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["csrf_token"])' "$WORK/body")
CODE=$(curl_json -b "$WORK/jar" "$BASE/dicom-web/studies?PatientID=$P_IMPORT")
expect_eq "QIDO with the session is 200" 200 "$CODE"
CODE=$(curl_json -b "$WORK/jar" -H 'Accept: multipart/related; type="application/dicom"' \
  "$BASE/dicom-web/studies/$S_IMPORT")
expect_eq "WADO-RS study retrieve is 200" 200 "$CODE"
CODE=$(curl_json -b "$WORK/jar" "$BASE/dicom-web/studies/$S_IMPORT/metadata")
expect_eq "WADO-RS metadata is 200" 200 "$CODE"
CODE=$(curl_json -b "$WORK/jar" "$BASE/api/audit")
expect_eq "the audit API refuses a radiologist: 403" 403 "$CODE"
CODE=$(curl_json -b "$WORK/jar" -H "X-CSRF-Token: $CSRF" -X POST "$BASE/auth/logout")
expect_eq "sign-out is 200" 200 "$CODE"
"$PY" "$TOOLS/stow_body.py" files --boundary b0und $(files_of "$P_STOW") >"$WORK/stow.body"
CODE=$(curl_json -H "Authorization: Bearer $TECH_TOKEN" \
  -H 'Content-Type: multipart/related; type="application/dicom"; boundary=b0und' \
  --data-binary @"$WORK/stow.body" "$BASE/dicom-web/studies")
expect_eq "STOW-RS by the technologist is 200" 200 "$CODE"
CODE=$(curl_json -H "Authorization: Bearer $EVE_TOKEN" "$BASE/api/audit?event=query&patient_id=$P_IMPORT&limit=5")
expect_eq "the audit API answers the auditor: 200" 200 "$CODE"
check "... with the QIDO record of that patient" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
recs = [r for r in d["records"] if r["user"] == "alice" and r["event_id"] == "110112"]
assert recs and sys.argv[2] in recs[0]["patient_ids"] and "PatientID=" in recs[0]["query"], d
assert isinstance(d["more"], bool)' "$WORK/body" "$P_IMPORT"
CODE=$(curl_json -H "Authorization: Bearer $EVE_TOKEN" "$BASE/api/audit?event=nonsense")
expect_eq "an unknown event filter is 400" 400 "$CODE"
check "the server is still up" server_alive

# CLI administration while the server runs.
check "a peer is added through the CLI" "$TRESOR" peer add late --ae LATE --host 127.0.0.1 --allow echo --data "$DATA"
stop_server

"$TRESOR" audit list --format json --limit 10000 --data "$DATA" >"$WORK/trail.jsonl"
check "audit list --format json works" test -s "$WORK/trail.jsonl"

# Each action and what its record must say: event, type, outcome, who, what.
while IFS= read -r line; do
  case $line in
    PASS\ *) pass "${line#PASS }" ;;
    FAIL\ *) fail "${line#FAIL }" ;;
    *) echo "       $line" ;;
  esac
done < <("$PY" - "$WORK/trail.jsonl" "$P_IMPORT" "$S_IMPORT" "$P_STORE" "$S_STORE" "$P_STOW" "$S_STOW" <<'PYEOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
p_imp, s_imp, p_sto, s_sto, p_stow, s_stow = sys.argv[2:8]
def want(what, **k):
    def ok(r):
        for key, v in k.items():
            if key == "study":
                if v not in r["study_uids"]: return False
            elif key == "patient":
                if v not in r["patient_ids"]: return False
            elif key == "query_has":
                if v not in r["query"]: return False
            elif key == "object_has":
                if v not in r["object"]: return False
            elif r.get(key) != v:
                return False
        return True
    hits = [r for r in recs if ok(r)]
    if hits:
        r = hits[0]
        req = [p for p in r["participants"] if p["requestor"]]
        arch = [p for p in r["participants"] if not p["requestor"]]
        if len(req) != 1 or len(arch) != 1 or arch[0]["user_id"] != "TRESOR" or r["source"] != "TRESOR":
            print("FAIL %s: participants/source wrong: %s" % (what, r)); return
        print("PASS %s (seq %d)" % (what, r["seq"]))
    else:
        print("FAIL %s: no record with %s" % (what, k))
want("import: 110107 with patient and study", event_id="110107", action="C", outcome=0, patient=p_imp, study=s_imp)
want("peer added via CLI: 110113/110128", event_id="110113", event_type="110128", object_has="peer mod")
want("peer added while serving: 110113/110128", event_id="110113", event_type="110128", object_has="peer late")
want("user created: 110113/110136", event_id="110113", event_type="110136", object_has="user alice")
want("API token created: 110113/110137", event_id="110113", event_type="110137", object_has="token t-eve")
want("server start: 110100/110120", event_id="110100", event_type="110120")
want("server stop: 110100/110121", event_id="110100", event_type="110121")
want("association accepted: 110114/110126 outcome 0 from MOD", event_id="110114", event_type="110126", outcome=0, ae_title="MOD", host="127.0.0.1")
want("association rejected: 110114/110126 outcome 4 from STRANGER", event_id="110114", event_type="110126", outcome=4, ae_title="STRANGER", host="127.0.0.1")
want("C-STORE: 110104 C outcome 0 by MOD with patient and study", event_id="110104", action="C", outcome=0, ae_title="MOD", patient=p_sto, study=s_sto)
want("C-FIND: 110112 by MOD with its keys", event_id="110112", ae_title="MOD", query_has="PatientID=" + p_sto, patient=p_sto)
want("C-GET: 110104 R by MOD for the study", event_id="110104", action="R", ae_title="MOD", study=s_sto, patient=p_sto, instances=2)
want("C-MOVE: 110104 R by MOD for the study", event_id="110104", action="R", ae_title="MOD", study=s_imp)
want("failed sign-in: 110114/110122 outcome 4 for alice", event_id="110114", event_type="110122", outcome=4, user="alice")
want("sign-in: 110114/110122 outcome 0 for alice", event_id="110114", event_type="110122", outcome=0, user="alice", host="127.0.0.1")
want("sign-out: 110114/110123 for alice", event_id="110114", event_type="110123", user="alice")
want("QIDO: 110112 by alice with its keys", event_id="110112", user="alice", query_has="PatientID=" + p_imp)
want("WADO-RS retrieve: 110104 R by alice for the study", event_id="110104", action="R", user="alice", study=s_imp, patient=p_imp)
want("WADO-RS metadata: 110103 R by alice", event_id="110103", user="alice", study=s_imp)
want("STOW-RS: 110104 C by tech with patient and study", event_id="110104", action="C", outcome=0, user="tech", patient=p_stow, study=s_stow)
want("audit API read by eve: 110101 outcome 0", event_id="110101", user="eve", outcome=0)
want("audit API refused for alice: 110101 outcome 4", event_id="110101", user="alice", outcome=4)
want("the CLI list itself: 110101 by the local administrator", event_id="110101", user="local administrator")
seqs = [r["seq"] for r in recs]
print(("PASS" if seqs == list(range(1, len(seqs) + 1)) else "FAIL") + " records are numbered 1..%d without gaps" % len(seqs))
PYEOF
)

# Filters.
N_MOD=$("$TRESOR" audit list --format json --user MOD --data "$DATA" | wc -l)
N_ALL=$("$TRESOR" audit list --format json --limit 10000 --data "$DATA" | wc -l)
check "--user MOD selects some but not all records" test "$N_MOD" -gt 0 -a "$N_MOD" -lt "$N_ALL"
check "--study and --event select the C-STORE's record" bash -c \
  "'$TRESOR' audit list --format json --study '$S_STORE' --event transferred --data '$DATA' | grep -q '\"action\":\"C\"'"
check "--patient-id selects only records naming that patient" bash -c \
  "'$TRESOR' audit list --format json --patient-id '$P_STOW' --data '$DATA' | '$PY' -c '
import json,sys
rs=[json.loads(l) for l in sys.stdin]
assert rs and all(\"$P_STOW\" in r[\"patient_ids\"] for r in rs)'"
check "--from in the future selects nothing" bash -c \
  "test -z \"\$('$TRESOR' audit list --from 2999-01-01 --data '$DATA')\""
check_fails "a malformed --from is refused" "$TRESOR" audit list --from yesterday --data "$DATA"
"$TRESOR" audit export --format xml --event authentication --data "$DATA" >"$WORK/export.xml"
check "the XML export parses and holds A.5 messages" "$PY" -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
msgs = root.findall("AuditMessage")
assert root.tag == "AuditMessages" and msgs
for m in msgs:
    ei = m.find("EventIdentification")
    assert ei.get("EventOutcomeIndicator") in ("0", "4", "8", "12") and ei.get("EventDateTime")
    assert ei.find("EventID").get("csd-code") == "110114"
    assert m.find("ActiveParticipant").get("UserIsRequestor") in ("true", "false")
    assert m.find("AuditSourceIdentification").get("AuditSourceID") == "TRESOR"' "$WORK/export.xml"
"$TRESOR" audit export --format json --data "$DATA" >"$WORK/export.json"
check "the JSON export is an array of records" "$PY" -c '
import json, sys; d = json.load(open(sys.argv[1])); assert isinstance(d, list) and d and "seq" in d[0]' "$WORK/export.json"
check "the trail verifies intact" "$TRESOR" audit verify --data "$DATA"

# PHI goes to the trail, never to the text log.
leaked=0
for p in "$P_IMPORT" "$P_STORE" "$P_STOW"; do grep -qF "$p" "$LOG" && leaked=1; done
expect_eq "no patient ID in the server log" 0 "$leaked"

finish
