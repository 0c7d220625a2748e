#!/usr/bin/env bash
# Checks the man pages the build generated from docs/man/*.scd (it builds
# nothing itself): each page exists, renders with man(1) and groff at 80
# columns without a single warning, promised.yaml(5) documents every key
# the config parser knows (taken from the field tables in src/config.c),
# promisectl(1) documents every command `promisectl --help` lists and every
# sysexits code the CLI returns, and promised(8) every code the daemon's
# main returns.  Runs in about a second.
#
# Env: PROMISED_BUILD_DIR (build folder), PROMISED_SOURCE_DIR (source tree).
set -u

build=${PROMISED_BUILD_DIR:?PROMISED_BUILD_DIR is not set}
src=${PROMISED_SOURCE_DIR:?PROMISED_SOURCE_DIR is not set}
man=$build/man
fails=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }

for tool in man groff; do
	command -v "$tool" >/dev/null 2>&1 ||
		{ echo "FAIL: $tool is not installed (man-db, groff-base)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/promised-man.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

pages="promised.8 promisectl.1 promised.yaml.5"
for p in $pages; do
	f=$man/$p
	if [ ! -s "$f" ]; then
		fail "$f was not generated (target man)"
		continue
	fi
	# man-db with groff's warnings on; anything on stderr is a defect
	# (an unknown macro, a table too wide, a bad escape).
	if ! MANWIDTH=80 MAN_KEEP_FORMATTING="" man --warnings -l "$f" \
		>"$tmp/$p.txt" 2>"$tmp/$p.err"; then
		fail "man -l $p exited non-zero: $(head -3 "$tmp/$p.err")"
	elif [ -s "$tmp/$p.err" ]; then
		fail "man -l $p warns: $(head -5 "$tmp/$p.err")"
	else
		pass "man -l $p renders without warnings"
	fi
	groff -man -Tutf8 -ww -z "$f" 2>"$tmp/$p.groff"
	if [ -s "$tmp/$p.groff" ]; then
		fail "groff -ww $p warns: $(head -5 "$tmp/$p.groff")"
	else
		pass "groff -ww $p is silent"
	fi
	name=${p%.*}
	section=${p##*.}
	if ! grep -q "^${name}($section)" "$tmp/$p.txt" ||
		! grep -q '^NAME' "$tmp/$p.txt"; then
		fail "$p does not render a '$name($section)' header and NAME"
	fi
	# Nothing of the scdoc markup may survive into the text.
	if grep -n '^[[:space:]]*\*[a-z_]*\*\|```' "$tmp/$p.txt" | head -3 |
		grep -q .; then
		fail "$p shows raw scdoc markup"
	fi
done

# ---- promised.yaml(5): every key of every field table ------------------
# The parser's tables are `static const struct field NAME[] = { { "key",
# ...` (plus keys given through #define macros such as RETRY_FIELD).
keys=$(
	{
		awk '/^static const struct field [a-z_]+\[\] = \{/ { f = 1; next }
		     f && /^\};/ { f = 0 }
		     f' "$src/src/config.c"
		grep '^#define [A-Z_]* *{ "' "$src/src/config.c"
	} | grep -o '{ "[a-z_]*"' | sed 's/^{ "//; s/"$//' | sort -u
)
nkeys=$(printf '%s\n' "$keys" | grep -c .)
# About 100 today; far fewer means the tables changed shape and this
# extraction no longer sees them.
if [ "$nkeys" -lt 80 ]; then
	fail "only $nkeys config keys extracted from src/config.c (expected 80+): fix the extraction"
else
	pass "$nkeys config keys extracted from src/config.c"
fi
yaml5=$man/promised.yaml.5
missing=""
for k in $keys; do
	# A key counts when the page sets it in bold as a word of its own.
	grep -qF "\\fB$k\\fR" "$yaml5" 2>/dev/null || missing="$missing $k"
done
if [ -n "$missing" ]; then
	fail "promised.yaml(5) does not document:$missing"
else
	pass "promised.yaml(5) documents all $nkeys keys"
fi
for k in database retry safety_sweep max_cancel_share; do
	printf '%s\n' "$keys" | grep -qx "$k" ||
		fail "key extraction missed known key '$k'"
done

# ---- promisectl(1): every command of --help, every exit code ----------
ctl=$build/promisectl
if [ ! -x "$ctl" ]; then
	fail "$ctl is not built"
else
	"$ctl" --help >"$tmp/help" 2>&1
	cmds=$(sed -n '/^commands:/,/^$/p' "$tmp/help" | awk 'NR > 1 && NF { print $1 }')
	ncmds=$(printf '%s\n' "$cmds" | grep -c .)
	[ "$ncmds" -ge 10 ] || fail "only $ncmds commands read from promisectl --help"
	printf '%s\n' "$cmds" | grep -qx complete &&
		fail "the hidden command 'complete' shows in promisectl --help"
	missing=""
	for c in $cmds; do
		# A subsection of its own and a usage line "promisectl CMD".
		grep -qx "\\.SS $c" "$man/promisectl.1" 2>/dev/null &&
			grep -qF "\\fBpromisectl $c" "$man/promisectl.1" ||
			missing="$missing $c"
	done
	if [ -n "$missing" ]; then
		fail "promisectl(1) does not document:$missing"
	else
		pass "promisectl(1) documents all $ncmds commands of --help"
	fi
fi

# Each sysexits code a program can return must be under EXIT STATUS.
check_codes() { # page, source files...
	local page=$1 code num exit_text
	shift
	exit_text=$(sed -n '/^EXIT STATUS/,/^[A-Z]/p' "$tmp/$page.txt")
	# shellcheck disable=SC2013 # codes are single words
	for code in $(grep -oh 'EX_[A-Z]*' "$@" | sort -u); do
		[ "$code" = EX_OK ] && continue
		num=$(printf '#include <sysexits.h>\n%s\n' "$code" |
			cpp -P 2>/dev/null | tail -1 | tr -d ' ')
		if ! printf '%s\n' "$exit_text" | grep -q "^ *$num ($code)"; then
			fail "$page: EXIT STATUS lacks $num ($code)"
		fi
	done
}
if [ -s "$tmp/promisectl.1.txt" ]; then
	check_codes promisectl.1 "$src"/src/cli/*.c
	pass "promisectl(1) EXIT STATUS checked against src/cli"
fi
if [ -s "$tmp/promised.8.txt" ]; then
	check_codes promised.8 "$src"/src/daemon/main.c
	pass "promised(8) EXIT STATUS checked against src/daemon/main.c"
	for w in SIGHUP SIGTERM /healthz /metrics PROMISED_CONFIG PROMISED_DB; do
		grep -q -- "$w" "$tmp/promised.8.txt" ||
			fail "promised(8) does not mention $w"
	done
fi

if [ "$fails" -gt 0 ]; then
	echo "$fails check(s) failed" >&2
	exit 1
fi
echo "all man page checks passed"
