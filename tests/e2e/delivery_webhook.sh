#!/usr/bin/env bash
# Webhook delivery against a real HTTP receiver (tests/tools/http_receiver.py)
# on 127.0.0.1: the JSON body template with correct escaping, the Standard
# Webhooks signature checked here with Python's hmac, the idempotency key
# stable across retries, 503 then 200, 400 then the fallback channel, a
# stalled receiver (timeout), a receiver that is down and comes back, and
# Retry-After.  Retry settings are small: base 1 s, factor 2, cap 5 s.
set -euo pipefail
. "$(dirname "$0")/delivery_common.bash"

HOOKLOG="$TMP/hook.log"
# From secrets.bash (tests/check/secrets.sh looks for it).
SECRET=$TEST_WEBHOOK_SECRET
write_secret "$SECRET" "$TMP/signing-secret"

start_peer hook "$TOOLS/http_receiver.py" --log "$HOOKLOG" \
	--script "503,200,400,stall:4"
HOOK_PID=$PEER_PID
PORT=$PEER_PORT

write_delivery_config "  hook:
    type: webhook
    url: http://127.0.0.1:$PORT/hook
    content_type: application/json
    body: |-
      {\"customer\": \"{{customer_name}}\", \"title\": \"{{title}}\", \"details\": \"{{details}}\", \"key\": \"{{idem_key}}\", \"to\": \"{{recipient_phone}}\", \"text\": \"{{text}}\"}
    signing:
      type: standard-webhooks
      secret_file: $TMP/signing-secret
    concurrency: 4
    connect_timeout: 1s
    timeout: 2s
    retry:
      base: 1s
      factor: 2
      cap: 5s
      max_age: 1h
  mail:
    type: maildir
    path: maildir" "[hook, mail]"
start_daemon

# requests KEY: the receiver's log lines for idempotency key KEY, as
# "answer" words in arrival order.
requests() {
	python3 - "$HOOKLOG" "$1" <<'PY'
import json, sys
out = []
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    h = {k.lower(): v for k, v in r["headers"]}
    if h.get("webhook-id") == sys.argv[2]:
        out.append(r["answer"])
print(" ".join(out))
PY
}

# add NAME DUE_IN [ARGS...]: a promise of alice due in DUE_IN seconds.
add() {
	local title=$1 due=$(($(date +%s) + $2))
	shift 2
	add_promise "$title" "$due" "$@"
}

check "503 then 200: delivered once after a backoff of 1 s (+-20 %)"
CUSTOMER='Zoë "Quote" Gonçalves \ Hélène'
DETAILS=$'line one\nline two\twith a tab'
A=$(add "Café crème for the customer" 2 --customer "$CUSTOMER" \
	--details "$DETAILS" --phone "+32 470 99 88 77")
wait_notif "$A" sent 20
KA=$(notif "$A" idem_key)
[ "$(requests "$KA")" = "503 200" ] ||
	fail "requests for $KA: '$(requests "$KA")', expected '503 200'"
[ "$(notif "$A" attempts)" -eq 2 ] || fail "attempts $(notif "$A" attempts), expected 2"
grep -q "^<4>promise $A: notification [0-9]* to alice via hook failed (attempt 1), retry in 1 s: .*503" "$LOG" ||
	fail "no 'retry in 1 s' warning naming the 503"

check "the body is valid JSON with every field escaped and intact"
check "the signature verifies (Standard Webhooks, computed here), the key is the same in both attempts"
python3 - "$HOOKLOG" "$KA" "$SECRET" "$CUSTOMER" "$DETAILS" <<'PY' || fail "body or signature check failed"
import base64, hashlib, hmac, json, sys, time
log, key, secret, customer, details = sys.argv[1:6]
recs = []
for line in open(log, encoding="utf-8"):
    r = json.loads(line)
    h = {k.lower(): v for k, v in r["headers"]}
    if h.get("webhook-id") == key:
        recs.append((r, h))
assert len(recs) == 2, len(recs)
raw_key = base64.b64decode(secret[len("whsec_"):])
for r, h in recs:
    body = base64.b64decode(r["body_b64"])
    j = json.loads(body.decode("utf-8"))
    assert j["customer"] == customer, j["customer"]
    assert j["details"] == details, repr(j["details"])
    assert j["title"] == "Café crème for the customer", j["title"]
    assert j["key"] == key, j["key"]
    assert j["to"] == "+32470123456", j["to"]
    assert j["text"], "empty SMS text"
    assert h.get("content-type", "").startswith("application/json"), h
    # Either header name carries the same key.
    if "idempotency-key" in h:
        assert h["idempotency-key"] == key, h["idempotency-key"]
    ts = h["webhook-timestamp"]
    assert abs(int(ts) - time.time()) < 120, ts
    signed = key.encode() + b"." + ts.encode() + b"." + body
    want = base64.b64encode(hmac.new(raw_key, signed, hashlib.sha256).digest()).decode()
    sigs = [s.split(",", 1)[1] for s in h["webhook-signature"].split() if s.startswith("v1,")]
    assert any(hmac.compare_digest(s, want) for s in sigs), (sigs, want)
    # A wrong secret must not verify: the check above can fail.
    bad = base64.b64encode(hmac.new(raw_key + b"x", signed, hashlib.sha256).digest()).decode()
    assert bad not in sigs
print("  body, escaping and signature ok in both attempts")
PY

check "400: dead at once, then the step's next channel (a Maildir) gets it"
B=$(add "Order the brake pads" 2 --customer "Bart Peeters")
wait_notif "$B" dead 20
wait_notif "$B" sent 20 1
KB=$(notif "$B" idem_key)
[ "$(requests "$KB")" = "400" ] || fail "requests for $KB: '$(requests "$KB")', expected '400'"
[ "$(notif "$B" attempts)" -eq 1 ] || fail "a permanent answer was retried"
[ "$(notif "$B" channel 1)" = "mail" ] || fail "the fallback is not on channel mail"
[ "$(notif "$B" idem_key 1)" = "$KB.f1.mail" ] ||
	fail "fallback key '$(notif "$B" idem_key 1)', expected '$KB.f1.mail'"
[ "$(messages | awk -v p="$B" '$1 == p' | wc -l)" -eq 1 ] ||
	fail "the Maildir does not hold exactly one message of promise $B"
pctl show --json "$B" | python3 -c '
import json, sys
ev = json.load(sys.stdin)["events"]
notes = [e["detail"] for e in ev if e["kind"] == "note"]
assert any(d.startswith("fallback from hook to mail for alice: ") and "400" in d for d in notes), notes
assert any(" dead: " in d for d in notes), notes
' || fail "promisectl show has no dead and fallback events"

check "a receiver that stalls past the 2 s timeout: retry, then delivered"
C=$(add "Return the loan car" 2)
wait_notif "$C" sent 25
KC=$(notif "$C" idem_key)
[ "$(requests "$KC")" = "stall:4 200" ] ||
	fail "requests for $KC: '$(requests "$KC")', expected 'stall:4 200'"
grep -q "^<4>promise $C: notification [0-9]* to alice via hook failed (attempt 1)" "$LOG" ||
	fail "no warning for the timed-out attempt"

check "a receiver that is down (port closed) and comes back: delivered"
kill_peer "$HOOK_PID"
D=$(add "Send the invoice" 1)
for _ in $(seq 200); do
	[ "$(notif "$D" attempts)" -ge 2 ] 2>/dev/null && break
	sleep 0.1
done
[ "$(notif "$D" state)" = retry ] || fail "with the receiver down the row is '$(notif "$D" state)', expected retry"
[ "$(notif "$D" attempts)" -ge 2 ] || fail "fewer than 2 attempts while the receiver was down"
# Back on the same port; the next answers: D gets 200, E gets a 429 with
# Retry-After.
start_peer hook2 "$TOOLS/http_receiver.py" --log "$HOOKLOG" --port "$PORT" \
	--script "200,429:Retry-After=3"
wait_notif "$D" sent 15
KD=$(notif "$D" idem_key)
[ "$(requests "$KD")" = "200" ] || fail "requests for $KD: '$(requests "$KD")', expected '200'"

check "429 with Retry-After: 3 waits 3 s, not the 1 s backoff"
E=$(add "Call back about the tyres" 1)
wait_notif "$E" sent 20
KE=$(notif "$E" idem_key)
[ "$(requests "$KE")" = "429:Retry-After=3 200" ] ||
	fail "requests for $KE: '$(requests "$KE")'"
grep -q "^<4>promise $E: notification [0-9]* to alice via hook failed (attempt 1), retry in 3 s" "$LOG" ||
	fail "Retry-After was not honoured"

check "every notification ended sent or (the 400) dead; nothing is left"
left=$(sqlite3 "$DB" "SELECT count(*) FROM notifications WHERE state NOT IN ('sent', 'dead')")
[ "$left" -eq 0 ] || fail "$left notification(s) still pending"
check "with nothing in flight and nothing due, netsend leaves no timer running"
sleep 2   # the echoes of the last writes
vcs() { awk '/^voluntary_ctxt_switches:/ { print $2 }' "/proc/$PID/status"; }
before=$(vcs)
sleep 5
woke=$(($(vcs) - before))
echo "  voluntary context switches in 5 s: $woke"
[ "$woke" -le 2 ] || fail "the daemon woke $woke times in 5 s with nothing to do"

stop_daemon
echo "ok: $NCHECK checks"
