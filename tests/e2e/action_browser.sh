#!/bin/bash
# action_browser: a one-click link in a real browser.  Headless Chromium
# (Debian's package, driven by playwright-core) opens the confirmation page
# at phone width, presses its one button and lands on the done page; both
# screenshots are kept in $PROMISED_BUILD_DIR/artifacts/.  The promise must
# then be closed (kept) by "link:alice", and a replayed POST must answer
# "Already done" without closing anything twice.
#
# The pages come from the real daemon when it serves them (an `http:`
# section in its config; the link is taken from the Maildir message), and
# otherwise from tests/tools/action_server.c, built here against
# libpromised_core.a.  ACTION_E2E_MODE=daemon or tool forces one.
set -euo pipefail

: "${PROMISED_BUILD_DIR:?set PROMISED_BUILD_DIR to the build folder}"
: "${PROMISED_SOURCE_DIR:?set PROMISED_SOURCE_DIR to the source folder}"

fail() { echo "FAIL: $*" >&2; [ -f "${LOG:-}" ] && tail -n 40 "$LOG" >&2; exit 1; }

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || fail "$CHROMIUM missing (apt-get install chromium)"
command -v node >/dev/null || fail "node missing (apt-get install nodejs npm)"
command -v python3 >/dev/null || fail "python3 missing"
command -v curl >/dev/null || fail "curl missing"

ARTIFACTS="$PROMISED_BUILD_DIR/artifacts"
NODE_DIR="$PROMISED_BUILD_DIR/node"
mkdir -p "$ARTIFACTS"
rm -f "$ARTIFACTS/action-confirm.png" "$ARTIFACTS/action-done.png"

# playwright-core from npm into the build folder, never a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ ! -d "$NODE_DIR/node_modules/playwright-core" ]; then
	command -v npm >/dev/null || fail "npm missing (apt-get install npm)"
	npm install --no-save --no-audit --no-fund --prefix "$NODE_DIR" \
		playwright-core >/dev/null || fail "npm install playwright-core"
fi
export NODE_PATH="$NODE_DIR/node_modules"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/promised-action.XXXXXX")
CFG="$TMP/promised.yaml"
DB="$TMP/state/promises.db"
LOG="$TMP/server.log"
MAILDIR="$TMP/maildir"
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

# A signing key, 32 random bytes as text.
head -c 32 /dev/urandom | base64 >"$TMP/action.key"
chmod 600 "$TMP/action.key"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

write_config() {
	cat >"$CFG" <<YAML
database: state/promises.db
default_site: hq
default_policy: fast
sites:
  hq:
    timezone: UTC
    hours:
      mon: [00:00-24:00]
      tue: [00:00-24:00]
      wed: [00:00-24:00]
      thu: [00:00-24:00]
      fri: [00:00-24:00]
      sat: [00:00-24:00]
      sun: [00:00-24:00]
staff:
  - id: carol
    name: Carol Lead
    email: carol@example.com
    locale: en
    team: desk
  - id: alice
    name: Alice Desk
    email: alice@example.com
    locale: en
    team: desk
    manager: carol
teams:
  desk:
    lead: carol
    site: hq
channels:
  mail:
    type: maildir
    path: maildir
policies:
  fast:
    - name: reminder
      offset: -10s
      to: [owner]
      channels: [mail]
      hours: any
YAML
}

# The daemon's http section (its shape is the daemon's config contract).
http_section() {
	cat >>"$CFG" <<YAML
http:
  listen: 127.0.0.1:$PORT
  public_url: http://127.0.0.1:$PORT
  signing_keys:
    - kid: k1
      secret_file: action.key
YAML
}

MODE=${ACTION_E2E_MODE:-auto}
write_config
if [ "$MODE" = auto ]; then
	MODE=tool
	if [ -x "$PROMISED_BUILD_DIR/promised" ] && [ -x "$PROMISED_BUILD_DIR/promisectl" ]; then
		cp "$CFG" "$TMP/plain.yaml"
		http_section
		if "$PROMISED_BUILD_DIR/promised" --check-config "$CFG" >/dev/null 2>&1; then
			MODE=daemon
		fi
		cp "$TMP/plain.yaml" "$CFG"
	fi
fi
echo "mode: $MODE"

# start_tool: the stand-in server; sets LINK and PROMISE.
start_tool() {
	local cflags="" lib="$PROMISED_BUILD_DIR/libpromised_core.a"
	[ -f "$lib" ] || fail "$lib not built"
	if grep -q '^PROMISED_SANITIZE:BOOL=ON' "$PROMISED_BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
		cflags="-fsanitize=address,undefined"
	fi
	# shellcheck disable=SC2046
	cc -std=c11 -D_GNU_SOURCE $cflags -I"$PROMISED_SOURCE_DIR/include" \
		"$PROMISED_SOURCE_DIR/tests/tools/action_server.c" "$lib" \
		$(pkg-config --libs sqlite3 yaml-0.1 libical libcurl libsystemd \
			libcrypto libmicrohttpd jansson) -lm \
		-o "$TMP/action_server" || fail "building action_server"
	"$TMP/action_server" "$CFG" "$DB" "$TMP/action.key" "done" alice \
		>"$TMP/server.out" 2>"$LOG" &
	SPID=$!
	for _ in $(seq 100); do
		grep -q '^LINK ' "$TMP/server.out" 2>/dev/null && break
		kill -0 "$SPID" 2>/dev/null || fail "action_server exited"
		sleep 0.1
	done
	LINK=$(sed -n 's/^LINK //p' "$TMP/server.out")
	PROMISE=$(sed -n 's/^PROMISE //p' "$TMP/server.out")
	[ -n "$LINK" ] || fail "action_server printed no link"
}

# start_daemon_mode: the real daemon; the "done" link comes from the
# reminder in the Maildir.  Sets LINK and PROMISE.
start_daemon_mode() {
	local f l due
	http_section
	"$PROMISED_BUILD_DIR/promised" --config "$CFG" --db "$DB" --foreground \
		--log-level debug 2>"$LOG" &
	SPID=$!
	for _ in $(seq 300); do
		grep -q ready "$LOG" 2>/dev/null && break
		kill -0 "$SPID" 2>/dev/null || fail "promised exited"
		sleep 0.1
	done
	due=$(date -u -d "@$(($(date +%s) + 12))" +%Y-%m-%dT%H:%M:%SZ)
	PROMISE=$("$PROMISED_BUILD_DIR/promisectl" --config "$CFG" --db "$DB" \
		--json add --title "Call back about the winter tyres quote" \
		--owner alice --customer "Mevr. Janssens" --due "$due" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	for _ in $(seq 300); do
		ls "$MAILDIR"/new/* >/dev/null 2>&1 && break
		sleep 0.1
	done
	LINK=
	for f in "$MAILDIR"/new/*; do
		[ -e "$f" ] || continue
		for l in $(python3 - "$f" <<'PY'
import email, re, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
for part in m.walk():
    if part.get_content_type() == "text/plain":
        text = part.get_payload(decode=True).decode("utf-8", "replace")
        for u in re.findall(r"https?://[^\s<>\"]+/a/[A-Za-z0-9._-]+", text):
            print(u)
PY
		); do
			if curl -fsS "$l" | grep -q 'Mark this promise as done?'; then
				LINK=$l
				break 2
			fi
		done
	done
	[ -n "$LINK" ] || fail "no 'done' link in the Maildir message"
}

case "$MODE" in
tool) start_tool ;;
daemon) start_daemon_mode ;;
*) fail "ACTION_E2E_MODE must be daemon, tool or auto" ;;
esac
echo "link: $LINK"

# A GET changes nothing (what a mail scanner does).
curl -fsS -o /dev/null "$LINK" || fail "GET $LINK"
state() {
	python3 - "$DB" "$PROMISE" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(*db.execute("SELECT state, outcome, coalesce(closed_by, '-') FROM promises"
                  " WHERE id = ?", (int(sys.argv[2]),)).fetchone())
PY
}
[ "$(state)" = "open none -" ] || fail "a GET changed the promise: $(state)"

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
case "$(state)" in
"closed kept link:alice") ;;
*) fail "after the click: $(state), expected closed kept link:alice" ;;
esac

# A replayed POST: 200, "Already done", nothing closes twice.
body=$(curl -sS -X POST -d '' -w '\n%{http_code}' "$LINK")
[ "$(tail -n1 <<<"$body")" = 200 ] || fail "replay: status $(tail -n1 <<<"$body")"
grep -q 'Already done' <<<"$body" || fail "replay does not say 'Already done'"
n=$(python3 - "$DB" "$PROMISE" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("SELECT count(*) FROM events WHERE promise_id = ? AND kind = 'closed'",
                 (int(sys.argv[2]),)).fetchone()[0])
PY
)
[ "$n" = 1 ] || fail "$n closed events, expected 1"
# The server stops cleanly on SIGTERM (in a sanitizer build: no leaks).
kill -TERM "$SPID"
set +e
wait "$SPID"
rc=$?
set -e
SPID=
[ "$rc" = 0 ] || fail "the server exited with $rc after SIGTERM"
echo "ok: screenshots in $ARTIFACTS"
