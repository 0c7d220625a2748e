#!/usr/bin/env bash
# A busy daemon (a stream of 300 webhooks falling due over ten seconds)
# gets a storm of 200 SIGHUPs while 1,000 `promisectl` writes (600 add,
# 200 done, 200 snooze) run eight at a time.  Every promisectl exits 0
# and none prints "busy" or "locked" (SQLite's busy timeout absorbs the
# contention), every write is in the database afterwards, the daemon stays
# up and still reloads its config, and each of the 300 notifications
# arrives exactly once.
set -euo pipefail
. "$(dirname "$0")/delivery_common.bash"

S=300      # stream notifications
NADD=600
NDONE=200
NSNOOZE=200
NHUP=200
HOOKLOG="$TMP/hook.log"
start_peer hook "$TOOLS/http_receiver.py" --log "$HOOKLOG"
write_delivery_config "  hook:
    type: webhook
    url: http://127.0.0.1:$PEER_PORT/hook
    content_type: application/json
    body: '{\"key\": \"{{idem_key}}\"}'
    concurrency: 8
    retry:
      base: 1s
      factor: 2
      cap: 2s
      max_age: 1h" "[hook]"

# The schema through promisectl; the stream (due t0+3 .. t0+12, 30 a
# second) and the targets of done and snooze (due in a day) in one INSERT.
t0=$(date +%s)
far=$((t0 + 86400))
add_promise "Schema" "$far" >/dev/null
sqlite3 "$DB" <<EOF
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $S - 1)
INSERT INTO promises (ref, title, customer_name, owner, team, site, source,
	due_at, created_at, updated_at, next_step_at, state, outcome)
SELECT 'stream:' || i, 'Stream ' || i, 'C', 'alice', 'desk', 'hq', 'test',
	$t0 + 3 + i / 30, $t0, $t0, $t0 + 3 + i / 30, 'open', 'none' FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $NDONE + $NSNOOZE - 1)
INSERT INTO promises (ref, title, customer_name, owner, team, site, source,
	due_at, created_at, updated_at, next_step_at, state, outcome)
SELECT 'target:' || i, 'Target ' || i, 'C', 'alice', 'desk', 'hq', 'test',
	$far, $t0, $t0, $far, 'open', 'none' FROM n;
COMMIT;
EOF
start_daemon

# One write per line: "add I", "done I" or "snooze I".  A failure leaves
# its exit code and stderr in fail/.
mkdir "$TMP/fail"
cat >"$TMP/one.sh" <<EOF
#!/usr/bin/env bash
kind=\$1 i=\$2
case \$kind in
add) set -- add --title "Parallel \$i" --owner alice --due "$(iso "$far")" --ref "par:\$i" ;;
done) set -- done "target:\$i" ;;
snooze) set -- snooze "target:\$((i + $NDONE))" --for 2h ;;
esac
"$PCTL" --config "$CFG" --db "$DB" "\$@" >/dev/null 2>"$TMP/fail/\$kind.\$i" &&
	rm -f "$TMP/fail/\$kind.\$i" || echo "exit \$?" >>"$TMP/fail/\$kind.\$i"
EOF
chmod +x "$TMP/one.sh"
# Under ASan the leak check at each exit (it stops the process and scans
# its memory) triples the time of 1,000 runs; promisectl's leaks are
# checked by the cli tests, this one is about contention.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
{
	for i in $(seq 0 $((NADD - 1))); do echo "add $i"; done
	for i in $(seq 0 $((NDONE - 1))); do echo "done $i"; done
	for i in $(seq 0 $((NSNOOZE - 1))); do echo "snooze $i"; done
} | shuf >"$TMP/ops"

check "while the stream is delivered: $NHUP SIGHUPs and 1,000 promisectl writes (8 at a time)"
wait_until=$((t0 + 3))
sleep $((wait_until - $(date +%s) > 0 ? wait_until - $(date +%s) : 0))
(
	for _ in $(seq "$NHUP"); do
		kill -HUP "$PID" 2>/dev/null || exit 1
		sleep 0.01
	done
) &
hup_pid=$!
start=$(date +%s.%N)
xargs -P 8 -L 1 "$TMP/one.sh" <"$TMP/ops"
end=$(date +%s.%N)
wait "$hup_pid" || fail "the daemon went away during the SIGHUP storm"
echo "  1,000 writes in $(python3 -c "print(round($end - $start, 1))") s"

check "every promisectl exited 0; none saw 'busy' or 'locked'"
nfail=$(find "$TMP/fail" -type f | wc -l)
if [ "$nfail" -gt 0 ]; then
	head -n 5 "$TMP"/fail/* >&2
	fail "$nfail of 1,000 promisectl writes failed"
fi
kill -0 "$PID" || fail "the daemon exited"

check "the daemon reloaded during the storm and still reloads"
nrel=$(grep -c "config reloaded" "$LOG" || true)
echo "  $nrel reloads logged for $NHUP SIGHUPs (pending signals merge)"
[ "$nrel" -ge 1 ] || fail "no reload logged"
! grep -q "config reload failed" "$LOG" ||
	fail "a reload failed: $(grep "config reload" "$LOG" | tail -n 1)"
kill -HUP "$PID"
for _ in $(seq 50); do
	[ "$(grep -c "config reloaded" "$LOG")" -gt "$nrel" ] && break
	sleep 0.1
done
[ "$(grep -c "config reloaded" "$LOG")" -gt "$nrel" ] ||
	fail "a SIGHUP after the storm is not answered with a reload"

check "every write is in the database"
q() { sqlite3 "$DB" "$1"; }
[ "$(q "SELECT count(*) FROM promises WHERE ref LIKE 'par:%'")" -eq "$NADD" ] ||
	fail "adds missing: $(q "SELECT count(*) FROM promises WHERE ref LIKE 'par:%'") of $NADD"
[ "$(q "SELECT count(DISTINCT ref) FROM promises WHERE ref LIKE 'par:%'")" -eq "$NADD" ] ||
	fail "an add is there twice"
[ "$(q "SELECT count(*) FROM promises WHERE ref LIKE 'target:%' AND state = 'closed'
	AND outcome = 'kept' AND CAST(substr(ref, 8) AS INTEGER) < $NDONE")" -eq "$NDONE" ] ||
	fail "not every done is recorded"
[ "$(q "SELECT count(*) FROM promises WHERE ref LIKE 'target:%'
	AND CAST(substr(ref, 8) AS INTEGER) >= $NDONE AND state <> 'closed'
	AND snoozed_until >= $t0 + 7200")" -eq "$NSNOOZE" ] ||
	fail "not every snooze is recorded"
[ "$(q "SELECT count(*) FROM events e JOIN promises p ON p.id = e.promise_id
	WHERE p.ref LIKE 'target:%' AND e.kind IN ('closed', 'snoozed')")" -eq \
	$((NDONE + NSNOOZE)) ] || fail "not one event per done and snooze"

check "the stream: each of the $S notifications arrived exactly once"
for _ in $(seq 300); do
	sent=$(q "SELECT count(*) FROM notifications WHERE state = 'sent'")
	[ "$sent" -eq "$S" ] && break
	sleep 0.1
done
[ "$sent" -eq "$S" ] || fail "$sent of $S notifications sent"
q "SELECT idem_key FROM notifications" >"$TMP/keys"
python3 - "$HOOKLOG" "$TMP/keys" "$S" <<'PY' || fail "the arrivals are not right"
import collections, json, sys
keys = set(open(sys.argv[2]).read().split())
count = collections.Counter(json.loads(json.loads(l)["body"])["key"]
                            for l in open(sys.argv[1], encoding="utf-8"))
assert len(keys) == int(sys.argv[3]), len(keys)
assert set(count) == keys, sorted(keys ^ set(count))[:5]
assert max(count.values()) == 1, count.most_common(3)
PY

check "integrity_check ok; the daemon stops cleanly"
[ "$(q "PRAGMA integrity_check")" = "ok" ] || fail "integrity_check failed"
stop_daemon
echo "ok: $NCHECK checks"
