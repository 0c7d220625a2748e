#!/usr/bin/env bash
# Storage faults under a running daemon that is delivering webhooks: the
# database folder is a 3 MiB tmpfs that first fills up (a filler file) and
# later turns read-only (the kernel's forced read-only remount, made with
# the preload library tests/tools/fault_store_ro.c, since mount(8) refuses
# `remount,ro` while the daemon holds the database open for writing).
# During each fault the daemon keeps running, logs the cause, /healthz
# answers 503 with the reason, and `promisectl add` fails with a clear
# message and no half-written promise.  When the space (or write access)
# returns the daemon carries on by itself: every notification that was due
# arrives exactly once, answers that came back during the fault are
# recorded, and the database passes integrity_check.
set -euo pipefail
. "$(dirname "$0")/delivery_common.bash"

command -v curl >/dev/null || fail "curl is not installed"
command -v cc >/dev/null || fail "cc is not installed"
[ "$(id -u)" -eq 0 ] || fail "needs root to mount a tmpfs"

STATE="$TMP/state"
MOUNTED=
unmount_state() {
	if [ -n "$MOUNTED" ]; then
		umount "$STATE" 2>/dev/null || umount -l "$STATE" 2>/dev/null || true
	fi
}
# The daemon goes first (it holds the tmpfs), then the mount, then $TMP.
trap 'stop_peers; [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; wait 2>/dev/null;
	unmount_state; cleanup_common' EXIT
# Room for SQLite's WAL to reach its checkpoint size (1000 pages, 4 MiB)
# besides the database; the filler takes the rest.
mount -t tmpfs -o size=16m,mode=0755 promised-fault "$STATE" ||
	fail "cannot mount a tmpfs on $STATE"
MOUNTED=1

SHIM="$TMP/fault_store_ro.so"
cc -shared -fPIC -O2 -o "$SHIM" "$TOOLS/fault_store_ro.c" -ldl ||
	fail "cannot build the read-only preload library"
export FAULT_RO_DIR="$STATE" FAULT_RO_FLAG="$TMP/ro.on"
# An ASan build checks that its runtime comes first; the shim comes first.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

HOOKLOG="$TMP/hook.log"
# Every answer waits 1 s: requests are in flight when a fault starts, and
# their answers come back while the database cannot be written.
start_peer hook "$TOOLS/http_receiver.py" --log "$HOOKLOG" --delay 1
HTTP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HEALTH="http://127.0.0.1:$HTTP_PORT/healthz"
write_delivery_config "  hook:
    type: webhook
    url: http://127.0.0.1:$PEER_PORT/hook
    content_type: application/json
    body: '{\"key\": \"{{idem_key}}\"}'
    concurrency: 4
    retry:
      base: 1s
      factor: 2
      cap: 2s
      max_age: 1h" "[hook]"
cat >>"$CFG" <<EOF
http:
  listen: 127.0.0.1:$HTTP_PORT
  public_url: http://127.0.0.1:$HTTP_PORT
EOF
"$PD" --check-config --config "$CFG" >"$TMP/check.out" 2>&1 ||
	fail "the test config does not validate: $(cat "$TMP/check.out")"

# 50 promises, two falling due every second from t0+3 to t0+27: a stream
# of notifications through both faults (the Schema one, made through
# promisectl, falls due too, at t0+3).
N=50
t0=$(date +%s)
add_promise "Schema" $((t0 + 3)) >/dev/null
sqlite3 "$DB" <<EOF
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N - 1)
INSERT INTO promises (ref, title, customer_name, owner, team, site, source,
	due_at, created_at, updated_at, next_step_at, state, outcome)
SELECT 'stream:' || i, 'Stream ' || i, 'C', 'alice', 'desk', 'hq', 'test',
	$t0 + 3 + i / 2, $t0, $t0, $t0 + 3 + i / 2, 'open', 'none' FROM n;
EOF
LD_PRELOAD="$SHIM" start_daemon

arrived() { [ -f "$HOOKLOG" ] && wc -l <"$HOOKLOG" || echo 0; }
health() {   # prints "<status> <body>"
	curl -s -m 5 -o "$TMP/health.body" -w '%{http_code}' "$HEALTH" || true
	echo " $(cat "$TMP/health.body" 2>/dev/null)"
}
# wait_arrivals N SECONDS: until the receiver has logged N requests.
wait_arrivals() {
	local i
	for i in $(seq $(($2 * 20))); do
		[ "$(arrived)" -ge "$1" ] && return 0
		sleep 0.05
	done
	fail "only $(arrived) requests arrived, expected $1 within $2 s"
}
# during_fault WHAT PATTERN: the checks made while the fault lasts.
during_fault() {
	local i h out rc before
	check "$1: the daemon logs it and /healthz answers 503 with the reason"
	for i in $(seq 100); do
		h=$(health)
		[[ "$h" == 503* ]] && break
		sleep 0.1
	done
	echo "  /healthz: $h"
	[[ "$h" == 503* ]] || fail "/healthz did not turn unhealthy: $h"
	echo "$h" | grep -qiE "$2" || fail "/healthz does not give the reason: $h"
	grep -qiE "$2" "$LOG" || fail "the log does not name the fault ($2)"
	kill -0 "$PID" || fail "the daemon exited"

	check "$1: promisectl add fails with a clear error and adds nothing"
	before=$(sqlite3 "$DB" "SELECT count(*) FROM promises")
	set +e
	out=$(LD_PRELOAD="$SHIM" pctl add --title "During $1" --owner alice \
		--due "$(iso $((t0 + 3600)))" 2>&1)
	rc=$?
	set -e
	echo "  promisectl: exit $rc: $out"
	[ "$rc" -ne 0 ] || fail "promisectl add succeeded during the fault"
	echo "$out" | grep -qiE "$2" || fail "promisectl does not say why: $out"
	[ "$(sqlite3 "$DB" "SELECT count(*) FROM promises")" -eq "$before" ] ||
		fail "a promise was half-written"
}
# after_fault WHAT: /healthz turns 200 again without a restart.
after_fault() {
	local i h
	check "$1 over: /healthz answers 200 again, same daemon"
	for i in $(seq 150); do
		h=$(health)
		[[ "$h" == 200* ]] && break
		sleep 0.1
	done
	[[ "$h" == 200* ]] || fail "/healthz stays unhealthy after the fault: $h"
	kill -0 "$PID" || fail "the daemon exited"
}

# ---- Disk full ------------------------------------------------------------
wait_arrivals 4 20
# Right after an arrival: its answer (1 s later) meets the full disk.
n=$(arrived)
wait_arrivals $((n + 1)) 10
dd if=/dev/zero of="$STATE/filler" bs=64k 2>/dev/null || true
[ "$(df --output=avail -k "$STATE" | tail -n 1)" -lt 64 ] ||
	fail "the filler did not fill the tmpfs"
during_fault "disk full" "full"
sleep 2
rm -f "$STATE/filler"
after_fault "disk full"

# ---- Read-only ------------------------------------------------------------
n=$(arrived)
wait_arrivals $((n + 1)) 10
: >"$FAULT_RO_FLAG"
during_fault "read-only" "read-only"
sleep 2
rm -f "$FAULT_RO_FLAG"
after_fault "read-only"

check "the stream carries on: every notification is sent"
for _ in $(seq 300); do
	sent=$(sqlite3 "$DB" "SELECT count(*) FROM notifications WHERE state = 'sent'")
	[ "$sent" -eq "$N" ] && break
	sleep 0.1
done
[ "$sent" -eq "$N" ] ||
	fail "$sent of $N notifications sent: $(sqlite3 "$DB" "SELECT id, state FROM notifications WHERE state != 'sent'")"
grep -q "result recorded late" "$LOG" ||
	fail "no answer met a fault; the test did not exercise late recording"

check "every key arrived exactly once; no promise lost; promisectl works again"
sqlite3 "$DB" "SELECT idem_key FROM notifications" >"$TMP/keys"
python3 - "$HOOKLOG" "$TMP/keys" "$N" <<'PY' || fail "the arrivals are not right"
import collections, json, sys
keys = set(open(sys.argv[2]).read().split())
count = collections.Counter(json.loads(json.loads(l)["body"])["key"]
                            for l in open(sys.argv[1], encoding="utf-8"))
assert len(keys) == int(sys.argv[3]), len(keys)
assert set(count) == keys, (keys ^ set(count))
assert max(count.values()) == 1, count.most_common(3)
PY
[ "$(sqlite3 "$DB" "SELECT count(*) FROM promises")" -eq "$N" ] ||
	fail "not $N promises in the database"
pctl add --title "After the faults" --owner alice --due "$(iso $((t0 + 3600)))" \
	>/dev/null || fail "promisectl add fails after the faults"

check "the database passes integrity_check; the daemon stops cleanly"
[ "$(sqlite3 "$DB" "PRAGMA integrity_check")" = "ok" ] ||
	fail "integrity_check: $(sqlite3 "$DB" "PRAGMA integrity_check")"
stop_daemon
echo "ok: $NCHECK checks"
