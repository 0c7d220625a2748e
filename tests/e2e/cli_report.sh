#!/usr/bin/env bash
# promisectl report: a week seeded through promisectl with the clock
# pinned by PROMISED_NOW (plus two sent notifications written with
# sqlite3, as the daemon would leave them), reported by owner and by team
# as a table, CSV and JSON.  The three formats must agree with each other
# and with the numbers worked out below.  Then bad input: an unknown
# --by, --from after --to, a malformed date.
set -euo pipefail
. "$(dirname "$0")/cli_common.bash"

export PROMISED_ACTOR=tester
unset NO_COLOR PROMISED_CONFIG PROMISED_DB PROMISED_NOW
command -v sqlite3 >/dev/null || fail "sqlite3 is not installed"
command -v python3 >/dev/null || fail "python3 is not installed"

# at TIME CMD ARGS...: runs promisectl with the clock at TIME (UTC),
# expecting success.
at() {
	local when=$1
	shift
	PROMISED_NOW=$when pctl "$@"
	[ "$RC" -eq 0 ] || fail "promisectl $* at $when: exit $RC"
}

# add TIME OWNER TITLE DUE: adds a promise at TIME; prints nothing.
add() {
	at "$1" add --title "$3" --owner "$2" --due "$4"
}

# The period is 2026-11-02 .. 2026-11-09 in Brussels (UTC+1 in November):
# [2026-11-01T23:00Z, 2026-11-08T23:00Z).  Promise ids in order of adding:
#  1 alice  due 11-02 15:00Z, done 14:00Z: kept early
#  2 alice  due 11-02 16:00Z, done 16:00Z exactly: kept
#  3 alice  due 11-02 17:00Z, reminder sent 16:00Z, escalation sent
#           17:30Z, done 19:00Z: late by 2h; reminder->done 3h
#  4 dave   due 11-02 17:00Z, done 17:30Z: late by 30m
#  5 carol  due 11-03 12:00Z, renegotiated twice (to 11-04, to 11-05),
#           done 11-05 10:00Z: kept
#  6 alice  cancelled
#  7 dave   due 11-03 09:00Z, never closed: lapsed
#  8 carol  due 11-02 15:00Z, done 14:00Z, reopened 20:00Z: lapsed
#  9 alice  made 11-01 22:00Z (23:00 local, the day before): outside
# 10 dave   made 11-08 22:30Z (23:30 local, the last day): open
# 11 dave   made 11-08 23:00Z (00:00 local on 11-09): outside
add 2026-11-02T09:00:00Z alice "A1 call back" 2026-11-02T15:00:00Z
add 2026-11-02T09:00:00Z alice "A2 send quote" 2026-11-02T16:00:00Z
add 2026-11-02T09:00:00Z alice "A3 car ready" 2026-11-02T17:00:00Z
add 2026-11-02T09:00:00Z dave "D1 call back" 2026-11-02T17:00:00Z
add 2026-11-02T09:00:00Z carol "C1 parts" 2026-11-03T12:00:00Z
add 2026-11-02T09:00:00Z alice "A4 survey" 2026-11-04T12:00:00Z
add 2026-11-02T09:00:00Z dave "D2 VIN" 2026-11-03T09:00:00Z
add 2026-11-02T09:00:00Z carol "C2 button" 2026-11-02T15:00:00Z
add 2026-11-01T22:00:00Z alice "A5 before" 2026-11-03T12:00:00Z
add 2026-11-08T22:30:00Z dave "D3 late evening" 2026-11-20T12:00:00Z
add 2026-11-08T23:00:00Z dave "D4 next day" 2026-11-20T12:00:00Z
at 2026-11-02T14:00:00Z done 1
at 2026-11-02T16:00:00Z done 2
at 2026-11-02T19:00:00Z done 3
at 2026-11-02T17:30:00Z done 4
at 2026-11-02T10:00:00Z renegotiate 5 --due 2026-11-04T12:00:00Z --reason "parts late"
at 2026-11-02T11:00:00Z renegotiate 5 --due 2026-11-05T12:00:00Z --reason "again"
at 2026-11-05T10:00:00Z done 5
at 2026-11-02T12:00:00Z done 6 --outcome cancelled
at 2026-11-02T14:00:00Z done 8
at 2026-11-02T20:00:00Z reopen 8 --reason "button fell off"
at 2026-11-03T10:00:00Z done 9

# Promise 3: the owner's reminder an hour before due and the manager's
# escalation half an hour after it, both sent.
DUE3=$(date -u -d 2026-11-02T17:00:00Z +%s)
sqlite3 "$DB" <<EOF
INSERT INTO notifications (promise_id, step, channel, recipient, idem_key,
  state, attempts, scheduled_at, next_try_at, created_at, sent_at)
VALUES
 (3, 'reminder', 'log', 'alice', 'r3', 'sent', 1, $((DUE3 - 3600)),
  $((DUE3 - 3600)), $((DUE3 - 3600)), $((DUE3 - 3600))),
 (3, 'lapse', 'log', 'carol', 'e3', 'sent', 1, $((DUE3 + 1800)),
  $((DUE3 + 1800)), $((DUE3 + 1800)), $((DUE3 + 1800)));
EOF

export PROMISED_NOW=2026-11-09T12:00:00Z
PERIOD=(--from 2026-11-02 --to 2026-11-09)

# Expected rows: key made kept late late_median_s late_worst_s lapsed open
# cancelled renegotiated renegotiations keeping_rate escalations_sent
# reminded_done reminder_to_done_median_s ("" = none).
#  alice: kept 1 2, late 3 (2h), cancelled 6; rate 2/3
#  carol: kept 5 (renegotiated twice), 8 reopened and lapsed; rate 1/2
#  dave:  late 4 (30m), lapsed 7, open 10; rate 0/2
#  total: late median (30m + 2h) / 2 = 1h15m = 4500 s; rate 3/7
EXPECT_OWNER='alice 4 2 1 7200 7200 0 0 1 0 0 0.6667 1 1 10800
carol 2 1 0 "" "" 1 0 0 1 2 0.5000 0 0 ""
dave 3 0 1 1800 1800 1 1 0 0 0 0.0000 0 0 ""
TOTAL 9 3 2 4500 7200 2 1 1 1 2 0.4286 1 1 10800'
#  desk (alice, carol): rate 3/5; us (dave)
EXPECT_TEAM='desk 6 3 1 7200 7200 1 0 1 1 2 0.6000 1 1 10800
us 3 0 1 1800 1800 1 1 0 0 0 0.0000 0 0 ""
TOTAL 9 3 2 4500 7200 2 1 1 1 2 0.4286 1 1 10800'

# compare.py BY TABLE CSV JSON EXPECTED: the three outputs hold the same
# numbers (the table's durations and percentages converted back), equal to
# EXPECTED.
cat >"$TMP/compare.py" <<'EOF'
import csv, json, re, shlex, sys

by, table_f, csv_f, json_f, expected = sys.argv[1:6]
cols = ["made", "kept", "late", "late_median_s", "late_worst_s", "lapsed",
        "open", "cancelled", "renegotiated", "renegotiations",
        "keeping_rate", "escalations_sent", "reminded_done",
        "reminder_to_done_median_s"]
durs = {"late_median_s", "late_worst_s", "reminder_to_done_median_s"}

def fail(msg):
    sys.exit("FAIL: " + msg)

def dur(s):
    if s == "0":
        return 0
    m = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", s)
    if not m or not s:
        fail("not a duration: %r" % s)
    d, h, mi, se = (int(x or 0) for x in m.groups())
    return d * 86400 + h * 3600 + mi * 60 + se

want = {}
for line in expected.splitlines():
    f = shlex.split(line)
    want[f[0]] = dict(zip(cols, f[1:]))

# CSV: header, one "group" row per key, one "total" row, CRLF.
raw = open(csv_f, newline="").read()
if not raw.endswith("\r\n") or "\n" in raw.replace("\r\n", ""):
    fail("CSV lines must end in CRLF")
rows = list(csv.reader(open(csv_f, newline="")))
if rows[0] != ["row", by] + cols:
    fail("CSV header %r" % rows[0])
got_csv = {}
for r in rows[1:]:
    key = "TOTAL" if r[0] == "total" else r[1]
    got_csv[key] = dict(zip(cols, r[2:]))
if got_csv != want:
    fail("CSV\n got %r\nwant %r" % (got_csv, want))

# JSON: the same numbers, null for none, rate as a number.
j = json.load(open(json_f))
if j["by"] != by or j["tz"] != "Europe/Brussels":
    fail("JSON by/tz")
if j["from_local"] != "2026-11-02 00:00 +01:00" or \
   j["to_local"] != "2026-11-09 00:00 +01:00":
    fail("JSON period %s .. %s" % (j["from_local"], j["to_local"]))
def norm(o):
    out = {}
    for c in cols:
        v = o[c]
        out[c] = "" if v is None else ("%.4f" % v if c == "keeping_rate"
                                       else str(v))
    return out
got_json = {r["key"]: norm(r) for r in j["rows"]}
got_json["TOTAL"] = norm(j["total"])
if got_json != want:
    fail("JSON\n got %r\nwant %r" % (got_json, want))

# Table: a title, a blank line, the header, then aligned rows.
lines = open(table_f).read().splitlines()
if lines[0] != ("Promises made from 2026-11-02 00:00 +01:00 to "
                "2026-11-09 00:00 +01:00 (Europe/Brussels), by " + by):
    fail("table title %r" % lines[0])
head = lines[2].split()
if head[0] != by.upper() or len(head) != len(cols) + 1:
    fail("table header %r" % lines[2])
ends = {len(l.rstrip()) for l in lines[2:]}
if len(ends) != 1:
    fail("table rows are not aligned")
got_table = {}
for l in lines[3:]:
    f = l.split()
    row = {}
    for c, v in zip(cols, f[1:]):
        if v == "-":
            row[c] = ""
        elif c in durs:
            row[c] = str(dur(v))
        elif c == "keeping_rate":
            row[c] = v
        else:
            row[c] = v
    got_table[f[0]] = row
for k, w in want.items():
    t = got_table.get(k)
    if t is None:
        fail("table has no row %s" % k)
    for c in cols:
        if c == "keeping_rate":
            if abs(float(t[c].rstrip("%")) / 100 - float(w[c])) > 0.0006:
                fail("table %s %s: %s vs %s" % (k, c, t[c], w[c]))
        elif t[c] != w[c]:
            fail("table %s %s: %s vs %s" % (k, c, t[c], w[c]))
if set(got_table) != set(want):
    fail("table rows %r" % sorted(got_table))
EOF

# report_all BY EXPECTED: table, csv and json agree and hold EXPECTED.
report_all() {
	pctl report "${PERIOD[@]}" --by "$1"
	expect_rc 0
	cp "$OUT" "$TMP/table"
	pctl report "${PERIOD[@]}" --by "$1" --format csv
	expect_rc 0
	cp "$OUT" "$TMP/csv"
	pctl report "${PERIOD[@]}" --by "$1" --format json
	expect_rc 0
	cp "$OUT" "$TMP/json"
	python3 "$TMP/compare.py" "$1" "$TMP/table" "$TMP/csv" "$TMP/json" "$2" \
		|| fail "report --by $1"
}

check "report --by owner: table, CSV and JSON agree on the known numbers"
report_all owner "$EXPECT_OWNER"

check "report --by team: the same promises per team"
report_all team "$EXPECT_TEAM"

check "the table shows durations human-readable and the rate in percent"
pctl report "${PERIOD[@]}"
expect_rc 0
grep -Eq '^TOTAL +9 +3 +2 +1h15m +2h +2 +1 +1 +1 +2 +42\.9% +1 +1 +3h$' "$OUT" \
	|| fail "TOTAL row of the table"
grep -Eq '^carol +2 +1 +0 +- +- +1 +0 +0 +1 +2 +50\.0% +0 +0 +-$' "$OUT" \
	|| fail "carol row of the table"

check "--json alone selects JSON; --format wins over it"
pctl --json report "${PERIOD[@]}"
expect_rc 0
expect_json 'j["total"]["made"]' 9
pctl --json report "${PERIOD[@]}" --format csv
expect_rc 0
head -n1 "$OUT" | grep -q '^row,owner,made,' || fail "CSV header"

check "the default period is the seven local days before today, up to now"
# Now 11-09 12:00Z: from 11-02 00:00 local to now, so the week plus
# promise 11, made early today.
pctl report --format json
expect_rc 0
expect_json 'j["from_local"]' "2026-11-02 00:00 +01:00"
expect_json 'j["to"] - j["now"]' 0
expect_json 'j["total"]["made"]' 10
expect_json 'j["rows"][2]["open"]' 2

check "a WHEN expression works as a bound"
pctl report --from 2026-11-02 --to "2026-11-08T23:30:00Z" --format json
expect_rc 0
expect_json 'j["total"]["made"]' 10

check "an empty period still has a total"
pctl report --from 2026-10-01 --to 2026-10-08 --format csv
expect_rc 0
printf 'row,owner,made,kept,late,late_median_s,late_worst_s,lapsed,open,cancelled,renegotiated,renegotiations,keeping_rate,escalations_sent,reminded_done,reminder_to_done_median_s\r\ntotal,,0,0,0,,,0,0,0,0,0,,0,0,\r\n' >"$TMP/empty.csv"
cmp -s "$OUT" "$TMP/empty.csv" || fail "CSV of an empty period"

check "--by nonsense is a usage error"
pctl report --by nonsense
expect_rc 64
expect_err "promisectl: report: --by: 'nonsense' is not one of owner, team, site (see 'promisectl report --help')"

check "--format nonsense is a usage error"
pctl report --format xml
expect_rc 64
expect_err_re "--format: 'xml' is not one of table, csv, json"

check "--from after --to is refused"
pctl report --from 2026-11-09 --to 2026-11-02
expect_rc 65
expect_err "promisectl: --from (2026-11-09 00:00 +01:00) must lie before --to (2026-11-02 00:00 +01:00)"
pctl report --from 2026-11-02 --to 2026-11-02
expect_rc 65

check "a malformed date is a data error"
pctl report --from 2026-13-45
expect_rc 65
expect_err "promisectl: --from: '2026-13-45' is not a date (YYYY-MM-DD)"
pctl report --to 2026-02-30
expect_rc 65
pctl report --from "last blue moon"
expect_rc 65
expect_err_re "^promisectl: --from: "

check "an extra operand is a usage error"
pctl report alice
expect_rc 64

echo "ok: $NCHECK checks"
