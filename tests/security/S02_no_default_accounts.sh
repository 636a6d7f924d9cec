#!/usr/bin/env bash
# S02: no default accounts or passwords. The first admin credential is generated at
# `init`, shown once, and stored only as an Argon2id hash; key files are private.
source "$(dirname "$0")/../lib.sh"

echo "S02: no default accounts; admin password generated at init, stored as Argon2id"

# password_of INIT_OUTPUT: the password line printed by `tresor init`.
password_of() { sed -n 's/^Password (shown only now, store it safely): //p' "$1"; }
# users DATA_DIR: "name|hash|role|disabled" rows of the users table.
# (The index is encrypted at rest: read through `tresor index sql`.)
users() { "$TRESOR" index sql --data "$1" "select name,password_hash,role,disabled from users order by name"; }

A=$WORK/a B=$WORK/b
"$TRESOR" init --data "$A" >"$WORK/init_a.out" 2>&1
expect_eq "init (first directory) exits 0" 0 $?
"$TRESOR" init --data "$B" >"$WORK/init_b.out" 2>&1
expect_eq "init (second directory) exits 0" 0 $?
PW_A=$(password_of "$WORK/init_a.out")
PW_B=$(password_of "$WORK/init_b.out")
check "init prints an administrator password" test -n "$PW_A" -a -n "$PW_B"
check "two installs get different passwords" test "$PW_A" != "$PW_B"
check "the password is long (>= 16 characters): ${#PW_A}" test "${#PW_A}" -ge 16
check "the password is not a well-known default" bash -c "! grep -qixE 'admin|password|tresor|changeme|orthanc|12345678' <<<'$PW_A'"

# Exactly one account, the administrator, holding an Argon2id hash.
rows_a=$(users "$A")
expect_eq "exactly one account after init" 1 "$(grep -c . <<<"$rows_a")"
expect_eq "the account is admin with role admin, enabled" "admin|admin|0" \
  "$(awk -F'|' '{print $1 "|" $3 "|" $4}' <<<"$rows_a")"
HASH_A=$(cut -d'|' -f2 <<<"$rows_a")
HASH_B=$(users "$B" | cut -d'|' -f2)
check "stored credential is an Argon2id v19 hash ($(cut -d'$' -f2-4 <<<"$HASH_A"))" \
  grep -qE '^\$argon2id\$v=19\$m=[0-9]+,t=[0-9]+,p=[0-9]+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$' <<<"$HASH_A"
m=$(sed -n 's/.*\$m=\([0-9]*\),t=\([0-9]*\),.*/\1/p' <<<"$HASH_A")
t=$(sed -n 's/.*\$m=\([0-9]*\),t=\([0-9]*\),.*/\2/p' <<<"$HASH_A")
check "Argon2id cost at least OWASP's minimum (m >= 19456 KiB, t >= 2): m=$m t=$t" \
  test "${m:-0}" -ge 19456 -a "${t:-0}" -ge 2
salt_a=$(cut -d'$' -f5 <<<"$HASH_A"); salt_b=$(cut -d'$' -f5 <<<"$HASH_B")
check "each install has its own salt" test "$salt_a" != "$salt_b"

# The hash is the hash of the printed password (checked with libsodium, independently of
# Tresor), and of nothing else.
cat >"$WORK/verify.py" <<'EOF'
import ctypes, ctypes.util, sys
name = ctypes.util.find_library("sodium") or "libsodium.so.23"
try:
    sodium = ctypes.CDLL(name)
except OSError:
    print("unavailable"); sys.exit(0)
if sodium.sodium_init() < 0:
    print("unavailable"); sys.exit(0)
h, pw = sys.argv[1].encode() + b"\0", sys.argv[2].encode()
ok = sodium.crypto_pwhash_str_verify(ctypes.c_char_p(h), ctypes.c_char_p(pw), ctypes.c_ulonglong(len(pw))) == 0
print("match" if ok else "mismatch")
EOF
v=$("$PY" "$WORK/verify.py" "$HASH_A" "$PW_A")
if [ "$v" = unavailable ]; then
  echo "  note: libsodium not loadable from Python; skipping the independent hash verification"
else
  expect_eq "the stored hash verifies the printed password (libsodium)" match "$v"
  for wrong in "$PW_B" admin password "" "${PW_A}x"; do
    expect_eq "the stored hash rejects a wrong password ('${wrong:0:6}...')" mismatch \
      "$("$PY" "$WORK/verify.py" "$HASH_A" "$wrong")"
  done
fi

# The password itself is stored nowhere: not in any file of the data directory, not in
# what the server logs or prints, nor in the other commands' output.
check_fails "the password appears in no file of the data directory (incl. index.db)" grep -r -a -F -q "$PW_A" "$A"
"$TRESOR" peer add ws --ae WS1 --host 127.0.0.1 --allow echo --data "$A" >"$WORK/peer.out" 2>&1
"$TRESOR" stats --data "$A" >>"$WORK/peer.out" 2>&1
"$TRESOR" peer list --data "$A" >>"$WORK/peer.out" 2>&1
DATA=$A
start_server || { fail "server starts"; finish; exit 1; }
echoscu -aet WS1 -aec TRESOR 127.0.0.1 "$PORT" >/dev/null 2>&1
stop_server
check_fails "the password is not in the server's log or output" grep -a -F -q "$PW_A" "$LOG" "$WORK/serve.out"
check_fails "the password is not shown by stats / peer list / peer add" grep -a -F -q "$PW_A" "$WORK/peer.out"
check_fails "the password is not in the data directory after serving" grep -r -a -F -q "$PW_A" "$A"

# init never resets an existing install's credential.
"$TRESOR" init --data "$A" >"$WORK/init_again.out" 2>&1
rc=$?
check "init on an existing data directory fails (exit $rc)" test "$rc" -ne 0
check_fails "... prints no new password" grep -q '^Password' "$WORK/init_again.out"
expect_eq "... and leaves the stored hash unchanged" "$HASH_A" "$(users "$A" | cut -d'|' -f2)"

# Key material and the data directory are private to the owner.
mode() { stat -c %a "$1"; }
for f in keys/ca.key keys/server.key; do
  expect_eq "$f is mode 0600" 600 "$(mode "$A/$f")"
done
# The master key of encryption at rest lives outside the data directory.
expect_eq "the master key (DIR.keys/master.key) is mode 0600" 600 "$(mode "$A.keys/master.key")"
expect_eq "its directory is mode 0700" 700 "$(mode "$A.keys")"
"$TRESOR" peer enroll mod --ae MOD1 --host 127.0.0.1 --allow echo --data "$A" >/dev/null 2>&1
expect_eq "an enrolled peer's private key is mode 0600" 600 "$(mode "$A/enrolled/mod/mod.key")"
expect_eq "the data directory is mode 0700" 700 "$(mode "$A")"
expect_eq "keys/ is mode 0700" 700 "$(mode "$A/keys")"
expect_eq "tresor.conf is mode 0600" 600 "$(mode "$A/tresor.conf")"
check_fails "no private key is readable by group or others" \
  bash -c "find '$A' -name '*.key' -perm /077 | grep -q ."
finish
