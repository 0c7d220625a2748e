#!/usr/bin/env bash
# Email delivery against a real SMTP server (tests/tools/smtp_server.py,
# aiosmtpd) on 127.0.0.1 with STARTTLS (a self-signed certificate made
# here, trusted through the channel's ca_file) and AUTH: what ARRIVED is
# parsed with Python's email package — From, To, Date, Message-ID,
# Auto-Submitted, an RFC 2047 subject with é, ë and ç, both MIME parts; a
# 451 then acceptance arrives once with the same Message-ID in both
# attempts; a customer name with CR LF adds no header.
set -euo pipefail
. "$(dirname "$0")/delivery_common.bash"

command -v openssl >/dev/null || fail "openssl is not installed"
"$PEER_PY" -c 'import aiosmtpd' 2>/dev/null || fail "python3-aiosmtpd is not installed"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
	-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>"$TMP/openssl.err" ||
	fail "openssl: $(cat "$TMP/openssl.err")"
# The password comes from secrets.bash (tests/check/secrets.sh looks for it).
write_secret "$TEST_SMTP_PASSWORD" "$TMP/smtp-password"
chmod 600 "$TMP/key.pem"

# The server's log gets the Message-ID of every DATA, rejected ones too,
# by wrapping its handler (the tool itself logs only envelope data).
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
    orig_log(self, record)

smtp_server.Handler.handle_DATA = handle_DATA
smtp_server.Handler.log = log
sys.exit(smtp_server.main())
PY

SMTPLOG="$TMP/smtp.log"
RCVD="$TMP/received"
start_peer smtp "$TMP/smtp_peer.py" "$TOOLS" --maildir "$RCVD" \
	--log "$SMTPLOG" --cert "$TMP/cert.pem" --key "$TMP/key.pem" \
	--user promised --password-file "$TMP/smtp-password" --script 451

write_delivery_config "  email:
    type: smtp
    url: smtp://127.0.0.1:$PEER_PORT
    starttls: required
    username: promised
    password_file: $TMP/smtp-password
    from: Promised Desk <promised@example.com>
    reply_to: desk@example.com
    ca_file: $TMP/cert.pem
    connect_timeout: 5s
    timeout: 20s
    retry:
      base: 1s
      factor: 2
      cap: 5s
      max_age: 1h" "[email]"
start_daemon

# smtp_records: the server's log as one line per DATA:
#   <answer> <tls> <auth> <rcpts> <message-id>
smtp_records() {
	python3 - "$SMTPLOG" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    print(r["answer"], r["tls"], r["auth"], ",".join(r["rcpt_tos"]), r["message_id"])
PY
}

check "a scripted 451, then accepted: the message arrives once"
CUSTOMER="Zoë Gonçalves-Hélène"
TITLE="Café crème: réparer le frein"
P=$(add_promise "$TITLE" $(($(date +%s) + 2)) --customer "$CUSTOMER" \
	--phone "+32 470 99 88 77" --vehicle "Peugeot 208" --details "Client attend à l'accueil")
wait_notif "$P" sent 30
smtp_records | sed 's/^/  /'
[ "$(smtp_records | wc -l)" -eq 2 ] || fail "expected 2 DATA attempts"
[ "$(ls "$RCVD/new" | wc -l)" -eq 1 ] || fail "expected exactly 1 stored message"
grep -q "^<4>promise $P: notification [0-9]* to alice via email failed (attempt 1), retry in 1 s" "$LOG" ||
	fail "no retry warning for the 451"

check "both attempts over TLS, authenticated, to alice only, with the SAME Message-ID"
read -r a1 tls1 auth1 rcpt1 id1 < <(smtp_records | sed -n 1p)
read -r a2 tls2 auth2 rcpt2 id2 < <(smtp_records | sed -n 2p)
[ "$a1" = 451 ] && [ "$a2" = 250 ] || fail "answers $a1, $a2; expected 451, 250"
[ "$tls1 $tls2" = "True True" ] || fail "not over TLS: $tls1 $tls2"
[ "$auth1 $auth2" = "promised promised" ] || fail "not authenticated: $auth1 $auth2"
[ "$rcpt1 $rcpt2" = "alice@example.com alice@example.com" ] || fail "recipients $rcpt1 $rcpt2"
[ -n "$id1" ] && [ "$id1" != None ] || fail "no Message-ID in the first attempt"
[ "$id1" = "$id2" ] || fail "Message-ID changed between attempts: $id1 / $id2"

check "the arrived message: headers, an RFC 2047 subject with é, ë and ç, both MIME parts"
python3 - "$RCVD/new/"* "$id1" "$TITLE" "$CUSTOMER" <<'PY' || fail "the arrived message is not right"
import email, email.policy, email.utils, re, sys, time
from email.header import decode_header, make_header
path, msgid, title, customer = sys.argv[1:5]
raw = open(path, "rb").read()
assert all(b < 128 for b in raw), "8-bit bytes in the message"
m = email.message_from_bytes(raw)
assert m["Message-ID"] == msgid, m["Message-ID"]
assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", msgid), msgid
assert email.utils.parseaddr(m["From"]) == ("Promised Desk", "promised@example.com"), m["From"]
assert email.utils.parseaddr(m["To"])[1] == "alice@example.com", m["To"]
assert email.utils.parseaddr(m["Reply-To"])[1] == "desk@example.com", m["Reply-To"]
d = email.utils.parsedate_to_datetime(m["Date"])
assert abs(d.timestamp() - time.time()) < 300, m["Date"]
assert m["Auto-Submitted"] == "auto-generated", m["Auto-Submitted"]
rawsubj = m["Subject"]
assert "=?utf-8?" in rawsubj.lower(), rawsubj
subj = str(make_header(decode_header(rawsubj)))
print("  subject:", subj)
assert title in subj and customer in subj, subj
for ch in "éëç":
    assert ch in subj, ch
assert m.get_content_type() == "multipart/alternative", m.get_content_type()
parts = [p for p in m.walk() if not p.is_multipart()]
assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"], parts
for p in parts:
    assert p["Content-Transfer-Encoding"].lower() in ("quoted-printable", "base64"), p["Content-Transfer-Encoding"]
    assert p.get_content_charset() == "utf-8", p.get_content_charset()
    text = p.get_payload(decode=True).decode("utf-8")
    assert customer in text, (p.get_content_type(), text[:400])
    assert "Café crème" in text, p.get_content_type()
PY

check "a customer name with CR LF adds no header"
Q=$(add_promise "Call back about the quote" $(($(date +%s) + 3)) --customer "Placeholder")
# Written straight into the database, past any input checks: what the
# daemon renders is what a feed or another program may have stored.
sqlite3 "$DB" "UPDATE promises SET customer_name = 'Evil' || char(13, 10) ||
	'Bcc: x@example.com' || char(13, 10) || char(13, 10) || 'body?' WHERE id = $Q"
wait_notif "$Q" sent 30
[ "$(smtp_records | wc -l)" -eq 3 ] || fail "expected a third DATA"
read -r a3 _ _ rcpt3 id3 < <(smtp_records | sed -n 3p)
[ "$a3" = 250 ] || fail "the third message was answered $a3"
[ "$rcpt3" = "alice@example.com" ] || fail "the envelope grew: $rcpt3"
f3=$(grep -l -F "Message-ID: $id3" "$RCVD"/new/* || true)
[ -n "$f3" ] || fail "the third message was not stored"
python3 - "$f3" <<'PY' || fail "the CR LF name reached the headers"
import email, re, sys
from email.header import decode_header, make_header
raw = open(sys.argv[1], "rb").read()
head = raw.split(b"\r\n\r\n", 1)[0]
assert not re.search(rb"(?im)^bcc:", head), head
m = email.message_from_bytes(raw)
assert m.get_all("Bcc") is None
names = {k.lower() for k in m.keys()}
allowed = {"from", "to", "reply-to", "subject", "date", "message-id",
           "auto-submitted", "x-auto-response-suppress", "mime-version",
           "content-type", "content-transfer-encoding"}
assert names <= allowed | {n for n in names if n.startswith("x-promised")}, names - allowed
# Unfolding (RFC 5322 2.2.3) removes the CR LF of a folded line; any
# other CR or LF would be injected.
subj = re.sub(r"\r\n(?=[ \t])", "", m["Subject"])
subj = str(make_header(decode_header(subj)))
assert "Evil" in subj and "\r" not in subj and "\n" not in subj, repr(subj)
print("  subject:", subj)
PY

stop_daemon
echo "ok: $NCHECK checks"
