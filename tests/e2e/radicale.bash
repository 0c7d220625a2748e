# Shared by tests/e2e/feed_radicale*.sh (sourced, not run on its own):
# starts a real Radicale (Debian package radicale) on 127.0.0.1 with a
# free port, auth none (any Basic user), storage under $TMP/radicale.
# Needs PY (a python3 with radicale), TMP and fail from the caller.

# start_radicale LOG_LEVEL: sets RPID and RPORT; fails the test when
# Radicale does not answer within 10 s.  The caller kills RPID.
start_radicale() {
	local level=$1
	RPORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
	mkdir -p "$TMP/radicale"
	cat >"$TMP/radicale/config" <<CONF
[server]
hosts = 127.0.0.1:$RPORT
[auth]
type = none
[rights]
type = owner_only
[storage]
filesystem_folder = $TMP/radicale/collections
[logging]
level = $level
mask_passwords = True
CONF
	"$PY" -m radicale --config "$TMP/radicale/config" >"$TMP/radicale/log" 2>&1 &
	RPID=$!
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$RPORT/" && return 0
		kill -0 "$RPID" 2>/dev/null ||
			fail "radicale exited: $(cat "$TMP/radicale/log")"
		sleep 0.1
	done
	fail "radicale did not start on port $RPORT: $(cat "$TMP/radicale/log")"
}
