#!/usr/bin/env bash
# Delivery failures are never fatal: a Maildir that cannot be written makes
# the notification wait for a retry (first backoff 30 s +- 20 %), a write to the
# outbox by another program is seen at once, and a notification that keeps
# failing past its maximum age (24 h) is given up as dead.
set -euo pipefail
. "$(dirname "$0")/daemon_common.bash"

outbox() {   # outbox COLUMN ID
	sqlite3 "$DB" "SELECT $1 FROM notifications WHERE id = $2"
}
wait_state() {   # wait_state ID STATE SECONDS
	local i
	for i in $(seq $(($3 * 10))); do
		[ "$(outbox state "$1" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.1
	done
	fail "notification $1 is '$(outbox state "$1")', expected $2"
}

write_config 0
# A file where the Maildir should be: every delivery fails for now.
echo "not a folder" >"$MAILDIR"
start_daemon

# Due t0+17: reminder t0+2, last call t0+7 (write_config).
t0=$(date +%s)
P=$(add_promise "Order the part" $((t0 + 17)))

check "the reminder fails for now and waits 30 s (+- 20 % jitter: 24..36 s)"
for _ in $(seq 60); do
	n=$(sqlite3 "$DB" "SELECT count(*) FROM notifications")
	[ "$n" -ge 1 ] && break
	sleep 0.1
done
id=$(sqlite3 "$DB" "SELECT min(id) FROM notifications")
wait_state "$id" retry 3
wait_after=$(($(outbox next_try_at "$id") - t0 - 2))
echo "  retry $wait_after s after the step"
# The step may have run up to a second after its instant.
[ "$wait_after" -ge 24 ] && [ "$wait_after" -le 37 ] ||
	fail "retry $wait_after s after the step, expected 24..37"
[ "$(outbox attempts "$id")" -eq 1 ] || fail "attempts is not 1"
grep -q "^<4>promise $P: notification $id to alice via mail failed (attempt 1), retry in" "$LOG" ||
	fail "no warning for the failed attempt"
kill -0 "$PID" || fail "the daemon died"

check "once the Maildir is fixed, an outbox write by another program is served at once"
rm "$MAILDIR"
sqlite3 "$DB" "UPDATE notifications SET next_try_at = strftime('%s', 'now') WHERE id = $id"
wait_state "$id" sent 2
[ "$(messages | wc -l)" -eq 1 ] || fail "expected the one message"

check "the last call fails too; past 24 h of age it is given up as dead"
rm -rf "$MAILDIR"
echo "not a folder" >"$MAILDIR"
for _ in $(seq 80); do
	[ "$(sqlite3 "$DB" "SELECT count(*) FROM notifications")" -ge 2 ] && break
	sleep 0.1
done
id2=$(sqlite3 "$DB" "SELECT max(id) FROM notifications")
wait_state "$id2" retry 3
sqlite3 "$DB" "UPDATE notifications SET created_at = created_at - 90000,
	next_try_at = strftime('%s', 'now') WHERE id = $id2"
wait_state "$id2" dead 2
grep -q "^<3>promise $P: notification $id2 to alice via mail failed for good" "$LOG" ||
	fail "no error line for the dead notification"
[ -n "$(outbox last_error "$id2")" ] || fail "the dead row has no last_error"

stop_daemon
echo "ok: $NCHECK checks"
