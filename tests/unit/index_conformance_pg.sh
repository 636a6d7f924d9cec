#!/bin/bash
# unit.index_conformance_pg: the index conformance suite against PostgresIndex on a
# private PostgreSQL 15 cluster started here (tests/tools/pg_cluster.sh). Fails -- never
# skips -- when the cluster cannot be started or when no conformance test ran.
#   index_conformance_pg.sh STORE_TEST_BINARY
set -u
BIN=${1:?usage: index_conformance_pg.sh tresor_store_test}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$HERE/tools/pg_cluster.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tresor-pgconf.XXXXXX")
trap 'pg_stop "$WORK/pg"; rm -rf "$WORK"' EXIT

if ! pg_start "$WORK/pg" >/dev/null; then
  echo "FAIL: the PostgreSQL test cluster could not be started"
  exit 1
fi
"$BIN" --gtest_filter='Postgres/*' 2>&1 | tee "$WORK/out.txt"
rc=${PIPESTATUS[0]}
ran=$(sed -n 's/^\[==========\] \([0-9]*\) tests\? from .* ran\..*/\1/p' "$WORK/out.txt" | tail -1)
if [ "${ran:-0}" -lt 1 ]; then
  echo "FAIL: no conformance test ran against PostgreSQL"
  exit 1
fi
exit "$rc"
