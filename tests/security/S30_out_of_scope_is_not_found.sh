#!/usr/bin/env bash
# S30: a request for a study outside the caller's access scope is answered exactly like a
# request for a study that does not exist (no existence oracle), and is audited as a
# security event. Checked over DIMSE for C-FIND (study and image level), C-GET and C-MOVE,
# and over HTTPS for GET /api/studies/{uid} (the same 404 body). DICOMweb routes will use
# the same ArchiveService calls.
source "$(dirname "$0")/../lib.sh"

echo "S30: out of scope looks like missing, and is audited"
init_data
start_server || { fail "server starts"; finish; exit 1; }
peer() {  # peer NAME AE SERVICES GROUPS [more peer add options]
  "$TRESOR" peer add "$1" --ae "$2" --host 127.0.0.1 --allow "$3" --groups "$4" "${@:5}" \
    --data "$DATA" >/dev/null
}
DEST_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/recv"
storescp -aet DEST "$DEST_PORT" -od "$WORK/recv" >"$WORK/scp.log" 2>&1 &
SCP=$!
peer mod-a MODA echo,store ""
peer mod-b MODB echo,store ""
peer va VIEWA echo,find,move,get site-a
peer dest DEST echo "" --port "$DEST_PORT"
"$TRESOR" group rule add site-a --peer mod-a --data "$DATA" >/dev/null

mkdir -p "$WORK/corpus"
"$PY" "$ROOT/tests/tools/scope_corpus.py" "$WORK/corpus" >"$WORK/plan"
uid() { awk -v k="$1" '$1 == k {print $2}' "$WORK/plan"; }
sop() { awk -v k="$1" '$1 == k {print $3}' "$WORK/plan"; }
check "MODA stores a1 (site-a)" storescu -aet MODA -aec TRESOR 127.0.0.1 "$PORT" "$WORK/corpus/a1.dcm"
check "MODB stores b1 (no group)" storescu -aet MODB -aec TRESOR 127.0.0.1 "$PORT" "$WORK/corpus/b1.dcm"
HIDDEN=$(uid b1) HIDDEN_SOP=$(sop b1)
MISSING=1.2.826.0.1.3680043.8.498.7715.999 MISSING_SOP=1.2.826.0.1.3680043.8.498.7715.999.1.1

# answer LOG: what the caller learns from a -d log: the C-FIND/C-MOVE/C-GET response
# statuses and sub-operation counts, the number of data sets received.
answer() {
  awk '/Message Type *:/ { rsp = ($0 ~ /C-(FIND|MOVE|GET) RSP/) }
       rsp && /DIMSE Status|[Ss]ub-[Oo]perations|Data Set *:/ { sub(/^[^:]*: /, ""); print }' "$1"
  grep -c 'Received .*Response' "$1"
}
files() { find "$1" -type f 2>/dev/null | wc -l; }
run() {  # run NAME tool args...: the tool as VIEWA against Tresor, log NAME.log
  local name=$1 tool=$2; shift 2
  rm -rf "$WORK/$name"; mkdir -p "$WORK/$name"
  case $tool in
    findscu) findscu -d -aet VIEWA -aec TRESOR -X -od "$WORK/$name" "$@" 127.0.0.1 "$PORT" ;;
    getscu) getscu -d -aet VIEWA -aec TRESOR -od "$WORK/$name" "$@" 127.0.0.1 "$PORT" ;;
    movescu) movescu -d -aet VIEWA -aec TRESOR -aem DEST "$@" 127.0.0.1 "$PORT" ;;
  esac >"$WORK/$name.log" 2>&1
}
same() {  # same WHAT NAME_HIDDEN NAME_MISSING
  if [ "$(answer "$WORK/$2.log")" = "$(answer "$WORK/$3.log")" ] && [ -n "$(answer "$WORK/$2.log")" ]; then
    pass "$1: out of scope and missing get the same answer"
  else
    fail "$1: answers differ: [$(answer "$WORK/$2.log" | tr '\n' ' ')] vs [$(answer "$WORK/$3.log" | tr '\n' ' ')]"
  fi
}

# Control: the study in scope is found and retrieved.
run fa findscu -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="$(uid a1)" -k PatientID
expect_eq "control: C-FIND finds the study in scope" 1 "$(files "$WORK/fa")"
run ga getscu -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="$(uid a1)"
expect_eq "control: C-GET retrieves the study in scope" 1 "$(files "$WORK/ga")"

for kind in hidden missing; do
  if [ $kind = hidden ]; then u=$HIDDEN s=$HIDDEN_SOP; else u=$MISSING s=$MISSING_SOP; fi
  run "fs-$kind" findscu -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="$u" -k PatientID -k PatientName
  run "fi-$kind" findscu -S -k QueryRetrieveLevel=IMAGE -k StudyInstanceUID="$u" -k SeriesInstanceUID="${s%.1}" -k SOPInstanceUID="$s"
  run "g-$kind" getscu -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="$u"
  before=$(files "$WORK/recv")
  run "m-$kind" movescu -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID="$u"
  expect_eq "C-MOVE of the $kind study sends nothing to DEST" "$before" "$(files "$WORK/recv")"
done
same "C-FIND study level" fs-hidden fs-missing
same "C-FIND image level" fi-hidden fi-missing
same "C-GET" g-hidden g-missing
same "C-MOVE" m-hidden m-missing
expect_eq "C-FIND returns no match for the hidden study" 0 "$(files "$WORK/fs-hidden")"
expect_eq "C-GET receives nothing of the hidden study" 0 "$(files "$WORK/g-hidden")"
check_fails "no patient data of the hidden study reaches VIEWA" grep -q "Alpha" "$WORK/fs-hidden.log"

# HTTPS: a user in site-a gets the study in scope, and the same 404 for the hidden and
# the missing one.
echo "correct horse battery" | "$TRESOR" user add reader-a --role radiologist --groups site-a \
  --password-stdin --data "$DATA" >/dev/null
TOKEN=$(curl -s --cacert "$DATA/keys/ca.pem" "https://127.0.0.1:$HTTPS_PORT/auth/token" \
  -H 'Content-Type: application/json' -d '{"username":"reader-a","password":"correct horse battery"}' |
  "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
get_study() {  # get_study UID NAME: status code; body in $WORK/NAME.json
  curl -s -o "$WORK/$2.json" -w '%{http_code}' --cacert "$DATA/keys/ca.pem" \
    -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$HTTPS_PORT/api/studies/$1"
}
expect_eq "GET /api/studies/<a1> (in scope): 200" 200 "$(get_study "$(uid a1)" h-a1)"
check "... with the study's patient" grep -q '"PatientID":"ALPHA"' "$WORK/h-a1.json"
expect_eq "GET /api/studies/<b1> (out of scope): 404" 404 "$(get_study "$HIDDEN" h-hidden)"
expect_eq "GET /api/studies/<missing>: 404" 404 "$(get_study "$MISSING" h-missing)"
check "out of scope and missing get the same body" cmp -s "$WORK/h-hidden.json" "$WORK/h-missing.json"
check_fails "the 404 carries no patient data" grep -q "ALPHA" "$WORK/h-hidden.json"
check "the hidden HTTPS request is logged as a security event naming the user" \
  grep -q "security event: query by user 'reader-a'.*outside its access scope.*$HIDDEN" "$LOG"

# Audit: requests for the hidden study are security events naming caller and UID;
# requests for a UID that does not exist are not.
check "the hidden C-FIND is logged as a security event" \
  grep -q "security event: query by peer 'va' (AE VIEWA.*outside its access scope.*$HIDDEN" "$LOG"
check "the hidden C-GET/C-MOVE are logged as security events" \
  grep -q "security event: retrieve by peer 'va' (AE VIEWA.*outside its access scope.*$HIDDEN" "$LOG"
check_fails "a missing UID is not reported as out of scope" grep -q "outside its access scope.*$MISSING" "$LOG"
check_fails "the log carries no patient names or IDs" grep -qE "Alpha|ALPHA" "$LOG"
check "server still up" server_alive
kill "$SCP" 2>/dev/null
stop_server
finish
