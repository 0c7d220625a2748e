#!/usr/bin/env bash
# feed_daemon: the real daemon keeps calendar feeds in step by itself.
#
#   desk  a file feed, every 30s (the shortest `every`): its items become
#         promises at start-up; a moved DUE, a completion, a deletion and
#         a new item written to the file are reflected by the next timed
#         poll (and not before it: the daemon does not watch the file).
#   web   an http feed served by tests/tools/http_receiver.py on
#         127.0.0.1 with an ETag, every 30s: the timed poll of an
#         unchanged feed is a conditional GET (If-None-Match) answered
#         304, and /metrics counts a not_modified fetch for it.
#   slow  a file feed, every 10m: `promisectl sync slow` (no --here) makes
#         the daemon poll it within seconds.
#   holidays  site desk (named like the feed on purpose) reads a holiday
#         calendar at start-up; it is counted apart from feed desk.
#   bad answers: a malformed calendar in desk's file and a 500 from web's
#         server leave every promise as it was; the daemon logs an error
#         naming the feed and `promisectl feeds` shows it failing.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/delivery_common.bash"

command -v curl >/dev/null || fail "curl is not installed"

FEEDS="$TMP/feeds"
mkdir "$FEEDS"
RLOG="$TMP/receiver.log"
HTTP_PORT=$(free_port)
WEB_PORT=$(free_port)

# Dues a few days ahead of the real clock, on whole hours (UTC).
NOW=$(date -u +%s)
DAY0=$(( NOW / 86400 * 86400 ))
A_DUE=$(( DAY0 + 2 * 86400 + 15 * 3600 ))
A_MOVED=$(( DAY0 + 4 * 86400 + 9 * 3600 ))
B_DUE=$(( DAY0 + 3 * 86400 + 15 * 3600 ))
C_DUE=$(( DAY0 + 3 * 86400 + 16 * 3600 ))
D_DUE=$(( DAY0 + 5 * 86400 + 10 * 3600 ))
W_DUE=$(( DAY0 + 2 * 86400 + 11 * 3600 ))
W_MOVED=$(( DAY0 + 6 * 86400 + 11 * 3600 ))
S_DUE=$(( DAY0 + 1 * 86400 + 12 * 3600 ))

# ics T: the UTC instant T as an iCalendar DATE-TIME.
ics() {
	date -u -d "@$1" +%Y%m%dT%H%M%SZ
}

# vcal FILE ITEM...: writes a calendar of the ITEMs with CRLF line ends,
# through a temporary file so a poll never reads half of it.
vcal() {
	local f=$1
	shift
	{
		printf 'BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//promised tests//feed daemon//EN\n'
		printf '%s\n' "$@"
		printf 'END:VCALENDAR\n'
	} | sed 's/$/\r/' >"$f.tmp"
	mv "$f.tmp" "$f"
}

# vtodo UID DUE SEQUENCE [EXTRA-LINES]
vtodo() {
	printf 'BEGIN:VTODO\nUID:%s\nDTSTAMP:%s\nDUE:%s\nSEQUENCE:%s\nSUMMARY:Call back %s\n%sEND:VTODO\n' \
		"$1" "$(ics "$NOW")" "$(ics "$2")" "$3" "$1" "${4:+$4
}"
}

# vevent UID START SEQUENCE
vevent() {
	printf 'BEGIN:VEVENT\nUID:%s\nDTSTAMP:%s\nDTSTART:%s\nDURATION:PT30M\nSEQUENCE:%s\nSUMMARY:Appointment %s\nEND:VEVENT\n' \
		"$1" "$(ics "$NOW")" "$(ics "$2")" "$3" "$1"
}

vcal "$FEEDS/desk.ics" "$(vtodo a-1 "$A_DUE" 0)" "$(vtodo b-1 "$B_DUE" 0)" "$(vtodo c-1 "$C_DUE" 0)"
vcal "$FEEDS/slow.ics" "$(vtodo s-1 "$S_DUE" 0)"
# The site's holiday calendar: one all-day event, the day after tomorrow.
vcal "$FEEDS/holidays.ics" "BEGIN:VEVENT
UID:h-1
DTSTAMP:$(ics "$NOW")
DTSTART;VALUE=DATE:$(date -u -d "@$((DAY0 + 2 * 86400))" +%Y%m%d)
SUMMARY:Closed
END:VEVENT"
vcal "$FEEDS/web-v1.ics" "$(vevent w-1 "$W_DUE" 0)" "$(vevent w-2 "$W_DUE" 0)"

# start_web ARGS...: (re)starts the receiver on WEB_PORT; its log grows.
WEB_PID=
start_web() {
	if [ -n "$WEB_PID" ]; then
		kill_peer "$WEB_PID"
	fi
	start_peer web "$TOOLS/http_receiver.py" --port "$WEB_PORT" --log "$RLOG" \
		--content-type 'text/calendar; charset=utf-8' "$@"
	WEB_PID=$PEER_PID
	[ "$PEER_PORT" = "$WEB_PORT" ] || fail "the receiver is on $PEER_PORT, not $WEB_PORT"
}
start_web --etag '"v1"' --body-file "$FEEDS/web-v1.ics"

cat >"$CFG" <<EOF
database: state/promises.db
default_site: desk
sites:
  desk:
    timezone: UTC
    holidays_file: $FEEDS/holidays.ics
$(hours_always_open)
staff:
  - id: alice
    name: Alice Desk
    email: alice@example.com
    locale: en
feeds:
  desk:
    url: $FEEDS/desk.ics
    every: 30s
    default_owner: alice
  web:
    url: http://127.0.0.1:$WEB_PORT/cal/web.ics
    every: 30s
    timeout: 5s
    connect_timeout: 2s
    default_owner: alice
  slow:
    url: file://$FEEDS/slow.ics
    every: 10m
    default_owner: alice
http:
  listen: 127.0.0.1:$HTTP_PORT
  public_url: http://127.0.0.1:$HTTP_PORT
EOF
"$PD" --check-config --config "$CFG" >"$TMP/check.out" 2>&1 ||
	fail "the test config does not validate: $(cat "$TMP/check.out")"

q() { sqlite3 "$DB" "$1"; }
# row REF: "<state>/<outcome>/<due_at>" of the promise with that ref.
row() { q "SELECT state||'/'||outcome||'/'||due_at FROM promises WHERE ref='$1'"; }

# wait_for SECONDS WHAT CMD...: until CMD succeeds, or fails the test.
wait_for() {
	local secs=$1 what=$2
	shift 2
	for _ in $(seq $((secs * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "$what (not within $secs s)"
}

row_is() { [ "$(row "$1")" = "$2" ]; }
open_count_is() {
	[ "$(q "SELECT count(*) FROM promises WHERE source='feed:$1' AND state='open'")" = "$2" ]
}

# received: one line per request the receiver saw: "<answer> <If-None-Match>"
received() {
	python3 - "$RLOG" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    inm = [v for k, v in r["headers"] if k.lower() == "if-none-match"]
    print(r["answer"], inm[0] if inm else "-")
PY
}
nreceived() { received | wc -l; }

# metric NAME LABELS: the value of one sample of /metrics ("" if absent).
metric() {
	curl -sS "http://127.0.0.1:$HTTP_PORT/metrics" |
		awk -v k="$1{$2}" '$1 == k { print $2 }'
}
metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }

start_daemon
T_START=$(date +%s)

check "at start-up every feed is polled: desk, web and slow become promises"
wait_for 10 "desk's three VTODOs are open" open_count_is desk 3
wait_for 10 "web's two VEVENTs are open" open_count_is web 2
wait_for 10 "slow's VTODO is open" open_count_is slow 1
[ "$(row feed:desk:a-1)" = "open/none/$A_DUE" ] || fail "a-1: $(row feed:desk:a-1), expected open/none/$A_DUE"
[ "$(row feed:web:w-1)" = "open/none/$W_DUE" ] || fail "w-1: $(row feed:web:w-1), expected due DTSTART $W_DUE"
[ "$(q "SELECT owner FROM promises WHERE ref='feed:desk:b-1'")" = alice ] || fail "b-1: owner is not alice"
[ "$(nreceived)" = 1 ] || fail "web: $(nreceived) requests at start-up, expected 1"
grep -q 'holidays from a calendar changed' "$LOG" || fail "the site's holiday calendar was not applied"
wait_for 5 "/metrics counts no ok read of the holiday calendar" \
	metric_is promised_feed_fetch_total 'feed="holidays:desk",result="ok"' 1
metric_is promised_feed_fetch_total 'feed="desk",result="ok"' 1 ||
	fail "/metrics: desk ok = '$(metric promised_feed_fetch_total 'feed="desk",result="ok"')', expected 1"
# The holiday calendar of site desk keeps its own state: feed desk's row
# still shows its three items.
pctl feeds --json | python3 -c '
import json, sys
j = {f["name"]: f for f in json.load(sys.stdin)}
assert j["desk"]["items"] == 3 and j["desk"]["url"].endswith("desk.ics"), j["desk"]' ||
	fail "promisectl feeds: feed desk shows the holiday calendar's state: $(pctl feeds)"
[ "$(received)" = "200 -" ] || fail "web: the first fetch was '$(received)', expected an unconditional 200"

check "desk's file changes: moved DUE, completion, deletion, a new item"
vcal "$FEEDS/desk.ics" "$(vtodo a-1 "$A_MOVED" 1)" \
	"$(vtodo b-1 "$B_DUE" 1 "STATUS:COMPLETED
COMPLETED:$(ics "$NOW")")" "$(vtodo d-1 "$D_DUE" 0)"
# The daemon does not watch the file: nothing changes before the next poll.
sleep 1
[ "$(row feed:desk:a-1)" = "open/none/$A_DUE" ] || fail "a-1 changed before the next poll"
[ "$(q "SELECT count(*) FROM promises WHERE ref='feed:desk:d-1'")" = 0 ] ||
	fail "d-1 appeared before the next poll"

check "the next timed poll (30 s after the first) reflects every change"
wait_for 40 "a-1's DUE did not move to $A_MOVED" row_is feed:desk:a-1 "open/none/$A_MOVED"
T_POLL=$(date +%s)
[ $((T_POLL - T_START)) -ge 25 ] ||
	fail "desk was polled again after $((T_POLL - T_START)) s, expected about 30 s"
wait_for 5 "b-1 not closed as kept" row_is feed:desk:b-1 "closed/kept/$B_DUE"
wait_for 5 "c-1 not cancelled" row_is feed:desk:c-1 "closed/cancelled/$C_DUE"
wait_for 5 "d-1 not added" row_is feed:desk:d-1 "open/none/$D_DUE"
q "SELECT detail FROM events e JOIN promises p ON p.id = e.promise_id
	WHERE p.ref = 'feed:desk:a-1'" | grep -q 'changed by feed desk' ||
	fail "a-1: no event 'changed by feed desk'"
q "SELECT detail FROM events e JOIN promises p ON p.id = e.promise_id
	WHERE p.ref = 'feed:desk:c-1' ORDER BY e.id DESC LIMIT 1" |
	grep -q 'gone from feed desk' || fail "c-1: the cancel event does not name feed desk"
# The administrator sees what the poll did: d-1 new, a-1 moved, b-1
# completed, c-1 gone.
grep -q 'feed desk: 1 added, 1 moved, 1 completed, 1 removed$' "$LOG" ||
	fail "no log line saying what desk's poll changed: $(grep 'feed desk' "$LOG")"

check "web's timed poll is a conditional GET answered 304, counted in /metrics"
wait_for 10 "web: no second request" test "$(nreceived)" -ge 2
[ "$(received | sed -n 2p)" = '304 "v1"' ] ||
	fail "web: the second request was '$(received | sed -n 2p)', expected If-None-Match \"v1\" answered 304"
wait_for 5 "/metrics counts no not_modified fetch of web" \
	metric_is promised_feed_fetch_total 'feed="web",result="not_modified"' 1
metric_is promised_feed_fetch_total 'feed="web",result="ok"' 1 ||
	fail "/metrics: web ok = '$(metric promised_feed_fetch_total 'feed="web",result="ok"')', expected 1"
metric_is promised_feed_up 'feed="web"' 1 || fail "/metrics: web is not up"
open_count_is web 2 || fail "web: the 304 changed its promises"

check "promisectl sync slow (every 10m) makes the daemon poll it at once"
vcal "$FEEDS/slow.ics" "$(vtodo s-1 "$S_DUE" 0)" "$(vtodo s-2 "$S_DUE" 0)"
T_SYNC=$(date +%s)
pctl sync slow >"$TMP/sync.out" || fail "promisectl sync slow failed"
grep -q 'sync requested' "$TMP/sync.out" || fail "sync slow: $(cat "$TMP/sync.out")"
wait_for 5 "slow: s-2 not picked up after the sync request" row_is feed:slow:s-2 "open/none/$S_DUE"
[ "$(q "SELECT last_try_at >= $T_SYNC FROM feeds WHERE name='slow'")" = 1 ] ||
	fail "slow: the feeds table shows no try since the request"
[ ! -e "$DB-feedsync-slow" ] || fail "the sync request file was not removed"

check "a changed web feed after a 304 is fetched in full on request"
vcal "$FEEDS/web-v2.ics" "$(vevent w-1 "$W_MOVED" 1)" "$(vevent w-2 "$W_DUE" 0)"
start_web --etag '"v2"' --body-file "$FEEDS/web-v2.ics"
n=$(nreceived)
pctl sync web >/dev/null || fail "promisectl sync web failed"
wait_for 5 "web: w-1 did not move" row_is feed:web:w-1 "open/none/$W_MOVED"
[ "$(received | sed -n "$((n + 1))p")" = '200 "v1"' ] ||
	fail "web: the request after the change was '$(received | sed -n "$((n + 1))p")', expected If-None-Match \"v1\" answered 200"

check "a malformed calendar in desk's file changes nothing and is logged"
before=$(q "SELECT id||state||outcome||due_at FROM promises ORDER BY id" | md5sum)
printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTODO\r\nUID:a-1\r\nDUE:2026' >"$FEEDS/desk.ics.tmp"
mv "$FEEDS/desk.ics.tmp" "$FEEDS/desk.ics"
pctl sync desk >/dev/null || fail "promisectl sync desk failed"
wait_for 5 "no error naming feed desk in the daemon log" grep -q 'feed desk: .*not applied' "$LOG"
[ "$(q "SELECT id||state||outcome||due_at FROM promises ORDER BY id" | md5sum)" = "$before" ] ||
	fail "the malformed calendar changed promises"
[ "$(q "SELECT failing FROM feeds WHERE name='desk'")" = 1 ] || fail "desk is not marked failing"
pctl feeds --json | python3 -c '
import json, sys
j = {f["name"]: f for f in json.load(sys.stdin)}
assert j["desk"]["state"] == "failing", j["desk"]
assert j["desk"]["last_error"], j["desk"]
assert j["web"]["state"] == "ok", j["web"]' || fail "promisectl feeds: desk is not shown failing with its error"

check "a 500 from web's server changes nothing and is logged"
start_web --default 500
n=$(nreceived)
pctl sync web >/dev/null || fail "promisectl sync web failed"
wait_for 5 "no error naming feed web in the daemon log" grep -q 'feed web: .*500' "$LOG"
[ "$(received | sed -n "$((n + 1))p" | cut -d' ' -f1)" = 500 ] || fail "web: the server did not answer 500"
[ "$(q "SELECT id||state||outcome||due_at FROM promises ORDER BY id" | md5sum)" = "$before" ] ||
	fail "the 500 changed promises"
wait_for 5 "/metrics counts no error fetch of web" \
	metric_is promised_feed_fetch_total 'feed="web",result="error"' 1
metric_is promised_feed_up 'feed="web"' 0 || fail "/metrics: web is still up after a 500"
open_count_is web 2 || fail "web: the 500 changed its promises"
open_count_is desk 2 || fail "desk: the malformed file changed its promises"

check "an idle daemon with failing feeds does not spin; it stops cleanly"
# Nothing is due for the next 25 s and nobody touches the database: at
# most the echo of the last writes may still pass.
sleep 1
p1=$(grep -c '^<7>pass$' "$LOG" || true)
sleep 3
p2=$(grep -c '^<7>pass$' "$LOG" || true)
[ "$p1" -gt 0 ] || fail "no pass lines in the daemon log (log format changed?)"
[ $((p2 - p1)) -le 2 ] || fail "$((p2 - p1)) passes in 3 idle seconds: the loop spins"
stop_daemon
if grep -q 'ERROR: AddressSanitizer\|runtime error:' "$LOG"; then
	fail "the sanitizers reported an error"
fi

echo "feed_daemon: $NCHECK checks passed in $(( $(date +%s) - T_START )) s"
