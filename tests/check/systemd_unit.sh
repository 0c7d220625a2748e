#!/usr/bin/env bash
# Checks the generated systemd unit: `systemd-analyze verify` must accept it
# (with ExecStart pointing at the freshly built daemon, since verify insists
# that the binaries exist) and `systemd-analyze security --offline=yes` must
# rate its exposure at 1.5 or less. The settings that the sandbox must not
# take away (outgoing network, the time zone database) and the ones the
# service relies on (notify, reload, watchdog, state, credentials) are
# checked by name too.
#
# Env: PROMISED_BUILD_DIR (build folder), PROMISED_SOURCE_DIR (source tree).
set -u

build=${PROMISED_BUILD_DIR:?PROMISED_BUILD_DIR is not set}
max_exposure=1.5
unit=$build/systemd/promised.service
fails=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "FAIL: systemd-analyze is not installed; the unit cannot be checked" >&2
	exit 1
fi
if [ ! -f "$unit" ]; then
	echo "FAIL: $unit was not generated (configure_file from systemd/promised.service.in)" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/promised-unit.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

# Whole-line settings, comments excluded.
has() { grep -Eq "^[[:space:]]*$1" "$unit"; }

# --- settings the service depends on -------------------------------------
has 'Type=notify$' && pass "Type=notify" || fail "Type=notify missing"
has 'NotifyAccess=main$' && pass "NotifyAccess=main" || fail "NotifyAccess=main missing"
has 'Restart=on-failure$' && pass "Restart=on-failure" || fail "Restart=on-failure missing"
has 'WatchdogSec=[1-9]' && pass "WatchdogSec set" || fail "WatchdogSec missing"
has 'StateDirectory=promised$' && pass "StateDirectory" || fail "StateDirectory=promised missing"
has 'ConfigurationDirectory=promised$' && pass "ConfigurationDirectory" || fail "ConfigurationDirectory=promised missing"
has 'LoadCredential=[a-z-]+:/' && pass "LoadCredential" || fail "no LoadCredential= for secrets"
# Every LoadCredential= needs a SetCredential= fallback, or a missing secret
# file would stop a fresh install from starting.
while IFS= read -r id; do
	has "SetCredential=$id:" || fail "LoadCredential=$id has no SetCredential=$id: fallback"
done < <(sed -n 's/^[[:space:]]*LoadCredential=\([^:]*\):.*/\1/p' "$unit")
has 'ExecStart=/[^ ]*/promised .*--foreground' && pass "ExecStart --foreground" ||
	fail "ExecStart does not run promised --foreground"

# ExecReload: the config check comes first, the HUP second.
reload=$(grep -E '^[[:space:]]*ExecReload=' "$unit")
check_line=$(grep -nE '^[[:space:]]*ExecReload=.*promised --check-config' "$unit" | head -n1 | cut -d: -f1)
hup_line=$(grep -nE '^[[:space:]]*ExecReload=.*kill -HUP \$MAINPID' "$unit" | head -n1 | cut -d: -f1)
if [ -n "$check_line" ] && [ -n "$hup_line" ] && [ "$check_line" -lt "$hup_line" ]; then
	pass "ExecReload checks the config, then sends HUP"
else
	fail "ExecReload must run --check-config before kill -HUP \$MAINPID; got: $reload"
fi

# --- what the sandbox must leave alone ------------------------------------
families=$(sed -n 's/^[[:space:]]*RestrictAddressFamilies=//p' "$unit" | tr '\n' ' ')
for af in AF_UNIX AF_INET AF_INET6; do
	case " $families " in
	*" $af "*) pass "$af allowed" ;;
	*) fail "RestrictAddressFamilies lacks $af (got: $families)" ;;
	esac
done
case "$families" in
*'~'*) fail "RestrictAddressFamilies is a deny list" ;;
esac
has 'PrivateNetwork=(yes|true|1|on)' && fail "PrivateNetwork= would cut outgoing network"
has 'IPAddressDeny=' && fail "IPAddressDeny= would block outgoing connections to arbitrary hosts"
# /usr/share/zoneinfo must stay readable: nothing may hide or replace it.
if grep -E '^[[:space:]]*(InaccessiblePaths|TemporaryFileSystem|TemporaryFilesystem)=' "$unit" |
	grep -Eq '(^|[ =-])/usr(/share(/zoneinfo)?)?/?( |$)'; then
	fail "/usr/share/zoneinfo is made inaccessible"
else
	pass "zoneinfo stays readable"
fi

# --- systemd-analyze verify -----------------------------------------------
# verify checks that every Exec binary exists, so a copy of the unit points
# at the daemon in the build folder instead of the install location.
daemon=$build/promised
if [ ! -x "$daemon" ]; then
	fail "$daemon was not built; verify needs it"
else
	sed -E "s#/[^ ]*/promised( |\$)#$daemon\\1#g" "$unit" >"$tmp/promised.service"
	if grep -q "$daemon --foreground" "$tmp/promised.service"; then
		pass "unit copy points at $daemon"
	else
		fail "could not rewrite ExecStart to $daemon"
	fi
	out=$(systemd-analyze verify --man=no --generators=no --recursive-errors=no \
		"$tmp/promised.service" 2>&1)
	rc=$?
	# Any message about our unit is a problem (unknown keys and bad values
	# are only warnings but still mean the unit is not what it claims).
	ours=$(printf '%s\n' "$out" | grep -F 'promised' || true)
	if [ "$rc" -ne 0 ] || [ -n "$ours" ]; then
		fail "systemd-analyze verify (exit $rc):"
		printf '%s\n' "$out" >&2
	else
		pass "systemd-analyze verify"
	fi
fi

# --- systemd-analyze security ---------------------------------------------
out=$(systemd-analyze security --offline=yes --no-pager "$unit" 2>&1)
rc=$?
level=$(printf '%s\n' "$out" |
	sed -n 's/.*Overall exposure level for promised\.service: \([0-9][0-9]*\.[0-9]*\).*/\1/p' |
	head -n1)
if [ -z "$level" ]; then
	fail "no overall exposure level in systemd-analyze security output (exit $rc):"
	printf '%s\n' "$out" >&2
elif awk -v l="$level" -v m="$max_exposure" 'BEGIN { exit !(l + 0 <= m + 0) }'; then
	pass "exposure $level <= $max_exposure"
else
	fail "exposure $level > $max_exposure; the weak points:"
	printf '%s\n' "$out" | grep '✗' >&2
fi
if printf '%s\n' "$out" | grep -q 'promised.service:[0-9]*:'; then
	fail "systemd-analyze security complained about unit lines:"
	printf '%s\n' "$out" | grep 'promised.service:[0-9]*:' >&2
fi

if [ "$fails" -ne 0 ]; then
	echo "$fails check(s) failed" >&2
	exit 1
fi
echo "systemd unit: all checks passed"
