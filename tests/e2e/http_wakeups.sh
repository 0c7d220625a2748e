#!/usr/bin/env bash
# An idle HTTP listener does not make the daemon wake: with an `http:`
# section, nothing due and no connection, at most 2 wake-ups in 10 s (as
# daemon_wakeups.sh without a listener), also right after requests were
# served and their connections closed.  Wake-ups are voluntary context
# switches in /proc/PID/status.
set -euo pipefail
. "$(dirname "$0")/http_common.bash"
unset WATCHDOG_USEC WATCHDOG_PID NOTIFY_SOCKET

write_http_config
start_http_daemon
sleep 2   # the first pass and the echoes of its own writes

vcs() {
	awk '/^voluntary_ctxt_switches:/ { print $2 }' "/proc/$PID/status"
}

# idle_window WHAT: counts wake-ups over 10 s and fails above 2.
idle_window() {
	local before after woke
	before=$(vcs)
	sleep 10
	after=$(vcs)
	woke=$((after - before))
	echo "  voluntary context switches in 10 s: $woke"
	[ "$woke" -le 2 ] || fail "the daemon woke $woke times in 10 s $1"
}

check "at most 2 wake-ups in 10 s with the listener idle"
idle_window "with an idle listener"

check "the listener serves, and the wake-ups are seen"
before=$(vcs)
for _ in 1 2 3; do
	req GET "$BASE/healthz"
	expect_status 200 "/healthz"
done
req GET "$BASE/metrics"
expect_status 200 "/metrics"
after=$(vcs)
[ $((after - before)) -ge 1 ] || fail "four requests did not wake the daemon"

check "after the connections closed: again at most 2 wake-ups in 10 s"
sleep 1
idle_window "after serving requests"

stop_daemon
echo "PASS"
