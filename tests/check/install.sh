#!/usr/bin/env bash
# Installs the build into a scratch prefix with `cmake --install` and checks
# that everything lands where GNUInstallDirs puts it: the programs, the
# systemd unit, the example config and the templates, with nothing written
# outside the prefix. The installed daemon must accept the installed example
# config and reject a broken one.
#
# Env: PROMISED_BUILD_DIR (build folder), PROMISED_SOURCE_DIR (source tree).
set -u

build=${PROMISED_BUILD_DIR:?PROMISED_BUILD_DIR is not set}
src=${PROMISED_SOURCE_DIR:?PROMISED_SOURCE_DIR is not set}
fails=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }

if ! command -v cmake >/dev/null 2>&1; then
	echo "FAIL: cmake is not installed" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/promised-install.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
# DESTDIR as well as --prefix: a rule with an absolute DESTINATION then
# still lands in the scratch folder (where the check below finds it)
# instead of the real system.
destdir=$tmp/root
prefix=$destdir$tmp/prefix

if ! DESTDIR=$destdir cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1; then
	echo "FAIL: cmake --install failed:" >&2
	cat "$tmp/install.log" >&2
	exit 1
fi
pass "cmake --install --prefix $tmp/prefix (DESTDIR=$destdir)"

# Every file cmake installed must be inside the prefix: an absolute
# DESTINATION would ignore --prefix.
while IFS= read -r f; do
	case "$f" in
	"$prefix"/*) ;;
	*) fail "installed outside the prefix: $f" ;;
	esac
done < <(sed -n 's/^-- \(Installing\|Up-to-date\): //p' "$tmp/install.log")

check_exec() {
	if [ -f "$prefix/$1" ] && [ -x "$prefix/$1" ]; then
		pass "$1 installed and executable"
	else
		fail "$1 missing or not executable"
	fi
}
check_same() { # installed-path reference-file
	if [ ! -f "$prefix/$1" ]; then
		fail "$1 missing"
	elif ! cmp -s "$prefix/$1" "$2"; then
		fail "$1 differs from $2"
	else
		pass "$1 installed"
	fi
}

check_exec bin/promisectl
check_exec sbin/promised
check_same etc/promised/promised.yaml "$src/config/promised.yaml"

# The unit is the one generated at configure time, with every @VAR@
# substituted and paths that follow the sbin/etc layout.
unit=lib/systemd/system/promised.service
check_same "$unit" "$build/systemd/promised.service"
if [ -f "$prefix/$unit" ]; then
	if grep -q '@[A-Za-z_]*@' "$prefix/$unit"; then
		fail "$unit has unsubstituted @VAR@ placeholders"
	fi
	if grep -Eq '^ExecStart=/([^ ]*/)?sbin/promised --foreground --config /([^ ]*/)?etc/promised/promised\.yaml$' \
		"$prefix/$unit"; then
		pass "$unit runs <sbindir>/promised on <sysconfdir>/promised/promised.yaml"
	else
		fail "$unit ExecStart does not match the install layout: $(grep '^ExecStart=' "$prefix/$unit")"
	fi
fi

# Templates: the folder exists, and every file of the source tree is there.
if [ -d "$src/config/templates" ]; then
	if [ -d "$prefix/share/promised/templates" ]; then
		pass "share/promised/templates installed"
	else
		fail "share/promised/templates missing"
	fi
	while IFS= read -r -d '' t; do
		rel=${t#"$src/config/templates/"}
		check_same "share/promised/templates/$rel" "$t"
	done < <(find "$src/config/templates" -type f -print0)
fi

# The installed daemon accepts the installed example config. Run from the
# scratch folder with a scratch HOME so nothing outside it is touched.
daemon=$prefix/sbin/promised
yaml=$prefix/etc/promised/promised.yaml
if [ -x "$daemon" ] && [ -f "$yaml" ]; then
	out=$(cd "$tmp" && HOME=$tmp timeout 20 "$daemon" --check-config --config "$yaml" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -qiw 'ok'; then
		pass "promised --check-config accepts the example config"
	else
		fail "promised --check-config on the example config (exit $rc): $out"
	fi

	# A config that is not even YAML must be refused, so the check above
	# means something.
	printf 'policies: [\n  unterminated: {\n' >"$tmp/broken.yaml"
	out=$(cd "$tmp" && HOME=$tmp timeout 20 "$daemon" --check-config --config "$tmp/broken.yaml" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ]; then
		pass "promised --check-config rejects a broken config (exit $rc)"
	else
		fail "promised --check-config accepted a broken config: $out"
	fi
fi

if [ -x "$prefix/bin/promisectl" ]; then
	if "$prefix/bin/promisectl" --help >"$tmp/help.out" 2>&1 && grep -q 'promisectl' "$tmp/help.out"; then
		pass "installed promisectl runs"
	else
		fail "installed promisectl --help: $(cat "$tmp/help.out")"
	fi
fi

if [ "$fails" -ne 0 ]; then
	echo "$fails check(s) failed" >&2
	exit 1
fi
echo "install: all checks passed"
