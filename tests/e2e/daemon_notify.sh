#!/usr/bin/env bash
# The systemd side of the daemon (Type=notify): READY=1 once it is ready,
# WATCHDOG=1 at half of WATCHDOG_USEC and no other wake-ups, STOPPING=1 on
# the way out.  A small datagram listener stands in for systemd's notify
# socket.
set -euo pipefail
. "$(dirname "$0")/daemon_common.bash"

write_config 0
SOCK="$TMP/notify.sock"
MSGS="$TMP/notify.log"
python3 - "$SOCK" "$MSGS" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        data = s.recv(4096).decode()
        for line in data.split("\n"):
            out.write("%.3f %s\n" % (time.time(), line))
        out.flush()
PY
LISTENER=$!
cleanup_notify() {
	kill "$LISTENER" 2>/dev/null || true
	cleanup_common
}
trap cleanup_notify EXIT
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || fail "the notify listener did not start"

# A 2 s watchdog: the daemon must ping every second.
export NOTIFY_SOCKET="$SOCK" WATCHDOG_USEC=2000000
unset WATCHDOG_PID
start_daemon
unset NOTIFY_SOCKET WATCHDOG_USEC

check "READY=1 arrives, and before any WATCHDOG=1"
for _ in $(seq 30); do grep -q ' READY=1$' "$MSGS" && break; sleep 0.1; done
first=$(grep -E ' (READY|WATCHDOG)=1$' "$MSGS" | head -n 1 | awk '{ print $2 }')
[ "$first" = "READY=1" ] || fail "first message is '$first'"

check "WATCHDOG=1 about every second, and nothing else wakes the daemon"
sleep 1
w0=$(grep -c ' WATCHDOG=1$' "$MSGS" || true)
v0=$(awk '/^voluntary_ctxt_switches:/ { print $2 }' "/proc/$PID/status")
sleep 6
w1=$(grep -c ' WATCHDOG=1$' "$MSGS" || true)
v1=$(awk '/^voluntary_ctxt_switches:/ { print $2 }' "/proc/$PID/status")
pings=$((w1 - w0))
woke=$((v1 - v0))
echo "  in 6 s: $pings pings, $woke wake-ups"
[ "$pings" -ge 5 ] && [ "$pings" -le 7 ] || fail "$pings pings in 6 s, expected 6"
[ "$woke" -le $((pings + 2)) ] || fail "$woke wake-ups for $pings pings"

check "STOPPING=1 on SIGTERM, and exit 0"
stop_daemon
for _ in $(seq 20); do grep -q ' STOPPING=1$' "$MSGS" && break; sleep 0.1; done
grep -q ' STOPPING=1$' "$MSGS" || fail "no STOPPING=1"
echo "ok: $NCHECK checks"
