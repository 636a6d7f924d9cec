# shellcheck shell=bash
# A private S3-compatible object server for the suites (npm s3rver, installed by
# scripts/install-node-deps into .cache/node of this checkout). Source it; needs node.
#
#   s3_start DIR [PORT]  starts s3rver on 127.0.0.1 (a free port chosen by the kernel, or
#                        PORT: used to bring a stopped server back on the same address),
#                        its objects under DIR/objects, its log in DIR/s3rver.log, its pid
#                        in DIR/s3rver.pid; creates the bucket; waits until it answers.
#                        Exports TRESOR_TEST_S3_ENDPOINT (http://127.0.0.1:PORT),
#                        TRESOR_TEST_S3_BUCKET, TRESOR_TEST_S3_ACCESS_KEY,
#                        TRESOR_TEST_S3_SECRET_KEY, TRESOR_TEST_S3_REGION, and
#                        S3_DIR / S3_PORT. Returns non-zero (with the reason on stderr)
#                        if the server cannot start.
#                        With S3_TLS_CERT and S3_TLS_KEY set (PEM files; the certificate
#                        must name IP 127.0.0.1), it serves https and the endpoint is
#                        https://127.0.0.1:PORT.
#   s3_stop [DIR]        stops the server started in DIR (default: $S3_DIR) and waits for
#                        it to exit; its objects stay in DIR/objects. Call it from the
#                        suite's EXIT trap as well.
#
# s3rver stores an object KEY of bucket B as the file DIR/objects/B/KEY._S3rver_object,
# so a suite can inspect exactly the bytes the server received.
# Its only account is S3RVER / S3RVER. Note: s3rver checks that a request is signed
# with a known access key but does not recompute SigV4 signatures.

_S3_TOOLS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

s3_start() {
  local dir=${1:?s3_start DIR [PORT]} port=${2:-0}
  local root=$_S3_TOOLS_DIR/../..
  local modules
  command -v node >/dev/null 2>&1 || { echo "s3_start: node not found" >&2; return 1; }
  mkdir -p "$dir/objects" || return 1
  modules=$("$root/scripts/install-node-deps" 2>"$dir/install.err") || {
    echo "s3_start: scripts/install-node-deps failed: $(tail -3 "$dir/install.err")" >&2
    return 1
  }
  local bin=$modules/s3rver/bin/s3rver.js
  [ -f "$bin" ] || { echo "s3_start: s3rver is not installed in $modules" >&2; return 1; }
  local bucket=${TRESOR_TEST_S3_BUCKET:-tresor-test}
  local log=$dir/s3rver.log
  : >"$log"
  # The legacy provider: s3rver encrypts listing continuation tokens with DES, which
  # OpenSSL 3 has only there (without it every truncated listing fails with HTTP 500).
  local scheme=http tls=() trust=()
  if [ -n "${S3_TLS_CERT:-}" ]; then
    scheme=https
    tls=(--cert "$S3_TLS_CERT" --key "$S3_TLS_KEY")
    trust=(--cacert "$S3_TLS_CERT")
  fi
  # s3rver_fixes.js: s3rver's DELETE removes directories a concurrent PUT is about to
  # write into and crashes the server (see the file; real S3 has no such race).
  TRESOR_S3RVER_DIR=$modules/s3rver node --openssl-legacy-provider \
    -r "$_S3_TOOLS_DIR/s3rver_fixes.js" "$bin" -d "$dir/objects" -a 127.0.0.1 -p "$port" --no-vhost-buckets \
    "${tls[@]}" --configure-bucket "$bucket" >"$log" 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/s3rver.pid"
  local got=
  for _ in $(seq 1 200); do
    got=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$log" | tail -1)
    [ -n "$got" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$got" ]; then
    echo "s3_start: s3rver did not start: $(tail -5 "$log")" >&2
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$dir/s3rver.pid"
    return 1
  fi
  # Ready once the bucket answers (creation happens before listening; this proves it).
  local ok=
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${trust[@]}" \
         --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER \
         -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
         "$scheme://127.0.0.1:$got/$bucket?list-type=2&max-keys=2" 2>/dev/null | grep -q '^200$'; then
      ok=1
      break
    fi
    sleep 0.05
  done
  if [ -z "$ok" ]; then
    echo "s3_start: s3rver on port $got does not serve bucket $bucket: $(tail -5 "$log")" >&2
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$dir/s3rver.pid"
    return 1
  fi
  S3_DIR=$dir
  S3_PORT=$got
  export S3_DIR S3_PORT
  export TRESOR_TEST_S3_ENDPOINT=$scheme://127.0.0.1:$got
  export TRESOR_TEST_S3_BUCKET=$bucket
  export TRESOR_TEST_S3_ACCESS_KEY=S3RVER
  export TRESOR_TEST_S3_SECRET_KEY=S3RVER
  export TRESOR_TEST_S3_REGION=us-east-1
}

s3_stop() {
  local dir=${1:-${S3_DIR:-}}
  [ -n "$dir" ] && [ -f "$dir/s3rver.pid" ] || return 0
  local pid
  pid=$(cat "$dir/s3rver.pid")
  rm -f "$dir/s3rver.pid"
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  # Not our child when started by another shell: wait by polling.
  wait "$pid" 2>/dev/null
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null
  return 0
}
