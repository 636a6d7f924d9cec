#!/usr/bin/env bash
# S36: one address cannot starve the HTTPS listener (issue: a probe held every connection
# slot from one address with TCP connections that never sent a ClientHello, or with
# slow-header TLS connections, and fresh clients were refused for as long as it lasted).
# From 127.0.0.1 we hold silent TCP connections and slow-header TLS connections up to and
# beyond web.max_connections_per_address; the cap refuses the surplus at accept, and a
# client from another loopback address (127.0.0.2, routed to lo like all of 127/8) still
# gets 200 from /api/health while the flood holds. The deadlines themselves are decided on
# the injected clock in the unit tests (https_server_test: HandshakeDeadline*,
# ReadDeadline*); here handshake_timeout stays long so no verdict depends on timing.
source "$(dirname "$0")/../lib.sh"

echo "S36: connection starvation from one address"
init_data || { fail "init"; finish; exit 1; }
CONF=$DATA/tresor.conf
sed -i '/^\[web\]/,/^\[/ {
  s/^max_connections = .*/max_connections = 64/
  s/^max_connections_per_address = .*/max_connections_per_address = 16/
  s/^handshake_timeout_seconds = .*/handshake_timeout_seconds = 600/
  s/^read_timeout_seconds = .*/read_timeout_seconds = 600/
}' "$CONF"
check "the config has the per-address cap" grep -q '^max_connections_per_address = 16' "$CONF"
start_server || { fail "server start"; finish; exit 1; }
check "HTTPS listener" test -n "$HTTPS_PORT"
CA=$DATA/keys/ca.pem

"$PY" - "$HTTPS_PORT" "$CA" <<'PY'
import socket, ssl, sys, time

port, ca = int(sys.argv[1]), sys.argv[2]
ok = fail = 0
def check(what, cond, detail=""):
    global ok, fail
    if cond:
        ok += 1; print("  ok  ", what)
    else:
        fail += 1; print("  FAIL", what, detail)

def ctx():
    c = ssl.create_default_context(cafile=ca)
    c.check_hostname = False
    return c

def tls(source):
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    return ctx().wrap_socket(s, server_hostname="127.0.0.1")

def health(source):
    try:
        t = tls(source)
        t.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = t.recv(65536)
            if not chunk:
                break
            data += chunk
        t.close()
        return data.split(b"\r\n", 1)[0].decode(errors="replace")
    except Exception as e:
        return "error: %s" % e

def alive(sock):
    """True if the server still holds the connection open (no EOF/reset yet)."""
    sock.setblocking(False)
    try:
        data = sock.recv(1)
        return False if data == b"" else True
    except (BlockingIOError, ssl.SSLWantReadError):
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)

check("before the flood, 127.0.0.2 gets 200", health("127.0.0.2").startswith("HTTP/1.1 200"))

# 8 silent TCP connections (no ClientHello) and 8 slow-header TLS connections: the cap.
held = []
for _ in range(8):
    held.append(socket.create_connection(("127.0.0.1", port), timeout=10))
for _ in range(8):
    t = tls("127.0.0.1")
    t.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")  # the header never ends
    held.append(t)
check("16 connections from 127.0.0.1 are held", all(alive(s) for s in held))

# Beyond the cap: further connections from 127.0.0.1 are closed at accept. A TLS
# handshake on them fails; a silent one is closed by the server (EOF).
refused = 0
for _ in range(20):
    try:
        t = tls("127.0.0.1")
        t.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        line = t.recv(100)
        if not line.startswith(b"HTTP/1.1 200"):
            refused += 1
        t.close()
    except (OSError, ssl.SSLError):
        refused += 1
check("20 more TLS connections from 127.0.0.1 beyond the cap are refused", refused == 20,
      "(%d of 20 refused)" % refused)
extra = socket.create_connection(("127.0.0.1", port), timeout=10)
extra.settimeout(30)
try:
    eof = extra.recv(1) == b""
except OSError:
    eof = True
check("a silent TCP connection beyond the cap is closed by the server", eof)
extra.close()

# While the flood holds, another address is served.
for i in range(3):
    line = health("127.0.0.2")
    check("during the flood, 127.0.0.2 gets 200 (%d)" % (i + 1), line.startswith("HTTP/1.1 200"), line)
check("the flood is still held", all(alive(s) for s in held))

# Releasing the flood frees the slots of 127.0.0.1 again.
for s in held:
    s.close()
line = ""
for _ in range(100):  # the server notices the closes asynchronously
    line = health("127.0.0.1")
    if line.startswith("HTTP/1.1 200"):
        break
    time.sleep(0.1)
check("after the flood, 127.0.0.1 is served again", line.startswith("HTTP/1.1 200"), line)
print("PYRESULT %d %d" % (ok, fail))
sys.exit(0 if fail == 0 else 1)
PY
rc=$?
if [ "$rc" = 0 ]; then pass "connection starvation checks"; else fail "connection starvation checks"; fi
check "the server is still running" server_alive
check "the log names the per-address limit" grep -q "per-address connection limit" "$LOG"
finish
