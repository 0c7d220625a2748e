#!/usr/bin/env bash
# The intake API, /healthz and /metrics against the real daemon: create
# (201), an idempotent repeat on ref (200, still one promise), bad JSON
# (400 naming the problem), no or a wrong bearer token (401), a body over
# max_body (413), list and close; /healthz answers 200; /metrics passes
# `promtool check metrics` and counts the daemon's own sends and fire lag.
# A config whose secret file is missing is refused at load with its
# position.
set -euo pipefail
. "$(dirname "$0")/http_common.bash"

command -v promtool >/dev/null || fail "promtool missing (apt-get install prometheus)"
MAX_BODY=4KiB write_http_config

check "--check-config refuses a missing secret file with file:line:column"
cp "$CFG" "$TMP/bad.yaml"
sed -i 's|keys/intake.token|keys/no-such.token|' "$TMP/bad.yaml"
set +e
"$PD" --check-config --config "$TMP/bad.yaml" >"$TMP/bad.out" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "a missing intake_token_file passed --check-config"
line=$(grep -n 'no-such.token' "$TMP/bad.yaml" | cut -d: -f1)
grep -q "bad.yaml:$line:[0-9]*: intake_token_file: " "$TMP/bad.out" ||
	fail "no position in: $(cat "$TMP/bad.out")"

start_http_daemon
API="$BASE/api/v1/promises"
AUTH=(-H "Authorization: Bearer $INTAKE_TOKEN")
due=$(iso $(($(date +%s) + 2 * 86400)))
JSON="{\"title\": \"Call back about the quote\", \"owner\": \"alice\",
       \"due\": \"$due\", \"ref\": \"CRM-1042\",
       \"customer\": {\"name\": \"Jan Peeters\", \"phone\": \"+32 470 12 34 56\"}}"

check "GET /healthz answers 200"
req GET "$BASE/healthz"
expect_status 200 "/healthz"

check "POST without a token: 401; with a wrong one: 401"
req POST "$API" -H 'Content-Type: application/json' -d "$JSON"
expect_status 401 "no token"
header WWW-Authenticate | grep -q Bearer || fail "no WWW-Authenticate"
req POST "$API" -H 'Content-Type: application/json' \
	-H "Authorization: Bearer x$INTAKE_TOKEN" -d "$JSON"
expect_status 401 "wrong token"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM promises")" = 0 ] || fail "a promise was created"

check "bad JSON: 400 with a JSON error"
req POST "$API" "${AUTH[@]}" -H 'Content-Type: application/json' \
	-d '{"title": "x", "owner": '
expect_status 400 "bad JSON"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["error"], j' \
	"$TMP/resp.body" || fail "the error is not JSON: $(body)"
req POST "$API" "${AUTH[@]}" -H 'Content-Type: application/json' \
	-d "{\"title\": \"x\", \"owner\": \"nobody\", \"due\": \"$due\"}"
case "$STATUS" in 400 | 422) ;; *) fail "unknown owner: status $STATUS" ;; esac
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["field"] == "owner", j' \
	"$TMP/resp.body" || fail "the error does not name the field: $(body)"

check "a body over max_body (4 KiB): 413"
python3 -c 'import json; print(json.dumps({"title": "x", "owner": "alice", "details": "y" * 8192}))' \
	>"$TMP/big.json"
req POST "$API" "${AUTH[@]}" -H 'Content-Type: application/json' \
	--data-binary @"$TMP/big.json"
expect_status 413 "oversized body"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM promises")" = 0 ] || fail "a promise was created"

check "create: 201 with the promise; the repeat: 200, the same one"
req POST "$API" "${AUTH[@]}" -H 'Content-Type: application/json' -d "$JSON"
expect_status 201 "create"
ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$TMP/resp.body")
req POST "$API" "${AUTH[@]}" -H 'Content-Type: application/json' -d "$JSON"
expect_status 200 "repeat"
ID2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$TMP/resp.body")
[ "$ID" = "$ID2" ] || fail "the repeat answered promise $ID2, not $ID"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM promises WHERE ref = 'CRM-1042'")" = 1 ] ||
	fail "not exactly one promise with ref CRM-1042"
[ "$(sqlite3 "$DB" "SELECT owner || ' ' || source FROM promises WHERE id = $ID")" != "" ] ||
	fail "promise $ID not in the database"

check "list open promises of alice; close through the API"
req GET "$API?state=open&owner=alice" "${AUTH[@]}"
expect_status 200 "list"
grep -q 'CRM-1042' "$TMP/resp.body" || fail "the list lacks CRM-1042: $(body)"
req POST "$API/$ID/close" "${AUTH[@]}" -H 'Content-Type: application/json' \
	-d '{"outcome": "kept"}'
expect_status 200 "close"
state_of "$ID" | grep -q '^closed kept ' || fail "after close: $(state_of "$ID")"

check "a promise due soon is delivered; /metrics counts it and passes promtool"
t0=$(date +%s)
add_promise "Send the brake quote" $((t0 + 11)) >/dev/null
wait_messages 1 15 || fail "no reminder delivered"
req GET "$BASE/metrics"
expect_status 200 "/metrics"
header Content-Type | grep -q '^text/plain' || fail "Content-Type: $(header Content-Type)"
promtool check metrics <"$TMP/resp.body" >"$TMP/promtool.out" 2>&1 ||
	fail "promtool: $(cat "$TMP/promtool.out")"
grep -q '^promised_notification_attempts_total{channel="mail",result="sent"} 1$' "$TMP/resp.body" ||
	fail "no sent attempt on mail: $(grep attempts "$TMP/resp.body")"
grep -q '^promised_fire_lag_seconds_count 1$' "$TMP/resp.body" ||
	fail "no fire lag observed: $(grep fire_lag "$TMP/resp.body")"
grep -q '^promised_fire_lag_seconds_bucket{le="+Inf"} 1$' "$TMP/resp.body" ||
	fail "no +Inf bucket"

check "/healthz still 200; the daemon stops cleanly"
req GET "$BASE/healthz"
expect_status 200 "/healthz"
stop_daemon
echo "PASS"
