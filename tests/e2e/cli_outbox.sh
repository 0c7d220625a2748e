#!/usr/bin/env bash
# promisectl outbox (table, filters, JSON), outbox retry on a dead
# notification, test-channel through a Maildir (and through a webhook to
# a real HTTP receiver when this build has network delivery), and
# check-config reporting a bad variable in an override template with
# file:line:column.  The outbox rows are written with sqlite3 into the
# schema the store created, so every state is there without waiting for
# the daemon.  The clock is pinned to 2026-12-03 09:00 UTC (10:00 in
# Brussels).
set -euo pipefail
. "$(dirname "$0")/cli_common.bash"

export PROMISED_NOW=2026-12-03T09:00:00Z
export PROMISED_ACTOR=tester
unset NO_COLOR PROMISED_CONFIG PROMISED_DB
NOW=1796288400     # 2026-12-03T09:00:00Z
command -v sqlite3 >/dev/null || fail "sqlite3 is not installed"

# The shared config plus a Maildir channel and the shipped templates.
sed -i 's/^channels:$/channels:\n  mail:\n    type: maildir\n    path: maildir/' "$CFG"
cat >>"$CFG" <<EOF
templates:
  dir: $PROMISED_SOURCE_DIR/config/templates
EOF

check "check-config accepts the config with the shipped templates"
pctl check-config
expect_rc 0

check "an empty outbox says so"
pctl add --title "Call back about the brake quote" --owner alice \
	--customer "Jan Janssens" --due "fri 16:00"
expect_rc 0
pctl outbox
expect_rc 0
expect_out "no notifications"

# Three rows of promise 1: sent, dead (HTTP 400) and retrying.
sqlite3 "$DB" <<EOF
INSERT INTO notifications (promise_id, step, channel, recipient, subject,
  idem_key, state, attempts, scheduled_at, next_try_at, created_at, sent_at,
  last_error, provider_id)
VALUES
 (1, 'reminder', 'mail', 'alice', 'Herinnering: brake quote', 'k1', 'sent',
  1, $NOW, $NOW, $NOW, $NOW, NULL, 'msg-1'),
 (1, 'lapse', 'sms', 'alice', 'Gemist: brake quote', 'k2', 'dead',
  1, $NOW, $NOW, $NOW, 0, 'HTTP 400', NULL),
 (1, 'lapse', 'sms', 'carol', 'Missed: brake quote', 'k3', 'retry',
  2, $NOW, $((NOW + 3600)), $NOW, 0, 'HTTP 503', NULL);
EOF

check "outbox lists every row, newest first, next try in local time"
pctl outbox
expect_rc 0
head -n1 "$OUT" | grep -Eq '^ID +STATE +CHANNEL +RECIPIENT +ATTEMPTS +NEXT TRY +LAST ERROR +SUBJECT$' \
	|| fail "table header"
[ "$(wc -l <"$OUT")" -eq 4 ] || fail "expected a header and 3 rows"
sed -n 2p "$OUT" | grep -Eq '^3 +retry +sms +carol +2 +Thu 12-03 11:00 +HTTP 503 +Missed: brake quote$' \
	|| fail "retry row (10:00 local + 1 h)"
sed -n 3p "$OUT" | grep -Eq '^2 +dead +sms +alice +1 +- +HTTP 400 +Gemist: brake quote$' \
	|| fail "dead row"
sed -n 4p "$OUT" | grep -Eq '^1 +sent +mail +alice +1 +- +- +Herinnering: brake quote$' \
	|| fail "sent row"

check "outbox --state dead --json shows the dead row only"
pctl outbox --state dead --json
expect_rc 0
grep -q '"id": 2, "promise_id": 1, "state": "dead"' "$OUT" || fail "dead row in JSON"
grep -q '"last_error": "HTTP 400"' "$OUT" || fail "last_error in JSON"
if grep -q '"state": "sent"' "$OUT"; then fail "a sent row in --state dead"; fi
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); assert len(a)==1' "$OUT" \
	|| fail "not a JSON array of one"

check "outbox --promise and --limit filter"
pctl outbox --promise 1 --limit 1
expect_rc 0
[ "$(wc -l <"$OUT")" -eq 2 ] || fail "expected a header and 1 row"
pctl outbox --promise 2
expect_rc 0
expect_out "no notifications"

check "outbox --state with an unknown state is a usage error"
pctl outbox --state bogus
expect_rc 64
grep -q "pending, sending, sent, retry, dead" "$ERR" || fail "names the states"

check "outbox retry puts the dead row back to pending now"
pctl outbox retry 2
expect_rc 0
expect_out "notification 2 queued again"
row=$(sqlite3 "$DB" "SELECT state, next_try_at FROM notifications WHERE id = 2")
[ "$row" = "pending|$NOW" ] || fail "row 2 after retry: $row"

check "outbox retry of a sent row is refused, of a missing one too"
pctl outbox retry 1
expect_rc 65
pctl outbox retry 99
expect_rc 65
pctl outbox retry abc
expect_rc 64

check "test-channel mail --to alice writes one message into the Maildir"
pctl test-channel mail --to alice
expect_rc 0
grep -q '^result: delivered$' "$OUT" || fail "result line"
n=$(find "$TMP/maildir/new" -type f | wc -l)
[ "$n" -eq 1 ] || fail "expected 1 message in maildir/new, found $n"
msg=$(find "$TMP/maildir/new" -type f)
# alice reads Dutch: the nl reminder, due in an hour (11:00 in Brussels).
grep -q 'Herinnering: Test message from promised voor Test Customer' "$msg" \
	|| fail "Dutch test subject in $(cat "$msg")"
grep -q 'do 3 dec 11:00 (over 1 u)' "$msg" || fail "due in Dutch"

check "test-channel refuses an unknown channel and an unknown recipient"
pctl test-channel nosuch --to alice
expect_rc 65
pctl test-channel mail --to nobody
expect_rc 65
pctl test-channel mail
expect_rc 64

check "check-config reports an unknown variable in an override template"
mkdir -p "$TMP/over/en"
printf 'Hello,\n  {{custmer_name}} called.\n' >"$TMP/over/en/reminder.txt"
cat >>"$CFG" <<EOF
  override: $TMP/over
EOF
pctl check-config
expect_rc 78
grep -qF "$TMP/over/en/reminder.txt:2:5: unknown variable 'custmer_name'; did you mean 'customer_name'?" "$ERR" \
	|| fail "file:line:column of the bad variable"

check "check-config reports an unknown variable in a webhook body"
sed -i '/^  override:/d' "$CFG"
sed -i 's/^channels:$/channels:\n  sms:\n    type: webhook\n    url: http:\/\/127.0.0.1:9\/sms\n    body: "{\\"to\\": \\"{{to_phone}}\\"}"/' "$CFG"
line=$(grep -n 'to_phone' "$CFG" | cut -d: -f1)
pctl check-config
expect_rc 78
# body: "{\"to\": \"{{to_phone}}\"}": the name starts at column 25.
grep -qF "$CFG:$line:25: channel 'sms': body: unknown variable 'to_phone'" "$ERR" \
	|| fail "position of the bad variable in the body"

# ---- a webhook through the network, when this build has it ------------
recv=$PROMISED_SOURCE_DIR/tests/tools/http_receiver.py
if [ -f "$PROMISED_SOURCE_DIR/src/netsend.c" ] && [ -f "$recv" ]; then
	check "test-channel to a webhook prints the receiver's answer"
	python3 "$recv" --log "$TMP/recv.log" --script 201,400 >"$TMP/recv.out" &
	RPID=$!
	trap 'kill "$RPID" 2>/dev/null || true; cleanup_common' EXIT
	for _ in $(seq 50); do
		[ -s "$TMP/recv.out" ] && break
		sleep 0.1
	done
	port=$(head -n1 "$TMP/recv.out")
	[ -n "$port" ] || fail "the HTTP receiver did not start"
	sed -i 's/{{to_phone}}/{{recipient_phone}}\\", \\"text\\": \\"{{text}}/' "$CFG"
	sed -i "s|http://127.0.0.1:9/sms|http://127.0.0.1:$port/hook|" "$CFG"
	pctl test-channel sms --to alice
	expect_rc 0
	grep -q '^result: delivered$' "$OUT" || fail "result line"
	grep -q '^status: 201$' "$OUT" || fail "status line"
	grep -q 'rcv-1' "$OUT" || fail "the response body"
	python3 - "$TMP/recv.log" <<'PY' || fail "what the receiver got: $(cat "$TMP/recv.log")"
import json, sys
r = json.loads(open(sys.argv[1]).readline())
b = json.loads(r["body"])
assert r["path"] == "/hook", r
assert b["to"] == "+32470000002", b
assert b["text"].startswith("Herinnering: Test message from promised"), b
PY
	check "test-channel exits 69 when the far side refuses"
	pctl test-channel sms --to alice
	expect_rc 69
	grep -q '^status: 400$' "$OUT" || fail "status line"
	kill "$RPID" 2>/dev/null || true
	wait "$RPID" 2>/dev/null || true
else
	echo "skip: no network delivery in this build (netsend.c or the receiver missing)"
fi

echo "PASS: $NCHECK checks"
