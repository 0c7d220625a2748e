#!/usr/bin/env bash
# A calendar feed against a real CalDAV server: Radicale (Debian package
# radicale) started here on 127.0.0.1 with a free port, auth none (any
# Basic user), storage in the scratch folder, killed by its PID.  VTODOs
# and VEVENTs PUT into alice's collection are picked up through the
# collection's URL by `promisectl sync NAME --here`; then a moved DUE
# (higher SEQUENCE), a completion, a deletion and a new recurring item
# are reflected after the next sync, and a sync with nothing changed is
# answered without applying anything.
#
# Radicale 3.1 does not answer If-None-Match with 304 (it always sends
# 200 with the collection's ETag): promisectl sends If-None-Match (seen
# in Radicale's debug log) and takes the same ETag coming back as "not
# modified", so nothing is parsed or applied.
set -euo pipefail
. "$(dirname "$0")/cli_common.bash"

export PROMISED_ACTOR=tester
unset NO_COLOR PROMISED_CONFIG PROMISED_DB
PY=/usr/bin/python3
[ -x "$PY" ] || fail "/usr/bin/python3 is not installed"
"$PY" -c 'import radicale' 2>/dev/null ||
	fail "radicale is not installed (Debian package radicale)"
command -v curl >/dev/null || fail "curl is not installed"
command -v sqlite3 >/dev/null || fail "sqlite3 is not installed"

RPID=
cleanup() {
	if [ -n "$RPID" ]; then
		kill "$RPID" 2>/dev/null || true
		wait "$RPID" 2>/dev/null || true
	fi
	cleanup_common
}
trap cleanup EXIT

. "$(dirname "$0")/radicale.bash"
start_radicale debug
PORT=$RPORT

BASE="http://127.0.0.1:$PORT/alice/cal"
dav() {
	local code
	code=$(curl -s -o "$TMP/dav.out" -w '%{http_code}' -u alice:x "$@")
	echo "$code"
}

# put NAME BODY: PUTs one calendar object (CRLF line ends).
put() {
	printf '%s' "$2" | sed 's/$/\r/' >"$TMP/$1.ics"
	local code
	code=$(dav -T "$TMP/$1.ics" -H 'Content-Type: text/calendar' "$BASE/$1.ics")
	case $code in 201|204) ;; *) fail "PUT $1: HTTP $code: $(cat "$TMP/dav.out")" ;; esac
}

vcal() {
	printf 'BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//promised tests//radicale//EN\n%s\nEND:VCALENDAR\n' "$1"
}

check "MKCALENDAR makes alice's collection"
code=$(dav -X MKCALENDAR "$BASE/")
[ "$code" = 201 ] || fail "MKCALENDAR: HTTP $code"

put move-1 "$(vcal 'BEGIN:VTODO
UID:move-1
DTSTAMP:20261128T100000Z
DUE:20261204T150000Z
SEQUENCE:0
SUMMARY:Call back about the quote
END:VTODO')"
put done-1 "$(vcal 'BEGIN:VTODO
UID:done-1
DTSTAMP:20261128T100000Z
DUE:20261205T150000Z
SUMMARY:Order the part
END:VTODO')"
put del-1 "$(vcal 'BEGIN:VEVENT
UID:del-1
DTSTAMP:20261128T100000Z
DTSTART:20261206T100000Z
DTEND:20261206T110000Z
SUMMARY:Pick-up appointment
END:VEVENT')"
put keep-1 "$(vcal 'BEGIN:VEVENT
UID:keep-1
DTSTAMP:20261128T100000Z
DTSTART:20261207T090000Z
DTEND:20261207T100000Z
SUMMARY:Test drive
END:VEVENT')"

write_secret "$TEST_FEED_PASSWORD" "$TMP/radicale.pw"
cat >>"$CFG" <<EOF
feeds:
  radicale:
    url: $BASE/
    auth:
      type: basic
      username: alice
      password_file: $TMP/radicale.pw
    default_owner: alice
EOF

export PROMISED_NOW=2026-11-28T12:00:00Z
# epoch of a UTC time
ep() { date -u -d "$1" +%s; }
q() { sqlite3 "$DB" "$1"; }

check "the first sync picks up two VTODOs and two VEVENTs"
pctl sync radicale --here --json
expect_rc 0
expect_json 'j["applied"]' True
expect_json 'j["added"]' 4
[ "$(q "SELECT count(*) FROM promises WHERE source='feed:radicale' AND state='open'")" = 4 ] ||
	fail "expected 4 open promises from the feed"
[ "$(q "SELECT due_at FROM promises WHERE ref='feed:radicale:move-1'")" = "$(ep 2026-12-04T15:00:00Z)" ] ||
	fail "move-1: wrong due"
[ "$(q "SELECT due_at FROM promises WHERE ref='feed:radicale:del-1'")" = "$(ep 2026-12-06T10:00:00Z)" ] ||
	fail "del-1: wrong due (DTSTART)"
[ "$(q "SELECT owner FROM promises WHERE ref='feed:radicale:keep-1'")" = alice ] ||
	fail "keep-1: wrong owner"

check "an unchanged collection is not applied again, and If-None-Match was sent"
pctl sync radicale --here --json
expect_rc 0
expect_json 'j["not_modified"]' True
expect_json 'j["applied"]' False
grep -q 'If-None-Match\|HTTP_IF_NONE_MATCH' "$TMP/radicale/log" ||
	fail "promisectl sent no If-None-Match (radicale log)"
pctl sync radicale --here
expect_out_re '^feed radicale: not modified \((HTTP 304|the same ETag)\)$'

check "the feeds table shows the feed ok with Radicale's ETag"
pctl feeds --json
expect_rc 0
expect_json 'j[0]["name"]' radicale
expect_json 'j[0]["state"]' ok
expect_json 'j[0]["items"]' 4
expect_json 'j[0]["etag"] is not None and j[0]["etag"].startswith("\"")' True

check "a moved DUE, a completion, a deletion and a recurring item"
put move-1 "$(vcal 'BEGIN:VTODO
UID:move-1
DTSTAMP:20261128T110000Z
DUE:20261208T150000Z
SEQUENCE:1
SUMMARY:Call back about the quote
END:VTODO')"
put done-1 "$(vcal 'BEGIN:VTODO
UID:done-1
DTSTAMP:20261128T110000Z
DUE:20261205T150000Z
STATUS:COMPLETED
COMPLETED:20261128T113000Z
SEQUENCE:1
SUMMARY:Order the part
END:VTODO')"
code=$(dav -X DELETE "$BASE/del-1.ics")
[ "$code" = 200 ] || [ "$code" = 204 ] || fail "DELETE del-1: HTTP $code"
put rec-1 "$(vcal 'BEGIN:VEVENT
UID:rec-1
DTSTAMP:20261128T110000Z
DTSTART:20261201T080000Z
DTEND:20261201T083000Z
RRULE:FREQ=DAILY;COUNT=3
SUMMARY:Daily parts call
END:VEVENT')"

export PROMISED_NOW=2026-11-28T12:10:00Z
pctl sync radicale --here --json
expect_rc 0
expect_json 'j["applied"]' True
expect_json 'j["moved"]' 1
expect_json 'j["completed"]' 1
expect_json 'j["removed"]' 1
expect_json 'j["added"]' 3
[ "$(q "SELECT due_at FROM promises WHERE ref='feed:radicale:move-1'")" = "$(ep 2026-12-08T15:00:00Z)" ] ||
	fail "move-1: the DUE did not move"
q "SELECT detail FROM events e JOIN promises p ON p.id=e.promise_id WHERE p.ref='feed:radicale:move-1'" |
	grep -q 'radicale' || fail "move-1: no event naming the feed"
[ "$(q "SELECT state||'/'||outcome FROM promises WHERE ref='feed:radicale:done-1'")" = closed/kept ] ||
	fail "done-1: not closed as kept (completed before its due)"
[ "$(q "SELECT state||'/'||outcome FROM promises WHERE ref='feed:radicale:del-1'")" = closed/cancelled ] ||
	fail "del-1: not cancelled after its deletion"
q "SELECT detail FROM events e JOIN promises p ON p.id=e.promise_id WHERE p.ref='feed:radicale:del-1' ORDER BY e.id DESC LIMIT 1" |
	grep -q 'radicale' || fail "del-1: the cancel event does not name the feed"
# Three daily instances at 08:00Z from 12-01: refs carry the instance.
got=$(q "SELECT ref||'='||due_at FROM promises WHERE ref LIKE 'feed:radicale:rec-1:%' ORDER BY due_at" | tr '\n' ' ')
want="feed:radicale:rec-1:20261201T080000Z=$(ep 2026-12-01T08:00:00Z) feed:radicale:rec-1:20261202T080000Z=$(ep 2026-12-02T08:00:00Z) feed:radicale:rec-1:20261203T080000Z=$(ep 2026-12-03T08:00:00Z) "
[ "$got" = "$want" ] || fail "recurring item: got '$got', expected '$want'"
[ "$(q "SELECT state FROM promises WHERE ref='feed:radicale:keep-1'")" = open ] ||
	fail "keep-1 changed"

check "the next sync with nothing changed applies nothing"
pctl sync radicale --here --json
expect_json 'j["not_modified"]' True
[ "$(q "SELECT count(*) FROM promises WHERE source='feed:radicale' AND state='open'")" = 5 ] ||
	fail "expected 5 open promises (move-1, keep-1, three rec-1)"

echo "feed_radicale: $NCHECK checks passed"
