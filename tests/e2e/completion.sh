#!/usr/bin/env bash
# The bash completion of promisectl (completion/promisectl.bash), driven
# the way bash drives it: COMP_WORDS/COMP_CWORD set, _promisectl called,
# COMPREPLY compared with what must be offered.  The words come from the
# real promisectl (its hidden `complete` command) reading a scratch config
# and scratch databases, so this also checks that command: staff ids from
# the config, open promise ids newest first (a closed one left out), and
# --config / --db given earlier on the line honoured.  About a second.
#
# Env: PROMISED_BUILD_DIR (build folder), PROMISED_SOURCE_DIR (source tree).
set -u

build=${PROMISED_BUILD_DIR:?PROMISED_BUILD_DIR is not set}
src=${PROMISED_SOURCE_DIR:?PROMISED_SOURCE_DIR is not set}
ctl=$build/promisectl
[ -x "$ctl" ] || { echo "FAIL: $ctl not built" >&2; exit 1; }
script=$src/completion/promisectl.bash
[ -r "$script" ] || { echo "FAIL: $script missing" >&2; exit 1; }

tmp=$(mktemp -d /tmp/promised-completion.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# Nothing from the caller's environment may choose the files.
unset PROMISED_CONFIG PROMISED_DB
export PROMISED_NOW=2026-12-01T09:00:00Z PROMISED_ACTOR=cli:test

cfg=$tmp/promised.yaml
cat >"$cfg" <<'EOF'
database: main.db
default_policy: std
sites:
  ghent:
    timezone: Europe/Brussels
    hours:
      mon: 08:00-18:00
staff:
  - id: alice
    email: alice@example.com
  - id: bob
    email: bob@example.com
  - id: zoe-k
    email: zoe@example.com
policies:
  std:
    - name: reminder
      offset: -1h
      to: [owner]
      channels: [desk-log]
channels:
  desk-log:
    type: log
  mailbox:
    type: maildir
    path: maildir
feeds:
  workshop:
    url: workshop.ics
    default_owner: alice
EOF

add() { # db, owner -> prints nothing; fails the test when add fails
	"$ctl" --config "$cfg" --db "$1" add --title "t" --owner "$2" \
		--due "2027-01-04 10:00" >/dev/null 2>"$tmp/add.err" ||
		{ echo "FAIL: promisectl add: $(cat "$tmp/add.err")" >&2; exit 1; }
}
close() { # db, id
	"$ctl" --config "$cfg" --db "$1" "done" "$2" >/dev/null 2>"$tmp/done.err" ||
		{ echo "FAIL: promisectl done $2: $(cat "$tmp/done.err")" >&2; exit 1; }
}

# The config's database: promises 1, 2, 3; 2 is done -> offer 3 1.
main=$tmp/main.db
add "$main" alice; add "$main" bob; add "$main" alice
close "$main" 2
# Another database: 1..5, the first three done -> offer 5 4.
other=$tmp/other.db
for o in alice bob alice bob alice; do add "$other" "$o"; done
close "$other" 1; close "$other" 2; close "$other" 3

# shellcheck source=/dev/null
. "$script"
complete -p promisectl >/dev/null 2>&1 || fail "the script does not register 'complete -F _promisectl promisectl'"

# expect "description" "expected candidates (space-separated, in order)" words...
# The last word is the one being completed.
expect() {
	local what=$1 want=$2
	shift 2
	COMP_WORDS=("$ctl" "$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="${COMP_WORDS[*]}"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_promisectl
	local got="${COMPREPLY[*]}"
	if [ "$got" = "$want" ]; then
		echo "ok: $what: [$got]"
	else
		fail "$what: got [$got], want [$want]"
	fi
}

# Commands: what --help lists (backup included), never the hidden one.
cmds="add list show done ack snooze reassign renegotiate reopen outbox test-channel report feeds import sync backup check-config"
expect "commands for an empty word" "$cmds" ""
expect "commands starting with 're'" "reassign renegotiate reopen report" re
expect "global options" "--config --db --json --no-color --help --version" -
expect "global options after --config" "--db" --config "$cfg" --d
expect "options of list" "--open --overdue --owner" list --o
expect "options of renegotiate" "--due --reason --force --json --help" renegotiate 3 -
expect "values of done --outcome" "kept cancelled" "done" 3 --outcome ""

# Staff ids from the config named on the line.
expect "add --owner: staff" "alice bob zoe-k" --config "$cfg" add --title x --owner ""
expect "reassign --to: staff with prefix" "zoe-k" --config "$cfg" reassign 3 --to z
expect "list --owner: staff" "alice bob zoe-k" --config "$cfg" list --owner ""
expect "--config=FILE form" "alice bob zoe-k" --config = "$cfg" add --owner ""
expect "report --to is a date: nothing" "" --config "$cfg" report --to ""
expect "no config: no staff, no error" "" --config "$tmp/absent.yaml" add --owner ""

# Promise ids: open ones of the config's database, newest first.
expect "show: open promises, newest first" "3 1" --config "$cfg" show ""
expect "ack: open promises" "3 1" --config "$cfg" ack ""
expect "done: a done promise is not offered" "3 1" --config "$cfg" "done" ""
expect "second operand: nothing" "" --config "$cfg" "done" 3 ""
expect "snooze after an option with a value" "3 1" --config "$cfg" snooze --for 2h ""
# --db on the line wins over the config's database.
expect "--db honoured" "5 4" --config "$cfg" --db "$other" show ""
expect "--db honoured with prefix" "4" --config "$cfg" --db "$other" reopen 4
expect "outbox --promise" "5 4" --config "$cfg" --db "$other" outbox --promise ""
# A database that does not exist is not created by completing.
expect "absent --db: no ids" "" --config "$cfg" --db "$tmp/new.db" show ""
[ -e "$tmp/new.db" ] && fail "completion created the database $tmp/new.db"

# Channel and feed names.
expect "test-channel: channels" "desk-log mailbox" --config "$cfg" test-channel ""
expect "test-channel --to: staff" "alice bob zoe-k" --config "$cfg" test-channel mailbox --to ""
expect "sync: feeds" "workshop" --config "$cfg" sync ""
expect "import --feed: feeds" "workshop" --config "$cfg" import x.ics --feed ""

# The hidden command answers directly too, and stays out of --help.
"$ctl" --help | grep -qw complete && fail "'complete' is listed by promisectl --help"
got=$("$ctl" --config "$cfg" complete promises | tr '\n' ' ')
[ "$got" = "3 1 " ] || fail "promisectl complete promises: got [$got], want [3 1 ]"
"$ctl" complete nonsense >/dev/null 2>&1
rc=$?
[ "$rc" -eq 64 ] || fail "promisectl complete nonsense: exit $rc, want 64"

if [ "$fails" -gt 0 ]; then
	echo "$fails completion check(s) failed" >&2
	exit 1
fi
echo "all completion checks passed"
