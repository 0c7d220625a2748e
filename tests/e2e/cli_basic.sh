#!/usr/bin/env bash
# The five-minute tour of promisectl, end to end: add (phrases, ISO,
# another site's zone), list (table, filters, --json), show with its
# timeline, ack, snooze, reassign, renegotiate, done (kept, late,
# cancelled), reopen and check-config.  The clock is pinned with
# PROMISED_NOW to Thursday 2026-12-03 09:00 UTC (10:00 in Brussels, CET =
# UTC+1), so every expected instant below is worked out by hand.
set -euo pipefail
. "$(dirname "$0")/cli_common.bash"

export PROMISED_NOW=2026-12-03T09:00:00Z
export PROMISED_ACTOR=tester
unset NO_COLOR PROMISED_CONFIG PROMISED_DB

# ---- add ----------------------------------------------------------------
check "add with a weekday phrase: fri 16:00 in Brussels is 15:00Z"
pctl add --title "Call back about brake quote" --owner alice --due "fri 16:00" \
	--customer "Jan Janssens" --phone "+32470123456" --email jan@example.com \
	--vehicle "VW Golf 2019" --details $'Front pads worn.\nQuote sent by mail.'
expect_rc 0
expect_out "added promise 1 (due Fri 2026-12-04 16:00 +01:00)"

check "add with a shipped phrase: tomorrow morning = next business day 12:00"
pctl add --title "Quote for winter tyres" --owner carol --due "tomorrow morning"
expect_rc 0
expect_out "added promise 2 (due Fri 2026-12-04 12:00 +01:00)"

check "add with an ISO due without offset (the site's zone) and a target"
pctl add --title "Car ready" --owner alice --due 2026-12-10T15:30 \
	--target "2026-12-10 12:00"
expect_rc 0
expect_out "added promise 3 (due Thu 2026-12-10 15:30 +01:00)"

check "add for a US owner: team us, site nyc, 09:00 EST = 14:00Z"
pctl add --title "Call about recall" --owner dave --due "2026-12-10 09:00"
expect_rc 0
expect_out "added promise 4 (due Thu 2026-12-10 09:00 -05:00)"

check "add with an explicit offset: 15:30-05:00 = 21:30 in Brussels"
pctl add --title "Send invoice copy" --owner alice --due 2026-12-10T15:30-05:00
expect_rc 0
expect_out "added promise 5 (due Thu 2026-12-10 21:30 +01:00)"

check "add --json with a ref gives the id and every field"
pctl add --json --title "Parts order" --owner alice --due "today 17:00" \
	--ref dms:4711 --vin 1M8GDM9AXKP042788
expect_rc 0
expect_json 'j["id"]' 6
expect_json 'j["ref"]' dms:4711
expect_json 'j["due"]' 2026-12-03T16:00:00Z
expect_json 'j["due_local"]' 2026-12-03T17:00:00+01:00
expect_json 'j["vin"]' 1M8GDM9AXKP042788
expect_json 'j["state"]' open
expect_json 'j["outcome"]' None
expect_json 'j["source"]' cli
expect_json 'j["events"][0]["kind"]' created
expect_json 'j["events"][0]["actor"]' tester

check "add a due in the past with --force"
pctl add --title "Return loan car keys" --owner carol --due "2026-12-01 10:00" --force
expect_rc 0
expect_out "added promise 7 (due Tue 2026-12-01 10:00 +01:00)"

# ---- show ---------------------------------------------------------------
check "show --json: the fields of promise 1, next step = due - 1h"
pctl show 1 --json
expect_rc 0
expect_json 'j["title"]' "Call back about brake quote"
expect_json 'j["owner"]' alice
expect_json 'j["team"]' desk
expect_json 'j["site"]' ghent
expect_json 'j["customer"]["name"]' "Jan Janssens"
expect_json 'j["customer"]["phone"]' "+32470123456"
expect_json 'j["customer"]["email"]' jan@example.com
expect_json 'j["details"]' $'Front pads worn.\nQuote sent by mail.'
expect_json 'j["due"]' 2026-12-04T15:00:00Z
expect_json 'j["created"]' 2026-12-03T09:00:00Z
expect_json 'j["next_step"]' 2026-12-04T14:00:00Z
expect_json 'j["target"]' None
expect_json 'j["ref"]' promised:1

check "show --json: target and the New York zone"
pctl show 3 --json
expect_json 'j["target"]' 2026-12-10T11:00:00Z
pctl show 4 --json
expect_json 'j["site"]' nyc
expect_json 'j["team"]' us
expect_json 'j["due"]' 2026-12-10T14:00:00Z
expect_json 'j["due_local"]' 2026-12-10T09:00:00-05:00
pctl show 5 --json
expect_json 'j["due"]' 2026-12-10T20:30:00Z

check "show by ref"
pctl show dms:4711 --json
expect_rc 0
expect_json 'j["id"]' 6

check "show (human) has the fields in local time and the timeline"
pctl show 1
expect_rc 0
expect_out_re '^title: +Call back about brake quote$'
expect_out_re '^due: +Fri 2026-12-04 16:00 \+01:00 \(in 30h\)$'
expect_out_re '^owner: +alice \(Alice Desk\)$'
expect_out_re '^site: +ghent \(Europe/Brussels\)$'
expect_out_re '^ +Quote sent by mail\.$'
expect_out_re '^timeline:$'
expect_out_re '^  Thu 2026-12-03 10:00 \+01:00  created +tester'

# ---- list ---------------------------------------------------------------
check "list --json: open promises ordered by due"
pctl list --json
expect_rc 0
expect_json '[p["id"] for p in j]' "[7, 6, 2, 1, 4, 3, 5]"
expect_json '"events" in j[0]' False

check "list: aligned table, site-local due with a relative hint, no colour in a pipe"
pctl list
expect_rc 0
head -1 "$OUT" | grep -Eq '^ID +DUE +STATE +OWNER +CUSTOMER +TITLE$' ||
	fail "table header"
expect_out_re '^1 +Fri 12-04 16:00 \(in 30h\) +open +alice +Jan Janssens +Call back about brake quote$'
expect_out_re '^7 +Tue 12-01 10:00 \(2d late\) +open +carol +- +Return loan car keys$'
expect_out_re '^6 +Thu 12-03 17:00 \(in 7h\) +open'
expect_out_re '^4 +Thu 12-10 09:00 \(in 7d\) +open +dave'
# Columns line up: DUE starts at the same offset on every line.
due_col=$(head -1 "$OUT" | awk '{ print index($0, "DUE") }')
while IFS= read -r line; do
	[ "${line:$((due_col - 2)):1}" = " " ] && [ "${line:$((due_col - 1)):1}" != " " ] ||
		fail "column DUE not aligned in: $line"
done <"$OUT"
if grep -q $'\033' "$OUT"; then fail "colour codes in piped output"; fi

check "list on a terminal: overdue in red, long titles cut to the width"
if command -v script >/dev/null; then
	tty_list() {
		script -qec "stty cols 80; $(printf '%q ' "$PCTL" --config "$CFG" --db "$DB" "$@" list)" /dev/null |
			tr -d '\r' >"$OUT"
	}
	tty_list
	grep -qF $'\033[31mTue 12-01 10:00 (2d late)\033[0m' "$OUT" ||
		fail "overdue due in red on a terminal"
	if grep -qF $'\033[33m' "$OUT"; then fail "nothing is due within 2h"; fi
	grep -Eq '^1 .* Call back about br\.\.\.$' "$OUT" || fail "title cut to fit 80 columns"
	tty_list --no-color
	if grep -q $'\033' "$OUT"; then fail "--no-color"; fi
	NO_COLOR=1 tty_list
	if grep -q $'\033' "$OUT"; then fail "NO_COLOR"; fi
else
	echo "  (script(1) not installed: terminal output not checked)"
fi

check "list filters: --overdue, --due-today, --owner, --site, --team"
pctl list --overdue --json
expect_json '[p["id"] for p in j]' "[7]"
pctl list --due-today --json
expect_json '[p["id"] for p in j]' "[6]"
pctl list --owner dave --json
expect_json '[p["id"] for p in j]' "[4]"
pctl list --site nyc --json
expect_json '[p["id"] for p in j]' "[4]"
pctl list --team desk --json
expect_json '[p["id"] for p in j]' "[7, 6, 2, 1, 3, 5]"

# ---- changes ------------------------------------------------------------
check "ack"
pctl ack 1
expect_rc 0
expect_out "acked promise 1"
pctl show 1 --json
expect_json 'j["state"]' acked
expect_json 'j["acked"]' 2026-12-03T09:00:00Z
expect_json 'j["events"][-1]["kind"]' acked

check "snooze --for 30m and --until a phrase"
pctl snooze 1 --for 30m
expect_rc 0
expect_out "snoozed promise 1 until Thu 2026-12-03 10:30 +01:00"
pctl show 1 --json
expect_json 'j["snoozed_until"]' 2026-12-03T09:30:00Z
pctl snooze 2 --until "today 15:00"
expect_rc 0
pctl show 2 --json
expect_json 'j["snoozed_until"]' 2026-12-03T14:00:00Z
expect_json 'j["events"][-1]["kind"]' snoozed

check "reassign: new owner, the promise follows into their team, open again"
pctl reassign 1 --to dave
expect_rc 0
expect_out "reassigned promise 1 from alice to dave"
pctl show 1 --json
expect_json 'j["owner"]' dave
expect_json 'j["team"]' us
expect_json 'j["state"]' open
expect_json 'j["events"][-1]["kind"]' reassigned

check "renegotiate: the event keeps the old and the new due"
pctl renegotiate 1 --due "mon 12:00" --reason "customer on holiday"
expect_rc 0
expect_out "renegotiated promise 1: due Mon 2026-12-07 12:00 +01:00 (was Fri 2026-12-04 16:00 +01:00)"
pctl show 1 --json
expect_json 'j["due"]' 2026-12-07T11:00:00Z
expect_json 'j["renegotiations"]' 1
expect_json 'j["next_step"]' 2026-12-07T10:00:00Z
expect_json 'j["events"][-1]["kind"]' renegotiated
expect_json 'j["events"][-1]["old_due"]' 2026-12-04T15:00:00Z
expect_json 'j["events"][-1]["new_due"]' 2026-12-07T11:00:00Z
pctl show 1
expect_out_re 'renegotiated +tester +due Fri 12-04 16:00 -> Mon 12-07 12:00'

check "done before due: kept, nothing left to schedule"
pctl done 1
expect_rc 0
expect_out "closed promise 1: kept"
pctl show 1 --json
expect_json 'j["state"]' closed
expect_json 'j["outcome"]' kept
expect_json 'j["closed"]' 2026-12-03T09:00:00Z
expect_json 'j["next_step"]' None

check "done after due: late"
pctl done 7
expect_rc 0
expect_out "closed promise 7: late (due was Tue 2026-12-01 10:00 +01:00)"
pctl show 7 --json
expect_json 'j["outcome"]' late

check "done --outcome cancelled with a note"
pctl done 2 --outcome cancelled --note "customer bought elsewhere"
expect_rc 0
expect_out "closed promise 2: cancelled"
pctl show 2 --json
expect_json 'j["outcome"]' cancelled

check "list hides closed promises unless --all"
pctl list --json
expect_json '[p["id"] for p in j]' "[6, 4, 3, 5]"
pctl list --all --json
expect_json '[p["id"] for p in j]' "[7, 6, 2, 1, 4, 3, 5]"
pctl list --all
expect_out_re '^7 +Tue 12-01 10:00 +closed/late +carol'

check "closing a closed promise is refused"
pctl done 1
expect_rc 65
expect_err "promisectl: promise 1 is closed (kept); reopen it first"

check "reopen"
pctl reopen 7 --reason "customer called again"
expect_rc 0
expect_out "reopened promise 7"
pctl show 7 --json
expect_json 'j["state"]' open
expect_json 'j["outcome"]' None
expect_json 'j["closed"]' None
expect_json 'j["events"][-1]["kind"]' reopened

# ---- the real clock and the default actor ----------------------------------
check "without PROMISED_NOW: 'in 2h' is two hours after creation; actor cli:<user>"
(
	unset PROMISED_NOW PROMISED_ACTOR
	pctl add --json --title "Real clock" --owner alice --due "in 2h"
	expect_rc 0
	d=$(json '(__import__("datetime").datetime.fromisoformat(j["due"].replace("Z","+00:00")) - __import__("datetime").datetime.fromisoformat(j["created"].replace("Z","+00:00"))).total_seconds()')
	python3 -c "import sys; sys.exit(0 if abs($d - 7200) < 60 else 1)" ||
		fail "due - created: got $d s, expected 7200 s"
	expect_json 'j["events"][0]["actor"]' "cli:$(id -un)"
)

# ---- check-config ---------------------------------------------------------
check "check-config OK"
"$PCTL" check-config "$CFG" >"$OUT" 2>"$ERR" && RC=0 || RC=$?
expect_rc 0
expect_out "$CFG: OK"
"$PCTL" --config "$CFG" check-config >"$OUT" 2>"$ERR" && RC=0 || RC=$?
expect_rc 0
expect_out "$CFG: OK"

check "check-config on a broken config: every error, file:line:column, EX_CONFIG"
BAD="$TMP/broken.yaml"
sed -e 's/    manager: carol/    manager: zed/' -e 's/    lead: dave/    lead: nobody/' \
	"$CFG" >"$BAD"
"$PCTL" check-config "$BAD" >"$OUT" 2>"$ERR" && RC=0 || RC=$?
expect_rc 78
head -1 "$ERR" | grep -qxF "promisectl: cannot load config $BAD:" ||
	fail "first line names the file"
grep -Eq "^$BAD:[0-9]+:[0-9]+: .*zed" "$ERR" || fail "error about manager zed"
grep -Eq "^$BAD:[0-9]+:[0-9]+: .*nobody" "$ERR" || fail "error about lead nobody"
if [ -s "$OUT" ]; then fail "nothing on stdout for a broken config"; fi

check "--version and --help"
"$PCTL" --version >"$OUT" 2>"$ERR" && RC=0 || RC=$?
expect_rc 0
expect_out_re '^promisectl [0-9]+\.[0-9]+\.[0-9]+$'
"$PCTL" --help >"$OUT" 2>"$ERR" && RC=0 || RC=$?
expect_rc 0
expect_out_re '^  renegotiate +'
"$PCTL" add --help >"$OUT" 2>"$ERR" && RC=0 || RC=$?
expect_rc 0
expect_out_re '^usage: promisectl add --title TEXT --owner STAFF --due WHEN'

check "integrity after the tour"
[ "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check"
[ "$(count_promises)" = 8 ] || fail "promises: got $(count_promises), expected 8"

echo "PASS: cli_basic ($NCHECK checks)"
