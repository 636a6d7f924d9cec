#!/usr/bin/env bash
# User accounts: roles, password policy, Argon2id hashes only, disable/enable, re-key.
source "$(dirname "$0")/../lib.sh"

echo "users: accounts from the command line"
init_data
out=$("$TRESOR" user add alice --role radiologist --data "$DATA")
check "user add prints a generated password once" grep -q "Password (shown only now" <<<"$out"
pw=$(sed -n 's/.*store it safely): //p' <<<"$out")
check "the generated password is long" test "${#pw}" -ge 20
check_fails "a second user with the same name is refused" "$TRESOR" user add alice --role auditor --data "$DATA"
check_fails "an unknown role is refused" "$TRESOR" user add carol --role superuser --data "$DATA"
check_fails "a short password is refused" bash -c "echo short | '$TRESOR' user add bob --role technologist --password-stdin --data '$DATA'"
check_fails "a digits-only password is refused" bash -c "echo 123456789012345 | '$TRESOR' user add bob --role technologist --password-stdin --data '$DATA'"
check "a policy-conforming password is accepted" bash -c "echo 'correct horse battery' | '$TRESOR' user add bob --role technologist --password-stdin --data '$DATA'"
list=$("$TRESOR" user list --data "$DATA")
check "list shows admin, alice and bob with roles" bash -c "grep -q '^admin *admin *active' <<<'$list' && grep -q '^alice *radiologist' <<<'$list' && grep -q '^bob *technologist' <<<'$list'"
check "disable" "$TRESOR" user disable alice --data "$DATA"
check "disabled users are listed as disabled" bash -c "'$TRESOR' user list --data '$DATA' | grep -q '^alice .*disabled'"
check "enable" "$TRESOR" user enable alice --data "$DATA"
check_fails "disable of an unknown user is an error" "$TRESOR" user disable nobody --data "$DATA"
hashes=$("$TRESOR" index sql --data "$DATA" "SELECT password_hash FROM users")
expect_eq "three users, each stored as an Argon2id hash" 3 "$(grep -c '^\$argon2id\$' <<<"$hashes")"
expect_eq "nothing else is stored as a password" 0 "$(grep -vc '^\$argon2id\$' <<<"$hashes")"
check "no password appears in the data directory" bash -c "! grep -rqF -e '$pw' -e 'correct horse battery' '$DATA'"
before=$("$TRESOR" index sql --data "$DATA" "SELECT password_hash FROM users WHERE name='alice'")
check "passwd sets a new password" "$TRESOR" user passwd alice --data "$DATA"
after=$("$TRESOR" index sql --data "$DATA" "SELECT password_hash FROM users WHERE name='alice'")
check "the stored hash changed" test "$before" != "$after"
finish
