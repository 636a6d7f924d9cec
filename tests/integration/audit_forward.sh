#!/usr/bin/env bash
# Audit forwarding (docs/audit.md "Forwarding") to a real collector: Debian's rsyslog,
# run as its own instance (own configuration, pid file, work directory and loopback
# port; never the system service) with TLS (the ossl stream driver) requiring client
# certificates from a CA this suite makes with openssl, writing every IHE+RFC-3881
# message it receives to a file. The archive forwards with the client certificate of
# that CA and pins the collector's CA through [audit] forward_* keys.
#
# 1. DIMSE and HTTPS actions (C-ECHO, C-STORE, C-FIND, sign-in, a failed sign-in): every
#    record of the trail arrives, in seq order, each once, as RFC 5424 with MSGID
#    IHE+RFC-3881, structured data carrying seq and the chain hash of the trail, and a
#    well-formed DICOM audit message as body.
# 2. The collector is stopped; more actions; a collector presenting a certificate of
#    another CA takes its port and receives nothing (while the server is up and tried),
#    nor does one with a certificate of the right CA for another address;
#    so does one that refuses Tresor's client certificate (after the TLS 1.3 handshake:
#    what was written to it stays unconfirmed).
# 3. The right collector comes back: the spooled records arrive, in order, none missing,
#    none twice. Then the server restarts: its stop and start records follow, again once.
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools

echo "audit_forward: the audit trail over RFC 5425 syslog-TLS to rsyslog"
RSYSLOGD=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
OSSL_DRIVER=$(ls /usr/lib/*/rsyslog/lmnsd_ossl.so 2>/dev/null | head -1)
if [ ! -x "$RSYSLOGD" ] || [ -z "$OSSL_DRIVER" ]; then
  skip --core "rsyslog with its openssl driver is not installed (scripts/install-deps)"
  finish; exit $?
fi

# ---- certificates: the collector's CA (signs the collector and Tresor's client
# certificate) and a rogue CA with a collector certificate for the same address.
CERTS=$WORK/certs
mkdir -p "$CERTS"
mkcert() {  # NAME CN SIGNER EXT
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
    -keyout "$CERTS/$1.key" -out "$CERTS/$1.csr" 2>/dev/null &&
    printf '%s\n' "$4" >"$CERTS/$1.ext" &&
    openssl x509 -req -in "$CERTS/$1.csr" -CA "$CERTS/$3.pem" -CAkey "$CERTS/$3.key" \
      -CAcreateserial -days 2 -extfile "$CERTS/$1.ext" -out "$CERTS/$1.pem" 2>/dev/null
}
mkca() {  # NAME CN
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$2" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$CERTS/$1.key" -out "$CERTS/$1.pem" 2>/dev/null
}
SERVER_EXT=$'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature'
CLIENT_EXT=$'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature'
if mkca ca "Audit Collector Test CA" && mkcert collector 127.0.0.1 ca "$SERVER_EXT" &&
  mkcert tresor tresor-audit ca "$CLIENT_EXT" &&
  mkca rogue-ca "Rogue CA" && mkcert rogue 127.0.0.1 rogue-ca "$SERVER_EXT" &&
  mkcert misnamed 127.0.0.2 ca "${SERVER_EXT/127.0.0.1/127.0.0.2}"; then
  pass "openssl made the collector's CA, its certificate, Tresor's client certificate and a rogue CA's"
else
  fail "openssl made the test certificates"; finish; exit 1
fi
chmod 600 "$CERTS"/*.key

# ---- the collector
COLLECTOR_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RSYSLOG_PID=
# start_collector NAME CERT [CLIENT_CA]: an rsyslog instance on COLLECTOR_PORT presenting
# CERT, that accepts only clients with a certificate of CLIENT_CA (default: the collector's
# CA); received IHE+RFC-3881 messages go to $WORK/NAME/received.log, everything else (its
# own messages) to rsyslog.log.
start_collector() {
  local dir=$WORK/$1 client_ca=${3:-ca}
  mkdir -p "$dir/work"
  cat >"$dir/rsyslog.conf" <<EOF
global(workDirectory="$dir/work" maxMessageSize="256k"
       defaultNetstreamDriver="ossl"
       defaultNetstreamDriverCAFile="$CERTS/$client_ca.pem"
       defaultNetstreamDriverCertFile="$CERTS/$2.pem"
       defaultNetstreamDriverKeyFile="$CERTS/$2.key")
module(load="imtcp" streamDriver.name="ossl" streamDriver.mode="1"
       streamDriver.authMode="x509/certvalid")
input(type="imtcp" address="127.0.0.1" port="$COLLECTOR_PORT")
template(name="audit" type="string" string="%msgid% %structured-data% %msg%\n")
if \$msgid == "IHE+RFC-3881" then {
  action(type="omfile" file="$dir/received.log" template="audit")
  stop
}
action(type="omfile" file="$dir/rsyslog.log")
EOF
  "$RSYSLOGD" -n -f "$dir/rsyslog.conf" -i "$dir/rsyslog.pid" >"$dir/stdout" 2>&1 &
  RSYSLOG_PID=$!
  for _ in $(seq 1 100); do
    ss -Hltn "sport = :$COLLECTOR_PORT" 2>/dev/null | grep -q LISTEN && return 0
    kill -0 "$RSYSLOG_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "rsyslog did not start:"; cat "$dir/stdout"
  return 1
}
stop_collector() {
  if [ -n "$RSYSLOG_PID" ]; then kill -TERM "$RSYSLOG_PID" 2>/dev/null; wait "$RSYSLOG_PID" 2>/dev/null; fi
  RSYSLOG_PID=
}
trap 'stop_collector; cleanup' EXIT

# ---- the archive, forwarding to the collector
init_data || { fail "init"; finish; exit 1; }
cp "$DATA/tresor.conf" "$WORK/tresor.conf.orig"
# Misconfigured first: a collector host without the CA to pin is refused at start.
printf '\n[audit]\nforward_host = "127.0.0.1"\n' >>"$DATA/tresor.conf"
timeout 60 "$TRESOR" serve --data "$DATA" --dicom-port 0 --dicom-tls-port 0 --http-port 0 \
  >"$WORK/bad.out" 2>&1
RC=$?
check "serve refuses forward_host without forward_ca_file (exit $RC, not left serving)" \
  test "$RC" -ne 0 -a "$RC" -ne 124
check "with a clear error" grep -q "forward_ca_file is not" "$WORK/bad.out"
cp "$WORK/tresor.conf.orig" "$DATA/tresor.conf"
cat >>"$DATA/tresor.conf" <<EOF

[audit]
forward_host = "127.0.0.1"
forward_port = $COLLECTOR_PORT
forward_ca_file = "$CERTS/ca.pem"
forward_cert_file = "$CERTS/tresor.pem"
forward_key_file = "$CERTS/tresor.key"
forward_confirm_seconds = 1
forward_max_backoff_seconds = 1
EOF
ADMIN_PW=$(sed -n 's/^Password (shown only now, store it safely): //p' "$WORK/init.out")
CORPUS=$WORK/corpus
"$PY" "$TOOLS/make_studies.py" --out "$CORPUS" --patients 3 --studies 1 --series 1 --instances 2 \
  --rows 16 --cols 16 >/dev/null

sql() { "$TRESOR" index sql "$1" --data "$DATA" 2>/dev/null; }
head_seq() { sql "SELECT coalesce(max(seq),0) FROM audit_records"; }
cursor() { local c; c=$(sql "SELECT seq FROM audit_forward_cursor"); echo "${c:-0}"; }
# wait_delivered: until the forwarding cursor has reached the head of the trail (the
# forwarder confirmed everything); at most 60 s. Prints the head.
wait_delivered() {
  local h
  for _ in $(seq 1 300); do
    h=$(head_seq)
    [ -n "$h" ] && [ "$(cursor)" = "$h" ] && { echo "$h"; return 0; }
    sleep 0.2
  done
  echo "cursor $(cursor) never reached head $(head_seq)" >&2
  return 1
}
# check_received FILE FIRST LAST: the collector got exactly seq FIRST..LAST, in order, each
# once, every message well-formed (MSGID, structured data, hash = the trail's, XML).
check_received() {
  sql "SELECT seq, hash FROM audit_records WHERE seq BETWEEN $2 AND $3 ORDER BY seq" >"$WORK/trail.txt"
  "$PY" - "$1" "$2" "$3" "$WORK/trail.txt" <<'EOF'
import re, sys
import xml.etree.ElementTree as ET
path, first, last, trail = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
hashes = dict(l.rstrip("\n").split("|") for l in open(trail) if l.strip())
line_re = re.compile(r'^IHE\+RFC-3881 \[tresor@32473 seq="(\d+)" hash="([0-9a-f]{64})"\] ?(<\?xml .*)$')
seqs, bad = [], []
for n, line in enumerate(open(path, encoding="utf-8"), 1):
    m = line_re.match(line.rstrip("\n"))
    if not m:
        bad.append("line %d is not IHE+RFC-3881 with seq and hash: %r" % (n, line[:120]))
        continue
    seq = int(m.group(1))
    seqs.append(seq)
    if hashes.get(str(seq)) != m.group(2):
        bad.append("seq %d: hash differs from the trail's" % seq)
    try:
        root = ET.fromstring(m.group(3).encode("utf-8"))
        assert root.tag == "AuditMessage" and root.find("EventIdentification/EventID") is not None
    except Exception as e:  # noqa: BLE001
        bad.append("seq %d: body is not a DICOM audit message: %s" % (seq, e))
want = list(range(first, last + 1))
if seqs != want:
    dup = sorted({s for s in seqs if seqs.count(s) > 1})
    missing = sorted(set(want) - set(seqs))
    bad.append("seqs %s..%s expected once each in order; got %d messages, duplicates %s, missing %s, order ok %s"
               % (first, last, len(seqs), dup[:10], missing[:10], seqs == sorted(seqs)))
for b in bad[:10]:
    print(b)
sys.exit(1 if bad else 0)
EOF
}
# events FILE: the EventID codes received, one per line.
events() { grep -o '<EventID csd-code="[0-9]*"' "$1" | sed 's/.*="//; s/"//' | sort -u; }

start_collector good collector || { fail "rsyslog starts"; finish; exit 1; }
pass "rsyslog runs as its own instance on 127.0.0.1:$COLLECTOR_PORT (TLS, client certificates required)"
start_server || { fail "the server starts"; finish; exit 1; }
# wait_log PATTERN [COUNT]: until the server log holds more than COUNT lines matching; 30 s.
wait_log() {
  for _ in $(seq 1 150); do
    [ "$(grep -c -- "$1" "$LOG")" -gt "${2:-0}" ] && return 0
    sleep 0.2
  done
  return 1
}
check "the server connects to the collector" wait_log "audit forwarding connected to 127.0.0.1:$COLLECTOR_PORT"
add_peer fwd FWDSCU echo,store,find
echo 'correct horse battery staple' |
  "$TRESOR" user add reader --role radiologist --groups all --password-stdin --data "$DATA" >/dev/null
BASE=https://127.0.0.1:$HTTPS_PORT
signin() {  # USER PASSWORD -> HTTP status
  curl -sS --cacert "$DATA/keys/ca.pem" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}" "$BASE/auth/token"
}
actions() {  # FILES...: C-ECHO, C-STORE of FILES, C-FIND, a sign-in and a failed one
  echoscu -aet FWDSCU -aec TRESOR 127.0.0.1 "$PORT" &&
    storescu -aet FWDSCU -aec TRESOR 127.0.0.1 "$PORT" "$@" &&
    findscu -aet FWDSCU -aec TRESOR -S -k QueryRetrieveLevel=STUDY -k PatientID= -k StudyInstanceUID= \
      127.0.0.1 "$PORT" >/dev/null 2>&1 &&
    [ "$(signin reader 'correct horse battery staple')" = 200 ] &&
    [ "$(signin reader 'wrong password')" = 401 ]
}
FILES=($(find "$CORPUS" -name '*.dcm' | sort))
check "phase 1: C-ECHO, C-STORE, C-FIND, sign-in and a failed sign-in succeed as expected" \
  actions "${FILES[@]:0:3}"

H1=$(wait_delivered)
check "phase 1: the forwarder confirmed every record of the trail (head $H1)" test -n "$H1"
R=$WORK/good/received.log
check "phase 1: the collector received seq 1..$H1, in order, each once, well-formed" \
  check_received "$R" 1 "${H1:-0}"
EV=$(events "$R" | tr '\n' ' ')
for code in 110100 110104 110112 110114; do
  check "phase 1: records of event $code arrived ($EV)" grep -q "$code" <<<"$EV"
done
P1=$(cut -f2 "$CORPUS/manifest.tsv" | sed -n 2p)
check "phase 1: the C-STORE record names its patient ($P1) in the forwarded XML" \
  grep -q "ParticipantObjectID=\"$P1\"" "$R"
check "the collector got nothing with another MSGID from the archive" \
  bash -c "! grep -q 'tresor' '$WORK/good/rsyslog.log' 2>/dev/null"

# ---- phase 2: the collector is down, then an impostor holds its port
stop_collector
pass "phase 2: the collector is stopped"
check "phase 2: the same actions succeed while the collector is down" actions "${FILES[@]:3:2}"
H2=$(head_seq)
check "phase 2: new records ($((H2 - H1))) wait in the trail, the cursor stays at $H1" \
  test "$H2" -gt "$H1" -a "$(cursor)" = "$H1"
REFUSED_BEFORE=$(grep -c "collector certificate refused" "$LOG")
start_collector rogue rogue || fail "the rogue collector starts"
check "phase 2: the server tried the collector presenting another CA's certificate and refused it" \
  wait_log "collector certificate refused" "$REFUSED_BEFORE"
check "phase 2: the server is up while refusing it (negative control)" server_alive
check "phase 2: the wrong collector received nothing" \
  bash -c "[ ! -s '$WORK/rogue/received.log' ]"
check "phase 2: the cursor did not move" test "$(cursor)" = "$H1"
stop_collector
# The right CA, but a certificate for another address.
MISMATCH_BEFORE=$(grep -c "collector certificate refused: IP address mismatch" "$LOG")
start_collector misnamed misnamed || fail "the collector with a certificate for 127.0.0.2 starts"
check "phase 2: a collector whose certificate names another address is refused" \
  wait_log "collector certificate refused: IP address mismatch" "$MISMATCH_BEFORE"
check "phase 2: it received nothing" bash -c "[ ! -s '$WORK/misnamed/received.log' ]"
check "phase 2: the server is up (negative control)" server_alive
stop_collector
# The right collector's certificate, but it accepts only clients of the rogue CA: with TLS
# 1.3 Tresor's handshake completes before the collector refuses its certificate, so
# records are written and then the connection is closed; they must stay unconfirmed.
CLOSED_BEFORE=$(grep -c "the collector closed the connection" "$LOG")
start_collector picky collector rogue-ca || fail "the collector refusing Tresor's certificate starts"
check "phase 2: a collector refusing Tresor's client certificate closes the connection" \
  wait_log "the collector closed the connection" "$CLOSED_BEFORE"
check "phase 2: it stored nothing" bash -c "[ ! -s '$WORK/picky/received.log' ]"
check "phase 2: the cursor did not move over what it was sent" test "$(cursor)" = "$H1"
check "phase 2: the server is up (negative control)" server_alive
stop_collector

# ---- phase 3: the right collector returns
start_collector good collector || fail "rsyslog restarts"
H3=$(wait_delivered)
check "phase 3: the spooled records were confirmed (head $H3)" test -n "$H3" -a "${H3:-0}" -ge "$H2"
check "phase 3: the collector holds seq 1..$H3, in order, none missing, none twice" \
  check_received "$R" 1 "${H3:-0}"
check "phase 3: forwarding still works: one more action arrives" actions "${FILES[@]:5:1}"
H4=$(wait_delivered)
check "phase 3: seq 1..$H4 once each after it" check_received "$R" 1 "${H4:-0}"

# ---- a restart of the archive: its stop and start records follow, once each
stop_server
cp "$LOG" "$WORK/server-1.log"
start_server || fail "the server restarts"
H5=$(wait_delivered)
check "after a restart: the stop and start records arrived, seq 1..$H5 once each" \
  check_received "$R" 1 "${H5:-0}"
check "after a restart: it has two more records than before" test "${H5:-0}" -ge $((H4 + 2))
PIDS=$(cut -f2 "$CORPUS/manifest.tsv" | tail -n +2 | sort -u)
LEAK=$(for p in $PIDS; do grep -l -- "$p" "$LOG" "$WORK/server-1.log" 2>/dev/null; done)
expect_eq "the server's log names no patient ID" "" "$LEAK"
stop_server
stop_collector
finish
