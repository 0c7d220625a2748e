#!/usr/bin/env bash
# Bad input as a new user types it: every case gets its sysexits.h code and
# one clear line on stderr (asserted exactly or by pattern), or is stored
# verbatim.  At the end the database passes PRAGMA integrity_check and
# holds exactly the promises (and events) whose add succeeded: no refused
# command left a partial write.  Clock pinned to Thursday 2026-12-03 09:00
# UTC (10:00 CET in the Brussels site).
set -euo pipefail
. "$(dirname "$0")/cli_common.bash"

export PROMISED_NOW=2026-12-03T09:00:00Z
export PROMISED_ACTOR=tester
unset NO_COLOR PROMISED_CONFIG PROMISED_DB PROMISED_BUSY_TIMEOUT_MS

ADDED=0
LOCKPID=
IMMUTABLE=

cleanup() {
	if [ -n "$LOCKPID" ]; then kill "$LOCKPID" 2>/dev/null || true; fi
	if [ -n "$IMMUTABLE" ]; then chattr -i "$IMMUTABLE" 2>/dev/null || true; fi
	cleanup_common
}
trap cleanup EXIT

added() {
	expect_rc 0
	ADDED=$((ADDED + 1))
	expect_out_re "^added promise $ADDED \\(due "
}

check "a good promise to start from"
pctl add --title "Call back" --owner alice --due "fri 16:00" --ref dms:1
added

# ---- people and times --------------------------------------------------------
check "unknown owner"
pctl add --title "Call back" --owner bob --due "fri 16:00"
expect_rc 65
expect_err "promisectl: unknown owner 'bob' (known: carol, alice, dave)"

check "unknown team, site, policy"
pctl add --title x --owner alice --due "fri 16:00" --team nobody
expect_rc 65
expect_err "promisectl: unknown team 'nobody'"
pctl add --title x --owner alice --due "fri 16:00" --site mars
expect_rc 65
expect_err "promisectl: unknown site 'mars'"
pctl add --title x --owner alice --due "fri 16:00" --policy lenient
expect_rc 65
expect_err "promisectl: unknown policy 'lenient'"

check "due in the past is refused without --force"
pctl add --title "Too late" --owner alice --due "2026-12-01 10:00"
expect_rc 65
expect_err "promisectl: due Tue 2026-12-01 10:00 +01:00 is in the past; use --force to add it anyway"

check "due in the past is stored with --force"
pctl add --title "Too late" --owner alice --due "2026-12-01 10:00" --force
added

for bad in tomorow 2026-13-45 "fri 25:00" ""; do
	check "malformed due '$bad'"
	pctl add --title "Bad date" --owner alice --due "$bad"
	if [ -z "$bad" ]; then
		expect_rc 64
		expect_err "promisectl: add: --due needs a value (see 'promisectl add --help')"
		continue
	fi
	expect_rc 65
	expect_err_re "^promisectl: --due: "
	grep -qF -- "$bad" "$ERR" || fail "the error names the input '$bad'"
done

check "target after due"
pctl add --title x --owner alice --due "fri 16:00" --target "fri 17:00"
expect_rc 65
expect_err "promisectl: target Fri 2026-12-04 17:00 +01:00 is after due Fri 2026-12-04 16:00 +01:00"

check "duplicate ref names the existing promise"
pctl add --title "Again" --owner alice --due "fri 16:00" --ref dms:1
expect_rc 65
expect_err "promisectl: ref 'dms:1' is already used by promise 1"

# ---- what the promise carries -----------------------------------------------
check "VIN with a forbidden letter, too short"
pctl add --title x --owner alice --due "fri 16:00" --vin 1M8GDM9AIKP042788
expect_rc 65
expect_err_re "^promisectl: --vin: "
pctl add --title x --owner alice --due "fri 16:00" --vin ABC
expect_rc 65
expect_err_re "^promisectl: --vin: "

check "VIN with a wrong check digit: a warning, still added (upper-cased)"
pctl add --title "Recall" --owner alice --due "fri 16:00" --vin 1m8gdm9a1kp042788
added
expect_err "promisectl: warning: VIN 1M8GDM9A1KP042788: check digit does not match; stored anyway"
pctl show "$ADDED" --json
expect_json 'j["vin"]' 1M8GDM9A1KP042788

check "not an email address"
pctl add --title x --owner alice --due "fri 16:00" --email "jan at example"
expect_rc 65
expect_err "promisectl: --email 'jan at example' is not an email address"

# ---- text ------------------------------------------------------------------------
check "a 10 MB title through --title-file is refused without reading it all"
python3 -c 'import sys; sys.stdout.write("x" * (10 * 1024 * 1024))' >"$TMP/title10m"
pctl add --title-file "$TMP/title10m" --owner alice --due "fri 16:00"
expect_rc 65
expect_err "promisectl: --title-file: $TMP/title10m is too long (more than 500 bytes)"

check "10 MB of details through --details-file"
pctl add --title x --details-file "$TMP/title10m" --owner alice --due "fri 16:00"
expect_rc 65
expect_err "promisectl: --details-file: $TMP/title10m is too long (more than 65536 bytes)"

check "a 100 kB title on the command line"
big=$(python3 -c 'print("y" * 100000)')
pctl add --title "$big" --owner alice --due "fri 16:00"
expect_rc 65
expect_err "promisectl: --title is too long (100000 bytes; at most 500)"

check "a 500-byte title of two-byte letters is stored whole; --title-file works"
python3 -c 'import sys; sys.stdout.write("é" * 250 + "\n")' >"$TMP/title500"
pctl add --title-file "$TMP/title500" --owner alice --due "fri 16:00"
added
pctl show "$ADDED" --json
expect_json 'j["title"] == "é" * 250' True

check "--title and --title-file together"
pctl add --title x --title-file "$TMP/title500" --owner alice --due "fri 16:00"
expect_rc 64
expect_err "promisectl: --title-file and --title cannot both be given"

check "invalid UTF-8 in title, customer and a title file"
pctl add --title "$(printf 'Call \xff\xfe back')" --owner alice --due "fri 16:00"
expect_rc 65
expect_err "promisectl: --title is not valid UTF-8"
pctl add --title x --customer "$(printf 'Jan \xc3')" --owner alice --due "fri 16:00"
expect_rc 65
expect_err "promisectl: --customer is not valid UTF-8"
printf 'ok \xc0\xaf' >"$TMP/badutf8"
pctl add --title-file "$TMP/badutf8" --owner alice --due "fri 16:00"
expect_rc 65
expect_err "promisectl: --title is not valid UTF-8"

check "a newline in the title"
pctl add --title $'Call\nback' --owner alice --due "fri 16:00"
expect_rc 65
expect_err "promisectl: --title contains a control character (byte 5)"

check "SQL-looking and awkward text is stored verbatim"
T="Robert'); DROP TABLE promises;--"
C="O'Brien\"; DELETE FROM events; --"
D=$'back\\slash "quotes" \t tab\nünïcødé 🚗 \\u0000'
pctl add --title "$T" --customer "$C" --details "$D" --ref "x' OR '1'='1" \
	--owner alice --due "fri 16:00"
added
pctl show "$ADDED" --json
python3 - "$OUT" "$T" "$C" "$D" <<'EOF' || fail "text did not come back verbatim"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["title"] == sys.argv[2], j["title"]
assert j["customer"]["name"] == sys.argv[3], j["customer"]["name"]
assert j["details"] == sys.argv[4], j["details"]
assert j["ref"] == "x' OR '1'='1", j["ref"]
EOF
pctl show "x' OR '1'='1" --json
expect_json 'j["id"]' "$ADDED"

# ---- the command line ------------------------------------------------------------
check "unknown command"
pctl frobnicate
expect_rc 64
expect_err "promisectl: unknown command 'frobnicate' (see promisectl --help)"
pctl lsit
expect_rc 64
expect_err "promisectl: unknown command 'lsit' (did you mean 'list'?)"

check "missing required option"
pctl add --title "No due" --owner alice
expect_rc 64
expect_err "promisectl: add: --due is required (see 'promisectl add --help')"
pctl renegotiate 1 --due "mon 12:00"
expect_rc 64
expect_err "promisectl: renegotiate: --due WHEN and --reason TEXT are required (see 'promisectl renegotiate --help')"
pctl reassign 1
expect_rc 64
expect_err "promisectl: reassign: --to STAFF is required (see 'promisectl reassign --help')"
pctl snooze 1
expect_rc 64
expect_err "promisectl: snooze: give either --until WHEN or --for DURATION (see 'promisectl snooze --help')"

check "option without its value, unknown option, stray argument, bad outcome"
pctl add --owner alice --due "fri 16:00" --title
expect_rc 64
expect_err "promisectl: add: option '--title' needs a value (see 'promisectl add --help')"
pctl add --titel x --owner alice --due "fri 16:00"
expect_rc 64
expect_err "promisectl: add: unknown option '--titel' (see 'promisectl add --help')"
pctl show 1 2
expect_rc 64
expect_err "promisectl: show: unexpected argument '2' (see 'promisectl show --help')"
pctl done 1 --outcome maybe
expect_rc 64
expect_err "promisectl: done: --outcome is kept or cancelled, not 'maybe' (see 'promisectl done --help')"
pctl show
expect_rc 64
expect_err "promisectl: show: which promise? give its ID or ref (see 'promisectl show --help')"
pctl --bogus list
expect_rc 64
expect_err "promisectl: unknown option '--bogus' (see 'promisectl --help')"

check "a promise that does not exist"
pctl show 4242
expect_rc 65
expect_err "promisectl: no promise 4242"
pctl done 4242
expect_rc 65
expect_err "promisectl: no promise 4242"
pctl ack nosuchref
expect_rc 65
expect_err "promisectl: no promise with id or ref 'nosuchref'"

check "a broken PROMISED_NOW"
PROMISED_NOW=yesterday pctl list
expect_rc 64
expect_err "promisectl: PROMISED_NOW 'yesterday' is not Unix seconds or YYYY-MM-DDTHH:MM:SSZ"

# ---- config and database -----------------------------------------------------------
check "missing config (option and environment)"
set +e
"$PCTL" --config "$TMP/nope.yaml" --db "$DB" list >"$OUT" 2>"$ERR"; RC=$?
set -e
expect_rc 78
head -1 "$ERR" | grep -qxF "promisectl: cannot load config $TMP/nope.yaml:" ||
	fail "first line names the config"
sed -n 2p "$ERR" | grep -qF "$TMP/nope.yaml" || fail "second line says what is wrong"
set +e
PROMISED_CONFIG="$TMP/nope.yaml" "$PCTL" --db "$DB" list >"$OUT" 2>"$ERR"; RC=$?
set -e
expect_rc 78
head -1 "$ERR" | grep -qxF "promisectl: cannot load config $TMP/nope.yaml:" ||
	fail "PROMISED_CONFIG is used"

check "a database path that cannot be created"
set +e
"$PCTL" --config "$CFG" --db /etc/passwd/x.db list >"$OUT" 2>"$ERR"; RC=$?
set -e
expect_rc 73
expect_err_re "^promisectl: cannot open database /etc/passwd/x\\.db: [^/]*$"

check "a busy database: EX_TEMPFAIL after the busy timeout"
python3 - "$DB" "$TMP/locked" <<'EOF' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=5)
c.execute("BEGIN EXCLUSIVE")
open(sys.argv[2], "w").write("locked")
time.sleep(60)
EOF
LOCKPID=$!
for _ in $(seq 100); do [ -e "$TMP/locked" ] && break; sleep 0.1; done
[ -e "$TMP/locked" ] || fail "the lock holder did not start"
start=$(date +%s%N)
PROMISED_BUSY_TIMEOUT_MS=200 pctl add --title "Busy" --owner alice --due "fri 16:00"
took=$((($(date +%s%N) - start) / 1000000))
kill "$LOCKPID"
wait "$LOCKPID" 2>/dev/null || true
LOCKPID=
expect_rc 75
expect_err_re "^promisectl: database is busy; try again"
[ "$took" -lt 5000 ] || fail "gave up after ${took} ms, expected about 200 ms"

check "the database is usable again once the lock is gone"
pctl show 1 --json
expect_rc 0
expect_json 'j["id"]' 1

check "a read-only database file: EX_CANTCREAT, nothing written"
# root ignores file modes, so as root the file is made immutable
# (chattr +i); anyone else gets a plain read-only file.
RUN=()
if [ "$(id -u)" -ne 0 ]; then
	chmod 0444 "$DB"
elif chattr +i "$DB" 2>/dev/null; then
	IMMUTABLE="$DB"
else
	# No immutable flag on this file system: run as nobody instead.
	chmod 0755 "$TMP"
	chmod 0444 "$DB" "$CFG"
	RUN=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
set +e
"${RUN[@]}" "$PCTL" --config "$CFG" --db "$DB" add --title "Read-only" \
	--owner alice --due "fri 16:00" >"$OUT" 2>"$ERR"
RC=$?
set -e
expect_rc 73
expect_err_re "^promisectl: .*(read-only|cannot write|cannot open)"
grep -qF "$DB" "$ERR" || fail "the error names the database file"
if [ -n "$IMMUTABLE" ]; then chattr -i "$DB"; IMMUTABLE=; fi
chmod 0644 "$DB"

# ---- afterwards -----------------------------------------------------------------------
check "integrity_check passes and only the successful adds were written"
[ "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check"
n=$(count_promises)
[ "$n" = "$ADDED" ] || fail "promises: got $n, expected $ADDED"
n=$(sqlite3 "$DB" 'SELECT count(*) FROM events')
[ "$n" = "$ADDED" ] || fail "events: got $n, expected $ADDED (one 'created' each)"

echo "PASS: cli_bad_input ($NCHECK checks)"
