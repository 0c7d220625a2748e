#!/usr/bin/python3
"""tcp_blackhole: a TCP server that accepts connections and never answers.

For fault tests: a peer whose kernel completes the TCP handshake but whose
program never speaks (an SMTP server that sends no greeting, an HTTP
server that never replies).  Binds 127.0.0.1 only.  Prints the port it
listens on as the first line of stdout, then serves until it is killed (by
PID).  Connections are held open (reading and discarding what arrives)
until the client closes them.

Usage:
  tcp_blackhole.py [--port N] [--log FILE] [--greet TEXT]

  --port N      port to bind; 0 (default) lets the kernel choose.
  --log FILE    one JSON line per event: {"event": "accept", "t": unix
                time, "client_port": N} when a connection is accepted and
                {"event": "closed", "t": ..., "client_port": N, "bytes": N}
                when the client closes it (bytes: what it sent).
  --greet TEXT  send TEXT + CRLF once after accepting, then go silent (a
                server that stops mid-dialogue).
"""
import argparse
import json
import socket
import sys
import threading
import time


def log(args, lock, record):
    if not args.log:
        return
    with lock:
        with open(args.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def hold(args, lock, conn, port):
    total = 0
    try:
        if args.greet is not None:
            conn.sendall(args.greet.encode() + b"\r\n")
        while True:
            data = conn.recv(65536)
            if not data:
                break
            total += len(data)
    except OSError:
        pass
    finally:
        conn.close()
    log(args, lock, {"event": "closed", "t": time.time(),
                     "client_port": port, "bytes": total})


def main():
    ap = argparse.ArgumentParser(description="accepts and never answers")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", default=None)
    ap.add_argument("--greet", default=None)
    args = ap.parse_args()
    lock = threading.Lock()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(16)
    print(srv.getsockname()[1], flush=True)
    while True:
        conn, addr = srv.accept()
        log(args, lock, {"event": "accept", "t": time.time(),
                         "client_port": addr[1]})
        threading.Thread(target=hold, args=(args, lock, conn, addr[1]),
                         daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
