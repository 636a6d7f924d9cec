#!/bin/bash
# unit.postgres_index: PostgresIndex's own cases (schema versions, required TLS, an
# unreachable server, two processes adding the same UIDs, Find compared with SqliteIndex)
# against a private PostgreSQL 15 cluster with TLS, started here. Fails, never skips,
# when the cluster does not start or when not every case ran.
#   postgres_index.sh STORE_TEST_BINARY
set -u
BIN=${1:?usage: postgres_index.sh tresor_store_test}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$HERE/tools/pg_cluster.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tresor-pgindex.XXXXXX")
trap 'pg_stop "$WORK/pg"; rm -rf "$WORK"' EXIT

pg_start "$WORK/pg" --tls >/dev/null || { echo "FAIL: the PostgreSQL test cluster did not start"; exit 1; }
TRESOR_REQUIRE_PG=1 "$BIN" --gtest_filter='PostgresIndexTest.*' >"$WORK/out.txt" 2>&1
rc=$?
cat "$WORK/out.txt"
expected=$("$BIN" --gtest_list_tests --gtest_filter='PostgresIndexTest.*' | grep -c '^  ')
passed=$(grep -c '^\[       OK \] PostgresIndexTest\.' "$WORK/out.txt")
if [ "$passed" -ne "$expected" ] || [ "$expected" -lt 1 ]; then
  echo "FAIL: $passed of $expected PostgresIndex cases passed"
  exit 1
fi
exit "$rc"
