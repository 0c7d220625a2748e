# Shared by tests/e2e/delivery_*.sh (sourced, not run on its own): the
# daemon helpers of daemon_common.bash, a config whose channels the test
# supplies, and test peers (tests/tools/*.py) started on 127.0.0.1 and
# killed by PID when the test ends.

. "$(dirname "${BASH_SOURCE[0]}")/daemon_common.bash"

TOOLS="$PROMISED_SOURCE_DIR/tests/tools"
# The peers need Debian's python3 modules (aiosmtpd); another python3 may
# come first in PATH.
PEER_PY=/usr/bin/python3
[ -x "$PEER_PY" ] || PEER_PY=python3
PEER_PIDS=()

stop_peers() {
	local p
	for p in "${PEER_PIDS[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		fi
	done
	PEER_PIDS=()
}
trap 'stop_peers; cleanup_common' EXIT

# start_peer NAME ARGS...: starts a peer (python3 ARGS) in the background;
# it prints its port as the first line of stdout.  Sets PEER_PID and
# PEER_PORT; fails the test when the peer exits or prints no port in 15 s.
start_peer() {
	local name=$1 out="$TMP/$1.out" i
	shift
	: >"$out"
	"$PEER_PY" "$@" >"$out" 2>"$TMP/$name.err" &
	PEER_PID=$!
	PEER_PIDS+=("$PEER_PID")
	for i in $(seq 150); do
		PEER_PORT=$(head -n 1 "$out" 2>/dev/null || true)
		[[ "$PEER_PORT" =~ ^[0-9]+$ ]] && return 0
		kill -0 "$PEER_PID" 2>/dev/null ||
			fail "peer $name exited at start: $(cat "$TMP/$name.err")"
		sleep 0.1
	done
	fail "peer $name printed no port within 15 s: $(cat "$TMP/$name.err")"
}

# kill_peer PID: stops one peer and waits for it.
kill_peer() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# write_delivery_config CHANNELS_YAML STEP_CHANNELS: one site open around
# the clock, alice (email and phone; manager carol), one policy `now`
# whose single step fires at due to the owner through STEP_CHANNELS
# (a YAML list such as "[hook, mail]").  CHANNELS_YAML is the indented
# body of `channels:`.
write_delivery_config() {
	cat >"$CFG" <<EOF
database: state/promises.db
default_site: hq
default_policy: now
templates:
  dir: $PROMISED_SOURCE_DIR/config/templates
sites:
  hq:
    timezone: UTC
$(hours_always_open)
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
    phone: "+32470123456"
    locale: en
    team: desk
    manager: carol
teams:
  desk:
    lead: carol
    site: hq
channels:
$1
policies:
  now:
    - name: notice
      offset: 0
      to: [owner]
      channels: $2
      hours: any
      until: close
EOF
	"$PD" --check-config --config "$CFG" >"$TMP/check.out" 2>&1 ||
		fail "the test config does not validate: $(cat "$TMP/check.out")"
}

# notif PROMISE COLUMN [CHANNEL_INDEX]: a column of the promise's
# notification on that channel index (0 by default).
notif() {
	sqlite3 "$DB" "SELECT $2 FROM notifications WHERE promise_id = $1
		AND channel_index = ${3:-0}" 2>/dev/null || true
}

# wait_notif PROMISE STATE SECONDS [CHANNEL_INDEX]
wait_notif() {
	local i
	for i in $(seq $(($3 * 10))); do
		[ "$(notif "$1" state "${4:-0}")" = "$2" ] && return 0
		sleep 0.1
	done
	fail "promise $1: notification (channel index ${4:-0}) is" \
		"'$(notif "$1" state "${4:-0}")', expected $2 within $3 s"
}
