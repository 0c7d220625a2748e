#!/usr/bin/python3
"""http_receiver: a scriptable HTTP receiver for webhook and SMS tests.

Binds 127.0.0.1 only.  Prints the port it listens on as the first line of
stdout, then serves until it is killed (by PID).

Usage:
  http_receiver.py --log FILE [--port N] [--script SPEC | --script-file F]
                   [--default SPEC] [--delay S] [--body TEXT]
                   [--body-repeat N] [--secret S | --secret-file F]

  --port N        port to bind; 0 (default) lets the kernel choose.
  --log FILE      every request is appended as one JSON line:
                    {"n": 1, "method": "POST", "path": "/hook",
                     "headers": [["Name", "value"], ...],
                     "body": "...",          (UTF-8, bad bytes replaced)
                     "body_b64": "...",      (the exact bytes, base64)
                     "client_port": 40001,   (same port: same connection)
                     "answer": "503",        (what was answered)
                     "concurrent": 1,        (requests in progress when
                                              this one arrived, itself
                                              included)
                     "max_concurrent": 2,    (highest so far)
                     "sig_ok": true,         (only with --secret: true or
                                              false when the request has
                                              a webhook-signature, else
                                              null)
                     "t": 1767225600.25}     (Unix time the request was
                                              read)
                  The line is written when the request has been read,
                  before the answer (so a stalled request is logged too).
  --script SPEC   answers for the first requests, in order, comma
                  separated; every later request gets --default.
                  Entries:
                    200, 503, 400, ...   that status
                    429:Retry-After=2    a status with extra headers
                                         (Name=Value, several joined
                                         with '|')
                    stall:S              sleep S seconds, then 200
                    reset                close the connection with a TCP
                                         reset, no answer
                    close                close the connection (FIN) without
                                         answering a byte
                    truncate             200 announcing the full body's
                                         Content-Length, half of the body
                                         sent, then the connection closed
                    stream:N             200 with Content-Length N and a
                                         generated body of N bytes ("X"),
                                         written until done or the client
                                         goes away (N may be 1e9: nothing
                                         is held in memory or on disk)
                    chunked:N            the same without Content-Length
                                         (chunked transfer encoding)
                  After a stream or chunked answer one more line is logged:
                    {"n": N, "sent_bytes": bytes written, "t": ...}
  --script-file F the same entries, one per line (values may then hold
                  commas, e.g. an HTTP-date in Retry-After).
  --default SPEC  answer after the script runs out (default 200).
  --delay S       sleep S seconds before every answer (to keep requests
                  in flight together, e.g. for concurrency tests).
  --body TEXT     response body of every answer (default {"id":"rcv-N"}
                  with N the request number); --body-repeat N repeats it.
  --secret S      verify the Standard Webhooks signature of every request
                  (webhook-id, webhook-timestamp, webhook-signature) with
                  this secret ("whsec_" + base64 key, or raw bytes) and log
                  the outcome as sig_ok.  An independent implementation
                  (Python's hmac) of what the sender signs.
  --secret-file F the same, with the secret read from file F.
  --body-file F   response body read from file F (its exact bytes).
  --content-type T  Content-Type of every answer (default
                  application/json).
  --etag TAG      conditional GET: every 200 answer carries ETag: TAG,
                  and a request whose If-None-Match equals TAG gets
                  304 Not Modified without a body (logged with
                  "answer": "304").
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import socket
import struct
import sys
import threading
import time


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.script = script_entries(args)
        self.default = args.default
        self.count = 0
        self.active = 0
        self.max_active = 0
        self.log = open(args.log, "a", encoding="utf-8")
        self.args = args

    def next_answer(self):
        with self.lock:
            self.count += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            entry = self.script.pop(0) if self.script else self.default
            return self.count, entry, self.active, self.max_active

    def finished(self):
        with self.lock:
            self.active -= 1

    def write(self, record):
        with self.lock:
            self.log.write(json.dumps(record) + "\n")
            self.log.flush()


def script_entries(args):
    if args.script_file:
        with open(args.script_file, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    return [e for e in args.script.split(",") if e]


def signing_key(secret):
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_"):])
    return secret.encode()


def verify(secret, headers, body):
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature")
    if msg_id is None or ts is None or sigs is None:
        return False
    signed = msg_id.encode() + b"." + ts.encode() + b"." + body
    expected = base64.b64encode(
        hmac.new(signing_key(secret), signed, hashlib.sha256).digest()).decode()
    for sig in sigs.split(" "):
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


def parse_entry(entry):
    """Returns (kind, status, headers, seconds)."""
    head, _, rest = entry.partition(":")
    if head == "reset":
        return "reset", 0, [], 0.0
    if head == "stall":
        return "stall", 200, [], float(rest)
    if head in ("close", "truncate"):
        return head, 0, [], 0.0
    if head in ("stream", "chunked"):
        return head, 200, [], float(int(float(rest)))
    headers = []
    for p in rest.split("|") if rest else []:
        name, _, value = p.partition("=")
        headers.append((name, value))
    return "status", int(head), headers, 0.0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def handle_any(self):
        st = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        n, entry, active, max_active = st.next_answer()
        try:
            record = {
                "n": n, "method": self.command, "path": self.path,
                "client_port": self.client_address[1],
                "headers": [[k, v] for k, v in self.headers.items()],
                "body": body.decode("utf-8", "replace"),
                "body_b64": base64.b64encode(body).decode(),
                "answer": entry, "concurrent": active,
                "max_concurrent": max_active, "t": time.time(),
            }
            if st.args.secret is not None:
                record["sig_ok"] = (
                    verify(st.args.secret, self.headers, body)
                    if "webhook-signature" in self.headers else None)
            if (st.args.etag is not None and entry == "200" and
                    self.headers.get("If-None-Match") == st.args.etag):
                entry = record["answer"] = "304"
            st.write(record)
            self.answer(n, entry)
        finally:
            st.finished()

    def answer(self, n, entry):
        st = self.server.state
        kind, status, headers, secs = parse_entry(entry)
        if st.args.delay > 0:
            time.sleep(st.args.delay)
        if kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if kind == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if kind in ("stream", "chunked"):
            self.stream(n, kind, int(secs))
            return
        if kind == "stall":
            time.sleep(secs)
        text = st.args.body if st.args.body is not None else '{"id":"rcv-%d"}' % n
        payload = (text * st.args.body_repeat).encode()
        if st.args.body_file is not None:
            with open(st.args.body_file, "rb") as f:
                payload = f.read()
        if status == 304:
            payload = b""
        if kind == "truncate":
            self.truncated(payload)
            return
        try:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            if st.args.etag is not None and status in (200, 304):
                self.send_header("ETag", st.args.etag)
            if status != 304:
                self.send_header("Content-Type", st.args.content_type)
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def truncated(self, payload):
        """Announces all of payload, sends half, closes."""
        st = self.server.state
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", st.args.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[:len(payload) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def stream(self, n, kind, size):
        """A generated body of size bytes, sent as long as the client
        reads; logs how much went out."""
        st = self.server.state
        block = b"X" * 65536
        sent = 0
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", st.args.content_type)
            if kind == "stream":
                self.send_header("Content-Length", str(size))
            else:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while sent < size:
                part = block[:min(len(block), size - sent)]
                if kind == "chunked":
                    self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
                else:
                    self.wfile.write(part)
                sent += len(part)
            if kind == "chunked":
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            pass
        st.write({"n": n, "sent_bytes": sent, "t": time.time()})

    do_POST = do_PUT = do_GET = do_DELETE = do_PATCH = handle_any

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass


def main():
    ap = argparse.ArgumentParser(description="scriptable HTTP receiver")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", required=True)
    ap.add_argument("--script", default="")
    ap.add_argument("--script-file", default=None)
    ap.add_argument("--default", default="200")
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--body", default=None)
    ap.add_argument("--body-repeat", type=int, default=1)
    ap.add_argument("--secret", default=None)
    ap.add_argument("--secret-file", default=None)
    ap.add_argument("--body-file", default=None)
    ap.add_argument("--content-type", default="application/json")
    ap.add_argument("--etag", default=None)
    args = ap.parse_args()
    if args.secret_file is not None:
        with open(args.secret_file, encoding="utf-8") as f:
            args.secret = f.read().strip()
    for entry in script_entries(args) + [args.default]:
        parse_entry(entry)          # fail early on a typo
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = State(args)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
