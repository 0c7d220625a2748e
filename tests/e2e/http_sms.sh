#!/usr/bin/env bash
# SMS replies against the real daemon: the reminder goes out as an SMS
# through a webhook (tests/tools/http_receiver.py) and its text carries
# "Reply DONE <code>"; a reply POSTed to /hooks/sms the way Twilio does
# (form fields, X-Twilio-Signature computed here with Python's hmac)
# closes the promise and is answered with TwiML.  Without a signature,
# with a wrong one, or from a phone the notification did not go to,
# nothing happens.
set -euo pipefail
. "$(dirname "$0")/http_common.bash"

start_peer sms "$TOOLS/http_receiver.py" --log "$TMP/sms.log"
SMS_PORT=$PEER_PORT
EXTRA_CHANNELS="  sms:
    type: webhook
    url: http://127.0.0.1:$SMS_PORT/sms
    body: '{\"to\": \"{{recipient_phone}}\", \"text\": \"{{text}}\"}'
    retry:
      base: 1s" REMINDER_CHANNELS="[sms]" write_http_config
start_http_daemon

ALICE="+32470123456"
CAROL="+32470000001"
HOOK="$BASE/hooks/sms"

# sms_reply FROM TEXT [SIGNATURE]: POSTs a Twilio-style inbound message;
# SIGNATURE "good" (default) signs it with the auth token as Twilio does:
# base64(HMAC-SHA1(token, url + name1 value1 + ... sorted by name)),
# "none" sends no header, anything else is sent as it is.
sms_reply() {
	local from=$1 text=$2 how=${3:-good} sig
	local -a form=(--data-urlencode "MessageSid=SM$RANDOM$RANDOM"
		--data-urlencode "AccountSid=AC0123456789"
		--data-urlencode "From=$from" --data-urlencode "To=+3225550000"
		--data-urlencode "Body=$text" --data-urlencode "NumMedia=0")
	case "$how" in
	good)
		sig=$(python3 - "$TWILIO_TOKEN" "$HOOK" "${form[@]}" <<'PY'
import base64, hashlib, hmac, sys
token, url = sys.argv[1], sys.argv[2]
params = [a.split("=", 1) for a in sys.argv[3:] if a != "--data-urlencode"]
data = url + "".join(k + v for k, v in sorted(params))
print(base64.b64encode(hmac.new(token.encode(), data.encode(),
                                hashlib.sha1).digest()).decode())
PY
)
		req POST "$HOOK" -H "X-Twilio-Signature: $sig" "${form[@]}" ;;
	none)
		req POST "$HOOK" "${form[@]}" ;;
	*)
		req POST "$HOOK" -H "X-Twilio-Signature: $how" "${form[@]}" ;;
	esac
}

check "the reminder SMS says 'Reply DONE <code>' with the notification's code"
t0=$(date +%s)
P1=$(add_promise "Call back about the winter tyres quote" $((t0 + 12)) \
	--customer "Mevr. Janssens")
for _ in $(seq 150); do
	grep -q '"path": "/sms"' "$TMP/sms.log" 2>/dev/null && break
	sleep 0.1
done
text=$(python3 - "$TMP/sms.log" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["path"] == "/sms":
        print(json.loads(r["body"])["text"])
        break
PY
)
[ -n "$text" ] || fail "no SMS reached the receiver"
echo "  $text"
CODE=$(sed -n 's/.*Reply DONE \([0-9]\{4\}\)$/\1/p' <<<"$text")
[ -n "$CODE" ] || fail "no 'Reply DONE <code>' at the end of: $text"
# The code is the notification id folded into 1000..9999 (action.h).
nid=$(sqlite3 "$DB" "SELECT id FROM notifications WHERE promise_id = $P1 AND channel = 'sms'")
[ "$CODE" = $((nid % 9000 + 1000)) ] || fail "code $CODE for notification $nid"
[ ${#text} -le 160 ] || fail "the SMS is ${#text} characters"

check "a reply without a signature is refused with 403 and changes nothing"
sms_reply "$ALICE" "DONE $CODE" none
expect_status 403 "unsigned reply"
sms_reply "$ALICE" "DONE $CODE" "bm90IGEgc2lnbmF0dXJl"
expect_status 403 "reply with a wrong signature"
[ "$(state_of "$P1")" = "open none -" ] || fail "promise $P1: $(state_of "$P1")"

check "the same code from another phone does not act"
sms_reply "$CAROL" "DONE $CODE"
expect_status 200 "reply from carol"
[ "$(state_of "$P1")" = "open none -" ] || fail "carol closed promise $P1"

check "anything else gets a short help answer in TwiML"
sms_reply "$ALICE" "what is this"
expect_status 200 "help"
header Content-Type | grep -qi 'xml' || fail "Content-Type: $(header Content-Type)"
grep -q '<Response>' "$TMP/resp.body" || fail "not TwiML: $(body)"
grep -q '<Message>' "$TMP/resp.body" || fail "no message in: $(body)"
[ "$(state_of "$P1")" = "open none -" ] || fail "help changed promise $P1"

check "'done <code>' from alice's phone closes the promise, answered in TwiML"
sms_reply "$ALICE" "done $CODE"
expect_status 200 "signed reply"
header Content-Type | grep -qi 'xml' || fail "Content-Type: $(header Content-Type)"
grep -q '<Response>.*<Message>' "$TMP/resp.body" || fail "not TwiML: $(body)"
[ "$(state_of "$P1")" = "closed kept sms:alice" ] ||
	fail "after the reply: $(state_of "$P1"), expected closed kept sms:alice"

check "and its escalation stops"
while [ "$(date +%s)" -lt $((t0 + 12 + 3 + 2)) ]; do sleep 0.5; done
n=$(sqlite3 "$DB" "SELECT count(*) FROM notifications WHERE promise_id = $P1 AND step <> 'reminder'")
[ "$n" = 0 ] || fail "promise $P1: $n notifications after the reply"

stop_daemon
echo "PASS"
