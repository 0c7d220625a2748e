#!/usr/bin/env bash
# SMTP faults against the real daemon (issue 9, DESIGN.md §5), with a real
# server on 127.0.0.1 (tests/tools/smtp_server.py, aiosmtpd, scripted) and
# a server that accepts and never speaks (tests/tools/tcp_blackhole.py):
#   drop after DATA          -> retry, then delivered once
#   421, then 451            -> retry with a growing backoff (1 s, 2 s),
#                               then delivered once, same Message-ID
#   554                      -> dead at once, the 554 recorded, not retried
#   stall after DATA         -> (a channel with a 10 s timeout) libcurl's
#                               blocking wait for the end-of-DATA reply
#                               runs on netsend's mail thread: meanwhile
#                               /healthz answers within 1 s and a Maildir
#                               delivery goes out; the timeout fires, and
#                               the retry (on a fresh connection)
#                               delivers it exactly once
#   no greeting at all       -> meanwhile /healthz answers and a Maildir
#                               delivery goes out; the timeout fires; once
#                               a real server is back on the port, the
#                               retry delivers it
#   SIGTERM during a stall   -> the daemon stops within 3 s (not after the
#                               10 s timeout); the row stays `sending`
# Retry settings: base 1 s, factor 2, cap 5 s (+-20 % jitter).
set -euo pipefail
. "$(dirname "$0")/delivery_common.bash"

"$PEER_PY" -c 'import aiosmtpd' 2>/dev/null || fail "python3-aiosmtpd is not installed"
command -v curl >/dev/null || fail "curl is not installed"
T_BEGIN=$(date +%s)

# The server's log gets the Message-ID of every DATA (as delivery_smtp.sh
# does), so a retry can be shown to carry the same one.
cat >"$TMP/smtp_peer.py" <<'PY'
import email, sys
sys.path.insert(0, sys.argv.pop(1))
import smtp_server

orig_data = smtp_server.Handler.handle_DATA
orig_log = smtp_server.Handler.log

async def handle_DATA(self, server, session, envelope):
    m = email.message_from_bytes(envelope.original_content)
    self.msgid = m.get("Message-ID")
    return await orig_data(self, server, session, envelope)

def log(self, record):
    record["message_id"] = getattr(self, "msgid", None)
    record["t"] = __import__("time").time()
    orig_log(self, record)

smtp_server.Handler.handle_DATA = handle_DATA
smtp_server.Handler.log = log
sys.exit(smtp_server.main())
PY

SMTPLOG="$TMP/smtp.log"
RCVD="$TMP/received"
# One DATA per entry, in the order the promises below are added.
start_peer smtp "$TMP/smtp_peer.py" "$TOOLS" --maildir "$RCVD" \
	--log "$SMTPLOG" --script "drop,250,421,451,250,554,stall"
SMTP_PID=$PEER_PID
SMTP_PORT=$PEER_PORT
HTTP_PORT=$(free_port)

write_delivery_config "  email:
    type: smtp
    url: smtp://127.0.0.1:$SMTP_PORT
    starttls: never
    from: Promised Desk <promised@example.com>
    connect_timeout: 2s
    timeout: 3s
    retry:
      base: 1s
      factor: 2
      cap: 5s
      max_age: 1h
  slowmail:
    type: smtp
    url: smtp://127.0.0.1:$SMTP_PORT
    starttls: never
    from: Promised Desk <promised@example.com>
    connect_timeout: 2s
    timeout: 10s
    retry:
      base: 1s
      factor: 2
      cap: 5s
      max_age: 1h
  mail:
    type: maildir
    path: maildir" "[email]"
cat >>"$CFG" <<EOF
  slow:
    - name: notice
      offset: 0
      to: [owner]
      channels: [slowmail]
      hours: any
      until: close
  local:
    - name: notice
      offset: 0
      to: [owner]
      channels: [mail]
      hours: any
      until: close
http:
  listen: 127.0.0.1:$HTTP_PORT
  public_url: http://127.0.0.1:$HTTP_PORT
EOF
"$PD" --check-config --config "$CFG" >"$TMP/check.out" 2>&1 ||
	fail "the test config does not validate: $(cat "$TMP/check.out")"
start_daemon

# smtp_records MESSAGE-ID: the answers the server gave to DATA of that
# message, in order, space separated.
smtp_answers() {
	python3 - "$SMTPLOG" "$1" <<'PY'
import json, sys
print(" ".join(r["answer"] for r in map(json.loads, open(sys.argv[1]))
               if r["message_id"] == sys.argv[2]))
PY
}
# smtp_gaps MESSAGE-ID: seconds between its successive DATA commands.
smtp_gaps() {
	python3 - "$SMTPLOG" "$1" <<'PY'
import json, sys
t = [r["t"] for r in map(json.loads, open(sys.argv[1]))
     if r["message_id"] == sys.argv[2]]
print(" ".join("%.2f" % (b - a) for a, b in zip(t, t[1:])))
PY
}
# stored MESSAGE-ID: how many copies the server stored.
stored() {
	grep -l -F "Message-ID: $1" "$RCVD"/new/* 2>/dev/null | wc -l
}
# msgid PROMISE: the Message-ID the promise's row must carry in every
# attempt: its idempotency key, encoded as src/mime.c does (RFC 5322
# atext kept, any other byte as =XX), at promised.invalid.
msgid() {
	python3 - "$(notif "$1" idem_key)" <<'PY'
import sys
keep = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/?^_`{|}~")
print("<" + "".join(chr(c) if c in keep else "=%02X" % c
                    for c in sys.argv[1].encode()) + "@promised.invalid>")
PY
}
due_soon() { echo $(($(date +%s) + 1)); }

check "connection dropped after DATA: retried, then delivered exactly once"
P1=$(add_promise "Dropped after DATA" "$(due_soon)")
wait_notif "$P1" sent 20
M1=$(msgid "$P1")
[ "$(smtp_answers "$M1")" = "drop 250" ] ||
	fail "answers for P1: '$(smtp_answers "$M1")', expected 'drop 250'"
[ "$(stored "$M1")" -eq 1 ] || fail "P1 stored $(stored "$M1") times, expected once"
[ "$(notif "$P1" attempts)" -eq 2 ] || fail "P1 attempts $(notif "$P1" attempts), expected 2"
grep -q "^<4>promise $P1: notification [0-9]* to alice via email failed (attempt 1), retry in 1 s" "$LOG" ||
	fail "no retry warning for the dropped connection"

check "421 then 451: two retries with a growing backoff (1 s, then 2 s +-20 %), one copy"
P2=$(add_promise "Busy server" "$(due_soon)")
wait_notif "$P2" sent 25
M2=$(msgid "$P2")
[ "$(smtp_answers "$M2")" = "421 451 250" ] ||
	fail "answers for P2: '$(smtp_answers "$M2")', expected '421 451 250'"
[ "$(stored "$M2")" -eq 1 ] || fail "P2 stored $(stored "$M2") times, expected once"
read -r g1 g2 < <(smtp_gaps "$M2")
echo "  gaps between attempts: $g1 s, $g2 s"
# The backoff is whole seconds on the wall clock (1 s, then 2 s); the
# first attempt may start up to 1 s into its second.
python3 -c 'import sys; g1, g2 = map(float, sys.argv[1:]); sys.exit(0 if 0.0 < g1 <= 2.5 and 1.0 <= g2 <= 3.5 and g2 > g1 - 0.5 else 1)' \
	"$g1" "$g2" || fail "backoff gaps $g1 s, $g2 s: expected about 1 s then 2 s"
grep -q "^<4>promise $P2: notification [0-9]* to alice via email failed (attempt 2), retry in 2 s: SMTP 451" "$LOG" ||
	fail "no 'attempt 2, retry in 2 s' warning naming SMTP 451"

check "554: dead at once with the 554 recorded, never retried, nothing stored"
P3=$(add_promise "Rejected message" "$(due_soon)")
wait_notif "$P3" dead 20
M3=$(msgid "$P3")
[ "$(notif "$P3" attempts)" -eq 1 ] || fail "a 554 was retried ($(notif "$P3" attempts) attempts)"
[ "$(smtp_answers "$M3")" = "554" ] || fail "answers for P3: '$(smtp_answers "$M3")'"
[ "$(stored "$M3")" -eq 0 ] || fail "the rejected message was stored"
notif "$P3" last_error | grep -q "554" ||
	fail "last_error '$(notif "$P3" last_error)' does not name the 554"
grep -q "^<3>promise $P3: notification [0-9]* to alice via email failed for good: .*554" "$LOG" ||
	fail "no error line for the dead notification"
pctl outbox --state dead --json | python3 -c '
import json, sys
rows = json.load(sys.stdin)
rows = rows.get("notifications", rows) if isinstance(rows, dict) else rows
assert any(str(r.get("promise_id")) == sys.argv[1] and "554" in (r.get("last_error") or "")
           for r in rows), rows' "$P3" || fail "promisectl outbox does not show the dead row with its 554"

# healthz_within SECONDS: /healthz answers 200 within SECONDS; prints
# how long it took.
healthz_within() {
	local code
	code=$(curl -sS -m "$1" -o /dev/null -w '%{http_code} %{time_total}' \
		"http://127.0.0.1:$HTTP_PORT/healthz") ||
		fail "/healthz did not answer within $1 s"
	[ "${code%% *}" = 200 ] || fail "/healthz answered ${code%% *}"
	echo "${code#* }"
}

check "a server that stalls after DATA (timeout 10 s): the loop serves others meanwhile, then one retry delivers it once"
# libcurl waits for the reply to the end of DATA with a blocking call
# (curl/curl#8555); netsend makes that wait on its mail thread, so the
# loop keeps answering HTTP, delivering other channels and pinging the
# watchdog for the whole stall.
P4=$(add_promise "Stalled server" "$(due_soon)" --policy slow)
for _ in $(seq 100); do
	grep -q '"answer": "stall"' "$SMTPLOG" && break
	sleep 0.1
done
grep -q '"answer": "stall"' "$SMTPLOG" || fail "the stalled DATA never arrived"
T_STALL=$(date +%s.%N)
took=$(healthz_within 3)
echo "  /healthz answered after $took s during the stall (timeout 10 s)"
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 1.0 else 1)' "$took" ||
	fail "/healthz took $took s during the stall: the loop was blocked"
L=$(add_promise "Local mail during the stall" "$(date +%s)" --policy local)
wait_notif "$L" sent 3
took=$(healthz_within 3)
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 1.0 else 1)' "$took" ||
	fail "/healthz took $took s later in the stall: the loop was blocked"
# All of that happened inside the stall, with P4 still waiting for its
# reply: the checks above meant something.
[ "$(notif "$P4" state)" = sending ] ||
	fail "P4 is '$(notif "$P4" state)' during the stall, expected sending"
python3 -c 'import sys, time; sys.exit(0 if time.time() - float(sys.argv[1]) < 8 else 1)' "$T_STALL" ||
	fail "the checks during the stall took too long to mean anything"
wait_notif "$P4" sent 30
M4=$(msgid "$P4")
[ "$(smtp_answers "$M4")" = "stall 250" ] || fail "answers for P4: '$(smtp_answers "$M4")', expected 'stall 250'"
[ "$(stored "$M4")" -eq 1 ] || fail "P4 stored $(stored "$M4") times, expected once"
[ "$(notif "$P4" attempts)" -eq 2 ] || fail "P4 attempts $(notif "$P4" attempts), expected 2"
grep -q "^<4>promise $P4: notification [0-9]* to alice via slowmail failed (attempt 1), retry in [0-9]* s: .*timeout after 10s" "$LOG" ||
	fail "no 10 s timeout warning for the stalled server"

check "a server that accepts and never greets: the loop serves others meanwhile, the timeout fires"
kill_peer "$SMTP_PID"
start_peer hole "$TOOLS/tcp_blackhole.py" --port "$SMTP_PORT" --log "$TMP/hole.log"
HOLE_PID=$PEER_PID
P5=$(add_promise "Silent server" "$(due_soon)")
for _ in $(seq 50); do
	grep -q '"event": "accept"' "$TMP/hole.log" 2>/dev/null && break
	sleep 0.1
done
grep -q '"event": "accept"' "$TMP/hole.log" || fail "the daemon never connected to the silent server"
T_HOLE=$(date +%s.%N)
took=$(healthz_within 1)
echo "  /healthz answered after $took s while the silent server held the connection"
L2=$(add_promise "Local mail while the server is silent" "$(date +%s)" --policy local)
wait_notif "$L2" sent 2
[ "$(notif "$P5" state)" = sending ] ||
	fail "P5 is '$(notif "$P5" state)' while the server is silent, expected sending"
python3 -c 'import sys, time; sys.exit(0 if time.time() - float(sys.argv[1]) < 2.5 else 1)' "$T_HOLE" ||
	fail "the checks while the server was silent took too long to mean anything"
for _ in $(seq 60); do
	[ "$(notif "$P5" state)" = retry ] && break
	sleep 0.1
done
[ "$(notif "$P5" state)" = retry ] || fail "P5 is '$(notif "$P5" state)' after the silent server, expected retry"
notif "$P5" last_error | grep -q "timeout after 3s" ||
	fail "P5 last_error '$(notif "$P5" last_error)', expected a timeout"

check "once a real server is back on the port, the retry delivers it once"
kill_peer "$HOLE_PID"
start_peer smtp2 "$TMP/smtp_peer.py" "$TOOLS" --maildir "$RCVD" \
	--log "$SMTPLOG" --port "$SMTP_PORT"
SMTP2_PID=$PEER_PID
wait_notif "$P5" sent 20
[ "$(stored "$(msgid "$P5")")" -eq 1 ] || fail "P5 was not stored exactly once"

check "SIGTERM while a server stalls after DATA: the daemon stops at once, the row stays sending"
kill_peer "$SMTP2_PID"
start_peer smtp3 "$TMP/smtp_peer.py" "$TOOLS" --maildir "$RCVD" \
	--log "$SMTPLOG" --port "$SMTP_PORT" --script stall
stalls=$(grep -c '"answer": "stall"' "$SMTPLOG")
P6=$(add_promise "Stalled at shutdown" "$(due_soon)" --policy slow)
for _ in $(seq 100); do
	[ "$(grep -c '"answer": "stall"' "$SMTPLOG")" -gt "$stalls" ] && break
	sleep 0.1
done
[ "$(grep -c '"answer": "stall"' "$SMTPLOG")" -gt "$stalls" ] || fail "the second stalled DATA never arrived"
kill -0 "$PID" || fail "the daemon died"
T_TERM=$(date +%s.%N)
stop_daemon
took=$(python3 -c 'import sys, time; print("%.2f" % (time.time() - float(sys.argv[1])))' "$T_TERM")
echo "  stopped $took s after SIGTERM (channel timeout 10 s)"
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 3.0 else 1)' "$took" ||
	fail "the daemon took $took s to stop during the stall"
[ "$(notif "$P6" state)" = sending ] ||
	fail "P6 is '$(notif "$P6" state)' after the stop, expected sending (sent again at the next start)"
grep -q "1 notification(s) in flight are left for the next start" "$LOG" ||
	fail "no note of the notification left in flight"

check "the daemon lived through it all and stopped cleanly; no sanitizer report"
! grep -q 'ERROR: AddressSanitizer\|runtime error:' "$LOG" || fail "the sanitizers reported an error"
echo "ok: $NCHECK checks in $(($(date +%s) - T_BEGIN)) s"
