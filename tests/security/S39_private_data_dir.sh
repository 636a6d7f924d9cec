#!/usr/bin/env bash
# S39: every file Tresor creates in its data directory (and the key folder beside it) is
# private to its user: files 0600, directories 0700 — the index with its -wal and -shm
# (SQLite would create them 0644), blobs, keys, certificates, enrolled peer bundles. A
# data directory from before (index.db left 0644) is tightened when it is opened.
source "$(dirname "$0")/../lib.sh"
TOOLS=$ROOT/tests/tools

echo "S39: files 0600 and directories 0700 in the data directory"
umask 022  # what a shell usually has: the server must not depend on the caller's umask
init_data
start_server || { fail "server starts"; finish; exit 1; }
add_peer ct CT1 echo,store
"$TRESOR" peer enroll mr --ae MR1 --host 127.0.0.1 --allow echo --data "$DATA" >/dev/null
for i in 1 2 3; do
  "$PY" "$TOOLS/dicom_bytes.py" valid --sop-instance "1.2.826.0.1.3680043.2.1125.39.$i" -o "$WORK/ds.$i"
  "$PY" "$TOOLS/raw_scu.py" --port "$PORT" --calling CT1 store \
    --sop-instance "1.2.826.0.1.3680043.2.1125.39.$i" --dataset "$WORK/ds.$i" >/dev/null
done
expect_eq "three objects stored (positive control)" 3 \
  "$("$TRESOR" stats --data "$DATA" | awk '/^instances:/ {print $2}')"

# not_private DIR: what under DIR is not 0600 (files) or 0700 (directories).
not_private() {
  find "$1" \( -type f ! -perm 0600 \) -printf 'file %m %P\n' -o \( -type d ! -perm 0700 \) -printf 'dir %m %P\n'
}
for f in index.db index.db-wal index.db-shm keys/ca.pem keys/server.pem keys/server.key \
         enrolled/mr/mr.pem enrolled/mr/ca.pem tresor.conf; do
  check "while serving: $f exists (so its mode is checked)" test -e "$DATA/$f"
done
check "while serving: blobs exist" bash -c "find '$DATA/storage/blobs' -type f | grep -q ."
expect_eq "while serving: every file 0600 and every directory 0700 in the data directory" \
  "" "$(not_private "$DATA")"
expect_eq "the key folder beside it too" "" "$(not_private "$DATA.keys")"
stop_server
expect_eq "after a clean stop: still all private" "" "$(not_private "$DATA")"

# A data directory from before: its index was created 0644.
chmod 0644 "$DATA/index.db" "$DATA/keys/ca.pem"
check "an old data directory's index.db is 0644 (setup)" test "$(stat -c %a "$DATA/index.db")" = 644
start_server || { fail "server restarts"; finish; exit 1; }
check "restarted server answers (positive control)" echoscu -aet CT1 -aec TRESOR 127.0.0.1 "$PORT"
expect_eq "opening it made index.db 0600 again" 600 "$(stat -c %a "$DATA/index.db")"
expect_eq "and keys/ca.pem" 600 "$(stat -c %a "$DATA/keys/ca.pem")"
expect_eq "every file 0600 and directory 0700 again" "" "$(not_private "$DATA")"
stop_server
finish
