#!/usr/bin/env bash
# promisectl backup FILE: a copy of the live database (SQLite's online
# backup API) taken while the real daemon runs and a loop of promisectl add
# keeps writing, and the daemon itself fires reminders for those promises.
# The copy must be a standalone, intact database holding a consistent
# prefix of the promises: every one added before the backup began, none
# added after it ended.  Bad targets (an existing file, the database
# itself, a missing or unwritable folder, a folder) are refused with exit
# code 73 (EX_CANTCREAT) and an error naming the problem, leaving the
# database and any existing file as they were.
set -euo pipefail
. "$(dirname "$0")/daemon_common.bash"
unset WATCHDOG_USEC WATCHDOG_PID NOTIFY_SOCKET

WRITER=
IMMUTABLE=
cleanup() {
	if [ -n "$WRITER" ]; then
		kill "$WRITER" 2>/dev/null || true
		wait "$WRITER" 2>/dev/null || true
	fi
	if [ -n "$IMMUTABLE" ]; then chattr -i "$IMMUTABLE" || true; fi
	cleanup_common
}
trap cleanup EXIT

BK="$TMP/backups"
mkdir "$BK"
OUT="$TMP/out"
ERR="$TMP/err"
write_config 0

# Bulk rows make the database about a MB, so the copy takes long enough for
# writes to land while it runs.  Their dues are a month out: the daemon
# leaves them alone.  The first promise goes through promisectl to create
# the schema.
N=5000
now=$(date +%s)
far=$((now + 30 * 86400))
add_promise "Schema" "$far" >/dev/null
sqlite3 "$DB" <<EOF
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
INSERT INTO promises (ref, title, owner, team, site, source, due_at,
	created_at, updated_at, next_step_at, state, outcome)
SELECT 'bulk:' || i, 'Bulk promise ' || i, 'alice', 'desk', 'hq', 'test',
	$far + i, $now, $now, $far + i - 15, 'open', 'none' FROM n;
COMMIT;
EOF
start_daemon

count() {
	sqlite3 "$1" 'SELECT count(*) FROM promises'
}

# The writer: one promisectl add after another, each due 16 s from now so
# the daemon's reminder (due - 15 s) fires about a second later and the
# daemon writes too.  Every add that succeeded is appended to a file.
writer() {
	local i=0
	while :; do
		i=$((i + 1))
		pctl add --title "Loop $i" --owner alice \
			--due "$(iso $(($(date +%s) + 16)))" >/dev/null 2>&1 ||
			echo "add $i failed" >>"$TMP/writer.err"
		echo "$i" >>"$TMP/writer.log"
	done
}
writer &
WRITER=$!

writes() {
	if [ -e "$TMP/writer.log" ]; then wc -l <"$TMP/writer.log"; else echo 0; fi
}
wait_writes() {
	local i
	for i in $(seq 300); do
		[ "$(writes)" -ge "$1" ] && return 0
		sleep 0.1
	done
	fail "the writer did not reach $1 adds in 30 s"
}

# take_backup NAME: a backup to $BK/NAME between two counts of the live
# database (before, after); the JSON it printed is kept in $OUT.NAME.
take_backup() {
	local rc
	before=$(count "$DB")
	set +e
	pctl --json backup "$BK/$1" >"$OUT.$1" 2>"$ERR"
	rc=$?
	set -e
	after=$(count "$DB")
	[ "$rc" -eq 0 ] || { cat "$ERR" >&2; fail "backup: exit $rc, expected 0"; }
	[ ! -s "$ERR" ] || { cat "$ERR" >&2; fail "backup wrote to stderr"; }
}

# check_prefix FILE: FILE holds every promise counted before and none
# added after: ids 1..n with before <= n <= after.
check_prefix() {
	local n maxid
	n=$(count "$1")
	maxid=$(sqlite3 "$1" 'SELECT max(id) FROM promises')
	echo "  before $before, copy $n, after $after"
	[ "$n" -ge "$before" ] || fail "$1 has $n promises, $before existed before the backup"
	[ "$n" -le "$after" ] || fail "$1 has $n promises, only $after existed after the backup"
	[ "$maxid" = "$n" ] || fail "$1: max(id) $maxid but $n rows (not a prefix)"
	[ "$n" -gt $((N + 1)) ] || fail "$1 has $n promises, expected the $((N + 1)) bulk ones and some from the loop"
}

check "three backups taken while the daemon runs and promisectl add writes"
wait_writes 5
for k in 1 2 3; do
	take_backup "copy$k.db"
	[ "$(sqlite3 "$BK/copy$k.db" 'PRAGMA integrity_check')" = ok ] ||
		fail "integrity_check of copy$k.db"
	check_prefix "$BK/copy$k.db"
	wait_writes $(($(writes) + 2))
done
kill -0 "$PID" || fail "the daemon died during the backups"

check "the copy stands alone: rollback journal, no -wal, no temporary left"
# Bytes 18 and 19 of the header are 2 for a WAL database, 1 otherwise;
# the live database is WAL, so the copy must have been switched.
[ "$(od -An -tu1 -j18 -N2 "$DB" | tr -s ' ')" = " 2 2" ] ||
	fail "the live database is expected to be in WAL mode"
hdr=$(od -An -tu1 -j18 -N2 "$BK/copy1.db" | tr -s ' ')
[ "$hdr" = " 1 1" ] || fail "copy header read/write versions: '$hdr', expected ' 1 1'"
[ "$(sqlite3 "$BK/copy1.db" 'PRAGMA journal_mode')" = delete ] ||
	fail "journal_mode of the copy is not delete"
left=$(ls -A "$BK" | tr '\n' ' ')
[ "$left" = "copy1.db copy2.db copy3.db " ] ||
	fail "backup folder holds '$left', expected only the three copies"
[ "$(stat -c %a "$BK/copy1.db")" = 600 ] ||
	fail "the copy holds customer data and must be mode 600"
n=$(count "$BK/copy1.db")

check "backup --json says what it wrote"
python3 - "$OUT.copy1.db" "$BK/copy1.db" "$n" "$(stat -c %s "$BK/copy1.db")" <<'PY' || fail "backup JSON"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["path"] == sys.argv[2], j
assert j["promises"] == int(sys.argv[3]), (j, sys.argv[3])
assert j["bytes"] == int(sys.argv[4]), (j, sys.argv[4])
PY

# The writer stops here: what follows compares the database before/after.
kill "$WRITER"
wait "$WRITER" 2>/dev/null || true
WRITER=
[ ! -s "$TMP/writer.err" ] || fail "adds failed while the backup ran: $(head -3 "$TMP/writer.err")"
wait_messages 1 20 || fail "the daemon delivered no reminder for the loop's promises"

check "a human-readable backup names the file, its size and the promises"
pctl backup "$BK/second.db" >"$OUT" 2>"$ERR" || fail "second backup failed: $(cat "$ERR")"
n2=$(count "$BK/second.db")
size2=$(stat -c %s "$BK/second.db")
grep -qF "$BK/second.db" "$OUT" || fail "output does not name the file: $(cat "$OUT")"
grep -qE "\\b$size2 bytes\\b" "$OUT" || fail "output does not say $size2 bytes: $(cat "$OUT")"
grep -qE "\\b$n2 promises\\b" "$OUT" || fail "output does not say $n2 promises: $(cat "$OUT")"

check "promisectl --db COPY list works on the copy"
"$PCTL" --config "$CFG" --db "$BK/copy1.db" --json list --all >"$OUT" 2>"$ERR" ||
	fail "list on the copy: $(cat "$ERR")"
got=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$OUT")
[ "$got" = "$n" ] || fail "list --all on the copy: $got promises, expected $n"

stop_daemon

# ---- bad targets --------------------------------------------------------
dbsum() {
	sqlite3 "$DB" .dump | sha256sum
}
sum0=$(dbsum)
printf 'precious\n' >"$BK/existing.db"

# bad_target WHAT FILE REGEX [RUNNER...]: backup to FILE exits 73 with one
# line on stderr naming the problem; the database is unchanged and no
# temporary file is left beside FILE.
bad_target() {
	local what=$1 file=$2 re=$3 rc
	shift 3
	check "refused: $what"
	set +e
	"$@" "$PCTL" --config "$CFG" --db "$DB" backup "$file" >"$OUT" 2>"$ERR"
	rc=$?
	set -e
	[ "$rc" -eq 73 ] || fail "$what: exit $rc, expected 73; stderr: $(cat "$ERR")"
	[ "$(wc -l <"$ERR")" -eq 1 ] || fail "$what: expected one line on stderr: $(cat "$ERR")"
	grep -Eq -- "$re" "$ERR" || fail "$what: stderr '$(cat "$ERR")' does not match /$re/"
	[ ! -s "$OUT" ] || fail "$what: printed '$(cat "$OUT")' on stdout"
	[ "$(dbsum)" = "$sum0" ] || fail "$what: the database changed"
	if compgen -G "$(dirname "$file")/*.tmp-*" >/dev/null; then
		fail "$what: a temporary file was left: $(ls "$(dirname "$file")")"
	fi
}

bad_target "an existing file" "$BK/existing.db" \
	"^promisectl: cannot back up to $BK/existing.db: the file exists"
[ "$(cat "$BK/existing.db")" = precious ] || fail "the existing file was changed"

bad_target "the database itself" "$DB" "^promisectl: cannot back up to $DB: that is the database itself"
bad_target "the database by another path" "$TMP/state/../state/promises.db" \
	"that is the database itself"
[ "$(dbsum)" = "$sum0" ] || fail "the database changed"

bad_target "a missing folder" "$TMP/nope/copy.db" \
	"^promisectl: cannot back up to $TMP/nope/copy.db: folder $TMP/nope does not exist"
[ ! -e "$TMP/nope" ] || fail "the missing folder was created"

bad_target "a folder" "$BK" "^promisectl: cannot back up to $BK: it is a folder"

# An unwritable folder: root ignores modes, so as root the folder is made
# immutable (chattr +i); without that flag the command runs as nobody on
# a database nobody owns, next to a folder only root may write.
RO="$TMP/readonly"
mkdir "$RO"
RUN=()
DBARG="$DB"
if [ "$(id -u)" -ne 0 ]; then
	chmod 0555 "$RO"
elif chattr +i "$RO" 2>/dev/null; then
	IMMUTABLE="$RO"
else
	chmod 0755 "$TMP"
	mkdir "$TMP/nobody"
	cp "$BK/second.db" "$TMP/nobody/promises.db"
	chown -R 65534:65534 "$TMP/nobody"
	DBARG="$TMP/nobody/promises.db"
	RUN=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
check "refused: an unwritable folder"
set +e
"${RUN[@]}" "$PCTL" --config "$CFG" --db "$DBARG" backup "$RO/copy.db" >"$OUT" 2>"$ERR"
rc=$?
set -e
[ "$rc" -eq 73 ] || fail "unwritable folder: exit $rc, expected 73; stderr: $(cat "$ERR")"
grep -Eq "^promisectl: cannot back up to $RO/copy.db: folder $RO is not writable" "$ERR" ||
	fail "unwritable folder: stderr '$(cat "$ERR")'"
[ -z "$(ls -A "$RO")" ] || fail "something was written into the read-only folder"
if [ -n "$IMMUTABLE" ]; then chattr -i "$IMMUTABLE"; IMMUTABLE=; fi
chmod 0755 "$RO"
[ "$(dbsum)" = "$sum0" ] || fail "the database changed"

check "no FILE is a usage error (64)"
set +e
pctl backup >"$OUT" 2>"$ERR"
rc=$?
set -e
[ "$rc" -eq 64 ] || fail "no FILE: exit $rc, expected 64"

echo "PASS: $NCHECK checks"
