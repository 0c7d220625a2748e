#!/usr/bin/env bash
# The real daemon polls a real CalDAV collection: Radicale (Debian package
# radicale) behind nginx (Debian package nginx-light) as its reverse
# proxy, both started here on 127.0.0.1 with free ports, their files in the
# scratch folder, killed by PID.
#
# Radicale 3.1 never answers 304 (its GET ignores If-None-Match), so, as
# its documentation recommends, it sits behind a reverse proxy; nginx
# answers a conditional GET itself with 304 when the ETag Radicale sends
# equals the request's If-None-Match.  nginx applies that only to answers
# it may cache, hence the proxy_cache lines; proxy_cache_bypass makes
# every request reach Radicale all the same, so no answer is ever stale.
#
# Timeline (the feed polls every 30s, the shortest allowed):
#   start    the first poll: 200, two VTODOs and two VEVENTs become
#            promises
#   sync     `promisectl sync radicale`: the daemon polls at once; nothing
#            changed, so its If-None-Match is answered 304
#   change   in Radicale: a moved DUE, a completion, a deletion, a new
#            recurring VEVENT; not seen before the next poll
#   +30s     the next timed poll: 200, every change reflected
#   sync     nothing changed: 304 again, nothing applied
set -euo pipefail
. "$(dirname "$0")/daemon_common.bash"

PY=/usr/bin/python3
[ -x "$PY" ] || fail "/usr/bin/python3 is not installed"
"$PY" -c 'import radicale' 2>/dev/null ||
	fail "radicale is not installed (Debian package radicale)"
NGINX=$(command -v nginx || true)
[ -n "$NGINX" ] || NGINX=/usr/sbin/nginx
[ -x "$NGINX" ] || fail "nginx is not installed (Debian package nginx-light)"
command -v curl >/dev/null || fail "curl is not installed"

RPID=
NPID=
cleanup() {
	local p
	for p in "$NPID" "$RPID"; do
		if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
			kill "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		fi
	done
	cleanup_common
}
trap cleanup EXIT

# ---- Radicale -------------------------------------------------------------
. "$(dirname "$0")/radicale.bash"
start_radicale info

# ---- nginx ------------------------------------------------------------------
NPORT=$(free_port)
NG="$TMP/nginx"
mkdir -p "$NG/cache"
# Access log fields: status, If-None-Match ("-": none), cache status,
# method, URI, user agent.
# Its worker runs as the user running the test: as root, nginx would
# otherwise switch to www-data, which cannot enter the scratch folder.
cat >"$NG/nginx.conf" <<EOF
$( [ "$(id -u)" -eq 0 ] && echo "user $(id -un) $(id -gn);" )
worker_processes 1;
events {
  worker_connections 64;
}
http {
  log_format feeds '\$status \$http_if_none_match \$upstream_cache_status '
                   '\$request_method \$request_uri \$http_user_agent';
  access_log $NG/access.log feeds;
  client_body_temp_path $NG/body;
  proxy_temp_path $NG/proxy;
  fastcgi_temp_path $NG/fastcgi;
  uwsgi_temp_path $NG/uwsgi;
  scgi_temp_path $NG/scgi;
  proxy_cache_path $NG/cache levels=1 keys_zone=cal:1m max_size=16m
                   inactive=10m use_temp_path=off;
  server {
    listen 127.0.0.1:$NPORT;
    location / {
      proxy_pass http://127.0.0.1:$RPORT;
      proxy_set_header Host \$http_host;
      proxy_cache cal;
      proxy_cache_key "\$request_method \$request_uri \$http_authorization";
      proxy_cache_valid 200 1s;
      proxy_cache_revalidate on;
      proxy_cache_bypass 1;
      proxy_ignore_headers Cache-Control Expires Set-Cookie;
    }
  }
}
EOF
"$NGINX" -t -p "$NG" -c "$NG/nginx.conf" \
	-g "daemon off; pid $NG/nginx.pid; error_log $NG/error.log;" \
	>"$NG/test.out" 2>&1 || fail "nginx -t refuses the config: $(cat "$NG/test.out")"
"$NGINX" -p "$NG" -c "$NG/nginx.conf" \
	-g "daemon off; pid $NG/nginx.pid; error_log $NG/error.log;" \
	>"$NG/stdout" 2>&1 &
NPID=$!
for _ in $(seq 100); do
	curl -s -o /dev/null "http://127.0.0.1:$NPORT/" && break
	kill -0 "$NPID" 2>/dev/null ||
		fail "nginx exited: $(cat "$NG/stdout" "$NG/error.log" 2>/dev/null)"
	sleep 0.1
done
curl -s -o /dev/null "http://127.0.0.1:$NPORT/" ||
	fail "nginx did not start on port $NPORT: $(cat "$NG/error.log" 2>/dev/null)"

# ---- Calendar objects -------------------------------------------------------
BASE="http://127.0.0.1:$RPORT/alice/cal"
dav() {
	curl -s -o "$TMP/dav.out" -w '%{http_code}' -u alice:x "$@"
}
# put NAME ITEM: PUTs one calendar object straight to Radicale (CRLF).
put() {
	{
		printf 'BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//promised tests//radicale//EN\n'
		printf '%s\n' "$2"
		printf 'END:VCALENDAR\n'
	} | sed 's/$/\r/' >"$TMP/$1.ics"
	local code
	code=$(dav -T "$TMP/$1.ics" -H 'Content-Type: text/calendar' "$BASE/$1.ics")
	case $code in 201|204) ;; *) fail "PUT $1: HTTP $code: $(cat "$TMP/dav.out")" ;; esac
}
ics() { date -u -d "@$1" +%Y%m%dT%H%M%SZ; }

NOW=$(date -u +%s)
DAY0=$(( NOW / 86400 * 86400 ))
MOVE_DUE=$(( DAY0 + 3 * 86400 + 15 * 3600 ))
MOVE_NEW=$(( DAY0 + 7 * 86400 + 15 * 3600 ))
DONE_DUE=$(( DAY0 + 4 * 86400 + 15 * 3600 ))
DEL_START=$(( DAY0 + 5 * 86400 + 10 * 3600 ))
KEEP_START=$(( DAY0 + 6 * 86400 + 9 * 3600 ))
REC_START=$(( DAY0 + 2 * 86400 + 8 * 3600 ))
STAMP=$(ics "$NOW")

code=$(dav -X MKCALENDAR "$BASE/")
[ "$code" = 201 ] || fail "MKCALENDAR: HTTP $code"
put move-1 "BEGIN:VTODO
UID:move-1
DTSTAMP:$STAMP
DUE:$(ics "$MOVE_DUE")
SEQUENCE:0
SUMMARY:Call back about the quote
END:VTODO"
put done-1 "BEGIN:VTODO
UID:done-1
DTSTAMP:$STAMP
DUE:$(ics "$DONE_DUE")
SUMMARY:Order the part
END:VTODO"
put del-1 "BEGIN:VEVENT
UID:del-1
DTSTAMP:$STAMP
DTSTART:$(ics "$DEL_START")
DTEND:$(ics $((DEL_START + 3600)))
SUMMARY:Pick-up appointment
END:VEVENT"
put keep-1 "BEGIN:VEVENT
UID:keep-1
DTSTAMP:$STAMP
DTSTART:$(ics "$KEEP_START")
DTEND:$(ics $((KEEP_START + 3600)))
SUMMARY:Test drive
END:VEVENT"

# ---- The daemon -------------------------------------------------------------
write_secret "$TEST_FEED_PASSWORD" "$TMP/radicale.pw"
cat >"$CFG" <<EOF
database: state/promises.db
default_site: hq
sites:
  hq:
    timezone: UTC
$(hours_always_open)
staff:
  - id: alice
    name: Alice Desk
    email: alice@example.com
    locale: en
feeds:
  radicale:
    url: http://127.0.0.1:$NPORT/alice/cal/
    auth:
      type: basic
      username: alice
      password_file: $TMP/radicale.pw
    every: 30s
    timeout: 10s
    connect_timeout: 2s
    default_owner: alice
EOF
"$PD" --check-config --config "$CFG" >"$TMP/check.out" 2>&1 ||
	fail "the test config does not validate: $(cat "$TMP/check.out")"

q() { sqlite3 "$DB" "$1"; }
row() { q "SELECT state||'/'||outcome||'/'||due_at FROM promises WHERE ref='$1'"; }
row_is() { [ "$(row "$1")" = "$2" ]; }
open_count() { q "SELECT count(*) FROM promises WHERE source='feed:radicale' AND state='open'"; }
open_count_is() { [ "$(open_count)" = "$1" ]; }
# The daemon's requests in nginx's access log ("promised" user agent):
#   <status> <If-None-Match or -> <cache status> <method> <uri> promised
fetches() { grep ' promised$' "$NG/access.log" 2>/dev/null || true; }
nfetches() { fetches | wc -l; }
nfetches_is() { [ "$(nfetches)" -ge "$1" ]; }
fetch() { fetches | sed -n "${1}p"; }
# The collection's ETag as Radicale has it now (straight, not via nginx).
etag_now() {
	curl -s -D - -o /dev/null -u alice:x "$BASE/" |
		awk 'tolower($1) == "etag:" { sub(/\r$/, "", $2); print $2 }'
}
# nginx writes a quote in a logged header as \x22.
logged() { printf '%s' "$1" | sed 's/"/\\x22/g'; }

wait_for() {
	local secs=$1 what=$2
	shift 2
	for _ in $(seq $((secs * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "$what (not within $secs s)"
}

start_daemon
T0=$(date +%s)

check "the daemon's first poll picks up two VTODOs and two VEVENTs through nginx"
wait_for 10 "the four items did not become open promises" open_count_is 4
row_is feed:radicale:move-1 "open/none/$MOVE_DUE" || fail "move-1: $(row feed:radicale:move-1)"
row_is feed:radicale:del-1 "open/none/$DEL_START" || fail "del-1: $(row feed:radicale:del-1) (due is DTSTART)"
row_is feed:radicale:keep-1 "open/none/$KEEP_START" || fail "keep-1: $(row feed:radicale:keep-1)"
[ "$(q "SELECT owner FROM promises WHERE ref='feed:radicale:done-1'")" = alice ] || fail "done-1: owner"
[ "$(nfetches)" = 1 ] || fail "$(nfetches) fetches at start-up, expected 1"
read -r F_STATUS F_INM _ F_METHOD F_URI _ <<<"$(fetch 1)"
[ "$F_STATUS $F_INM $F_METHOD $F_URI" = "200 - GET /alice/cal/" ] || fail "first fetch: '$(fetch 1)', expected an unconditional 200"
ETAG1=$(etag_now)
[ -n "$ETAG1" ] || fail "Radicale sends no ETag for the collection"

check "an unchanged poll (promisectl sync radicale) is answered 304 by nginx"
pctl sync radicale >/dev/null || fail "promisectl sync radicale failed"
wait_for 5 "the daemon did not poll on request" nfetches_is 2
read -r F_STATUS F_INM _ F_METHOD F_URI _ <<<"$(fetch 2)"
[ "$F_STATUS $F_INM" = "304 $(logged "$ETAG1")" ] ||
	fail "second fetch: '$(fetch 2)', expected 304 to If-None-Match $ETAG1"
wait_for 5 "the feeds table shows no ok try after the 304" \
	test "$(q "SELECT failing = 0 AND last_ok_at >= $T0 AND items = 4 FROM feeds WHERE name='radicale'")" = 1
open_count_is 4 || fail "the 304 changed the promises: $(open_count) open"
T_SYNC=$(date +%s)

check "changes in Radicale: a moved DUE, a completion, a deletion, a recurring item"
put move-1 "BEGIN:VTODO
UID:move-1
DTSTAMP:$STAMP
DUE:$(ics "$MOVE_NEW")
SEQUENCE:1
SUMMARY:Call back about the quote
END:VTODO"
put done-1 "BEGIN:VTODO
UID:done-1
DTSTAMP:$STAMP
DUE:$(ics "$DONE_DUE")
STATUS:COMPLETED
COMPLETED:$STAMP
SEQUENCE:1
SUMMARY:Order the part
END:VTODO"
code=$(dav -X DELETE "$BASE/del-1.ics")
[ "$code" = 200 ] || [ "$code" = 204 ] || fail "DELETE del-1: HTTP $code"
put rec-1 "BEGIN:VEVENT
UID:rec-1
DTSTAMP:$STAMP
DTSTART:$(ics "$REC_START")
DTEND:$(ics $((REC_START + 1800)))
RRULE:FREQ=DAILY;COUNT=3
SUMMARY:Daily parts call
END:VEVENT"
ETAG2=$(etag_now)
[ "$ETAG2" != "$ETAG1" ] || fail "the collection's ETag did not change"
sleep 1
row_is feed:radicale:move-1 "open/none/$MOVE_DUE" || fail "move-1 changed before the next poll"
[ "$(nfetches)" = 2 ] || fail "a fetch before the next timed poll: $(fetch 3)"

check "the next timed poll (30 s after the last) reflects every change"
wait_for 40 "no third fetch" nfetches_is 3
T_POLL=$(date +%s)
[ $((T_POLL - T_SYNC)) -ge 25 ] || fail "the timed poll came $((T_POLL - T_SYNC)) s after the last, expected about 30 s"
read -r F_STATUS F_INM _ F_METHOD F_URI _ <<<"$(fetch 3)"
[ "$F_STATUS $F_INM" = "200 $(logged "$ETAG1")" ] ||
	fail "third fetch: '$(fetch 3)', expected 200 to If-None-Match $ETAG1"
wait_for 5 "move-1's DUE did not move" row_is feed:radicale:move-1 "open/none/$MOVE_NEW"
row_is feed:radicale:done-1 "closed/kept/$DONE_DUE" || fail "done-1: $(row feed:radicale:done-1), expected closed as kept"
row_is feed:radicale:del-1 "closed/cancelled/$DEL_START" || fail "del-1: $(row feed:radicale:del-1), expected cancelled"
row_is feed:radicale:keep-1 "open/none/$KEEP_START" || fail "keep-1 changed: $(row feed:radicale:keep-1)"
q "SELECT detail FROM events e JOIN promises p ON p.id = e.promise_id
	WHERE p.ref = 'feed:radicale:move-1'" | grep -q 'changed by feed radicale' ||
	fail "move-1: no event 'changed by feed radicale'"
q "SELECT detail FROM events e JOIN promises p ON p.id = e.promise_id
	WHERE p.ref = 'feed:radicale:del-1' ORDER BY e.id DESC LIMIT 1" |
	grep -q 'gone from feed radicale' || fail "del-1: the cancel event does not name the feed"
# Three daily instances from REC_START; each ref carries its instant.
got=$(q "SELECT ref||'='||due_at FROM promises WHERE ref LIKE 'feed:radicale:rec-1:%' ORDER BY due_at" | tr '\n' ' ')
want=""
for i in 0 1 2; do
	t=$((REC_START + i * 86400))
	want="${want}feed:radicale:rec-1:$(ics "$t")=$t "
done
[ "$got" = "$want" ] || fail "recurring item: got '$got', expected '$want'"
open_count_is 5 || fail "$(open_count) open promises, expected 5 (move-1, keep-1, three rec-1)"

check "the next unchanged poll is a 304 again and applies nothing"
before=$(q "SELECT id||state||outcome||due_at||updated_at FROM promises ORDER BY id" | md5sum)
pctl sync radicale >/dev/null || fail "promisectl sync radicale failed"
wait_for 5 "the daemon did not poll on request" nfetches_is 4
read -r F_STATUS F_INM _ F_METHOD F_URI _ <<<"$(fetch 4)"
[ "$F_STATUS $F_INM" = "304 $(logged "$ETAG2")" ] ||
	fail "fourth fetch: '$(fetch 4)', expected 304 to If-None-Match $ETAG2"
sleep 0.5
[ "$(q "SELECT id||state||outcome||due_at||updated_at FROM promises ORDER BY id" | md5sum)" = "$before" ] ||
	fail "the 304 changed promises"
pctl feeds --json | "$PY" -c '
import json, sys
f = json.load(sys.stdin)[0]
assert f["name"] == "radicale" and f["state"] == "ok", f
assert f["items"] == 6, f' || fail "promisectl feeds: radicale is not ok with 6 items (done-1 counts)"

stop_daemon
if grep -q 'ERROR: AddressSanitizer\|runtime error:' "$LOG"; then
	fail "the sanitizers reported an error"
fi
echo "feed_radicale_daemon: $NCHECK checks passed in $(( $(date +%s) - T0 )) s"
