#!/usr/bin/env bash
# With 100,000 open promises and nothing due for the next 10+ s, the daemon
# does not wake up: no polling, no timeouts.  Without WATCHDOG_USEC and with
# the safety sweep off, the watchdog requires nothing, so at most 2
# wake-ups are allowed in 10 s (slack for the kernel, not for the daemon).
# Wake-ups are counted as voluntary context switches in /proc/PID/status
# and, where ptrace is allowed, as epoll_wait returns under strace.
set -euo pipefail
. "$(dirname "$0")/daemon_common.bash"
unset WATCHDOG_USEC WATCHDOG_PID NOTIFY_SOCKET

N=100000
write_config 0

# One promise through promisectl creates the schema; the rest go in with
# one INSERT in one transaction.  Every due is at least 30 days out, so the
# earliest step (due-15s) is far beyond the measurement.
now=$(date +%s)
far=$((now + 30 * 86400))
add_promise "Schema" "$far" >/dev/null
sqlite3 "$DB" <<EOF
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $((N - 1)))
INSERT INTO promises (ref, title, owner, team, site, source, due_at,
	created_at, updated_at, next_step_at, state, outcome)
SELECT 'bulk:' || i, 'Bulk promise ' || i, 'alice', 'desk', 'hq', 'test',
	$far + i, $now, $now, $far + i - 15, 'open', 'none' FROM n;
COMMIT;
EOF
check "$N open promises in the database"
open=$(sqlite3 "$DB" "SELECT count(*) FROM promises WHERE state = 'open'")
[ "$open" -eq "$N" ] || fail "expected $N open promises, got $open"

start_daemon
sleep 2   # the first pass and the echoes of its own writes

# voluntary_ctxt_switches counts every time the daemon blocked and was
# woken again.
vcs() {
	awk '/^voluntary_ctxt_switches:/ { print $2 }' "/proc/$PID/status"
}

check "at most 2 wake-ups in 10 s (/proc/$PID/status)"
before=$(vcs)
sleep 10
after=$(vcs)
woke=$((after - before))
echo "  voluntary context switches in 10 s: $woke"
[ "$woke" -le 2 ] || fail "the daemon woke $woke times in 10 s with nothing due"

check "the same, counted as epoll_wait returns under strace"
command -v strace >/dev/null || fail "strace is not installed"
set +e
timeout -s INT 10 strace -f -qq -e trace=epoll_wait -p "$PID" \
	-o "$TMP/strace.out" 2>"$TMP/strace.err"
set -e
if grep -qi 'not permitted' "$TMP/strace.err"; then
	echo "  skipped: ptrace is not permitted here (the /proc count stands)"
else
	[ -s "$TMP/strace.err" ] && cat "$TMP/strace.err" >&2
	# Attached means it saw the daemon sitting in epoll_wait.
	grep -q 'epoll_wait(' "$TMP/strace.out" ||
		fail "strace did not attach: $(cat "$TMP/strace.err")"
	returns=$(grep -Ec 'epoll_wait\(.*= [0-9]+' "$TMP/strace.out" || true)
	echo "  epoll_wait returns in 10 s: $returns"
	[ "$returns" -le 2 ] ||
		fail "epoll_wait returned $returns times: $(cat "$TMP/strace.out")"
fi

check "the count does see wake-ups: a promise due in 20 s wakes it at once"
before=$(vcs)
t1=$(date +%s)
add_promise "Due soon" $((t1 + 20)) >/dev/null
sleep 1
after=$(vcs)
echo "  voluntary context switches after one promisectl add: $((after - before))"
[ $((after - before)) -ge 1 ] || fail "no wake-up after a write to the database"

check "and its reminder (due-15s) is delivered within 1 s of its instant"
now=$(date +%s)
wait_messages 1 $((t1 + 8 - now)) || fail "no reminder by t1+8"
mtime=$(messages | awk '{ print $5 }')
python3 -c 'import sys; sys.exit(0 if abs(float(sys.argv[1]) - int(sys.argv[2])) <= 1 else 1)' \
	"$mtime" $((t1 + 5)) || fail "reminder at $mtime, its instant is $((t1 + 5))"

stop_daemon
echo "ok: $NCHECK checks"
