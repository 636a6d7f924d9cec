#!/usr/bin/env bash
# with_s3.sh COMMAND...: runs COMMAND against a private s3rver (tests/tools/s3_server.sh)
# started for it in a temporary directory, with TRESOR_TEST_S3_* exported,
# TRESOR_TEST_S3_REQUIRED=1 (the S3 cases must run, not skip), TRESOR_TEST_S3_DIR (the
# server's directory) and TRESOR_TEST_S3_TOOL (s3_server.sh, to stop and restart it).
# Fails if the server cannot start. The output of COMMAND must not contain the secret the
# blob store suite signs with (credentials are never logged).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=s3_server.sh
. "$HERE/s3_server.sh"
DIR=$(mktemp -d "${TMPDIR:-/tmp}/tresor-s3.XXXXXX")
trap 's3_stop "$DIR"; rm -rf "$DIR"' EXIT
if ! s3_start "$DIR/server"; then
  echo "FAIL: the S3 server (s3rver) did not start" >&2
  exit 1
fi
export TRESOR_TEST_S3_REQUIRED=1 TRESOR_TEST_S3_DIR=$DIR/server TRESOR_TEST_S3_TOOL=$HERE/s3_server.sh
"$@" >"$DIR/out" 2>&1
rc=$?
cat "$DIR/out"
if grep -q 'tresor-test-secret-4f9c' "$DIR/out" "$DIR/server/s3rver.log"; then
  echo "FAIL: the S3 secret key appears in the output" >&2
  exit 1
fi
exit $rc
