#!/usr/bin/env bash
# Several nodes serving one archive: node a (`tresor init --config`, PostgreSQL index on
# a private cluster, tests/tools/pg_cluster.sh, blobs on s3rver, tests/tools/s3_server.sh)
# and node b (`tresor init --join a --node b`), both served at once. Checks:
#   - 2,000 instances sent half to each node over 4 parallel associations are each
#     indexed exactly once (C-FIND at IMAGE level on either node against the manifest);
#   - C-FIND (several shapes, wildcards included) and QIDO-RS answer the same on both;
#   - a store acknowledged by one node is found on the other right after;
#   - one SOP Instance UID stored at the same time on both nodes with different content:
#     one store succeeds, the other gets the single-node conflict status (0x0111), the
#     index holds the instance once, with the winner's content, on both nodes;
#   - a session signed in on a works on b and, signed out on a, is refused on b (and the
#     other way round for a browser session);
#   - failed sign-ins on a back off the same user on b (the lockout lives in the index);
#   - kill -9 of node b mid-ingest: every instance b acknowledged is found through a,
#     a keeps serving during and after, b restarts (its staging emptied by its own
#     recovery) and serves again; `tresor verify` then finds nothing missing, corrupted
#     or orphaned;
#   - `tresor audit verify` holds on the shared trail, which has records of both nodes
#     (source TRESOR@a and TRESOR@b).
# CLUSTER_STORAGE=s3 (default: s3rver, with tests/tools/s3rver_fixes.js, which keeps its
# DELETE from racing concurrent PUTs) or shared (a directory both nodes share,
# storage.backend "shared"; ctest integration.cluster_shared). Should the S3 test server
# die anyway, the suite stops there and says so instead of failing every later check.
# CLUSTER_PORT_BASE=N serves node a on N..N+2 and node b on N+10..N+12 (then
# N+20..N+22 after its restart); by default the kernel picks free ports.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/tools/pg_cluster.sh"
source "$ROOT/tests/tools/s3_server.sh"

STORAGE=${CLUSTER_STORAGE:-s3}
PORT_BASE=${CLUSTER_PORT_BASE:-0}
STARTED=$(date +%s)
echo "cluster: nodes a and b on one archive (PostgreSQL index, $STORAGE storage)"
case "$STORAGE" in
  s3|shared) ;;
  *) fail "CLUSTER_STORAGE must be s3 or shared, not '$STORAGE'"; finish; exit 1 ;;
esac

PID_A= PID_B=
stop_nodes() {
  local p
  for p in "$PID_A" "$PID_B"; do
    [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
  done
  for p in "$PID_A" "$PID_B"; do
    [ -n "$p" ] && wait "$p" 2>/dev/null
  done
  PID_A= PID_B=
}
trap 'stop_nodes; pg_stop "$WORK/pg" 2>/dev/null; s3_stop "$WORK/s3" 2>/dev/null; cleanup' EXIT

if [ ! -x "$PG_BIN/initdb" ]; then
  skip --core "no PostgreSQL 15 in $PG_BIN"; finish; exit $?
fi
if [ "$STORAGE" = s3 ] && ! command -v node >/dev/null 2>&1; then
  skip --core "no node for s3rver"; finish; exit $?
fi
pg_start "$WORK/pg" >/dev/null || { fail "PostgreSQL starts"; finish; exit 1; }
"$PG_BIN/psql" "$TRESOR_TEST_PG" -X -q -c "CREATE DATABASE cluster" >/dev/null ||
  { fail "database cluster created"; finish; exit 1; }
DB="$TRESOR_TEST_PG dbname=cluster"
psql_q() { "$PG_BIN/psql" "$DB" -X -A -t -q -c "$1"; }

# The configuration of the archive: the default one (from a throwaway `tresor init`) on
# the test cluster and the shared storage.
CONF=$WORK/cluster.conf
"$TRESOR" init --data "$WORK/template" >/dev/null 2>&1 || { fail "template init"; finish; exit 1; }
cp "$WORK/template/tresor.conf" "$CONF"
set_conf "$CONF" index backend '"postgresql"'
set_conf "$CONF" index postgresql "\"$DB\""
set_conf "$CONF" cluster node '"a"'
# Every instance of the run answers one IMAGE-level C-FIND.
set_conf "$CONF" limits max_find_results 10000
if [ "$STORAGE" = s3 ]; then
  s3_start "$WORK/s3" >/dev/null || { fail "s3rver starts"; finish; exit 1; }
  printf '%s\n%s\n' "$TRESOR_TEST_S3_ACCESS_KEY" "$TRESOR_TEST_S3_SECRET_KEY" >"$WORK/s3.credentials"
  chmod 600 "$WORK/s3.credentials"
  set_conf "$CONF" storage backend '"s3"'
  set_conf "$CONF" storage s3_endpoint "\"$TRESOR_TEST_S3_ENDPOINT\""
  set_conf "$CONF" storage s3_bucket "\"$TRESOR_TEST_S3_BUCKET\""
  set_conf "$CONF" storage s3_prefix '"cluster"'
  set_conf "$CONF" storage s3_credentials_file "\"$WORK/s3.credentials\""
else
  mkdir -p "$WORK/shared"
  set_conf "$CONF" storage backend '"shared"'
  set_conf "$CONF" storage path "\"$WORK/shared\""
fi

A=$WORK/a
B=$WORK/b
"$TRESOR" init --data "$A" --config "$CONF" >"$WORK/init_a.out" 2>&1
expect_eq "tresor init --data a --config (PostgreSQL + $STORAGE)" 0 "$?"
ADMIN_PW=$(sed -n 's/.*store it safely): //p' "$WORK/init_a.out" | head -1)
check "init of node a printed the admin password" test -n "$ADMIN_PW"
"$TRESOR" init --join "$A" --data "$B" --node b >"$WORK/init_b.out" 2>&1
expect_eq "tresor init --join a --data b --node b" 0 "$?"
[ -f "$B/tresor.conf" ] || { sed 's/^/       /' "$WORK/init_a.out" "$WORK/init_b.out"; finish; exit 1; }
check "node b is named b in its tresor.conf" grep -qx 'node = "b"' "$B/tresor.conf"
check "node b uses the same PostgreSQL database" grep -qF "dbname=cluster" "$B/tresor.conf"

# Peers and users, registered once (on node a) in the shared index.
for peer in "ct CT1 echo,store,find" "ct2 CT2 echo,store,find" "raw RAWSCU echo,store"; do
  set -- $peer
  "$TRESOR" peer add "$1" --ae "$2" --host 127.0.0.1 --allow "$3" --groups all --data "$A" >>"$WORK/admin.log" 2>&1 ||
    fail "peer $1 added"
done
for user in reader locked; do
  echo "correct horse battery $user" |
    "$TRESOR" user add "$user" --role radiologist --groups all --password-stdin --data "$A" >>"$WORK/admin.log" 2>&1 ||
    fail "user $user added"
done
check "node b sees the peers registered through node a" \
  bash -c "'$TRESOR' peer list --data '$B' | grep -q RAWSCU"

# serve_node NAME DIR OFFSET: serves DIR; sets PID_NAME, PORT_NAME, TLS_NAME, HTTPS_NAME.
serve_node() {
  local name=$1 dir=$2 off=$3 d=0 t=0 h=0 log pid port="" i
  if [ "$PORT_BASE" -gt 0 ]; then d=$((PORT_BASE + off)); t=$((d + 1)); h=$((d + 2)); fi
  log=$WORK/serve_$name.$off.log
  "$TRESOR" serve --data "$dir" --dicom-port "$d" --dicom-tls-port "$t" --http-port "$h" \
    >>"$WORK/serve_$name.out" 2>"$log" &
  pid=$!
  for i in $(seq 1 150); do
    port=$(sed -n 's/.*DICOM listener on [^ ]*:\([0-9]*\) .*/\1/p' "$log" | tail -1)
    https=$(sed -n 's/.*HTTPS listener on [^ ]*:\([0-9]*\).*/\1/p' "$log" | tail -1)
    [ -n "$port" ] && [ -n "$https" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  printf -v "PID_$name" %s "$pid"
  printf -v "LOG_$name" %s "$log"
  if [ -z "$port" ] || [ -z "$https" ]; then
    echo "       node $name did not start:"; tail -20 "$log" | sed 's/^/       /'
    return 1
  fi
  printf -v "PORT_$name" %s "$port"
  printf -v "HTTPS_$name" %s "$https"
  printf -v "TLS_$name" %s "$(sed -n 's/.*DICOM TLS listener on [^ ]*:\([0-9]*\) .*/\1/p' "$log" | tail -1)"
}
serve_node A "$A" 0 || { fail "node a serves"; finish; exit 1; }
serve_node B "$B" 10 || { fail "node b serves"; finish; exit 1; }
pass "both nodes serve (a: DICOM $PORT_A HTTPS $HTTPS_A; b: DICOM $PORT_B HTTPS $HTTPS_B)"
check "node a answers C-ECHO" echoscu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT_A"
check "node b answers C-ECHO" echoscu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT_B"

# find_to DIR PORT KEYS...: a C-FIND (study root) whose answers go to DIR (one file each).
find_to() {
  local dir=$1 port=$2; shift 2
  rm -rf "$dir"; mkdir -p "$dir"
  local keys=() k
  for k in "$@"; do keys+=(-k "$k"); done
  findscu -aet CT1 -aec TRESOR -S -X -od "$dir" "${keys[@]}" 127.0.0.1 "$port" >"$dir.log" 2>&1
}
# answers DIR: the data sets of DIR's answers (no file meta), one sorted line each.
answers() {
  "$PY" - "$1" <<'PYEOF'
import os, sys
import pydicom
d = sys.argv[1]
lines = []
for f in os.listdir(d):
    ds = pydicom.dcmread(os.path.join(d, f))
    lines.append("\t".join(f"{el.tag}={el.value!r}" for el in ds))
print("\n".join(sorted(lines)))
PYEOF
}
# uids DIR: the SOP Instance UIDs of DIR's answers, sorted (repeats kept).
uids() {
  "$PY" - "$1" <<'PYEOF'
import os, sys
import pydicom
d = sys.argv[1]
print("\n".join(sorted(str(pydicom.dcmread(os.path.join(d, f)).SOPInstanceUID) for f in os.listdir(d))))
PYEOF
}
# all_uids NODE_PORT OUT: every instance's UID by one IMAGE-level C-FIND.
all_uids() {
  find_to "$WORK/all.$1" "$1" QueryRetrieveLevel=IMAGE SOPInstanceUID && uids "$WORK/all.$1" >"$2"
}
# compare_lists WHAT WANT GOT: GOT holds WANT's lines, each once, and nothing else.
compare_lists() {
  local what=$1 want=$2 got=$3 missing dup extra
  missing=$(comm -23 <(sort -u "$want") <(sort -u "$got") | wc -l)
  extra=$(comm -13 <(sort -u "$want") <(sort -u "$got") | wc -l)
  dup=$(sort "$got" | uniq -d | wc -l)
  expect_eq "$what: $(wc -l <"$want") expected, none missing, none extra, none twice" \
    "0 missing, 0 extra, 0 twice" "$missing missing, $extra extra, $dup twice"
}

# --- 2,000 instances, half to each node, 4 associations ----------------------------------
CORPUS=$WORK/corpus
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$CORPUS" --patients 10 --studies 2 \
  --series 4 --instances 25 --rows 16 --cols 16 --jobs 2 >/dev/null
TOTAL=$(($(wc -l <"$CORPUS/manifest.tsv") - 1))
expect_eq "the corpus has 2000 instances" 2000 "$TOTAL"
tail -n +2 "$CORPUS/manifest.tsv" | cut -f1 | split -n r/4 - "$WORK/part."
T0=$(date +%s)
pids=()
i=0
for part in "$WORK"/part.a?; do
  port=$PORT_A; [ $((i % 2)) = 1 ] && port=$PORT_B
  (cd "$CORPUS" && xargs storescu -v -aet CT1 -aec TRESOR 127.0.0.1 "$port" <"$part" \
     >"$part.log" 2>&1) &
  pids+=($!)
  i=$((i + 1))
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
echo "       (ingest of $TOTAL instances: $(( $(date +%s) - T0 )) s)"
expect_eq "all four storescu runs (2 per node) exit 0" 0 "$rc"
expect_eq "storescu saw a success response for each of the $TOTAL instances" "$TOTAL" \
  "$(cat "$WORK"/part.a?.log | grep -c 'Received Store Response (Success)')"
tail -n +2 "$CORPUS/manifest.tsv" | cut -f5 | sort >"$WORK/manifest.uids"
all_uids "$PORT_A" "$WORK/found_a.uids" || fail "IMAGE-level C-FIND on node a"
all_uids "$PORT_B" "$WORK/found_b.uids" || fail "IMAGE-level C-FIND on node b"
compare_lists "C-FIND on node a: every sent instance indexed exactly once" \
  "$WORK/manifest.uids" "$WORK/found_a.uids"
compare_lists "C-FIND on node b: every sent instance indexed exactly once" \
  "$WORK/manifest.uids" "$WORK/found_b.uids"
expect_eq "the index (psql) holds 2000 instance rows, 2000 distinct UIDs" "2000|2000" \
  "$(psql_q "SELECT count(*), count(DISTINCT sop_uid) FROM instances")"
if [ "$STORAGE" = s3 ]; then
  # s3rver's own robustness, so that a crash of it is not mistaken for one of the nodes.
  if kill -0 "$(cat "$WORK/s3/s3rver.pid" 2>/dev/null)" 2>/dev/null; then
    pass "s3rver survived the parallel ingest"
  else
    fail "s3rver died during the parallel ingest (its last words below)"
    grep -m3 -i 'error' "$WORK/s3/s3rver.log" | cut -c1-240 | sed 's/^/       /'
    # Every later check would fail on the dead test server, not on the nodes.
    finish; exit 1
  fi
fi
expect_eq "tresor stats on node b counts 2000 instances" "instances: 2000" \
  "$("$TRESOR" stats --data "$B" | grep '^instances:')"

# --- the same answers on both nodes ------------------------------------------------------
STUDY=$(sed -n 2p "$CORPUS/manifest.tsv" | cut -f3)
SERIES=$(sed -n 2p "$CORPUS/manifest.tsv" | cut -f4)
QUERIES=(
  "QueryRetrieveLevel=STUDY PatientName=* PatientID StudyDate StudyInstanceUID ModalitiesInStudy NumberOfStudyRelatedInstances AccessionNumber"
  "QueryRetrieveLevel=STUDY PatientID=*3 StudyInstanceUID AccessionNumber StudyDate"
  "QueryRetrieveLevel=STUDY AccessionNumber=ACC01000001* StudyInstanceUID NumberOfStudyRelatedSeries"
  "QueryRetrieveLevel=SERIES StudyInstanceUID=$STUDY SeriesInstanceUID Modality SeriesNumber NumberOfSeriesRelatedInstances"
  "QueryRetrieveLevel=IMAGE StudyInstanceUID=$STUDY SeriesInstanceUID=$SERIES SOPInstanceUID SOPClassUID InstanceNumber"
  "QueryRetrieveLevel=IMAGE Modality=MR SOPInstanceUID InstanceNumber"
)
n=0
for q in "${QUERIES[@]}"; do
  n=$((n + 1))
  # shellcheck disable=SC2086
  find_to "$WORK/q$n.a" "$PORT_A" $q && answers "$WORK/q$n.a" >"$WORK/q$n.a.txt" ||
    fail "C-FIND #$n on node a"
  # shellcheck disable=SC2086
  find_to "$WORK/q$n.b" "$PORT_B" $q && answers "$WORK/q$n.b" >"$WORK/q$n.b.txt" ||
    fail "C-FIND #$n on node b"
  lines=$(grep -c . "$WORK/q$n.a.txt")
  if [ "$lines" -gt 0 ] && cmp -s "$WORK/q$n.a.txt" "$WORK/q$n.b.txt"; then
    pass "C-FIND #$n ($q) answers the same on both nodes ($lines matches)"
  else
    fail "C-FIND #$n differs between the nodes or found nothing ($lines matches on a)"
    diff "$WORK/q$n.a.txt" "$WORK/q$n.b.txt" | head -6 | sed 's/^/       /'
  fi
done
expect_eq "C-FIND #1 finds the 20 studies" 20 "$(grep -c . "$WORK/q1.a.txt")"
expect_eq "C-FIND #2 (PatientID=*3) finds the 2 studies of patient 3" 2 "$(grep -c . "$WORK/q2.a.txt")"

CA=$A/keys/ca.pem
N=0
# req ARGS...: one curl request; sets CODE and BODY (file).
req() {
  N=$((N + 1))
  BODY=$WORK/body.$N
  CODE=$(curl -sS --max-time 30 --cacert "$CA" -o "$BODY" -D "$WORK/headers.$N" -w '%{http_code}' "$@" \
    2>"$WORK/curl.err.$N")
}
json() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"d": d}))' "$BODY" "$1" 2>/dev/null; }
creds() { "$PY" -c 'import json,sys; print(json.dumps({"username":sys.argv[1],"password":sys.argv[2]}))' "$1" "$2"; }
# signin NODE_HTTPS USER PASSWORD: POST /auth/token; sets CODE, TOKEN.
signin() {
  req -H "Content-Type: application/json" --data "$(creds "$2" "$3")" "https://127.0.0.1:$1/auth/token"
  TOKEN=$(json 'd["access_token"]')
}
READER_PW="correct horse battery reader"
LOCKED_PW="correct horse battery locked"
signin "$HTTPS_A" reader "$READER_PW"
expect_eq "sign-in of reader on node a" 200 "$CODE"
QIDO_TOKEN=$TOKEN
# qido NODE_HTTPS PATH OUT: a QIDO-RS answer, its objects sorted (order is not compared).
qido() {
  req -H "Authorization: Bearer $QIDO_TOKEN" "https://127.0.0.1:$1/dicom-web/$2"
  [ "$CODE" = 200 ] || { echo "HTTP $CODE" >"$3"; return 1; }
  "$PY" -c 'import json,sys
d = json.load(open(sys.argv[1]))
print("\n".join(sorted(json.dumps(o, sort_keys=True) for o in d)))' "$BODY" >"$3"
}
n=0
for path in "studies?includefield=all" "studies?PatientID=*3&includefield=all" \
            "studies/$STUDY/series?includefield=all" \
            "studies/$STUDY/series/$SERIES/instances?includefield=all" \
            "instances?Modality=CT&limit=10000"; do
  n=$((n + 1))
  qido "$HTTPS_A" "$path" "$WORK/qido$n.a" || fail "QIDO-RS $path on node a: HTTP $CODE"
  qido "$HTTPS_B" "$path" "$WORK/qido$n.b" || fail "QIDO-RS $path on node b: HTTP $CODE"
  lines=$(grep -c '^{' "$WORK/qido$n.a")
  if [ "$lines" -gt 0 ] && cmp -s "$WORK/qido$n.a" "$WORK/qido$n.b"; then
    pass "QIDO-RS /${path%%&*} answers the same on both nodes ($lines objects)"
  else
    fail "QIDO-RS /$path differs between the nodes or found nothing ($lines objects on a)"
    diff "$WORK/qido$n.a" "$WORK/qido$n.b" | head -4 | cut -c1-200 | sed 's/^/       /'
  fi
done
expect_eq "QIDO-RS CT instances: as many as the manifest's CT rows" \
  "$(tail -n +2 "$CORPUS/manifest.tsv" | cut -f6 | grep -cx CT)" "$(grep -c '^{' "$WORK/qido5.a")"

# --- a store on one node is visible on the other right after -----------------------------
EXTRA=$WORK/extra
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$EXTRA" --seed 3 --patients 1 --studies 1 \
  --series 1 --instances 2 --rows 16 --cols 16 >/dev/null
X1=$(sed -n 2p "$EXTRA/manifest.tsv")
X2=$(sed -n 3p "$EXTRA/manifest.tsv")
check "C-STORE of a new instance on node a" \
  storescu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT_A" "$EXTRA/$(echo "$X1" | cut -f1)"
find_to "$WORK/vis1" "$PORT_B" QueryRetrieveLevel=IMAGE "SOPInstanceUID=$(echo "$X1" | cut -f5)"
expect_eq "... node b finds it right after (C-FIND)" "$(echo "$X1" | cut -f5)" "$(uids "$WORK/vis1")"
check "C-STORE of a new instance on node b" \
  storescu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT_B" "$EXTRA/$(echo "$X2" | cut -f1)"
req -H "Authorization: Bearer $QIDO_TOKEN" \
  "https://127.0.0.1:$HTTPS_A/dicom-web/instances?SOPInstanceUID=$(echo "$X2" | cut -f5)"
expect_eq "... node a finds it right after (QIDO-RS)" "200 1" "$CODE $(json 'len(d)')"

# --- the same UID stored on both nodes at once, with different content -------------------
DS=$WORK/conflict
mkdir -p "$DS"
RACES=6
for r in $(seq 1 $RACES); do
  uid=1.2.826.0.1.3680043.2.1125.77.$r
  "$PY" "$ROOT/tests/tools/dicom_bytes.py" valid --sop-instance "$uid" --extra "version of node a" -o "$DS/$r.a"
  "$PY" "$ROOT/tests/tools/dicom_bytes.py" valid --sop-instance "$uid" --extra "version of node b" -o "$DS/$r.b"
done
raw_store() {  # PORT UID FILE OUT
  "$PY" "$ROOT/tests/tools/raw_scu.py" --port "$1" --calling RAWSCU --timeout 60 \
    store --sop-instance "$2" --dataset "$3" >"$4" 2>&1
}
pids=()
for r in $(seq 1 $RACES); do
  uid=1.2.826.0.1.3680043.2.1125.77.$r
  raw_store "$PORT_A" "$uid" "$DS/$r.a" "$DS/$r.a.out" & pids+=($!)
  raw_store "$PORT_B" "$uid" "$DS/$r.b" "$DS/$r.b.out" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
good=0 wins_a=0 wins_b=0 once=0 content=0
for r in $(seq 1 $RACES); do
  uid=1.2.826.0.1.3680043.2.1125.77.$r
  sa=$(cat "$DS/$r.a.out") sb=$(cat "$DS/$r.b.out")
  winner=
  if [ "$sa $sb" = "status=0x0000 status=0x0111" ]; then winner=a; wins_a=$((wins_a + 1))
  elif [ "$sa $sb" = "status=0x0111 status=0x0000" ]; then winner=b; wins_b=$((wins_b + 1))
  else echo "       race $r: node a said '$sa', node b said '$sb'"; fi
  [ -n "$winner" ] && good=$((good + 1))
  [ "$(psql_q "SELECT count(*) FROM instances WHERE sop_uid='$uid'")" = 1 ] && once=$((once + 1))
  # Both nodes serve the winner's content.
  if [ -n "$winner" ] &&
     "$TRESOR" cat --data "$A" "$uid" 2>/dev/null | grep -q "version of node $winner" &&
     "$TRESOR" cat --data "$B" "$uid" 2>/dev/null | grep -q "version of node $winner"; then
    content=$((content + 1))
  fi
done
echo "       (won by node a: $wins_a, by node b: $wins_b)"
expect_eq "each of $RACES concurrent same-UID stores: one 0x0000, the other 0x0111 (conflict)" \
  "$RACES" "$good"
expect_eq "... each UID indexed once" "$RACES" "$once"
expect_eq "... with the winner's content, read through either node's data directory" "$RACES" "$content"
find_to "$WORK/race" "$PORT_B" QueryRetrieveLevel=IMAGE "SOPInstanceUID=1.2.826.0.1.3680043.2.1125.77.1"
expect_eq "... and C-FIND on node b answers that UID once" 1 "$(uids "$WORK/race" | grep -c .)"

# --- sessions and lockout shared through the index ---------------------------------------
signin "$HTTPS_A" reader "$READER_PW"
expect_eq "sign-in on node a" 200 "$CODE"
T_A=$TOKEN
signin "$HTTPS_B" reader "$READER_PW"
expect_eq "another sign-in, on node b (the control)" 200 "$CODE"
T_B=$TOKEN
req -H "Authorization: Bearer $T_A" "https://127.0.0.1:$HTTPS_B/api/stats"
expect_eq "node a's session works on node b" 200 "$CODE"
req -H "Authorization: Bearer $T_A" -X POST "https://127.0.0.1:$HTTPS_A/auth/logout"
expect_eq "sign-out on node a" 200 "$CODE"
req -H "Authorization: Bearer $T_A" "https://127.0.0.1:$HTTPS_B/api/stats"
expect_eq "after sign-out on node a its session is refused on node b" 401 "$CODE"
req -H "Authorization: Bearer $T_A" "https://127.0.0.1:$HTTPS_A/api/stats"
expect_eq "... and on node a" 401 "$CODE"
req -H "Authorization: Bearer $T_B" "https://127.0.0.1:$HTTPS_B/api/stats"
expect_eq "... while the other session still works on node b" 200 "$CODE"
req -H "Authorization: Bearer $T_B" "https://127.0.0.1:$HTTPS_A/api/stats"
expect_eq "... and on node a" 200 "$CODE"
# A browser session the other way round: cookie from node b, signed out on b.
JAR=$WORK/cookies
req -c "$JAR" -H "Content-Type: application/json" --data "$(creds reader "$READER_PW")" \
  "https://127.0.0.1:$HTTPS_B/auth/session"
expect_eq "browser sign-in on node b" 200 "$CODE"
CSRF=$(json 'd["csrf_token"]')
req -b "$JAR" "https://127.0.0.1:$HTTPS_A/api/stats"
expect_eq "node b's session cookie works on node a" 200 "$CODE"
req -b "$JAR" -H "X-CSRF-Token: $CSRF" -X POST "https://127.0.0.1:$HTTPS_B/auth/logout"
expect_eq "sign-out on node b" 200 "$CODE"
req -b "$JAR" "https://127.0.0.1:$HTTPS_A/api/stats"
expect_eq "after sign-out on node b its cookie is refused on node a" 401 "$CODE"

signin "$HTTPS_B" locked "$LOCKED_PW"
expect_eq "user locked signs in on node b (before any failure)" 200 "$CODE"
codes=
for i in 1 2 3 4 5; do
  signin "$HTTPS_A" locked "wrong password $i"
  codes+="$CODE "
done
expect_eq "5 wrong passwords for user locked on node a" "401 401 401 401 401 " "$codes"
signin "$HTTPS_B" locked "$LOCKED_PW"
expect_eq "node b backs off user locked: even the right password gets 429" 429 "$CODE"
check "... with Retry-After" grep -qi '^retry-after: [1-9]' "$WORK/headers.$N"
signin "$HTTPS_B" reader "$READER_PW"
expect_eq "... while another user signs in on node b" 200 "$CODE"
signin "$HTTPS_A" locked "$LOCKED_PW"
expect_eq "... and node a backs off user locked as well" 429 "$CODE"

# --- kill -9 of node b mid-ingest ---------------------------------------------------------
KILLC=$WORK/killcorpus
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$KILLC" --seed 2 --patients 2 --studies 1 \
  --series 2 --instances 175 --rows 16 --cols 16 >/dev/null
KTOTAL=$(($(wc -l <"$KILLC/manifest.tsv") - 1))
tail -n +2 "$KILLC/manifest.tsv" | cut -f1 >"$WORK/kill.all"
head -600 "$WORK/kill.all" | split -n r/2 - "$WORK/kb."
tail -n +601 "$WORK/kill.all" >"$WORK/ka.list"
kb_pids=()
for part in "$WORK"/kb.a?; do
  (cd "$KILLC" && xargs storescu -v -aet CT2 -aec TRESOR 127.0.0.1 "$PORT_B" <"$part" \
     >"$part.log" 2>&1) &
  kb_pids+=($!)
done
(cd "$KILLC" && xargs storescu -v -aet CT2 -aec TRESOR 127.0.0.1 "$PORT_A" <"$WORK/ka.list" \
   >"$WORK/ka.log" 2>&1) &
KA_PID=$!
acked=$(wait_for_acks 40 "$WORK/kb.a?.log")
kill -9 "$PID_B"
wait "$PID_B" 2>/dev/null
PID_B=
echo "       (node b killed after $acked acknowledged instances of the 600 sent to it)"
check "the kill happened mid-ingest" test "$acked" -gt 0 -a "$acked" -lt 600
check "node a answers C-ECHO right after the kill" echoscu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT_A"
find_to "$WORK/during" "$PORT_A" QueryRetrieveLevel=STUDY "PatientID=*" StudyInstanceUID
expect_eq "node a answers C-FIND right after the kill" 0 "$?"
wait "$KA_PID"
expect_eq "the storescu run against node a meanwhile completes" 0 "$?"
for p in "${kb_pids[@]}"; do wait "$p"; done
expect_eq "node a acknowledged all of its $((KTOTAL - 600)) instances" "$((KTOTAL - 600))" \
  "$(grep -c 'Received Store Response (Success)' "$WORK/ka.log")"
# Files whose C-STORE got a success response from node b, per storescu's log.
for log in "$WORK"/kb.a?.log; do
  awk '/Sending file:/ { f = $NF } /Received Store Response \(Success\)/ { print f }' "$log"
done | sort -u >"$WORK/acked_b.files"
awk -F'\t' 'NR == FNR { acked[$0] = 1; next } FNR > 1 && ($1 in acked) { print $5 }' \
  "$WORK/acked_b.files" "$KILLC/manifest.tsv" | sort >"$WORK/acked_b.uids"
check "storescu's log names the acknowledged files ($(wc -l <"$WORK/acked_b.uids"))" \
  test "$(wc -l <"$WORK/acked_b.uids")" -ge "$acked" -a "$acked" -gt 0
all_uids "$PORT_A" "$WORK/after_kill.uids" || fail "IMAGE-level C-FIND on node a after the kill"
expect_eq "every instance node b acknowledged before the kill is found through node a" 0 \
  "$(comm -23 "$WORK/acked_b.uids" <(sort -u "$WORK/after_kill.uids") | wc -l)"
expect_eq "... and no UID is answered twice" 0 "$(uniq -d "$WORK/after_kill.uids" | wc -l)"

serve_node B "$B" 20 || fail "node b restarts after kill -9"
check "restarted node b answers C-ECHO" echoscu -aet CT2 -aec TRESOR 127.0.0.1 "$PORT_B"
# Its recovery (before it listens) published or removed what it had staged.
if [ "$STORAGE" = s3 ]; then
  staged=$(find "$WORK/s3/objects" -path '*/cluster/staging/b/*' -name '*._S3rver_object' 2>/dev/null | wc -l)
else
  staged=$(find "$WORK/shared/staging/b" -type f 2>/dev/null | wc -l)
fi
expect_eq "nothing is left in node b's staging after its restart" 0 "$staged"
check "resending all $KTOTAL to the restarted node b succeeds" \
  bash -c "cd '$KILLC' && xargs storescu -aet CT2 -aec TRESOR 127.0.0.1 $PORT_B <'$WORK/kill.all'"
tail -n +2 "$KILLC/manifest.tsv" | cut -f5 | sort >"$WORK/kill.uids"
all_uids "$PORT_B" "$WORK/final_b.uids" || fail "IMAGE-level C-FIND on restarted node b"
all_uids "$PORT_A" "$WORK/final_a.uids" || fail "final IMAGE-level C-FIND on node a"
{
  cat "$WORK/manifest.uids" "$WORK/kill.uids"
  tail -n +2 "$EXTRA/manifest.tsv" | cut -f5
  for r in $(seq 1 $RACES); do echo "1.2.826.0.1.3680043.2.1125.77.$r"; done
} | sort >"$WORK/expected.uids"
compare_lists "finally, C-FIND on node b: every instance of the run once" "$WORK/expected.uids" \
  "$WORK/final_b.uids"
check "node a answers the same list" cmp "$WORK/final_a.uids" "$WORK/final_b.uids"

# --- the shared blobs and audit trail -----------------------------------------------------
stop_nodes
"$TRESOR" verify --data "$A" >"$WORK/verify.out" 2>&1
expect_eq "tresor verify on node a's directory exits 0" 0 "$?"
check "... $(wc -l <"$WORK/expected.uids") instances, nothing missing, corrupted or orphaned" \
  grep -q "^verify: $(wc -l <"$WORK/expected.uids") instance(s), .* 0 missing, 0 corrupted, 0 orphaned" \
  "$WORK/verify.out"
"$TRESOR" audit verify --data "$A" >"$WORK/verify_a.out" 2>&1
expect_eq "tresor audit verify on node a's directory: intact" 0 "$?"
sed 's/^/       /' "$WORK/verify_a.out"
"$TRESOR" audit verify --data "$B" >"$WORK/verify_b.out" 2>&1
expect_eq "tresor audit verify on node b's directory: intact" 0 "$?"
"$TRESOR" audit export --format json --data "$A" >"$WORK/trail.json" 2>"$WORK/trail.err"
expect_eq "tresor audit export" 0 "$?"
SOURCES=$("$PY" -c 'import json,sys,collections
c = collections.Counter(r["source"] for r in json.load(open(sys.argv[1])))
print(" ".join(f"{k}={v}" for k, v in sorted(c.items())))' "$WORK/trail.json" 2>/dev/null)
echo "       (records by source: $SOURCES)"
check "the trail has records of node a (TRESOR@a)" bash -c "echo '$SOURCES' | grep -q 'TRESOR@a='"
check "the trail has records of node b (TRESOR@b)" bash -c "echo '$SOURCES' | grep -q 'TRESOR@b='"
expect_eq "the trail's seq is gapless (max seq = count)" "1" \
  "$(psql_q "SELECT (max(seq) = count(*))::int FROM audit_records")"

echo "       (run time: $(( $(date +%s) - STARTED )) s)"
finish
