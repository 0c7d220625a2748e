#!/usr/bin/env bash
# kill -9 and restart: every step is notified exactly once — none lost,
# none twice — including the steps that fell due while the daemon was
# down.  A promise that missed several steps long ago gets one late
# notification of its most escalated missed step, not a burst.
set -euo pipefail
. "$(dirname "$0")/daemon_common.bash"

write_config 0
start_daemon

# P1 (due t0+18): reminder t0+3, last-call t0+8, lapse t0+18 (alice,
# carol), escalation t0+22 (carol).  The daemon is killed after the
# reminder and restarted at t0+11, after the last call fell due.
t0=$(date +%s)
P1=$(add_promise "Call back about the quote" $((t0 + 18)))

check "P1's reminder arrives, then the daemon is killed with SIGKILL"
wait_messages 1 6 || fail "no reminder by t0+6"
kill -9 "$PID"
wait "$PID" 2>/dev/null || true
PID=

# P2 is made while the daemon is down and dated back ten minutes: all four
# of its steps (due-15s ... due+4s) lie between 104 and 85 s in the past
# when the daemon comes back, so the catch-up rule applies (several
# missed, the earliest more than a minute old).
due2=$((t0 - 90))
P2=$(add_promise "Send the survey again" "$due2" --force)
# As if it had been added ten minutes ago: its first step (due-15s) is
# then its next one.  The daemon trusts a stored schedule made under
# the same config, as it would be for a promise really added then.
sqlite3 "$DB" "UPDATE promises SET created_at = created_at - 600,
	fired_through = 0, next_step_at = $((due2 - 15)) WHERE id = $P2"

check "restart at t0+11: the missed last call is sent at once, P2 catches up"
sleep $((t0 + 11 - $(date +%s)))
start_daemon
wait_messages 3 4 || fail "catch-up not delivered: $(messages)"

check "the rest of P1's steps arrive on time"
now=$(date +%s)
wait_messages 6 $((t0 + 27 - now)) || fail "got $(messages | wc -l) of 6"

check "a second kill -9 and restart replays nothing"
kill -9 "$PID"
wait "$PID" 2>/dev/null || true
PID=
start_daemon
sleep 3
got=$(messages)
echo "$got" | sed 's/^/  /'
[ "$(echo "$got" | wc -l)" -eq 6 ] || fail "expected 6 messages in all"

check "every step exactly once (distinct Message-IDs, one per step and recipient)"
[ "$(echo "$got" | awk '{ print $6 }' | sort -u | wc -l)" -eq 6 ] ||
	fail "a Message-ID appears twice"
expect_one() {   # promise step recipient late lo hi (instant bounds)
	local line n mtime
	line=$(echo "$got" | awk -v p="$1" -v s="$2" -v r="$3" \
		'$1 == p && $2 == s && $3 == r')
	n=$(echo -n "$line" | grep -c . || true)
	[ "$n" -eq 1 ] || fail "promise $1 $2 to $3: $n messages"
	[ "$(echo "$line" | awk '{ print $4 }')" = "$4" ] ||
		fail "promise $1 $2 to $3: late is not $4"
	mtime=$(echo "$line" | awk '{ print $5 }')
	python3 -c 'import sys; t, lo, hi = map(float, sys.argv[1:]); sys.exit(0 if lo <= t <= hi else 1)' \
		"$mtime" "$5" "$6" ||
		fail "promise $1 $2 to $3 delivered at $mtime, expected in [$5, $6]"
}
expect_one "$P1" reminder alice no $((t0 + 3 - 1)) $((t0 + 3 + 1))
# The last call fell due while down: sent right after the restart.
expect_one "$P1" last-call alice no $((t0 + 11 - 1)) $((t0 + 14))
expect_one "$P1" lapse alice no $((t0 + 18 - 1)) $((t0 + 18 + 1))
expect_one "$P1" lapse carol no $((t0 + 18 - 1)) $((t0 + 18 + 1))
expect_one "$P1" escalation carol no $((t0 + 22 - 1)) $((t0 + 22 + 1))

check "P2: one late notification of its most escalated missed step"
[ "$(echo "$got" | awk -v p="$P2" '$1 == p' | wc -l)" -eq 1 ] ||
	fail "P2 got more than one message"
expect_one "$P2" escalation carol yes $((t0 + 11 - 1)) $((t0 + 14))
grep -q "^X-Promised-Late: yes" "$(grep -l "^X-Promised-Promise: $P2\$" "$MAILDIR"/new/*)" ||
	fail "P2's message has no X-Promised-Late header"

check "each lapse is one event, once"
[ "$(events_of "$P1" lapsed)" -eq 1 ] || fail "P1: not one lapsed event"
[ "$(events_of "$P2" lapsed)" -eq 1 ] || fail "P2: not one lapsed event"

check "the outbox holds exactly the six rows, all sent"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM notifications")" -eq 6 ] ||
	fail "not 6 outbox rows"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM notifications WHERE state = 'sent'")" -eq 6 ] ||
	fail "not all sent"

stop_daemon
echo "ok: $NCHECK checks"
