#!/usr/bin/env bash
# The administration REST API of `tresor serve` (/api/users, /api/peers, /api/groups,
# /api/rules, /api/tokens) driven with curl by the admin created by `tresor init`, with
# the effects checked through the CLI and DICOM: a peer registered over HTTPS answers
# C-ECHO (echoscu), a user created over HTTPS signs in, a revoked token gets 401 (after
# working), a rule applies to archived studies. Every other role gets 403 on every admin
# route (and the admin 2xx on the same call), a cookie session without X-CSRF-Token gets
# 403, invalid bodies 400. Then the QIDO `orderby` extension: results are ordered like a
# sort of the same data, and pages with orderby concatenate to the full ordered list.
source "$(dirname "$0")/../lib.sh"

echo "admin_api: administration over HTTPS"
CORPUS=$WORK/corpus
"$PY" "$ROOT/tests/tools/make_studies.py" --out "$CORPUS" --patients 10 --studies 3 \
  --series 1 --instances 1 --rows 8 --cols 8 >/dev/null
rm -f "$CORPUS/manifest.tsv"
init_data || { fail "init"; finish; exit 1; }
sed -i 's/^fsync = true/fsync = false/' "$DATA/tresor.conf"  # disposable archive
ADMIN_PW=$(sed -n 's/.*store it safely): //p' "$WORK/init.out" | head -1)
check "init printed the admin password" test -n "$ADMIN_PW"
check "the corpus imports" "$TRESOR" import --data "$DATA" "$CORPUS"
for role in radiologist technologist auditor; do
  echo 'correct horse battery staple' |
    "$TRESOR" user add "$role" --role "$role" --groups all --password-stdin --data "$DATA" >/dev/null
done

if ! start_server || [ -z "$HTTPS_PORT" ]; then
  fail "the server starts with its HTTPS listener"; finish; exit 1
fi
BASE=https://127.0.0.1:$HTTPS_PORT
CA=$DATA/keys/ca.pem

N=0
# req ARGS... URL: one curl request; sets CODE and BODY (file).
req() {
  N=$((N + 1))
  BODY=$WORK/body.$N
  CODE=$(curl -sS --max-time 20 --cacert "$CA" -o "$BODY" -w '%{http_code}' "$@" 2>"$WORK/curl.err")
}
# json EXPR: evaluates EXPR on the last body (d).
json() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"d": d}))' "$BODY" "$1" 2>/dev/null; }
bearer() {  # USER PASSWORD -> session token
  curl -sS --cacert "$CA" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}" "$BASE/auth/token" |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("access_token",""))'
}
ADMIN=$(bearer admin "$ADMIN_PW")
check "the admin from tresor init signs in" test -n "$ADMIN"
A=(-H "Authorization: Bearer $ADMIN")
J=(-H 'Content-Type: application/json')

# --- peers: created over HTTPS, then usable over DICOM ---
req "${A[@]}" "${J[@]}" -d '{"name":"echoer","ae_title":"ECHOER","host":"127.0.0.1","port":11112,"services":["echo"],"groups":["all"]}' "$BASE/api/peers"
expect_eq "POST /api/peers creates a peer" 201 "$CODE"
expect_eq "the created peer is returned" "ECHOER echo not required" "$(json '" ".join([d["ae_title"], ",".join(d["services"]), d["tls"]])')"
check "the CLI lists the peer" bash -c "'$TRESOR' peer list --data '$DATA' | grep -q '^echoer  *ECHOER'"
check "the peer created over HTTPS passes C-ECHO" echoscu -aet ECHOER -aec TRESOR 127.0.0.1 "$PORT"
check_fails "an unregistered AE title is rejected (control)" echoscu -aet STRANGER -aec TRESOR 127.0.0.1 "$PORT"
req "${A[@]}" "$BASE/api/peers"
expect_eq "GET /api/peers lists it" "200 echoer" "$CODE $(json '",".join(p["name"] for p in d)')"
req "${A[@]}" "${J[@]}" -d '{"name":"bad","ae_title":"A_TITLE_LONGER_THAN_16","host":"127.0.0.1"}' "$BASE/api/peers"
expect_eq "an overlong AE title: 400" 400 "$CODE"
check "the error names the AE title" grep -q "AE title" "$BODY"
req "${A[@]}" "${J[@]}" -d '{"name":"bad","ae_title":"BAD","host":"127.0.0.1; reboot"}' "$BASE/api/peers"
expect_eq "a host that is no address or name: 400" 400 "$CODE"
req "${A[@]}" "${J[@]}" -d '{"name":"bad","ae_title":"BAD","host":"127.0.0.1","port":0}' "$BASE/api/peers"
expect_eq "port 0: 400" 400 "$CODE"
req "${A[@]}" "${J[@]}" -d '{"name":"bad","ae_title":"BAD","host":"127.0.0.1","port":"104"}' "$BASE/api/peers"
expect_eq "a port given as a string: 400" 400 "$CODE"
check "the error names the field" grep -q "'port'" "$BODY"
req "${A[@]}" "${J[@]}" -d '{"name":"bad","ae_title":"BAD","host":"127.0.0.1","colour":"red"}' "$BASE/api/peers"
expect_eq "an unknown field: 400" 400 "$CODE"
check "the error names the unknown field" grep -q "colour" "$BODY"
req "${A[@]}" "$BASE/api/peers"
expect_eq "no refused peer was registered" "echoer" "$(json '",".join(p["name"] for p in d)')"
req "${A[@]}" -X DELETE "$BASE/api/peers/echoer"
expect_eq "DELETE /api/peers/echoer: 204" 204 "$CODE"
check_fails "the removed peer's C-ECHO is rejected" echoscu -aet ECHOER -aec TRESOR 127.0.0.1 "$PORT"
req "${A[@]}" -X DELETE "$BASE/api/peers/echoer"
expect_eq "deleting it again: 404" 404 "$CODE"

# --- users ---
req "${A[@]}" "${J[@]}" -d '{"name":"carol","role":"radiologist","password":"a web made passphrase 9","groups":["site-a"]}' "$BASE/api/users"
expect_eq "POST /api/users creates a user" 201 "$CODE"
check "the password is not echoed" bash -c "! grep -q 'a web made passphrase' '$BODY'"
check "the CLI lists carol with her group" bash -c "'$TRESOR' user list --data '$DATA' | grep -q '^carol  *radiologist  *active  *site-a'"
CAROL=$(bearer carol 'a web made passphrase 9')
check "carol signs in with the password set over HTTPS" test -n "$CAROL"
req "${A[@]}" "${J[@]}" -d '{"name":"dave","role":"auditor","password":"short"}' "$BASE/api/users"
expect_eq "a password against the policy: 400" 400 "$CODE"
req "${A[@]}" -X PATCH "${J[@]}" -d '{"disabled":true}' "$BASE/api/users/carol"
expect_eq "PATCH disables carol" "200 True" "$CODE $(json 'd["disabled"]')"
req -H "Authorization: Bearer $CAROL" "$BASE/api/stats"
expect_eq "carol's session stops working once she is disabled" 401 "$CODE"
req "${A[@]}" -X PATCH "${J[@]}" -d '{"disabled":false,"groups":["all"]}' "$BASE/api/users/carol"
expect_eq "PATCH re-enables carol with another group" "200 False all" "$CODE $(json 'd["disabled"]') $(json '",".join(d["groups"])')"
req "${A[@]}" -X PATCH "${J[@]}" -d '{"disabled":true}' "$BASE/api/users/admin"
expect_eq "the admin cannot disable themselves: 409" 409 "$CODE"
grep -a -F -q "$ADMIN_PW" "$LOG" && fail "the admin password appears in the log" || pass "no password in the server log"
grep -a -q "a web made passphrase" "$LOG" && fail "carol's password appears in the log" || pass "no user password in the server log"
check "changes are logged as security events" grep -q "security event: administration by user 'admin' (admin) from 127.0.0.1: user 'carol' created" "$LOG"

# --- rules and groups ---
INSTITUTION=$("$TRESOR" index sql --data "$DATA" "SELECT institution FROM studies WHERE institution<>'' LIMIT 1")
EXPECTED=$("$TRESOR" index sql --data "$DATA" "SELECT count(*) FROM studies WHERE institution='$INSTITUTION'")
RULE=$("$PY" -c 'import json,sys; print(json.dumps({"group":"site-x","kind":"institution","value":sys.argv[1]}))' "$INSTITUTION")
req "${A[@]}" "${J[@]}" -d "$RULE" "$BASE/api/rules"
expect_eq "POST /api/rules adds the rule to the archived studies" "201 $EXPECTED" "$CODE $(json 'd["studies_added"]')"
check "the rule added studies" test "$EXPECTED" -gt 0
req "${A[@]}" "$BASE/api/groups"
expect_eq "GET /api/groups counts them" "$EXPECTED" "$(json '[g["studies"] for g in d if g["name"]=="site-x"][0]')"
req "${A[@]}" "$BASE/api/rules"
expect_eq "GET /api/rules lists the rule" "site-x institution" "$(json '" ".join([d[0]["group"], d[0]["kind"]])')"
req "${A[@]}" "${J[@]}" -d "$RULE" "$BASE/api/rules/remove"
expect_eq "POST /api/rules/remove: 200" 200 "$CODE"
req "${A[@]}" "${J[@]}" -d "$RULE" "$BASE/api/rules/remove"
expect_eq "removing it again: 404" 404 "$CODE"

# --- tokens: created, used, revoked ---
req "${A[@]}" "${J[@]}" -d '{"name":"ci","user":"radiologist","days":7}' "$BASE/api/tokens"
expect_eq "POST /api/tokens: 201" 201 "$CODE"
TOKEN=$(json 'd["token"]')
check "the token is shown once, with an ISO 8601 expiry" bash -c "[[ '$TOKEN' == trs_* ]] && [[ '$(json 'd["expires_at"]')' =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$ ]]"
req "${A[@]}" "$BASE/api/tokens"
expect_eq "GET /api/tokens lists it without the token" "ci radiologist" "$(json '" ".join([d[0]["name"], d[0]["user"]])')"
check "the list does not hold the token" bash -c "! grep -q '$TOKEN' '$BODY'"
req -H "Authorization: Bearer $TOKEN" "$BASE/dicom-web/studies?limit=1"
expect_eq "the token works (positive control)" 200 "$CODE"
req "${A[@]}" -X DELETE "$BASE/api/tokens/ci"
expect_eq "DELETE /api/tokens/ci: 204" 204 "$CODE"
req -H "Authorization: Bearer $TOKEN" "$BASE/dicom-web/studies?limit=1"
expect_eq "the revoked token gets 401 at once" 401 "$CODE"
req "${A[@]}" "$BASE/api/stats"
expect_eq "the server still answers the admin" 200 "$CODE"

# --- every other role: 403 on every admin route; the admin: success on the same call ---
ROUTES=(
  "GET /api/users -"
  "POST /api/users {\"name\":\"eve\",\"role\":\"auditor\",\"password\":\"yet another passphrase 3\"}"
  "PATCH /api/users/auditor {\"groups\":[\"all\"]}"
  "GET /api/peers -"
  "POST /api/peers {\"name\":\"p2\",\"ae_title\":\"P2\",\"host\":\"127.0.0.1\"}"
  "DELETE /api/peers/p2 -"
  "GET /api/groups -"
  "GET /api/rules -"
  "POST /api/rules {\"group\":\"g2\",\"kind\":\"peer\",\"value\":\"p2\"}"
  "POST /api/rules/remove {\"group\":\"g2\",\"kind\":\"peer\",\"value\":\"p2\"}"
  "GET /api/tokens -"
  "POST /api/tokens {\"name\":\"t2\",\"user\":\"auditor\"}"
  "DELETE /api/tokens/t2 -"
)
declare -A TOK
for role in radiologist technologist auditor; do TOK[$role]=$(bearer "$role" 'correct horse battery staple'); done
refused=0 allowed=0
for r in "${ROUTES[@]}"; do
  method=${r%% *}; rest=${r#* }; path=${rest%% *}; body=${rest#* }
  data=(); [ "$body" != "-" ] && data=("${J[@]}" -d "$body")
  for role in radiologist technologist auditor; do
    req -X "$method" -H "Authorization: Bearer ${TOK[$role]}" "${data[@]}" "$BASE$path"
    if [ "$CODE" = 403 ]; then refused=$((refused + 1)); else fail "$role: $method $path -> $CODE (expected 403)"; fi
  done
  req -X "$method" "${A[@]}" "${data[@]}" "$BASE$path"
  case $CODE in 200|201|204) allowed=$((allowed + 1)) ;; *) fail "admin: $method $path -> $CODE" ;; esac
done
expect_eq "radiologist, technologist and auditor get 403 on all ${#ROUTES[@]} admin routes" $((3 * ${#ROUTES[@]})) "$refused"
expect_eq "the admin succeeds on the same ${#ROUTES[@]} calls" "${#ROUTES[@]}" "$allowed"

# --- CSRF: a cookie session needs X-CSRF-Token for changes ---
curl -sS --cacert "$CA" -c "$WORK/jar" -o "$WORK/session.json" "${J[@]}" \
  -d "{\"username\":\"admin\",\"password\":\"$ADMIN_PW\"}" "$BASE/auth/session"
CSRF=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["csrf_token"])' "$WORK/session.json")
req -b "$WORK/jar" "$BASE/api/peers"
expect_eq "the cookie session reads /api/peers" 200 "$CODE"
req -b "$WORK/jar" "${J[@]}" -d '{"name":"csrf","ae_title":"CSRF","host":"127.0.0.1"}' "$BASE/api/peers"
expect_eq "POST with the cookie and no X-CSRF-Token: 403" 403 "$CODE"
req -b "$WORK/jar" -H "X-CSRF-Token: $CSRF" "${J[@]}" -d '{"name":"csrf","ae_title":"CSRF","host":"127.0.0.1"}' "$BASE/api/peers"
expect_eq "the same POST with X-CSRF-Token: 201" 201 "$CODE"
req -b "$WORK/jar" -X DELETE "$BASE/api/peers/csrf"
expect_eq "DELETE with the cookie and no X-CSRF-Token: 403" 403 "$CODE"
req -b "$WORK/jar" -X PATCH "${J[@]}" -d '{"groups":["all"]}' "$BASE/api/users/auditor"
expect_eq "PATCH with the cookie and no X-CSRF-Token: 403" 403 "$CODE"
req -b "$WORK/jar" -H "X-CSRF-Token: $CSRF" -X DELETE "$BASE/api/peers/csrf"
expect_eq "DELETE with X-CSRF-Token: 204" 204 "$CODE"

# --- QIDO orderby ---
R=(-H "Authorization: Bearer ${TOK[radiologist]}")
QIDO=$BASE/dicom-web/studies
values() {  # KEYWORD TAG: the values of TAG in the last body, one a line
  "$PY" -c 'import json,sys
for s in json.load(open(sys.argv[1])):
    print((s.get(sys.argv[2], {}).get("Value") or [""])[0])' "$BODY" "$1"
}
req "${R[@]}" "$QIDO?limit=100&includefield=AccessionNumber"
values 00080050 >"$WORK/acc.unsorted"
req "${R[@]}" "$QIDO?limit=100&orderby=AccessionNumber"
values 00080050 >"$WORK/acc.sorted"
expect_eq "30 studies" 30 "$(wc -l <"$WORK/acc.sorted")"
check "orderby=AccessionNumber equals a sort of the same data" cmp "$WORK/acc.sorted" <(LC_ALL=C sort "$WORK/acc.unsorted")
req "${R[@]}" "$QIDO?limit=100&orderby=-AccessionNumber"
values 00080050 >"$WORK/acc.desc"
check "orderby=-AccessionNumber is the reverse" cmp "$WORK/acc.desc" <(LC_ALL=C sort -r "$WORK/acc.unsorted")
req "${R[@]}" "$QIDO?limit=100&orderby=-StudyDate,-StudyTime&includefield=AccessionNumber"
"$PY" -c 'import json,sys
for s in json.load(open(sys.argv[1])):
    v = lambda t: (s.get(t, {}).get("Value") or [""])[0]
    print(v("00080020") + " " + v("00080030") + " " + v("00080050"))' "$BODY" >"$WORK/date.full"
check "orderby=-StudyDate,-StudyTime: dates and times descending" cmp <(cut -d' ' -f1,2 "$WORK/date.full") <(cut -d' ' -f1,2 "$WORK/date.full" | LC_ALL=C sort -r)
check "the dates are not all equal (the check can fail)" test "$(cut -d' ' -f1 "$WORK/date.full" | sort -u | wc -l)" -gt 3
: >"$WORK/date.paged"
for offset in 0 7 14 21 28; do
  req "${R[@]}" "$QIDO?limit=7&offset=$offset&orderby=-StudyDate&orderby=-StudyTime&includefield=AccessionNumber"
  "$PY" -c 'import json,sys
for s in json.load(open(sys.argv[1])):
    v = lambda t: (s.get(t, {}).get("Value") or [""])[0]
    print(v("00080020") + " " + v("00080030") + " " + v("00080050"))' "$BODY" >>"$WORK/date.paged"
done
check "pages of 7 with orderby concatenate to the full ordered list" cmp "$WORK/date.paged" "$WORK/date.full"
req "${R[@]}" "$QIDO?orderby=PatientWeight"
expect_eq "orderby on an attribute the index does not hold: 400" 400 "$CODE"
check "the error names orderby" grep -q "orderby" "$BODY"
req "${R[@]}" "$QIDO?orderby=NoSuchKeyword"
expect_eq "orderby on an unknown attribute: 400" 400 "$CODE"
req "${R[@]}" "$QIDO?orderby=StudyDate&limit=1"
expect_eq "a valid orderby still answers (control)" 200 "$CODE"
req "${R[@]}" "$BASE/dicom-web/series?orderby=-SeriesNumber,StudyDate&limit=5"
expect_eq "series-level orderby: 200" 200 "$CODE"

check "the server is still running" server_alive
finish
