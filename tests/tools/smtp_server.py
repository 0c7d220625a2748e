#!/usr/bin/python3
"""smtp_server: a scriptable SMTP server (aiosmtpd) for delivery tests.

Binds 127.0.0.1 only.  Prints the port it listens on as the first line of
stdout once it accepts connections, then serves until it is killed (by
PID).  Needs python3-aiosmtpd (Debian 12: 1.4.x); run it with
/usr/bin/python3 when another python3 comes first in PATH.

Usage:
  smtp_server.py --maildir DIR [--port N] [--log FILE]
                 [--cert CERT --key KEY [--implicit-tls]]
                 [--user NAME --password PASS | --password-file F]
                 [--script SPEC]

  --port N        port to bind; 0 (default) lets the kernel choose.
  --maildir DIR   every accepted message is stored byte for byte (as the
                  client sent it, after SMTP dot-unstuffing) in the Maildir
                  DIR: written to DIR/tmp, renamed into DIR/new.  DIR and
                  its tmp/new/cur are created when missing; an existing
                  empty DIR is fine.  Nothing is added to the message.
  --log FILE      one JSON line per DATA: {"n": 1, "mail_from": "...",
                  "rcpt_tos": [...], "tls": true, "auth": "login name or
                  null", "answer": "250", "file": "path or null"}.
  --cert, --key   a certificate (PEM) and its key: STARTTLS is offered.
                  Without them the server offers no STARTTLS at all.
  --implicit-tls  TLS from the first byte (smtps) instead of STARTTLS.
  --user, --password / --password-file
                  AUTH PLAIN and LOGIN with this one account, required
                  before MAIL and only offered over TLS.
  --script SPEC   answers to DATA for the first messages, in order, comma
                  separated; later messages are accepted (250).
                  Entries: 250 (accept), a reply code such as 451 or 554
                  (that reply, message not stored), drop (close the
                  connection after DATA without a reply), stall (read
                  the message, then never answer and keep the
                  connection open: a server that stops mid-dialogue).
  --verbose       keep aiosmtpd's own log on stderr (session errors).
"""
import argparse
import asyncio
import json
import logging
import os
import ssl
import sys
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

REPLIES = {
    "421": "421 4.3.2 Service shutting down",
    "450": "450 4.2.0 Mailbox busy",
    "451": "451 4.3.0 Temporary failure, try again later",
    "452": "452 4.3.1 Insufficient storage",
    "550": "550 5.1.1 Mailbox unavailable",
    "552": "552 5.3.4 Message too big",
    "554": "554 5.7.1 Message rejected",
}


class Handler:
    def __init__(self, args):
        self.args = args
        self.script = [e for e in args.script.split(",") if e] if args.script else []
        self.count = 0
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(args.maildir, sub), exist_ok=True)

    def store(self, data):
        name = "%d.%d_%d.promised-test" % (time.time(), os.getpid(), self.count)
        tmp = os.path.join(self.args.maildir, "tmp", name)
        new = os.path.join(self.args.maildir, "new", name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, new)
        return new

    def log(self, record):
        if self.args.log:
            with open(self.args.log, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        entry = self.script.pop(0) if self.script else "250"
        auth = session.auth_data
        record = {
            "n": self.count, "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": session.ssl is not None,
            "auth": auth.login.decode() if isinstance(auth, LoginPassword) else None,
            "answer": entry, "file": None,
        }
        if entry == "drop":
            self.log(record)
            server.transport.abort()
            return "421 4.4.2 Connection dropped"
        if entry == "stall":
            self.log(record)
            await asyncio.sleep(3600)
            return "451 4.4.2 Stalled too long"
        if entry != "250":
            self.log(record)
            return REPLIES.get(entry, entry + " Scripted reply")
        record["file"] = self.store(envelope.original_content)
        self.log(record)
        return "250 2.0.0 OK queued as %d" % self.count


class Authenticator:
    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == self.user
              and auth_data.password == self.password)
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


def main():
    ap = argparse.ArgumentParser(description="scriptable SMTP server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--log", default=None)
    ap.add_argument("--cert", default=None)
    ap.add_argument("--key", default=None)
    ap.add_argument("--implicit-tls", action="store_true")
    ap.add_argument("--user", default=None)
    ap.add_argument("--password", default=None)
    ap.add_argument("--password-file", default=None)
    ap.add_argument("--script", default="")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if args.password_file is not None:
        with open(args.password_file, encoding="utf-8") as f:
            args.password = f.read().strip()

    # aiosmtpd 1.4 warns about its own deprecated session fields and logs
    # every failed TLS handshake with a traceback; tests provoke those.
    warnings.simplefilter("ignore", DeprecationWarning)
    if not args.verbose:
        logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    ctx = None
    if args.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.cert, args.key)
    handler = Handler(args)
    auth = Authenticator(args.user, args.password or "") if args.user else None

    def factory():
        return SMTP(handler, hostname="promised-test",
                    tls_context=None if args.implicit_tls else ctx,
                    authenticator=auth, auth_required=auth is not None,
                    auth_require_tls=True)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(
        factory, host="127.0.0.1", port=args.port,
        ssl=ctx if args.implicit_tls else None))
    print(server.sockets[0].getsockname()[1], flush=True)
    loop.run_forever()


if __name__ == "__main__":
    sys.exit(main())
