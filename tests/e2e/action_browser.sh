#!/bin/bash
# action_browser: a one-click link in a real browser, served by the real
# daemon.  The "done" link is taken from the reminder in the Maildir;
# headless Chromium (Debian's package, driven by playwright-core) opens
# the confirmation page at phone width, presses its one button and lands
# on the done page; both screenshots are kept in
# $PROMISED_BUILD_DIR/artifacts/.  The promise must then be closed (kept)
# by "link:alice", and a replayed POST must answer "Already done" without
# closing anything twice.
set -euo pipefail
. "$(dirname "$0")/http_common.bash"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || fail "$CHROMIUM missing (apt-get install chromium)"
command -v node >/dev/null || fail "node missing (apt-get install nodejs npm)"

ARTIFACTS="$PROMISED_BUILD_DIR/artifacts"
NODE_DIR="$PROMISED_BUILD_DIR/node"
mkdir -p "$ARTIFACTS"
rm -f "$ARTIFACTS/action-confirm.png" "$ARTIFACTS/action-done.png"

need_playwright "$NODE_DIR"
export NODE_PATH="$NODE_DIR/node_modules"

write_http_config
start_http_daemon

check "the reminder in the Maildir carries a 'done' link"
# Due in 12 s: the policy's reminder (due - 10s) comes at once.
t0=$(date +%s)
PROMISE=$(add_promise "Call back about the winter tyres quote" $((t0 + 12)) \
	--customer "Mevr. Janssens")
LINK=$(wait_link "$PROMISE" reminder done 15)
echo "  link: $LINK"

check "a GET (what a mail scanner does) changes nothing"
req GET "$LINK"
expect_status 200 "GET $LINK"
[ "$(state_of "$PROMISE")" = "open none -" ] ||
	fail "a GET changed the promise: $(state_of "$PROMISE")"

check "Chromium at phone width: confirmation page, button, done page"
node "$PROMISED_SOURCE_DIR/tests/tools/click.mjs" "$LINK" "$ARTIFACTS" \
	"Marked as done." || fail "browser check"
[ -s "$ARTIFACTS/action-confirm.png" ] || fail "no confirmation screenshot"
[ -s "$ARTIFACTS/action-done.png" ] || fail "no done screenshot"
python3 - "$ARTIFACTS"/action-confirm.png "$ARTIFACTS"/action-done.png <<'PY' || fail "screenshots are not phone-sized PNGs"
import struct, sys
for path in sys.argv[1:]:
    head = open(path, "rb").read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    w, h = struct.unpack(">II", head[16:24])
    assert w == 780 and h >= 1688, (path, w, h)   # 390x844 at 2x
PY
[ "$(state_of "$PROMISE")" = "closed kept link:alice" ] ||
	fail "after the click: $(state_of "$PROMISE"), expected closed kept link:alice"

check "a replayed POST: 200, 'Already done', nothing closes twice"
req POST "$LINK" -d ''
expect_status 200 "replay"
grep -q 'Already done' "$TMP/resp.body" || fail "replay does not say 'Already done'"
[ "$(events_of "$PROMISE" closed)" = 1 ] ||
	fail "$(events_of "$PROMISE" closed) closed events, expected 1"

check "the daemon stops cleanly on SIGTERM"
stop_daemon
echo "ok: screenshots in $ARTIFACTS"
