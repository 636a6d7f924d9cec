#!/usr/bin/env bash
# S37: every non-public operation in the server's own /api/openapi.json answers 401
# without credentials (so a route added later, DICOMweb included, is covered
# automatically), a stale or foreign session cookie does not help, and every response
# carries the security headers (S28). Path parameters get syntactically valid values
# (UIDs, frame numbers), so a 401 cannot come from a 400 or 404 short-cut.
source "$(dirname "$0")/../lib.sh"

echo "S37: every non-public route requires authentication"
init_data || { fail "init"; finish; exit 1; }
start_server || { fail "server start"; finish; exit 1; }
check "HTTPS listener" test -n "$HTTPS_PORT"

"$PY" - "$HTTPS_PORT" "$DATA/keys/ca.pem" <<'PY'
import http.client, json, re, ssl, sys

port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
ok = fail = 0
def check(what, cond, detail=""):
    global ok, fail
    if cond:
        ok += 1
    else:
        fail += 1
        print("  FAIL", what, detail)

SECURITY = {
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

def request(method, path, headers=None, body=None):
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=20)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data

status, _, body = request("GET", "/api/openapi.json")
check("GET /api/openapi.json", status == 200, status)
doc = json.loads(body)

def value(name):
    n = name.lower()
    if "frame" in n:
        return "1"
    if n in ("tag", "attribute", "keyword"):
        return "00100010"
    if "uid" in n or n in ("study", "series", "instance", "sop", "object"):
        return "1.2.826.0.1.3680043.10.543.%d" % (abs(hash(name)) % 100000)
    return "1.2.826.0.1.3680043.10.543.7"

ops = []
for path, methods in doc["paths"].items():
    for method, op in methods.items():
        if method.upper() not in ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"):
            continue
        public = op.get("security") == []
        ops.append((method.upper(), path, public, op))

protected = [o for o in ops if not o[2]]
print("  %d operations, %d protected" % (len(ops), len(protected)))
check("the document lists protected operations", len(protected) >= 3, len(protected))
for method, path, public, op in protected:
    target = re.sub(r"\{([^}]+)\}", lambda m: value(m.group(1)), path)
    types = list(op.get("requestBody", {}).get("content", {}).keys())
    headers = {"Content-Type": types[0]} if types else {}
    body = b"" if method in ("POST", "PUT", "PATCH") else None
    status, h, _ = request(method, target, headers, body)
    check("%s %s without credentials" % (method, target), status == 401, "-> %d" % status)
    check("%s %s: WWW-Authenticate" % (method, target), h.get("www-authenticate", "").startswith("Bearer"))
    for name, want in SECURITY.items():
        check("%s %s: %s" % (method, target, name), h.get(name) == want, h.get(name))
    # A forged session cookie does not authenticate either.
    forged = dict(headers, Cookie="tresor_session=eyJhbGciOiJIUzI1NiJ9.e30.forged")
    status, _, _ = request(method, target, forged, body)
    check("%s %s with a forged cookie" % (method, target), status == 401, "-> %d" % status)
print("  ok   %d protected operations answered 401 without credentials" % len(protected)
      if fail == 0 else "  FAIL some protected operations did not answer 401")

status, h, body = request("GET", "/api/health")
check("GET /api/health afterwards", status == 200, status)
for name, want in SECURITY.items():
    check("health: %s" % name, h.get(name) == want)
print("PYRESULT %d %d" % (ok, fail))
sys.exit(0 if fail == 0 else 1)
PY
rc=$?
if [ "$rc" = 0 ]; then pass "every protected operation of the OpenAPI document answers 401"; else fail "some protected operation did not answer 401"; fi
check "the server is still running" server_alive
finish
