#!/usr/bin/env bash
# One-click links against the real daemon: a link taken from the reminder
# in the Maildir shows a confirmation page on GET (no-store, no-referrer,
# nothing changes), closes the promise on POST (kept, by link:alice), and
# then nothing more is sent for it although its lapse and escalation
# steps pass; a second promise left open gets both, so the policy would
# have fired.  Tampered, forged, expired (link_expiry 2s after a SIGHUP)
# and replayed tokens are refused.
set -euo pipefail
. "$(dirname "$0")/http_common.bash"

write_http_config
start_http_daemon

check "the reminder in the Maildir carries done, ack and snooze links for alice"
t0=$(date +%s)
P1=$(add_promise "Call back about the winter tyres quote" $((t0 + 12)) \
	--customer "Mevr. Janssens")
P2=$(add_promise "Send the brake quote" $((t0 + 12)))
DONE=$(wait_link "$P1" reminder done 15)
links_of "$P1" reminder >"$TMP/links"
for a in done ack snooze; do
	grep -q "^$a alice $BASE/a/" "$TMP/links" ||
		fail "no $a link for alice: $(cat "$TMP/links")"
done
echo "  $DONE"

check "GET shows the confirmation page and changes nothing"
req GET "$DONE"
expect_status 200 "GET $DONE"
header Cache-Control | grep -q 'no-store' || fail "Cache-Control: $(header Cache-Control)"
[ "$(header Referrer-Policy)" = no-referrer ] ||
	fail "Referrer-Policy: $(header Referrer-Policy)"
grep -q 'winter tyres quote' "$TMP/resp.body" || fail "the page does not name the promise"
grep -qi '<form[^>]*method="post"' "$TMP/resp.body" || fail "the page has no POST form"
req GET "$DONE"   # a mail scanner opens it twice
[ "$(state_of "$P1")" = "open none -" ] || fail "a GET changed the promise: $(state_of "$P1")"

check "tampered and forged tokens are refused with 403, nothing changes"
tok=${DONE##*/a/}
payload=${tok%%.*}
sig=${tok#*.}
# One character of the MAC changed.
c=${sig:5:1}
[ "$c" = A ] && r=B || r=A
req GET "$BASE/a/$payload.${sig:0:5}$r${sig:6}"
expect_status 403 "GET with a changed MAC"
req POST "$BASE/a/$payload.${sig:0:5}$r${sig:6}" -d ''
expect_status 403 "POST with a changed MAC"
# The payload rewritten to another promise, the MAC kept.
forged=$(python3 - "$payload" "$P2" <<'PY'
import base64, sys
tok, other = sys.argv[1:3]
f = base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)).decode().split("|")
f[3] = other
print(base64.urlsafe_b64encode("|".join(f).encode()).decode().rstrip("="))
PY
)
req POST "$BASE/a/$forged.$sig" -d ''
expect_status 403 "POST with a payload for promise $P2"
# Signed with a key the daemon does not have, under its own kid.
forged=$(python3 - "$payload" <<'PY'
import base64, hashlib, hmac, sys
tok = sys.argv[1]
payload = base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))
mac = hmac.new(b"not the daemon's key", payload, hashlib.sha256).digest()
b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
print(b64(payload) + "." + b64(mac))
PY
)
req POST "$BASE/a/$forged" -d ''
expect_status 403 "POST signed with another key"
req GET "$BASE/a/not-a-token"
expect_status 403 "GET of garbage"
[ "$(state_of "$P1")" = "open none -" ] || fail "promise $P1: $(state_of "$P1")"
[ "$(state_of "$P2")" = "open none -" ] || fail "promise $P2: $(state_of "$P2")"

check "POST closes the promise as kept, by link:alice"
req POST "$DONE" -d ''
expect_status 200 "POST $DONE"
header Cache-Control | grep -q 'no-store' || fail "POST answer may be cached"
[ "$(state_of "$P1")" = "closed kept link:alice" ] ||
	fail "after POST: $(state_of "$P1"), expected closed kept link:alice"

check "a replayed POST says 'already done' and closes nothing twice"
req POST "$DONE" -d ''
case "$STATUS" in 200 | 403 | 409) ;; *) fail "replay: status $STATUS" ;; esac
grep -qi 'already done' "$TMP/resp.body" || fail "replay: $(head -c 400 "$TMP/resp.body")"
[ "$(events_of "$P1" closed)" = 1 ] || fail "$(events_of "$P1" closed) closed events"

check "the escalation stops: after due+3s nothing more for $P1, lapse and escalation for $P2"
while [ "$(date +%s)" -lt $((t0 + 12 + 3 + 3)) ]; do sleep 0.5; done
for _ in $(seq 100); do
	case "$(steps_of "$P2")" in *escalation*) break ;; esac
	sleep 0.1
done
[ "$(steps_of "$P1")" = "reminder " ] || fail "promise $P1 got: $(steps_of "$P1")"
n=$(sqlite3 "$DB" "SELECT count(*) FROM notifications WHERE promise_id = $P1 AND step <> 'reminder'")
[ "$n" = 0 ] || fail "promise $P1: $n notifications queued after it was closed"
case "$(steps_of "$P2")" in
"escalation lapse lapse reminder ") ;;
*) fail "promise $P2 got: $(steps_of "$P2")" ;;
esac

check "after a reload with link_expiry 2s a fresh link is refused once expired"
LINK_EXPIRY=2s write_http_config
kill -HUP "$PID"
for _ in $(seq 50); do grep -q 'config reloaded' "$LOG" && break; sleep 0.1; done
grep -q 'config reloaded' "$LOG" || fail "no reload"
t1=$(date +%s)
P3=$(add_promise "Order the side mirror" $((t1 + 12)))
ACK=$(wait_link "$P3" reminder ack 15)
sleep 3
req GET "$ACK"
expect_status 403 "GET of an expired link"
req POST "$ACK" -d ''
expect_status 403 "POST of an expired link"
[ "$(state_of "$P3")" = "open none -" ] || fail "promise $P3: $(state_of "$P3")"
n=$(sqlite3 "$DB" "SELECT count(*) FROM events WHERE promise_id = $P3 AND kind = 'acked'")
[ "$n" = 0 ] || fail "an expired link acknowledged promise $P3"

check "the daemon stops cleanly"
stop_daemon
echo "PASS"
