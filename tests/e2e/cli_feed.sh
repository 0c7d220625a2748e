#!/usr/bin/env bash
# promisectl feeds / import / sync: the tests/data/ics fixtures imported
# through feeds of the config, files that are not calendars rejected with
# their reason (EX_DATAERR), the safety valve refusing an empty calendar,
# the feeds table before and after a sync, and `sync NAME` recording a
# request for the daemon.
set -euo pipefail
. "$(dirname "$0")/cli_common.bash"

export PROMISED_ACTOR=tester
unset NO_COLOR PROMISED_CONFIG PROMISED_DB
command -v sqlite3 >/dev/null || fail "sqlite3 is not installed"
command -v python3 >/dev/null || fail "python3 is not installed"

ICS="$PROMISED_SOURCE_DIR/tests/data/ics"
cat >>"$CFG" <<EOF
feeds:
  crm:
    url: $ICS/basic.ics
    default_owner: carol
    every: 2m
  zones:
    url: file://$ICS/zones.ics
    default_owner: alice
  recur:
    url: $ICS/recur.ics
    default_owner: alice
    components: [VEVENT]
  floating:
    url: $ICS/floating.ics
    default_owner: alice
EOF
export PROMISED_NOW=2026-11-28T12:00:00Z
ep() { date -u -d "$1" +%s; }
q() { sqlite3 "$DB" "$1"; }

check "check-config accepts the feeds"
pctl check-config "$CFG"
expect_rc 0

check "feeds lists every configured feed, never polled"
pctl feeds
expect_rc 0
expect_out_re '^NAME +STATE +LAST SUCCESS'
expect_out_re '^crm +never +- '
expect_out_re '^floating +never '
pctl feeds --json
expect_json 'len(j)' 4
expect_json '[f["state"] for f in j]' "['never', 'never', 'never', 'never']"

check "import basic.ics: the open items become promises of feed crm"
pctl import "$ICS/basic.ics" --feed crm
expect_rc 0
# todo-1 (DUE 16:00 Brussels = 15:00Z), event-1 (DTSTART 10:00Z) and
# dur-1 (DTSTART 08:00Z + 2h) are open; done-1, pct-1 and cancel-1 are
# closed in the calendar; two VTODOs have no UID or no due.
expect_out_re '^feed crm: 6 items \(2 skipped, 0 filtered\): 3 added'
[ "$(q "SELECT group_concat(ref||'='||due_at, ' ') FROM (SELECT ref, due_at FROM promises WHERE source='feed:crm' AND state='open' ORDER BY ref)")" = \
  "feed:crm:dur-1=$(ep 2026-12-02T10:00:00Z) feed:crm:event-1=$(ep 2026-12-05T10:00:00Z) feed:crm:todo-1=$(ep 2026-12-04T15:00:00Z)" ] ||
	fail "open promises of crm: $(q "SELECT ref, due_at FROM promises")"
# X-PROMISED-OWNER wins over default_owner.
[ "$(q "SELECT owner FROM promises WHERE ref='feed:crm:todo-1'")" = alice ] ||
	fail "todo-1: owner from X-PROMISED-OWNER"
[ "$(q "SELECT owner FROM promises WHERE ref='feed:crm:dur-1'")" = carol ] ||
	fail "dur-1: default_owner"

check "importing the same file again changes nothing"
pctl import "$ICS/basic.ics" --feed crm --json
expect_rc 0
expect_json 'j["added"]' 0
expect_json 'j["unchanged"]' 6

check "the other fixtures import into their own feeds"
for f in zones recur floating; do
	pctl import "$ICS/$f.ics" --feed "$f" --json
	expect_rc 0
	expect_json 'j["applied"]' True
	n=$(q "SELECT count(*) FROM promises WHERE source='feed:$f'")
	[ "$n" -gt 0 ] || fail "$f: no promises"
done
# recur takes VEVENTs only: no promise from the weekly VTODO.
[ "$(q "SELECT count(*) FROM promises WHERE ref LIKE 'feed:recur:weekly-1%'")" = 0 ] ||
	fail "recur: a VTODO slipped through components: [VEVENT]"

check "a file that is not iCalendar is rejected with its reason"
printf 'hello, this is not a calendar\n' >"$TMP/notes.txt"
before=$(q "SELECT count(*) FROM promises")
pctl import "$TMP/notes.txt" --feed crm
expect_rc 65
expect_err_re '^promisectl: import: .*/notes\.txt: not applied: not an iCalendar document'
[ "$(q "SELECT count(*) FROM promises")" = "$before" ] || fail "promises changed"

check "an empty file and a calendar cut short are rejected"
: >"$TMP/empty.ics"
pctl import "$TMP/empty.ics" --feed crm
expect_rc 65
expect_err_re 'empty\.ics: not applied: .*empty'
head -n 12 "$ICS/basic.ics" >"$TMP/cut.ics"
pctl import "$TMP/cut.ics" --feed crm
expect_rc 65
expect_err_re 'cut\.ics: not applied: .*(truncated|END:VCALENDAR)'

check "an empty calendar would cancel every open promise: refused"
printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nEND:VCALENDAR\r\n' >"$TMP/none.ics"
pctl import "$TMP/none.ics" --feed crm
expect_rc 65
expect_err_re 'none\.ics: refused: .*nothing applied'
[ "$(q "SELECT count(*) FROM promises WHERE source='feed:crm' AND state='open'")" = 3 ] ||
	fail "crm's open promises were touched"

check "import needs a known feed and a file"
pctl import "$ICS/basic.ics" --feed nope
expect_rc 65
expect_err_re "no feed 'nope'"
pctl import "$ICS/basic.ics"
expect_rc 64
pctl import "$TMP/missing.ics" --feed crm
expect_rc 66

check "sync NAME records a request for the daemon"
pctl sync crm
expect_rc 0
expect_out_re 'sync requested'
[ -e "$DB-feedsync-crm" ] || fail "no request file next to the database"
pctl sync nope
expect_rc 65

check "sync NAME --here fetches now and fills the feeds table"
pctl sync crm --here
expect_rc 0
expect_out_re '^feed crm: 6 items'
pctl feeds --json
expect_json '[f["state"] for f in j if f["name"] == "crm"][0]' ok
expect_json '[f["items"] for f in j if f["name"] == "crm"][0]' 6
expect_json '[f["last_ok_at"] for f in j if f["name"] == "crm"][0]' 2026-11-28T12:00:00Z
pctl feeds
# 12:00Z is 13:00 in Brussels (UTC+1 in November).
expect_out_re '^crm +ok +Sat 2026-11-28 13:00'
pctl sync crm --here
expect_out 'feed crm: not modified (file unchanged)'

check "a feed whose file is gone is failing with the reason"
cp "$ICS/basic.ics" "$TMP/moving.ics"
cat >>"$CFG" <<EOF
  moving:
    url: $TMP/moving.ics
    default_owner: alice
EOF
pctl sync moving --here
expect_rc 0
rm "$TMP/moving.ics"
pctl sync moving --here
expect_rc 75
expect_out_re 'cannot read .*moving\.ics'
pctl feeds --json
expect_json '[f["state"] for f in j if f["name"] == "moving"][0]' failing
expect_json '"moving.ics" in [f["last_error"] for f in j if f["name"] == "moving"][0]' True

echo "cli_feed: $NCHECK checks passed"
