#!/bin/bash
# digest_smtp: the weekly digest reaches a real SMTP server
# (tests/tools/smtp_server.py, aiosmtpd, on 127.0.0.1) once per period —
# also across a restart at the very moment it is due, a crash right after
# it, a start later in the week, and downtime over the instant.  The
# daemon's clock is set with faketime; the site (Europe/Brussels) sends
# its digest on Monday 08:00 local, which on 2026-11-30 is 07:00Z.
#
# Config the daemon reads for the digest (per site, default Monday 08:00):
#   sites:
#     hq:
#       digest: { weekday: mon, time: "08:00" }   # or `digest: off`
#   digest:
#     channel: email     # optional; default the first smtp channel
#
# Timeline (UTC, daemon clock):
#   the first promise is made Wed 11-25: the instant of Mon 11-23 came
#         before the database was in service and is never caught up.
#   start 06:59:45 Mon 11-30: nothing at start; at 07:00 the week of
#         11-23 goes out.
#   restart at 07:00:00 exactly, then a kill -9 and a start at 07:00:00:
#         nothing new.
#   start Wed 12-02 10:00 (same week): nothing new.
#   down over Mon 12-07 07:00, start Tue 12-08 10:00: the week of 11-30,
#         once, marked late; a second start that day: nothing new.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/delivery_common.bash"

"$PEER_PY" -c 'import aiosmtpd' 2>/dev/null || fail "python3-aiosmtpd is not installed"
command -v faketime >/dev/null || fail "faketime is not installed (apt-get install faketime)"

RCVD="$TMP/received"
start_peer smtp "$TOOLS/smtp_server.py" --maildir "$RCVD" --log "$TMP/smtp.log"
SMTP_PORT=$PEER_PORT

cat >"$CFG" <<EOF
database: state/promises.db
default_site: hq
default_policy: quiet
templates:
  dir: $PROMISED_SOURCE_DIR/config/templates
sites:
  hq:
    timezone: Europe/Brussels
    hours:
      mon: [08:00-18:00]
      tue: [08:00-18:00]
      wed: [08:00-18:00]
      thu: [08:00-18:00]
      fri: [08:00-18:00]
      sat: closed
      sun: closed
    digest:
      weekday: mon
      time: "08:00"
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
  email:
    type: smtp
    url: smtp://127.0.0.1:$SMTP_PORT
    starttls: never
    from: Promised <promised@example.com>
    connect_timeout: 5s
    timeout: 20s
    retry:
      base: 1s
      factor: 2
      cap: 5s
      max_age: 1h
digest:
  channel: email
policies:
  quiet:
    - name: notice
      offset: 30d
      to: [owner]
      channels: [email]
      hours: any
EOF
"$PD" --check-config --config "$CFG" >"$TMP/check.out" 2>&1 ||
	fail "the daemon does not accept the digest config (sites.hq.digest," \
		"digest.channel) yet: $(cat "$TMP/check.out")"

# The daemon gets libfaketime preloaded rather than the faketime wrapper:
# the wrapper forks, so PID would be the wrapper's and a SIGTERM would
# never reach the daemon.  ASan must then accept a library before it.
FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)
[ -n "$FAKETIME_LIB" ] || fail "libfaketime.so.1 is not installed"
FAKETIME_ASAN="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

# at TIME CMD...: runs CMD with the clock starting at TIME (UTC).
at() {
	local t=$1
	shift
	TZ=UTC LD_PRELOAD="$FAKETIME_LIB" FAKETIME="@$t" \
		ASAN_OPTIONS="$FAKETIME_ASAN" "$@"
}

start_at() {
	local mark i
	mark=$(grep -c 'ready' "$LOG" 2>/dev/null || true)
	# Not through at(): a backgrounded function is a subshell, and PID
	# must be the daemon's own.
	TZ=UTC LD_PRELOAD="$FAKETIME_LIB" FAKETIME="@$1" \
		ASAN_OPTIONS="$FAKETIME_ASAN" "$PD" --config "$CFG" --db "$DB" \
		--foreground --log-level debug 2>>"$LOG" &
	PID=$!
	for i in $(seq 600); do
		kill -0 "$PID" 2>/dev/null || fail "promised exited during start-up"
		[ "$(grep -c 'ready' "$LOG" 2>/dev/null || true)" -gt "${mark:-0}" ] && return 0
		sleep 0.1
	done
	fail "promised did not log 'ready' within 60 s"
}

# digests: one line per digest received: "<week> <to>".
digests() {
	/usr/bin/python3 - "$RCVD" <<'PY'
import email, email.policy, os, re, sys
d = os.path.join(sys.argv[1], "new")
for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
    with open(os.path.join(d, f), "rb") as fp:
        m = email.message_from_binary_file(fp, policy=email.policy.default)
    s = str(m["Subject"] or "")
    w = re.search(r"the week of (\d{4}-\d{2}-\d{2})", s)
    if w:
        print(w.group(1), m["To"].addresses[0].addr_spec)
PY
}

count() { digests | grep -c "^$1 " || true; }

wait_count() {
	local i
	for i in $(seq $(($3 * 10))); do
		[ "$(count "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "week $1: $(count "$1") digests after $3 s, expected $2"
}

# A promise of the desk made in the week of 11-23 that lapses on 11-26.
at "2026-11-25 10:00:00" "$PCTL" --config "$CFG" --db "$DB" add \
	--title "Quote for Jan" --owner alice --due 2026-11-26T10:00:00Z \
	>/dev/null || fail "promisectl add"

start_at "2026-11-30 06:59:45"
sleep 3
[ "$(digests | wc -l)" = 0 ] ||
	fail "a digest at start, before its instant: $(digests)"
check "no digest of a week before the database was in service"
wait_count 2026-11-23 1 60
check "the week of 11-23 arrived at its instant"
digests | grep -q '^2026-11-23 carol@example.com$' || fail "not to carol: $(digests)"
/usr/bin/python3 - "$RCVD" <<'PY' || fail "the digest does not list the lapsed promise"
import email, email.policy, os, sys
d = os.path.join(sys.argv[1], "new")
for f in os.listdir(d):
    with open(os.path.join(d, f), "rb") as fp:
        m = email.message_from_binary_file(fp, policy=email.policy.default)
    if "2026-11-23" in str(m["Subject"]):
        text = m.get_body(preferencelist=("plain",)).get_content()
        sys.exit(0 if "Quote for Jan" in text and "Lapsed right now: 1" in text else 1)
sys.exit(1)
PY
check "the digest lists the lapsed promise"
stop_daemon

# A restart at the very moment it is due: nothing new.
start_at "2026-11-30 07:00:00"
sleep 5
kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=
start_at "2026-11-30 07:00:00"
sleep 5
stop_daemon
[ "$(count 2026-11-23)" = 1 ] || fail "week 11-23 sent $(count 2026-11-23) times"
check "restarts at the instant (clean and kill -9) send nothing twice"

start_at "2026-12-02 10:00:00"
sleep 5
stop_daemon
[ "$(count 2026-11-23)" = 1 ] || fail "week 11-23 sent again after downtime"
check "a start later in the same week sends nothing new"

start_at "2026-12-08 10:00:00"
wait_count 2026-11-30 1 40
sleep 3
stop_daemon
start_at "2026-12-08 10:05:00"
sleep 3
stop_daemon
[ "$(count 2026-11-30)" = 1 ] || fail "week 11-30 sent $(count 2026-11-30) times"
[ "$(digests | wc -l)" = 2 ] || fail "digests: $(digests)"
[ "$(sqlite3 "$DB" "SELECT late FROM notifications
	WHERE idem_key = 'digest.hq.carol.2026-11-30'")" = 1 ] ||
	fail "the digest sent after downtime is not marked late"
check "after downtime over the instant, the missed week's digest, once"
echo "PASS"
