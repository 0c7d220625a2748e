# Shared by tests/e2e/cli_*.sh (sourced, not run on its own): a scratch
# folder with a small config, and checks that print what they check and
# fail loudly with what they got and what they expected.  What promisectl
# prints is kept under $PROMISED_BUILD_DIR/test-output (keep_output.bash).

: "${PROMISED_BUILD_DIR:?set PROMISED_BUILD_DIR to the build folder}"
: "${PROMISED_SOURCE_DIR:?set PROMISED_SOURCE_DIR to the source folder}"

PCTL="$PROMISED_BUILD_DIR/promisectl"
[ -x "$PCTL" ] || { echo "FAIL: $PCTL not built" >&2; exit 1; }
. "$(dirname "${BASH_SOURCE[0]}")/secrets.bash"
. "$(dirname "${BASH_SOURCE[0]}")/keep_output.bash"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/promised-cli.XXXXXX")
CFG="$TMP/promised.yaml"
DB="$TMP/promises.db"
OUT="$TMP/out"
ERR="$TMP/err"
RC=0
NCHECK=0

cleanup_common() {
	keep_collect "$TMP"
	rm -rf "$TMP"
}
trap cleanup_common EXIT

# A Brussels site (the default) and a New York one; alice and carol in
# the desk team in Ghent, dave in the US team.  The one policy reminds
# the owner an hour before due, at any hour.
cat >"$CFG" <<'EOF'
database: promises.db
default_site: ghent
default_policy: standard
sites:
  ghent:
    timezone: Europe/Brussels
    hours:
      mon: [08:00-12:00, 13:00-18:00]
      tue: [08:00-12:00, 13:00-18:00]
      wed: [08:00-12:00, 13:00-18:00]
      thu: [08:00-12:00, 13:00-18:00]
      fri: [08:00-12:00, 13:00-18:00]
      sat: closed
      sun: closed
    holidays:
      - 2026-12-25
  nyc:
    timezone: America/New_York
    hours:
      mon: [09:00-17:00]
      tue: [09:00-17:00]
      wed: [09:00-17:00]
      thu: [09:00-17:00]
      fri: [09:00-17:00]
      sat: closed
      sun: closed
staff:
  - id: carol
    name: Carol Lead
    email: carol@example.com
    phone: "+32470000001"
    locale: en
    team: desk
  - id: alice
    name: Alice Desk
    email: alice@example.com
    phone: "+32470000002"
    locale: nl
    team: desk
    manager: carol
  - id: dave
    name: Dave Yank
    email: dave@example.com
    phone: "+12125550100"
    locale: en
    team: us
teams:
  desk:
    lead: carol
    site: ghent
  us:
    lead: dave
    site: nyc
channels:
  log:
    type: log
policies:
  standard:
    - name: reminder
      anchor: due
      offset: -1h
      to: [owner]
      channels: [log]
EOF

# pctl ARGS...: runs promisectl on the test config and database with
# stdout in $OUT, stderr in $ERR and the exit code in $RC.
pctl() {
	set +e
	"$PCTL" --config "$CFG" --db "$DB" "$@" >"$OUT" 2>"$ERR"
	RC=$?
	set -e
	local args="$*"
	KEEP_WHAT="promisectl ${args:0:200} (exit $RC)" \
		keep_append logs/promisectl.log "$OUT" "$ERR"
}

fail() {
	echo "FAIL: $*" >&2
	echo "--- stdout:" >&2
	cat "$OUT" >&2 2>/dev/null || true
	echo "--- stderr:" >&2
	cat "$ERR" >&2 2>/dev/null || true
	exit 1
}

check() {
	NCHECK=$((NCHECK + 1))
	echo "check $NCHECK: $*"
}

expect_rc() {
	[ "$RC" -eq "$1" ] || fail "exit code: got $RC, expected $1"
}

# expect_err EXACT-LINE: stderr is exactly that one line.
expect_err() {
	local got
	got=$(cat "$ERR")
	[ "$got" = "$1" ] || fail "stderr: got '$got', expected '$1'"
}

# expect_err_re REGEX: stderr is one line matching REGEX (grep -E).
expect_err_re() {
	local n
	n=$(wc -l <"$ERR")
	[ "$n" -eq 1 ] || fail "stderr: expected one line, got $n"
	grep -Eq -- "$1" "$ERR" || fail "stderr does not match /$1/"
}

expect_out() {
	local got
	got=$(cat "$OUT")
	[ "$got" = "$1" ] || fail "stdout: got '$got', expected '$1'"
}

expect_out_re() {
	grep -Eq -- "$1" "$OUT" || fail "stdout does not match /$1/"
}

# json EXPR: evaluates a Python expression over j = the JSON on stdout.
json() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$OUT" "$1"
}

# expect_json EXPR VALUE
expect_json() {
	local got
	got=$(json "$1") || fail "stdout is not JSON (evaluating $1)"
	[ "$got" = "$2" ] || fail "$1: got '$got', expected '$2'"
}

count_promises() {
	sqlite3 "$DB" 'SELECT count(*) FROM promises'
}
