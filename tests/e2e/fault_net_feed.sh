#!/usr/bin/env bash
# Feed faults against the real daemon (issue 9): an http feed served by
# tests/tools/http_receiver.py on 127.0.0.1 answers, one poll at a time
# (`promisectl sync web`):
#   garbage (random bytes)           \
#   a body cut short (Content-Length  |  each: the feed's promises stay as
#     larger than what is sent)        |  they were, `promisectl feeds`
#   a calendar cut in half            |  shows the feed failing with its
#   an empty 200                      |  error, the daemon logs it and
#   connection closed, no answer      |  keeps running
#   1 GB with Content-Length          |  the 1 GB answers are generated
#   1 GB chunked (no length)         /   streams: the daemon stops at
#                                        max_bytes (16 MiB) and its peak
#                                        RSS grows by far less than 1 GB
# and then the good calendar again: the feed is ok once more.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/delivery_common.bash"
T_BEGIN=$(date +%s)

WEB_PORT=$(free_port)
RLOG="$TMP/receiver.log"
NOW=$(date -u +%s)
DAY0=$((NOW / 86400 * 86400))
ics() { date -u -d "@$1" +%Y%m%dT%H%M%SZ; }
{
	printf 'BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//promised tests//fault feed//EN\n'
	for u in 1 2 3; do
		printf 'BEGIN:VTODO\nUID:f-%s\nDTSTAMP:%s\nDUE:%s\nSUMMARY:Call back %s\nEND:VTODO\n' \
			"$u" "$(ics "$NOW")" "$(ics $((DAY0 + (u + 2) * 86400 + 36000)))" "$u"
	done
	printf 'END:VCALENDAR\n'
} | sed 's/$/\r/' >"$TMP/good.ics"
head -c $(($(stat -c %s "$TMP/good.ics") / 2)) "$TMP/good.ics" >"$TMP/half.ics"
head -c 4096 /dev/urandom >"$TMP/garbage.bin"

WEB_PID=
start_web() {
	[ -z "$WEB_PID" ] || kill_peer "$WEB_PID"
	start_peer web "$TOOLS/http_receiver.py" --port "$WEB_PORT" --log "$RLOG" \
		--content-type 'text/calendar; charset=utf-8' "$@"
	WEB_PID=$PEER_PID
}
start_web --body-file "$TMP/good.ics"

cat >"$CFG" <<EOF
database: state/promises.db
default_site: desk
sites:
  desk:
    timezone: UTC
$(hours_always_open)
staff:
  - id: alice
    name: Alice Desk
    email: alice@example.com
    locale: en
feeds:
  web:
    url: http://127.0.0.1:$WEB_PORT/cal/web.ics
    every: 10m
    timeout: 5s
    connect_timeout: 2s
    default_owner: alice
EOF
"$PD" --check-config --config "$CFG" >"$TMP/check.out" 2>&1 ||
	fail "the test config does not validate: $(cat "$TMP/check.out")"

q() { sqlite3 "$DB" "$1"; }
snapshot() { q "SELECT id||state||outcome||due_at||title FROM promises ORDER BY id" | md5sum; }
nreq() { grep -c '"answer"' "$RLOG" 2>/dev/null || true; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$PID/status"; }
feed_field() {   # feed_field KEY: a field of feed web in promisectl feeds --json
	pctl feeds --json | python3 -c '
import json, sys
print({f["name"]: f for f in json.load(sys.stdin)}["web"][sys.argv[1]])' "$1"
}

start_daemon
for _ in $(seq 100); do
	[ "$(q "SELECT count(*) FROM promises WHERE source='feed:web' AND state='open'")" = 3 ] && break
	sleep 0.1
done
[ "$(q "SELECT count(*) FROM promises WHERE source='feed:web' AND state='open'")" = 3 ] ||
	fail "the good calendar did not become 3 open promises"
[ "$(feed_field state)" = ok ] || fail "feed web is '$(feed_field state)' after a good fetch"
BEFORE=$(snapshot)
HWM0=$(hwm_kib)

# bad_answer WHAT EXPECTED-ERROR-REGEX RECEIVER-ARGS...: one poll of web
# answered as the receiver args say; nothing changes, the error shows.
bad_answer() {
	local what=$1 want=$2 n nerr
	shift 2
	check "$what: promises kept, the feed shown failing with the error"
	start_web "$@"
	n=$(nreq)
	nerr=$(grep -c '^<[34]>feed web: ' "$LOG" || true)
	pctl sync web >/dev/null || fail "promisectl sync web failed"
	for _ in $(seq 100); do
		[ "$(grep -c '^<[34]>feed web: ' "$LOG" || true)" -gt "$nerr" ] && break
		sleep 0.1
	done
	[ "$(nreq)" -gt "$n" ] || fail "$what: the receiver saw no request"
	[ "$(grep -c '^<[34]>feed web: ' "$LOG" || true)" -gt "$nerr" ] ||
		fail "$what: no error line for feed web in the daemon log"
	grep '^<[34]>feed web: ' "$LOG" | tail -n 1 | sed 's/^/  log: /'
	grep '^<[34]>feed web: ' "$LOG" | tail -n 1 | grep -Eq "$want" ||
		fail "$what: the error line does not match /$want/"
	[ "$(snapshot)" = "$BEFORE" ] || fail "$what changed the feed's promises"
	[ "$(feed_field state)" = failing ] || fail "$what: promisectl feeds shows '$(feed_field state)'"
	feed_field last_error | grep -Eq "$want" ||
		fail "$what: promisectl feeds shows last_error '$(feed_field last_error)'"
	kill -0 "$PID" || fail "$what: the daemon died"
}

bad_answer "garbage" "not an iCalendar document" --body-file "$TMP/garbage.bin"
bad_answer "a body cut short" "cut short" --default truncate --body-file "$TMP/good.ics"
bad_answer "a calendar cut in half" "truncated" --body-file "$TMP/half.ics"
bad_answer "an empty 200" "empty answer" --body ''
bad_answer "connection closed without an answer" "closed without a reply" --default close
bad_answer "1 GB with Content-Length" "larger than 16777216 bytes" --default stream:1000000000
bad_answer "1 GB chunked, no length" "larger than 16777216 bytes" --default chunked:1000000000

check "the 1 GB answers were cut off: little was sent, the daemon's peak RSS grew < 200 MiB (1 GB read whole would be > 1000)"
sleep 0.5
python3 - "$RLOG" <<'PY' || fail "a 1 GB answer was read far past the cap"
import json, sys
sent = [r["sent_bytes"] for r in map(json.loads, open(sys.argv[1])) if "sent_bytes" in r]
print("  bytes the server got out:", sent)
assert len(sent) == 2 and all(s < 100 * 2**20 for s in sent), sent
PY
HWM1=$(hwm_kib)
echo "  peak RSS: $((HWM0 / 1024)) MiB before, $((HWM1 / 1024)) MiB after"
[ $((HWM1 - HWM0)) -lt $((200 * 1024)) ] || fail "peak RSS grew by $(((HWM1 - HWM0) / 1024)) MiB"

check "the good calendar again: the feed is ok, its promises as before"
start_web --body-file "$TMP/good.ics"
pctl sync web >/dev/null || fail "promisectl sync web failed"
for _ in $(seq 100); do
	[ "$(feed_field state)" = ok ] && break
	sleep 0.1
done
[ "$(feed_field state)" = ok ] || fail "feed web is still '$(feed_field state)'"
[ "$(snapshot)" = "$BEFORE" ] || fail "the promises changed"

kill -0 "$PID" || fail "the daemon died"
stop_daemon
! grep -q 'ERROR: AddressSanitizer\|runtime error:' "$LOG" || fail "the sanitizers reported an error"
echo "ok: $NCHECK checks in $(($(date +%s) - T_BEGIN)) s"
