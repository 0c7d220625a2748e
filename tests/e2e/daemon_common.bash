# Shared by tests/e2e/daemon_*.sh (sourced, not run on its own): a scratch
# folder with a config whose channel `mail` is a Maildir in it, starting and
# stopping the real daemon by PID, and reading the delivered messages.
# What the programs print is kept under $PROMISED_BUILD_DIR/test-output
# (keep_output.bash).  PROMISED_DAEMON_WRAPPER (say "valgrind -q ...") is
# put in front of the daemon's command line by start_daemon.

: "${PROMISED_BUILD_DIR:?set PROMISED_BUILD_DIR to the build folder}"
: "${PROMISED_SOURCE_DIR:?set PROMISED_SOURCE_DIR to the source folder}"

PD="$PROMISED_BUILD_DIR/promised"
PCTL="$PROMISED_BUILD_DIR/promisectl"
for bin in "$PD" "$PCTL"; do
	[ -x "$bin" ] || { echo "FAIL: $bin not built" >&2; exit 1; }
done
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 is not installed" >&2; exit 1; }
. "$(dirname "${BASH_SOURCE[0]}")/secrets.bash"
. "$(dirname "${BASH_SOURCE[0]}")/keep_output.bash"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/promised-daemon.XXXXXX")
CFG="$TMP/promised.yaml"
# The database gets a folder of its own: the daemon watches that folder,
# and files written next to it (logs, traces) would wake it for nothing.
DB="$TMP/state/promises.db"
mkdir "$TMP/state"
MAILDIR="$TMP/maildir"
LOG="$TMP/promised.log"
PID=
NCHECK=0

cleanup_common() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -9 "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	keep_collect "$TMP"
	if [ -n "${KEEP_TMP:-}" ]; then
		echo "scratch folder kept: $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup_common EXIT

# hours_always_open: the `hours:` of a site open around the clock, for a
# config written under `sites: ID:`.
hours_always_open() {
	local d
	echo "    hours:"
	for d in mon tue wed thu fri sat sun; do
		echo "      $d: [00:00-24:00]"
	done
}

# write_config [SAFETY_SWEEP]: a UTC site open around the clock, alice
# (manager carol) in team desk (lead carol), and the policy `fast` with
# steps seconds apart.  Steps and their instants relative to due:
#   reminder   -15s  owner
#   last-call  -10s  owner
#   lapse        0   owner, owner.manager
#   escalation  +4s  team.lead
write_config() {
	cat >"$CFG" <<EOF
database: state/promises.db
default_site: hq
default_policy: fast
sites:
  hq:
    timezone: UTC
$(hours_always_open)
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
      offset: -15s
      to: [owner]
      channels: [mail]
      hours: any
    - name: last-call
      offset: -10s
      to: [owner]
      channels: [mail]
      hours: any
    - name: lapse
      offset: 0
      to: [owner, owner.manager]
      channels: [mail]
      hours: any
    - name: escalation
      offset: +4s
      to: [team.lead]
      channels: [mail]
      hours: any
      until: close
daemon:
  safety_sweep: ${1:-0}
EOF
}

# A port on 127.0.0.1 that nothing listens on now, for a test's peer.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

fail() {
	echo "FAIL: $*" >&2
	echo "--- daemon log (last 40 lines):" >&2
	tail -n 40 "$LOG" >&2 2>/dev/null || true
	exit 1
}

check() {
	NCHECK=$((NCHECK + 1))
	echo "check $NCHECK: $*"
}

# pctl ARGS...: promisectl on the test config and database; its stdout
# and stderr pass through and are kept (keep_output.bash).
pctl() {
	local out=$TMP/pctl.$BASHPID.out err=$TMP/pctl.$BASHPID.err rc=0 args="$*"
	"$PCTL" --config "$CFG" --db "$DB" "$@" >"$out" 2>"$err" || rc=$?
	cat "$out"
	cat "$err" >&2
	KEEP_WHAT="promisectl ${args:0:200} (exit $rc)" \
		keep_append logs/promisectl.log "$out" "$err"
	rm -f "$out" "$err"
	return "$rc"
}

# iso T: the UTC instant T (Unix seconds) in ISO 8601.
iso() {
	date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ
}

# start_daemon: starts promised in the background and waits for its
# "ready" line; fails when it exits or does not get ready in 60 s.
start_daemon() {
	local mark i wrap=()
	mark=$(grep -c 'ready' "$LOG" 2>/dev/null || true)
	read -r -a wrap <<<"${PROMISED_DAEMON_WRAPPER:-}"
	"${wrap[@]}" "$PD" --config "$CFG" --db "$DB" --foreground --log-level debug \
		2>>"$LOG" &
	PID=$!
	for i in $(seq 600); do
		if ! kill -0 "$PID" 2>/dev/null; then
			fail "promised exited during start-up"
		fi
		if [ "$(grep -c 'ready' "$LOG" 2>/dev/null || true)" -gt "${mark:-0}" ]; then
			return 0
		fi
		sleep 0.1
	done
	fail "promised did not log 'ready' within 60 s"
}

# stop_daemon: SIGTERM, then expects exit 0 within 5 s.
stop_daemon() {
	local i rc
	kill -TERM "$PID"
	for i in $(seq 50); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$PID" 2>/dev/null; then
		fail "promised still running 5 s after SIGTERM"
	fi
	set +e
	wait "$PID"
	rc=$?
	set -e
	PID=
	[ "$rc" -eq 0 ] || fail "promised exited with $rc after SIGTERM, expected 0"
}

# add_promise TITLE DUE [ARGS...]: adds a promise owned by alice; prints
# its id.
add_promise() {
	local title=$1 due=$2
	shift 2
	pctl --json add --title "$title" --owner alice --due "$(iso "$due")" "$@" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

# messages: one line per delivered message:
#   <promise> <step> <recipient> <late:yes|no> <mtime> <message-id>
messages() {
	local f
	[ -d "$MAILDIR/new" ] || return 0
	for f in "$MAILDIR"/new/*; do
		[ -e "$f" ] || continue
		python3 - "$f" "$(stat -c %.3Y "$f")" <<'PY'
import email, sys
with open(sys.argv[1], "rb") as fp:
    m = email.message_from_binary_file(fp)
print(m["X-Promised-Promise"], m["X-Promised-Step"], m["X-Promised-Recipient"],
      "yes" if m["X-Promised-Late"] == "yes" else "no", sys.argv[2],
      m["Message-ID"])
PY
	done
}

# wait_messages N SECONDS: waits until at least N messages were delivered.
wait_messages() {
	local i
	for i in $(seq $(($2 * 10))); do
		[ "$(messages | wc -l)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# events_of ID KIND: how many events of that kind the promise has.
events_of() {
	pctl show --json "$1" |
		python3 -c 'import json,sys; j=json.load(sys.stdin); print(sum(1 for e in j["events"] if e["kind"] == sys.argv[1]))' "$2"
}
