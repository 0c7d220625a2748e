#!/bin/bash
# board_browser: the live board in a real browser.  Headless Chromium
# (Debian's package, driven by playwright-core) opens the board with its
# token link at phone (390x844) and wall-screen (1920x1080) size, follows a
# promise to its timeline, and keeps the screenshots in
# $PROMISED_BUILD_DIR/artifacts/ (board-phone.png, board-desktop.png,
# board-desktop-dark.png (prefers-color-scheme: dark),
# board-timeline-phone.png).  It fails on any console error, page error or
# request outside the server, and checks the layout (four columns side by
# side on the wall, stacked on the phone).  First it proves that a console
# error is noticed at all: a page that logs one on purpose must fail.
#
# The board is served by tests/tools/board_server.c, built here against
# libpromised_core.a, over a store seeded with promises around now.
set -euo pipefail

: "${PROMISED_BUILD_DIR:?set PROMISED_BUILD_DIR to the build folder}"
: "${PROMISED_SOURCE_DIR:?set PROMISED_SOURCE_DIR to the source folder}"

fail() { echo "FAIL: $*" >&2; [ -f "${LOG:-}" ] && tail -n 40 "$LOG" >&2; exit 1; }

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || fail "$CHROMIUM missing (apt-get install chromium)"
command -v node >/dev/null || fail "node missing (apt-get install nodejs npm)"
command -v curl >/dev/null || fail "curl missing"

ARTIFACTS="$PROMISED_BUILD_DIR/artifacts"
NODE_DIR="$PROMISED_BUILD_DIR/node"
mkdir -p "$ARTIFACTS"
rm -f "$ARTIFACTS"/board-*.png

# playwright-core from npm into the build folder, never a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ ! -d "$NODE_DIR/node_modules/playwright-core" ]; then
	command -v npm >/dev/null || fail "npm missing (apt-get install npm)"
	npm install --no-save --no-audit --no-fund --prefix "$NODE_DIR" \
		playwright-core >/dev/null || fail "npm install playwright-core"
fi
# The tool loads it through createRequire, which honours NODE_PATH.
export NODE_PATH="$NODE_DIR/node_modules"
SHOT="$PROMISED_SOURCE_DIR/tests/tools/board_shot.mjs"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/promised-board.XXXXXX")
CFG="$TMP/promised.yaml"
DB="$TMP/state/promises.db"
LOG="$TMP/server.log"
SPID=
mkdir "$TMP/state"
cleanup() {
	if [ -n "$SPID" ] && kill -0 "$SPID" 2>/dev/null; then
		kill -TERM "$SPID" 2>/dev/null || true
		wait "$SPID" 2>/dev/null || true
	fi
	if [ -n "${KEEP_TMP:-}" ]; then echo "kept: $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

cat >"$CFG" <<'YAML'
database: state/promises.db
default_site: ghent
sites:
  ghent:
    timezone: Europe/Brussels
    hours:
      mon: [08:00-18:00]
      tue: [08:00-18:00]
      wed: [08:00-18:00]
      thu: [08:00-18:00]
      fri: [08:00-18:00]
      sat: closed
      sun: closed
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
    locale: en
    team: desk
  - id: alice
    name: Alice Adams
    email: alice@example.com
    locale: en
    team: desk
    manager: carol
  - id: bob
    name: Bob Brown
    email: bob@example.com
    locale: en
    team: desk
    manager: carol
  - id: dave
    name: Dave Diaz
    email: dave@example.com
    locale: en
    team: us
teams:
  desk:
    lead: carol
    site: ghent
  us:
    lead: dave
    site: nyc
YAML

TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

lib="$PROMISED_BUILD_DIR/libpromised_core.a"
[ -f "$lib" ] || fail "$lib not built"
cflags=""
if grep -q '^PROMISED_SANITIZE:BOOL=ON' "$PROMISED_BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
	cflags="-fsanitize=address,undefined"
fi
# shellcheck disable=SC2046,SC2086
cc -std=c11 -D_GNU_SOURCE $cflags -I"$PROMISED_SOURCE_DIR/include" \
	"$PROMISED_SOURCE_DIR/tests/tools/board_server.c" "$lib" \
	$(pkg-config --libs sqlite3 yaml-0.1 libical libcurl libsystemd \
		libcrypto libmicrohttpd jansson) -lm \
	-o "$TMP/board_server" || fail "building board_server"

(cd "$TMP" && exec "$TMP/board_server" "$CFG" "$DB" "$TOKEN" --seed --broken) \
	>"$TMP/server.out" 2>"$LOG" &
SPID=$!
for _ in $(seq 100); do
	grep -q '^PORT ' "$TMP/server.out" 2>/dev/null && break
	kill -0 "$SPID" 2>/dev/null || fail "board_server exited"
	sleep 0.1
done
PORT=$(sed -n 's/^PORT //p' "$TMP/server.out")
[ -n "$PORT" ] || fail "board_server printed no port"
BASE="http://127.0.0.1:$PORT"

# Without the token: refused, and nothing of the board shows.
code=$(curl -s -o "$TMP/refused.html" -w '%{http_code}' "$BASE/")
[ "$code" = 403 ] || fail "GET / without a token answered $code, not 403"
if grep -q 'winter tyres' "$TMP/refused.html"; then fail "the refusal shows promises"; fi

# The detector must notice a console error: a page that logs one on
# purpose has to fail, naming it.
if node "$SHOT" "$BASE/selftest-broken" "$TMP" selftest >"$TMP/selftest.out" 2>&1; then
	cat "$TMP/selftest.out" >&2
	fail "a page with a deliberate console error passed"
fi
grep -q 'deliberate console error' "$TMP/selftest.out" || {
	cat "$TMP/selftest.out" >&2
	fail "the deliberate console error was not reported"
}
echo "ok: a deliberate console error is caught"

# The board itself: no console error, screenshots at both sizes.
node "$SHOT" "$BASE/?token=$TOKEN" "$ARTIFACTS" board || fail "board_shot failed"
for f in board-phone.png board-desktop.png board-desktop-dark.png board-timeline-phone.png; do
	[ -s "$ARTIFACTS/$f" ] || fail "no $ARTIFACTS/$f"
done
kill -0 "$SPID" 2>/dev/null || fail "board_server died"
echo "ok: screenshots in $ARTIFACTS"
