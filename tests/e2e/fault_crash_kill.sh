#!/usr/bin/env bash
# kill -9 at random moments, 20 times, while a stream of 400 webhooks
# (16 falling due a second for 25 s) is delivered to a real receiver that
# answers after 0.1 s, so requests are in flight at each kill.  After the
# last restart: every notification arrived (none lost), a key arrived
# twice only if its row was `sending` at a kill (and at most once more per
# such kill), every copy carries the same idempotency key in webhook-id,
# Idempotency-Key and the body, and the database passes integrity_check
# after every kill.  delivery_crash.sh covers one kill in a burst of 500;
# this covers many kills at moments nobody chose.
set -euo pipefail
. "$(dirname "$0")/delivery_common.bash"

N=400
KILLS=20
SEED=${FAULT_SEED:-$$}
RANDOM=$SEED
echo "random seed $SEED (FAULT_SEED=$SEED repeats this run)"
HOOKLOG="$TMP/hook.log"
start_peer hook "$TOOLS/http_receiver.py" --log "$HOOKLOG" --delay 0.1
write_delivery_config "  hook:
    type: webhook
    url: http://127.0.0.1:$PEER_PORT/hook
    content_type: application/json
    body: '{\"key\": \"{{idem_key}}\"}'
    concurrency: 8
    timeout: 20s
    retry:
      base: 1s
      factor: 2
      cap: 2s
      max_age: 1h" "[hook]"

t0=$(date +%s)
add_promise "Schema" $((t0 + 30 * 86400)) >/dev/null
sqlite3 "$DB" <<EOF
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $N - 1)
INSERT INTO promises (ref, title, customer_name, owner, team, site, source,
	due_at, created_at, updated_at, next_step_at, state, outcome)
SELECT 'kill:' || i, 'Kill promise ' || i, 'C', 'alice', 'desk', 'hq', 'test',
	$t0 + 2 + i / 16, $t0, $t0, $t0 + 2 + i / 16, 'open', 'none' FROM n;
COMMIT;
EOF

check "$KILLS kill -9 at random moments (0.2 to 1.2 s after ready)"
: >"$TMP/sending"
caught=0
for k in $(seq "$KILLS"); do
	start_daemon
	ms=$((200 + RANDOM % 1000))
	sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
	kill -9 "$PID"
	wait "$PID" 2>/dev/null || true
	PID=
	# Rows in flight at this kill: the only ones that may arrive twice.
	sqlite3 "$DB" "SELECT idem_key FROM notifications WHERE state = 'sending'" \
		>"$TMP/sending.$k"
	[ -s "$TMP/sending.$k" ] && caught=$((caught + 1))
	cat "$TMP/sending.$k" >>"$TMP/sending"
	ic=$(sqlite3 "$DB" "PRAGMA integrity_check")
	[ "$ic" = "ok" ] || fail "integrity_check after kill $k: $ic"
done
echo "  $caught of $KILLS kills caught rows in flight; $(wc -l <"$HOOKLOG") requests so far"
[ "$caught" -ge 5 ] || fail "only $caught kills caught a send in flight"

check "after the last restart the outbox drains: all $N sent"
start_daemon
for _ in $(seq 600); do
	sent=$(sqlite3 "$DB" "SELECT count(*) FROM notifications WHERE state = 'sent'")
	[ "$sent" -eq "$N" ] && break
	sleep 0.1
done
[ "$sent" -eq "$N" ] || fail "$sent of $N sent after 60 s"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM notifications")" -eq "$N" ] ||
	fail "not exactly one notification per promise"
grep -q "interrupted by a crash will be sent again" "$LOG" ||
	fail "no restart recovered an interrupted row"
stop_daemon

check "none lost; duplicates only of rows in flight at a kill, same key everywhere"
sqlite3 "$DB" "SELECT idem_key FROM notifications" >"$TMP/keys"
python3 - "$HOOKLOG" "$TMP/keys" "$TMP/sending" "$N" <<'PY' || fail "the arrivals are not right"
import collections, json, sys
log, keysf, sendingf, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
keys = set(open(keysf).read().split())
kills_in_flight = collections.Counter(open(sendingf).read().split())
count = collections.Counter()
for line in open(log, encoding="utf-8"):
    r = json.loads(line)
    h = {k.lower(): v for k, v in r["headers"]}
    key = h["webhook-id"]
    assert h.get("idempotency-key", key) == key, h
    assert json.loads(r["body"])["key"] == key, r["body"]
    count[key] += 1
assert len(keys) == n, len(keys)
lost = keys - set(count)
assert not lost, "lost: %d, e.g. %s" % (len(lost), sorted(lost)[:3])
assert set(count) <= keys, set(count) - keys
for key, c in count.items():
    assert c <= 1 + kills_in_flight[key], (key, c, kills_in_flight[key])
dups = sum(c - 1 for c in count.values())
print("  %d requests for %d keys: lost 0, %d duplicates (%d rows were in "
      "flight at the kills)" % (sum(count.values()), len(count), dups,
                                sum(kills_in_flight.values())))
PY
[ "$(sqlite3 "$DB" "PRAGMA integrity_check")" = "ok" ] || fail "integrity_check at the end"
echo "ok: $NCHECK checks"
