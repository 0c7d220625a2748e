#!/usr/bin/env bash
# The real daemon, end to end: promises added with promisectl while it runs
# are reminded within 1 s of each step's instant (nothing polls: the
# inotify watch sees the write, the timer fires at the step); the lapse is
# one event, once; SIGHUP with a broken config keeps the old one running;
# SIGTERM exits 0 within 5 s.
set -euo pipefail
. "$(dirname "$0")/daemon_common.bash"

write_config 0
start_daemon
check "the daemon starts on an empty database and logs ready with <N> prefixes"
grep -q '^<5>ready' "$LOG" || fail "no '<5>ready' line"

# Step instants follow from the dues and the policy (write_config):
#   A (due t0+20): reminder t0+5, last-call t0+10, lapse t0+20 (alice and
#     carol), escalation t0+24 (carol)
#   B (due t0+17): reminder t0+2, last-call t0+7, lapse t0+17 (alice,
#     carol), escalation t0+21 (carol)
t0=$(date +%s)
A=$(add_promise "Call Marie back about the brake quote" $((t0 + 20)))
B=$(add_promise "Tell Jan his car is ready" $((t0 + 17)))
[ -n "$A" ] && [ -n "$B" ] || fail "promisectl add did not print the ids"
expected="$A reminder alice $((t0 + 5))
$A last-call alice $((t0 + 10))
$A lapse alice $((t0 + 20))
$A lapse carol $((t0 + 20))
$A escalation carol $((t0 + 24))
$B reminder alice $((t0 + 2))
$B last-call alice $((t0 + 7))
$B lapse alice $((t0 + 17))
$B lapse carol $((t0 + 17))
$B escalation carol $((t0 + 21))"

check "the first three steps arrive (the daemon saw promisectl's writes)"
wait_messages 3 9 || fail "not three messages by t0+9: $(messages)"

check "SIGHUP with a broken config: errors logged, daemon keeps running"
cp "$CFG" "$TMP/good.yaml"
printf 'database: [unclosed\nstaff: {{{\n\x01garbage\n' >"$CFG"
kill -HUP "$PID"
for _ in $(seq 30); do
	grep -q 'config reload failed' "$LOG" && break
	sleep 0.1
done
grep -q '^<3>.*config reload failed' "$LOG" || fail "no reload failure logged"
grep -q "^<3>$CFG:[0-9]*:[0-9]*: " "$LOG" ||
	fail "the config errors were not logged as <3>file:line:column lines"
sleep 0.5
kill -0 "$PID" 2>/dev/null || fail "the daemon died after SIGHUP"

check "A's last call (t0+10) still arrives, through the old config"
now=$(date +%s)
[ "$now" -lt $((t0 + 10)) ] || fail "the test ran too slowly to check this"
wait_messages 4 $((t0 + 13 - now)) || fail "last call missing: $(messages)"

check "SIGHUP with the repaired config reloads it"
cp "$TMP/good.yaml" "$CFG"
kill -HUP "$PID"
for _ in $(seq 30); do
	grep -q 'config reloaded' "$LOG" && break
	sleep 0.1
done
grep -q '^<5>config reloaded' "$LOG" || fail "no 'config reloaded' line"

check "all ten notifications arrive"
now=$(date +%s)
wait_messages 10 $((t0 + 30 - now)) || fail "got $(messages | wc -l) of 10"
sleep 2
got=$(messages)
[ "$(echo "$got" | wc -l)" -eq 10 ] || fail "expected 10 messages, got: $got"

check "each step reaches each recipient exactly once, within 1 s of its instant"
while read -r pid step rcpt at; do
	n=$(echo "$got" | awk -v p="$pid" -v s="$step" -v r="$rcpt" \
		'$1 == p && $2 == s && $3 == r' | wc -l)
	[ "$n" -eq 1 ] || fail "promise $pid $step to $rcpt: $n messages"
	line=$(echo "$got" | awk -v p="$pid" -v s="$step" -v r="$rcpt" \
		'$1 == p && $2 == s && $3 == r')
	mtime=$(echo "$line" | awk '{ print $5 }')
	late=$(echo "$line" | awk '{ print $4 }')
	lag=$(python3 -c 'import sys; print(float(sys.argv[1]) - int(sys.argv[2]))' "$mtime" "$at")
	echo "  promise $pid $step -> $rcpt: lag $lag s"
	python3 -c 'import sys; sys.exit(0 if abs(float(sys.argv[1])) <= 1.0 else 1)' "$lag" ||
		fail "promise $pid $step to $rcpt: delivered $lag s from its instant"
	[ "$late" = no ] || fail "promise $pid $step marked late"
done <<<"$expected"

check "the Message-IDs are all different"
[ "$(echo "$got" | awk '{ print $6 }' | sort -u | wc -l)" -eq 10 ] ||
	fail "duplicate Message-IDs: $got"

check "the lapse is one event, once, for each promise"
[ "$(events_of "$A" lapsed)" -eq 1 ] || fail "A: $(events_of "$A" lapsed) lapsed events"
[ "$(events_of "$B" lapsed)" -eq 1 ] || fail "B: $(events_of "$B" lapsed) lapsed events"

check "one log line per delivery, naming the promise"
[ "$(grep -c "^<6>promise $A: notification [0-9]* sent via mail to" "$LOG")" -eq 5 ] ||
	fail "expected 5 'sent' lines for promise $A"

check "nothing is left in the outbox"
left=$(sqlite3 "$DB" "SELECT count(*) FROM notifications WHERE state <> 'sent'")
[ "$left" -eq 0 ] || fail "$left notifications not sent"

check "SIGTERM: exit 0 within 5 s"
stop_daemon
grep -q 'stopped' "$LOG" || fail "no 'stopped' line"
echo "ok: $NCHECK checks"
