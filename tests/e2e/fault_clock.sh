#!/usr/bin/env bash
# The wall clock jumps under the real daemon (issue 9): libfaketime,
# preloaded as digest_smtp.sh does, reads the daemon's clock offset from a
# file the test rewrites (FAKETIME_TIMESTAMP_FILE, re-read at every call;
# CLOCK_MONOTONIC is left alone, as a real clock change leaves it).
# Policy `fast` of daemon_common.bash: reminder -15s, last-call -10s,
# lapse 0 (owner + manager), escalation +4s (team lead); Maildir channel.
#   forward 1 h over all of A's steps  -> ONE message: the most escalated
#                                         step, marked late (no storm of
#                                         four old steps)
#   B's steps after the jump           -> each at its instant on the new
#                                         clock, once
#   back 6 s after B's last call       -> the re-lived instants fire
#                                         nothing twice; the daemon still
#                                         wakes for B's lapse and
#                                         escalation, at their instants on
#                                         the (new) clock, not before
# libfaketime cannot make the kernel cancel the step timer as a real clock
# change does (TFD_TIMER_CANCEL_ON_SET; loop.c then recomputes): here the
# timer armed before a jump fires at its old real time, and the daemon
# must find what is due from the clock it reads then.
set -euo pipefail
. "$(dirname "$0")/daemon_common.bash"
T_BEGIN=$(date +%s)

FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)
[ -n "$FAKETIME_LIB" ] || fail "libfaketime.so.1 is not installed (apt-get install faketime)"
OFFSET="$TMP/offset"
set_offset() {   # set_offset SECONDS: the daemon's clock = real + SECONDS
	printf '%+ds\n' "$1" >"$OFFSET.tmp"
	mv "$OFFSET.tmp" "$OFFSET"
}
set_offset 0

write_config 0
add_promise "Schema" $(($(date +%s) + 30 * 86400)) >/dev/null

mark=$(grep -c 'ready' "$LOG" 2>/dev/null || true)
TZ=UTC LD_PRELOAD="$FAKETIME_LIB" FAKETIME_TIMESTAMP_FILE="$OFFSET" \
	FAKETIME_NO_CACHE=1 DONT_FAKE_MONOTONIC=1 \
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
	"$PD" --config "$CFG" --db "$DB" --foreground --log-level debug 2>>"$LOG" &
PID=$!
for _ in $(seq 600); do
	kill -0 "$PID" 2>/dev/null || fail "promised exited during start-up"
	[ "$(grep -c 'ready' "$LOG" 2>/dev/null || true)" -gt "${mark:-0}" ] && break
	sleep 0.1
done
[ "$(grep -c 'ready' "$LOG" 2>/dev/null || true)" -gt "${mark:-0}" ] ||
	fail "promised did not log 'ready' within 60 s"

# S: real time; F: the same instant on the daemon's clock after the jump.
S=$(($(date +%s) + 1))
F=$((S + 3600))
A=$(add_promise "Before the jump" $((S + 20)))   # steps S+5, +10, +20, +24
B=$(add_promise "After the jump" $((F + 22)))    # steps F+7, +12, +22, +26
until_real() {   # until_real T: sleeps until real time T
	python3 -c 'import sys, time; time.sleep(max(0, float(sys.argv[1]) - time.time()))' "$1"
}
# of PROMISE STEP: "<recipient>:<late>:<mtime>" of its messages, sorted.
of() {
	messages | awk -v p="$1" -v s="$2" '$1 == p && $2 == s { print $3 ":" $4 ":" $5 }' | sort
}
# at_real LINES FROM TO: every mtime in LINES lies in [FROM, TO] (the
# kernel stamps files from a clock that may lag by a tick: 0.1 s slack).
at_real() {
	local l t
	for l in $1; do
		t=${l##*:}
		python3 -c 'import sys; t, a, b = map(float, sys.argv[1:]); sys.exit(0 if a - 0.1 <= t <= b else 1)' \
			"$t" "$2" "$3" || fail "a message at $t, expected within [$2, $3] (real time)"
	done
}

check "a jump forward by 1 h over all of A's steps: one message, the escalation, marked late"
until_real $((S + 2))
set_offset 3600
until_real $((S + 6))
sleep 0.5
[ "$(messages | awk -v p="$A" '$1 == p' | wc -l)" -eq 1 ] ||
	fail "promise A: $(messages | awk -v p="$A" '$1 == p' | wc -l) messages after the jump, expected 1: $(messages)"
[ "$(of "$A" escalation | cut -d: -f1,2)" = "carol:yes" ] ||
	fail "promise A sent '$(messages | awk -v p="$A" '$1 == p')', expected the escalation to carol, late"
[ "$(q() { sqlite3 "$DB" "$1"; }; q "SELECT lapsed_at > 0 FROM promises WHERE id = $A")" = 1 ] ||
	fail "promise A's lapse was not recorded"

check "B's reminder and last call fire at their instants on the new clock, once each"
until_real $((S + 13))
# The jump back comes first: the checks below take time (ASan).
set_offset 3594     # the daemon's clock goes from F+13 back to F+7
[ "$(of "$B" reminder | wc -l)" -eq 1 ] || fail "B reminder: '$(of "$B" reminder)'"
[ "$(of "$B" last-call | wc -l)" -eq 1 ] || fail "B last call: '$(of "$B" last-call)'"
at_real "$(of "$B" reminder)" $((S + 7)) $((S + 8))
at_real "$(of "$B" last-call)" $((S + 12)) $((S + 13))

check "a jump back by 6 s: the re-lived instants fire nothing twice, B's lapse not yet"
until_real $((S + 26))
# A cheap look (a file count), taken before B's lapse at S+28: A's one
# message and B's reminder and last call, nothing more.
n=$(ls "$MAILDIR/new" | wc -l)
python3 -c 'import sys, time; sys.exit(0 if time.time() < float(sys.argv[1]) else 1)' $((S + 28)) ||
	fail "the test itself was too slow to look before B's lapse (S+28)"
[ "$n" -eq 3 ] || fail "$n messages at S+26, expected 3 (a re-lived step fired again, or the lapse came early): $(messages)"

check "the daemon still wakes for B's lapse and escalation, at their instants on the new clock"
until_real $((S + 33))
sleep 0.5
[ "$(of "$B" lapse | cut -d: -f1,2 | tr '\n' ' ')" = "alice:no carol:no " ] ||
	fail "B lapse: '$(of "$B" lapse)', expected alice and carol, not late"
[ "$(of "$B" escalation | cut -d: -f1,2)" = "carol:no" ] || fail "B escalation: '$(of "$B" escalation)'"
# Lapse at F+22 = real S+28 and escalation at F+26 = real S+32 with the
# offset 3594.
at_real "$(of "$B" lapse)" $((S + 28)) $((S + 29))
at_real "$(of "$B" escalation)" $((S + 32)) $((S + 33))
[ "$(messages | wc -l)" -eq 6 ] || fail "$(messages | wc -l) messages in all, expected 6: $(messages)"

kill -0 "$PID" || fail "the daemon died"
stop_daemon
! grep -q 'ERROR: AddressSanitizer\|runtime error:' "$LOG" || fail "the sanitizers reported an error"
echo "ok: $NCHECK checks in $(($(date +%s) - T_BEGIN)) s"
