#!/usr/bin/env bash
# The README walks an administrator through a first real configuration in
# YAML pieces. Put together in order, they must make a config that the
# daemon accepts, with every part the walk-through promises: a site with
# hours and holidays, staff, a policy, an SMTP relay, an SMS webhook, a
# calendar feed. A piece that goes stale (a renamed key, a bad indent)
# fails here instead of on an administrator's server.
#
# Env: PROMISED_BUILD_DIR (build folder), PROMISED_SOURCE_DIR (source tree).
set -u

build=${PROMISED_BUILD_DIR:?PROMISED_BUILD_DIR is not set}
src=${PROMISED_SOURCE_DIR:?PROMISED_SOURCE_DIR is not set}
fails=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }

tmp=$(mktemp -d /tmp/promised-readme.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

# The ```yaml blocks between the walk-through's heading and the next one.
awk '
	/^## A first real configuration/ { on = 1; next }
	on && /^## / { on = 0 }
	on && /^```yaml$/ { inblock = 1; n++; next }
	on && inblock && /^```$/ { inblock = 0; next }
	on && inblock { print }
	END { print "# blocks: " n > "/dev/stderr" }
' "$src/README.md" >"$tmp/promised.yaml" 2>"$tmp/blocks"
blocks=$(sed -n 's/^# blocks: //p' "$tmp/blocks")
if [ "${blocks:-0}" -lt 6 ]; then
	fail "README: the walk-through has ${blocks:-0} yaml blocks, expected at least 6"
fi

# Each part the walk-through names must be there.
for want in '^sites:' '^    timezone:' '^    hours:' '^    holidays:' \
	'^staff:' '^policies:' '^channels:' '^    type: smtp' \
	'^    type: webhook' '^feeds:' '^http:'; do
	grep -q "$want" "$tmp/promised.yaml" || fail "README config lacks $want"
done

# The secrets the walk-through creates, as the unit would hand them over.
mkdir -p "$tmp/credentials"
for name in smtp-password webhook-token link-signing-key board-token; do
	head -c 24 /dev/urandom | base64 >"$tmp/credentials/$name"
done

out=$(CREDENTIALS_DIRECTORY=$tmp/credentials \
	"$build/promised" --check-config --config "$tmp/promised.yaml" 2>&1)
rc=$?
if [ "$rc" -eq 0 ]; then
	pass "promised --check-config accepts the README's configuration"
else
	fail "promised --check-config refused the README's configuration (exit $rc):"
	echo "$out" >&2
	nl -ba "$tmp/promised.yaml" >&2
fi

# The same file without its secrets must be refused for the http section
# (its files are read at load time), which shows the check reads them.
if CREDENTIALS_DIRECTORY=$tmp/empty "$build/promised" --check-config \
	--config "$tmp/promised.yaml" >/dev/null 2>&1; then
	fail "the README's configuration passed without its board token and signing key"
else
	pass "without its secrets the configuration is refused"
fi

[ "$fails" -eq 0 ] || exit 1
