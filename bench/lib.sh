# Shared helpers for the benchmark scripts (bench/query, bench/retrieve); source it after
# setting BENCH_NAME (used in messages and temp directory names):
#
#   BENCH_NAME=query
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sets HERE, ROOT, TRESOR, ORTHANC, GEN, GEN_KEY, PY, CACHE and exports TCP_NODELAY=1. bench_setup
# then creates the work directory and installs the cleanup trap. Every process started with
# start_bg runs in its own process group, which cleanup kills (only those, by their id).
# bench/ingest predates this file and keeps its own copies of these helpers.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
TRESOR=${TRESOR:-$ROOT/build/src/app/tresor}
ORTHANC=${ORTHANC:-/usr/sbin/Orthanc}
GEN=$ROOT/tests/tools/make_studies.py
PY=/usr/bin/python3
# First 8 hex digits of the generator's SHA-256: part of every cached corpus's name, so a
# changed generator never reuses a corpus written by an older one.
GEN_KEY=$(sha256sum "$GEN" 2>/dev/null | cut -c1-8)
# DCMTK (storescu, findscu, getscu, movescu, storescp, Orthanc's DIMSE layer) reads this;
# without it Nagle's algorithm and delayed ACKs cost ~40 ms per small DIMSE message.
export TCP_NODELAY=1
CACHE=${TMPDIR:-/tmp}/tresor-bench-corpora
SCU_AET=${SCU_AET:-BENCHSCU}
: "${BENCH_NAME:=bench}"
keep=${keep:-0}
PGIDS=()
WARNINGS=()

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found ($2)"; }
warn() { echo "WARNING: $*" >&2; WARNINGS+=("$*"); }
now_ns() { date +%s%N; }

# need_pydicom: the corpus generator's one dependency.
need_pydicom() {
  { [ -x "$PY" ] && "$PY" -c 'import pydicom' 2>/dev/null; } ||
    die "$PY cannot import pydicom (run bench/install-deps)"
  [ -f "$GEN" ] || die "corpus generator not found at $GEN"
}

kill_group() {   # kill_group PGID: TERM, wait up to 10 s, then KILL
  local g=$1 i
  kill -0 -- "-$g" 2>/dev/null || return 0
  kill -TERM -- "-$g" 2>/dev/null || true
  for i in $(seq 1 100); do kill -0 -- "-$g" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$g" 2>/dev/null || true
}

bench_cleanup() {
  local rc=$? g
  trap - EXIT INT TERM
  for g in "${PGIDS[@]}"; do kill_group "$g"; done
  wait 2>/dev/null || true
  if [ "$keep" -eq 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
  exit "$rc"
}

# bench_setup: creates $WORK and installs the cleanup trap.
bench_setup() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/tresor-bench-$BENCH_NAME.XXXXXX")
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# start_bg LOGFILE CMD...: runs CMD in its own process group; sets BGPID.
start_bg() {
  local log=$1; shift
  setsid "$@" >"$log" 2>&1 </dev/null &
  BGPID=$!
  PGIDS+=("$BGPID")
}

# stop_bg PID: SIGTERM the process group, wait for the leader.
stop_bg() {
  kill_group "$1"
  wait "$1" 2>/dev/null || true
}

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_echo PORT AEC PID: C-ECHO until the receiver answers (max ~30 s).
wait_echo() {
  local port=$1 aec=$2 pid=$3 i
  for i in $(seq 1 300); do
    if echoscu -aet "$SCU_AET" -aec "$aec" -to 2 127.0.0.1 "$port" >/dev/null 2>&1; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# snapshot_tresor: measure one build throughout, even if the checkout is rebuilt meanwhile.
# Sets TRESOR to a copy in $WORK and TRESOR_HASH to the first 12 hex digits of its SHA-256.
snapshot_tresor() {
  [ -x "$TRESOR" ] || die "$TRESOR not built (make -C $ROOT/build -j2)"
  echo "tresor: $TRESOR (built $(date -r "$TRESOR" '+%F %T'))" >&2
  cp "$TRESOR" "$WORK/tresor"
  TRESOR=$WORK/tresor
  TRESOR_HASH=$(sha256sum "$TRESOR" | cut -c1-12)
}

# tresor_schema_key: first 12 hex digits of the SHA-256 of the index schema a fresh
# `tresor init` creates: a key for caching loaded Tresor archives across rebuilds that do
# not change the index format (a change of what import writes into unchanged columns is
# not detected: use the scripts' --fresh after such a change).
tresor_schema_key() {
  local d=$WORK/schema-probe
  "$TRESOR" init --data "$d" >/dev/null 2>&1 || die "tresor init failed"
  tresor_sql "$d" "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name" |
    sha256sum | cut -c1-12
  rm -rf "$d" "$d.keys"
}

# tresor_sql DATA SQL: one read-only statement on DATA's index (`tresor index sql`: the
# index is sealed page by page, no other program can read it); rows on stdout, columns
# separated by "|". Dies on an error.
tresor_sql() {
  "$TRESOR" index sql --data "$1" "$2" 2>"$WORK/index-sql.err" ||
    { cat "$WORK/index-sql.err" >&2; die "tresor index sql failed on $1"; }
}

# gen_corpus NAME PATIENTS STUDIES SERIES INSTANCES ROWS COLS: generates (or reuses) the
# corpus $CACHE/NAME-PxSxRxI-ROWSxCOLS-GEN_KEY (tests/tools/make_studies.py, default
# seed and character sets, one worker per core); sets CORPUS to its directory.
gen_corpus() {
  local name=$1 p=$2 s=$3 r=$4 i=$5 rows=$6 cols=$7 t0
  CORPUS=$CACHE/$name-${p}x${s}x${r}x${i}-${rows}x${cols}-$GEN_KEY
  if [ ! -f "$CORPUS/.complete" ]; then
    echo "generating corpus $name ($((p * s * r * i)) instances of ${rows}x${cols}) in $CORPUS" >&2
    t0=$(now_ns)
    rm -rf "$CORPUS" "$CORPUS.tmp"
    mkdir -p "$CACHE"
    "$PY" "$GEN" --out "$CORPUS.tmp" --patients "$p" --studies "$s" --series "$r" \
      --instances "$i" --rows "$rows" --cols "$cols" --jobs "$(nproc)" >&2
    mv "$CORPUS.tmp" "$CORPUS"
    touch "$CORPUS/.complete"
    echo "  generated in $(( ($(now_ns) - t0) / 1000000000 )) s" >&2
  fi
}

# A data directory DIR keeps its master key beside it, in DIR.keys/ (`tresor init`'s
# default): tresor_data_mv and tresor_data_rm move and remove both together.
tresor_data_mv() {   # tresor_data_mv FROM TO
  mv "$1" "$2"
  if [ -d "$1.keys" ]; then rm -rf "$2.keys"; mv "$1.keys" "$2.keys"; fi
}
tresor_data_rm() {   # tresor_data_rm DIR...
  local d
  for d in "$@"; do rm -rf "$d" "$d.keys"; done
}

# tresor_start DATA LOG: serves DATA on kernel-picked ports (DICOM, DICOM-TLS, HTTP); sets TRESOR_PID, TRESOR_PORT.
tresor_start() {
  local data=$1 log=$2 port='' i
  start_bg "$log" "$TRESOR" serve --data "$data" --dicom-port 0 --dicom-tls-port 0 --http-port 0
  TRESOR_PID=$BGPID
  for i in $(seq 1 600); do
    port=$(sed -n 's/.*DICOM listener on [^ ]*:\([0-9]*\) .*/\1/p' "$log" | tail -1)
    [ -n "$port" ] && break
    kill -0 "$TRESOR_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ] || ! wait_echo "$port" TRESOR "$TRESOR_PID"; then
    tail -30 "$log" >&2; die "tresor did not start (data $data)"
  fi
  TRESOR_PORT=$port
}

# tresor_instances DATA: instances in DATA's index (`tresor stats`).
tresor_instances() {
  "$TRESOR" stats --data "$1" 2>&1 | awk '/^instances:/ {print $2}'
}

# orthanc_config DIR DICOM_PORT HTTP_PORT [EXTRA_JSON]: writes DIR/orthanc.json for an
# Orthanc with its own storage and index under DIR (created), no plugins, otherwise
# Orthanc's defaults. EXTRA_JSON is inserted as further top-level members, e.g.
# '"DicomModalities" : { ... }, "SyncStorageArea" : false'.
orthanc_config() {
  local d=$1 port=$2 http=$3 extra=${4:-'"DicomModalities" : {}'}
  mkdir -p "$d/storage" "$d/index" "$d/tmp"
  cat >"$d/orthanc.json" <<EOF
{
  "Name" : "tresor-bench",
  "StorageDirectory" : "$d/storage",
  "IndexDirectory" : "$d/index",
  "TemporaryDirectory" : "$d/tmp",
  "Plugins" : [],
  "LuaScripts" : [],
  "HttpServerEnabled" : true,
  "HttpPort" : $http,
  "RemoteAccessAllowed" : false,
  "AuthenticationEnabled" : false,
  "DicomServerEnabled" : true,
  "DicomAet" : "ORTHANC",
  "DicomPort" : $port,
  "DicomCheckCalledAet" : false,
  "DicomAlwaysAllowEcho" : true,
  "DicomAlwaysAllowStore" : true,
  "OrthancPeers" : {},
  "SaveJobs" : false,
  $extra
}
EOF
}

# orthanc_start DIR LOG: starts Orthanc with DIR/orthanc.json; sets ORTHANC_PID,
# ORTHANC_PORT and ORTHANC_HTTP (read back from the config).
orthanc_start() {
  local d=$1 log=$2
  ORTHANC_PORT=$(sed -n 's/.*"DicomPort" : \([0-9]*\).*/\1/p' "$d/orthanc.json")
  ORTHANC_HTTP=$(sed -n 's/.*"HttpPort" : \([0-9]*\).*/\1/p' "$d/orthanc.json")
  start_bg "$log" "$ORTHANC" "$d/orthanc.json"
  ORTHANC_PID=$BGPID
  wait_echo "$ORTHANC_PORT" ORTHANC "$ORTHANC_PID" || { tail -30 "$log" >&2; die "Orthanc did not start"; }
}

# orthanc_instances: CountInstances of the running Orthanc (REST /statistics), or "?".
orthanc_instances() {
  curl -sf "http://127.0.0.1:$ORTHANC_HTTP/statistics" |
    "$PY" -c 'import json, sys; print(json.load(sys.stdin)["CountInstances"])' 2>/dev/null || echo "?"
}

orthanc_version() {
  dpkg-query -W -f='${Version}' orthanc 2>/dev/null || "$ORTHANC" --version 2>/dev/null | head -1
}

# median_p99 < numbers: prints "median p99" (nearest-rank p99) of the numbers read.
median_p99() {
  sort -g | awk '{ v[++n] = $1 }
    END {
      if (n == 0) { print "- -"; exit }
      med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
      r = int(0.99 * n); if (r < 0.99 * n) r++; if (r < 1) r = 1
      print med, v[r]
    }'
}

# print_warnings: lists the warnings and returns 1 if there were any.
print_warnings() {
  if [ "${#WARNINGS[@]}" -gt 0 ]; then
    echo
    echo "${#WARNINGS[@]} warning(s):"
    printf '  %s\n' "${WARNINGS[@]}"
    return 1
  fi
  return 0
}
