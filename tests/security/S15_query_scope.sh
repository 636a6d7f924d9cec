#!/usr/bin/env bash
# S15: an authorized PatientName=* query returns only the studies in the caller's access
# scope, capped by the configured result limit. Studies get their groups at store time by
# rule (receiving peer, Institution Name, Issuer of Patient ID); peers see the studies of
# their groups; computed counts count only visible studies; new rules and manual
# assignments apply to studies already archived; a changed membership applies to the
# next association.
source "$(dirname "$0")/../lib.sh"

echo "S15: C-FIND sees only the caller's access scope"
init_data
sed -i 's/^max_find_results = .*/max_find_results = 4/' "$DATA/tresor.conf"
start_server || { fail "server starts"; finish; exit 1; }
peer() {  # peer NAME AE SERVICES GROUPS
  "$TRESOR" peer add "$1" --ae "$2" --host 127.0.0.1 --allow "$3" --groups "$4" --data "$DATA" >/dev/null
}
group() { "$TRESOR" group "$@" --data "$DATA"; }
peer mod-a MODA echo,store ""
peer mod-b MODB echo,store ""
peer va VIEWA echo,find site-a
peer vb VIEWB echo,find site-b,ext
peer vall VIEWALL echo,find all
peer vnone VIEWNONE echo,find ""
check "rule: studies from peer mod-a go to site-a" group rule add site-a --peer mod-a
check "rule: Institution Name 'Klinik B' goes to site-b" group rule add site-b --institution "Klinik B"
check "rule: Issuer of Patient ID EXT-ISSUER goes to ext" group rule add ext --issuer EXT-ISSUER
check_fails "the reserved group 'all' cannot get rules" group rule add all --peer mod-a
check_fails "a group name with a space is refused" group rule add "site a" --peer mod-a

mkdir -p "$WORK/corpus"
"$PY" "$ROOT/tests/tools/scope_corpus.py" "$WORK/corpus" >"$WORK/plan"
uid() { awk -v k="$1" '$1 == k {print $2}' "$WORK/plan"; }
C=$WORK/corpus
check "MODA stores a1 a2 a3" storescu -aet MODA -aec TRESOR 127.0.0.1 "$PORT" "$C/a1.dcm" "$C/a2.dcm" "$C/a3.dcm"
check "MODB stores b1 b2 e1 c1" storescu -aet MODB -aec TRESOR 127.0.0.1 "$PORT" "$C/b1.dcm" "$C/b2.dcm" "$C/e1.dcm" "$C/c1.dcm"

# fq NAME AE MODEL LEVEL KEY=VALUE...: findscu writing responses to $WORK/NAME/, log NAME.log.
fq() {
  local name=$1 ae=$2 model=$3 level=$4; shift 4
  rm -rf "$WORK/$name"; mkdir -p "$WORK/$name"
  local args=()
  for kv in "$@"; do args+=(-k "$kv"); done
  findscu -d -aet "$ae" -aec TRESOR "$model" -X -od "$WORK/$name" -k QueryRetrieveLevel="$level" \
    "${args[@]}" 127.0.0.1 "$PORT" >"$WORK/$name.log" 2>&1
}
final_status() { sed -n 's/.*DIMSE Status *: \(0x[0-9a-f]*\).*/\1/p' "$WORK/$1.log" | tail -1; }
# values NAME KEYWORD...: "v1/v2 ..." per response, sorted, space-separated.
values() {
  "$PY" - "$WORK/$1" "${@:2}" <<'PY'
import glob, sys
import pydicom
rows = []
for f in glob.glob(sys.argv[1] + "/rsp*.dcm"):
    ds = pydicom.dcmread(f)
    rows.append("/".join(str(ds.get(k, "")) for k in sys.argv[2:]))
print(" ".join(sorted(rows)))
PY
}
studies() {  # studies NAME AE: the StudyIDs a PatientName=* study query returns
  fq "$1" "$2" -S STUDY "PatientName=*" StudyID StudyInstanceUID
  values "$1" StudyID
}

expect_eq "VIEWA (site-a) sees the studies from mod-a" "a1 a2 a3" "$(studies qa VIEWA)"
expect_eq "... and the query ends with success" 0x0000 "$(final_status qa)"
expect_eq "VIEWB (site-b, ext) sees Klinik B's studies and EXT-ISSUER's" "b1 b2 e1" "$(studies qb VIEWB)"
# A later instance never widens a study's scope: MODA (site-a) sending into b1's study
# does not make b1 visible to site-a.
check "MODA stores x1 into b1's study" storescu -aet MODA -aec TRESOR 127.0.0.1 "$PORT" "$C/x1.dcm"
expect_eq "VIEWA still sees only a1 a2 a3" "a1 a2 a3" "$(studies qa1 VIEWA)"
expect_eq "VIEWNONE (no group) sees nothing" "" "$(studies qn VIEWNONE)"
expect_eq "... with a normal success status (no hint that studies exist)" 0x0000 "$(final_status qn)"
studies qall VIEWALL >/dev/null
expect_eq "VIEWALL ('all') gets max_find_results (4) of the 7 studies" 4 \
  "$(find "$WORK/qall" -name 'rsp*.dcm' | wc -l)"
expect_eq "... and is told the limit was reached (0xa700)" 0xa700 "$(final_status qall)"

# Computed counts and patient matching follow the scope too.
fq pa VIEWA -P PATIENT "PatientName=*" PatientID NumberOfPatientRelatedStudies
expect_eq "VIEWA patient level: ALPHA has 2 visible studies, BETA 1" "ALPHA/2 BETA/1" \
  "$(values pa PatientID NumberOfPatientRelatedStudies)"
# BETA with issuer EXT-ISSUER is another patient than BETA without an issuer.
fq pb VIEWB -P PATIENT "PatientName=*" PatientID IssuerOfPatientID NumberOfPatientRelatedStudies
expect_eq "VIEWB patient level: ALPHA 1, BETA 1, BETA of EXT-ISSUER 1" \
  "ALPHA//1 BETA//1 BETA/EXT-ISSUER/1" \
  "$(values pb PatientID IssuerOfPatientID NumberOfPatientRelatedStudies)"
fq sa VIEWA -P SERIES "PatientID=BETA" "StudyInstanceUID=" SeriesInstanceUID
A3_SOP=$(awk '$1 == "a3" {print $3}' "$WORK/plan")
expect_eq "VIEWA series level, patient BETA: only the series of a3" "${A3_SOP%.1}" \
  "$(values sa SeriesInstanceUID)"

# Rules apply to studies already archived; single studies can be assigned.
out=$(group rule add late --institution "Klinik C")
check "a new rule reports the 2 archived studies it assigned" grep -q "2 archived studies" <<<"$out"
peer vlate VIEWLATE echo,find late
expect_eq "VIEWLATE (late) sees the Klinik C studies archived before the rule" "c1 e1" "$(studies ql VIEWLATE)"
check "assign c1 to site-a" group assign site-a "$(uid c1)"
expect_eq "VIEWA now also sees c1" "a1 a2 a3 c1" "$(studies qa2 VIEWA)"
check "unassign it again" group unassign site-a "$(uid c1)"
expect_eq "VIEWA no longer sees c1" "a1 a2 a3" "$(studies qa3 VIEWA)"
check_fails "assigning an unknown study fails" group assign site-a 1.2.3.4.5
out=$(group list)
check "group list shows site-a with 3 studies and its member" grep -q "^site-a: 3 studies; members: peer:va" <<<"$out"
check "group list shows the rule of site-b" grep -q 'rule: institution = "Klinik B"' <<<"$out"

# A new membership applies to the next association.
peer vnone VIEWNONE echo,find site-b
expect_eq "VIEWNONE, now in site-b, sees Klinik B's studies" "b1 b2" "$(studies qn2 VIEWNONE)"
check "peer add without groups for a reader warns" bash -c \
  "'$TRESOR' peer add lonely --ae LONELY --host 127.0.0.1 --allow find --data '$DATA' | grep -q 'no access group'"
# The HTTPS API is scoped the same way: a user in site-a counts only site-a's studies.
echo "correct horse battery" | "$TRESOR" user add reader-a --role radiologist --groups site-a \
  --password-stdin --data "$DATA" >/dev/null
api_studies() {  # api_studies USER: "studies" of GET /api/stats as USER
  local token
  token=$(curl -s --cacert "$DATA/keys/ca.pem" "https://127.0.0.1:$HTTPS_PORT/auth/token" \
    -H 'Content-Type: application/json' -d "{\"username\":\"$1\",\"password\":\"correct horse battery\"}" |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s --cacert "$DATA/keys/ca.pem" -H "Authorization: Bearer $token" \
    "https://127.0.0.1:$HTTPS_PORT/api/stats" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["studies"])'
}
expect_eq "GET /api/stats for a site-a user counts site-a's 3 studies" 3 "$(api_studies reader-a)"
"$TRESOR" user groups reader-a all --data "$DATA" >/dev/null
expect_eq "... and all 7 once the user is in 'all'" 7 "$(api_studies reader-a)"
check "server still up" server_alive
stop_server
finish
