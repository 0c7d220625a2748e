#!/usr/bin/env bash
# Webhook faults against the real daemon (issue 9, DESIGN.md §5 and §7)
# with tests/tools/http_receiver.py on 127.0.0.1.  delivery_webhook.sh
# already covers 503, 400 + fallback, a stall past the timeout and a
# receiver that is down; this adds:
#   TCP reset instead of an answer -> retry, then delivered once
#   302 to another host            -> not followed: dead at once with the
#                                     redirect recorded; the other host
#                                     receives nothing
#   429 with Retry-After: 3        -> the next request arrives no sooner
#                                     than 3 s after the 429 was answered
# Retry settings: base 1 s, factor 2, cap 5 s.
set -euo pipefail
. "$(dirname "$0")/delivery_common.bash"
T_BEGIN=$(date +%s)

# The other host: anything reaching it is a failure.
start_peer other "$TOOLS/http_receiver.py" --log "$TMP/other.log"
OTHER_PORT=$PEER_PORT
HOOKLOG="$TMP/hook.log"
start_peer hook "$TOOLS/http_receiver.py" --log "$HOOKLOG" \
	--script "reset,200,302:Location=http://127.0.0.1:$OTHER_PORT/steal,429:Retry-After=3,200"
write_delivery_config "  hook:
    type: webhook
    url: http://127.0.0.1:$PEER_PORT/hook
    content_type: application/json
    body: '{\"key\": \"{{idem_key}}\"}'
    connect_timeout: 1s
    timeout: 2s
    retry:
      base: 1s
      factor: 2
      cap: 5s
      max_age: 1h" "[hook]"
start_daemon

# requests KEY: "answer@unix-time" of every request carrying that key.
requests() {
	python3 - "$HOOKLOG" "$1" <<'PY'
import json, sys
out = []
for r in map(json.loads, open(sys.argv[1], encoding="utf-8")):
    h = {k.lower(): v for k, v in r.get("headers", [])}
    if h.get("webhook-id") == sys.argv[2]:
        out.append("%s@%.3f" % (r["answer"], r["t"]))
print(" ".join(out))
PY
}
answers() { requests "$1" | sed 's/@[0-9.]*//g'; }
due_soon() { echo $(($(date +%s) + 1)); }

check "a TCP reset instead of an answer: retried, then delivered once"
P1=$(add_promise "Reset by peer" "$(due_soon)")
wait_notif "$P1" sent 20
K1=$(notif "$P1" idem_key)
[ "$(answers "$K1")" = "reset 200" ] || fail "requests for P1: '$(answers "$K1")', expected 'reset 200'"
[ "$(notif "$P1" attempts)" -eq 2 ] || fail "P1 attempts $(notif "$P1" attempts), expected 2"
grep -q "^<4>promise $P1: notification [0-9]* to alice via hook failed (attempt 1), retry in 1 s" "$LOG" ||
	fail "no retry warning for the reset"

check "a redirect to another host is not followed: dead at once, the other host gets nothing"
P2=$(add_promise "Redirected away" "$(due_soon)")
wait_notif "$P2" dead 20
K2=$(notif "$P2" idem_key)
[ "$(answers "$K2")" = "302:Location=http://127.0.0.1:$OTHER_PORT/steal" ] ||
	fail "requests for P2: '$(answers "$K2")'"
[ "$(notif "$P2" attempts)" -eq 1 ] || fail "the redirect was retried"
notif "$P2" last_error | grep -q "HTTP 302: redirects are not followed" ||
	fail "P2 last_error '$(notif "$P2" last_error)' does not say the redirect was refused"
sleep 1
[ ! -s "$TMP/other.log" ] || fail "the other host received: $(cat "$TMP/other.log")"

check "429 with Retry-After: 3: the next request comes no sooner than 3 s later"
P3=$(add_promise "Rate limited" "$(due_soon)")
wait_notif "$P3" sent 20
K3=$(notif "$P3" idem_key)
[ "$(answers "$K3")" = "429:Retry-After=3 200" ] || fail "requests for P3: '$(answers "$K3")'"
read -r r1 r2 < <(requests "$K3")
gap=$(python3 -c 'import sys; print("%.3f" % (float(sys.argv[2].split("@")[1]) - float(sys.argv[1].split("@")[1])))' "$r1" "$r2")
echo "  the retry came $gap s after the 429"
# The receiver logs a request when it has read it and answers right
# after; the answer is the moment Retry-After counts from.
python3 -c 'import sys; sys.exit(0 if 3.0 <= float(sys.argv[1]) <= 5.0 else 1)' "$gap" ||
	fail "the retry came $gap s after the 429, expected 3..5 s"

check "the daemon lived through it all and stops cleanly"
kill -0 "$PID" || fail "the daemon died"
stop_daemon
! grep -q 'ERROR: AddressSanitizer\|runtime error:' "$LOG" || fail "the sanitizers reported an error"
echo "ok: $NCHECK checks in $(($(date +%s) - T_BEGIN)) s"
