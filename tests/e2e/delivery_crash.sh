#!/usr/bin/env bash
# kill -9 while 500 webhooks are being delivered: after a restart every
# notification arrives, duplicates are only rows that were in flight
# (`sending`) at the kill, each duplicate carries the same idempotency key,
# and the receiver saw exactly 500 + duplicates requests.
set -euo pipefail
. "$(dirname "$0")/delivery_common.bash"

N=500
HOOKLOG="$TMP/hook.log"
# 50 ms per answer and 8 connections: about 160 requests a second, so
# the kill after ~150 arrivals lands in the middle of the run.
start_peer hook "$TOOLS/http_receiver.py" --log "$HOOKLOG" --delay 0.05
write_delivery_config "  hook:
    type: webhook
    url: http://127.0.0.1:$PEER_PORT/hook
    content_type: application/json
    body: '{\"key\": \"{{idem_key}}\", \"promise\": \"{{promise_id}}\"}'
    concurrency: 8
    timeout: 20s
    retry:
      base: 1s
      factor: 2
      cap: 5s
      max_age: 1h" "[hook]"

# One promise through promisectl creates the schema (due far away); the
# 500 go in with one INSERT, all due a few seconds after the start.
now=$(date +%s)
add_promise "Schema" $((now + 30 * 86400)) >/dev/null
due=$((now + 8))
sqlite3 "$DB" <<EOF
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
INSERT INTO promises (ref, title, customer_name, owner, team, site, source,
	due_at, created_at, updated_at, next_step_at, state, outcome)
SELECT 'crash:' || i, 'Crash promise ' || i, 'Customer ' || i, 'alice',
	'desk', 'hq', 'test', $due, $now, $now, $due, 'open', 'none' FROM n;
COMMIT;
EOF
start_daemon

check "kill -9 after ~150 of $N arrivals"
arrived() { [ -f "$HOOKLOG" ] && wc -l <"$HOOKLOG" || echo 0; }
for _ in $(seq 1500); do
	[ "$(arrived)" -ge 150 ] && break
	sleep 0.02
done
kill -9 "$PID"
wait "$PID" 2>/dev/null || true
PID=
at_kill=$(arrived)
echo "  $at_kill requests had arrived at the kill"
[ "$at_kill" -ge 150 ] || fail "only $at_kill requests arrived in 30 s"
[ "$at_kill" -lt "$N" ] || fail "all $N arrived before the kill; nothing was in flight"
sqlite3 "$DB" "SELECT idem_key FROM notifications WHERE state = 'sending'" >"$TMP/sending"
echo "  $(wc -l <"$TMP/sending") rows were sending at the kill"
[ -s "$TMP/sending" ] || fail "no row was sending at the kill"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM notifications")" -eq "$N" ] ||
	fail "not all $N notifications were queued before the kill"

check "after a restart the outbox drains: every row sent"
start_daemon
for _ in $(seq 600); do
	left=$(sqlite3 "$DB" "SELECT count(*) FROM notifications WHERE state IN ('pending', 'sending', 'retry')")
	[ "$left" -eq 0 ] && break
	sleep 0.1
done
[ "$left" -eq 0 ] || fail "$left notifications still not sent after 60 s"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM notifications WHERE state = 'sent'")" -eq "$N" ] ||
	fail "not every notification is sent"
grep -q "notification(s) interrupted by a crash will be sent again" "$LOG" ||
	fail "the restart did not recover the interrupted rows"
stop_daemon

check "every key arrived; duplicates only of rows in flight, same key, <= 64"
sqlite3 "$DB" "SELECT idem_key FROM notifications" >"$TMP/keys"
python3 - "$HOOKLOG" "$TMP/keys" "$TMP/sending" "$N" <<'PY' || fail "the arrivals are not right"
import collections, json, sys
log, keysf, sendingf, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
keys = set(open(keysf).read().split())
sending = set(open(sendingf).read().split())
count = collections.Counter()
for line in open(log, encoding="utf-8"):
    r = json.loads(line)
    h = {k.lower(): v for k, v in r["headers"]}
    key = h["webhook-id"]
    # The same key in every header and in the body of every copy.
    assert h.get("idempotency-key", key) == key, h
    assert json.loads(r["body"])["key"] == key, r["body"]
    count[key] += 1
assert len(keys) == n, len(keys)
missing = keys - set(count)
assert not missing, "never arrived: %s" % sorted(missing)[:5]
assert set(count) <= keys, set(count) - keys
assert max(count.values()) <= 2, count.most_common(3)
dups = {k for k, c in count.items() if c == 2}
assert dups <= sending, "duplicates that were not in flight: %s" % sorted(dups - sending)[:5]
# At most DELIVER_MAX_INFLIGHT rows are claimed and unanswered at once.
assert len(dups) <= 64, len(dups)
total = sum(count.values())
assert total == n + len(dups), (total, len(dups))
print("  %d requests: %d keys, %d duplicates (of %d in flight at the kill)"
      % (total, len(count), len(dups), len(sending)))
PY
echo "ok: $NCHECK checks"
