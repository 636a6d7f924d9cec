#!/bin/bash
# unit.migrate_pg_s3: the migration copier's cases (src/app/migrate_test.cc) with a
# PostgreSQL + S3 target: a private PostgreSQL 15 cluster (tests/tools/pg_cluster.sh) and
# a private s3rver (tests/tools/s3_server.sh) started here. Fails -- never skips -- when a
# server cannot be started or the PostgreSQL + S3 case did not run.
#   migrate_pg_s3.sh APP_TEST_BINARY
set -u
BIN=${1:?usage: migrate_pg_s3.sh tresor_app_test}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$HERE/tools/pg_cluster.sh"
. "$HERE/tools/s3_server.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tresor-migrate-pg.XXXXXX")
trap 's3_stop "$WORK/s3" 2>/dev/null; pg_stop "$WORK/pg"; rm -rf "$WORK"' EXIT
if ! pg_start "$WORK/pg" >/dev/null; then
  echo "FAIL: the PostgreSQL test cluster could not be started"
  exit 1
fi
if ! s3_start "$WORK/s3" >/dev/null; then
  echo "FAIL: the S3 test server (s3rver) could not be started"
  exit 1
fi
TRESOR_TEST_MIGRATE_PG_S3_REQUIRED=1 "$BIN" --gtest_filter='Migrate.*' 2>&1 | tee "$WORK/out.txt"
rc=${PIPESTATUS[0]}
if ! grep -q '^\[       OK \] Migrate.CopiesIntoPostgresAndS3' "$WORK/out.txt"; then
  echo "FAIL: the PostgreSQL + S3 migration case did not pass"
  exit 1
fi
exit "$rc"
