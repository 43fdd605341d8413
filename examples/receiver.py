#!/usr/bin/env python3
"""A tiny webhook receiver for `journey serve`: prints each message it gets and checks its
Standard Webhooks signature (webhook-id, webhook-timestamp, webhook-signature).

    python3 examples/receiver.py --port 9000 --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw

Only the standard library. For tests it can also misbehave on purpose (--fail, --slow, --drop,
--throttle: the share of requests answered 500, answered late, cut off, or answered 429 with
Retry-After; --refuse PROFILE: 422 for that profile) and --record FILE writes one JSON line per
request with what it answered.
"""
import argparse
import base64
import hashlib
import hmac
import json
import random
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def key_of(secret):
    """A whsec_ secret is base64 after the prefix; any other text is the key itself."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_"):])
    return secret.encode()


def verify(key, msg_id, timestamp, body, header, tolerance=300):
    """True when one of the header's v1 signatures is HMAC-SHA256(key, id.timestamp.body)
    and the timestamp is within `tolerance` seconds of now."""
    try:
        if abs(time.time() - int(timestamp)) > tolerance:
            return False
    except ValueError:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for sig in header.split():
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9000, help="0: any free port (printed)")
    p.add_argument("--secret", help="the channel's secret; without it signatures are not checked")
    p.add_argument("--fail", type=float, default=0, help="share of requests answered 500")
    p.add_argument("--slow", type=float, default=0, help="share answered after --delay seconds")
    p.add_argument("--delay", type=float, default=2.0)
    p.add_argument("--drop", type=float, default=0, help="share whose connection is closed unanswered")
    p.add_argument("--throttle", type=float, default=0, help="share answered 429 with Retry-After: 1")
    p.add_argument("--refuse", action="append", default=[], help="answer 422 for this profile's messages")
    p.add_argument("--record", help="append one JSON line per request: its id, answer, body hash and message")
    p.add_argument("--seed", type=int)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    key = key_of(args.secret) if args.secret else None
    rng = random.Random(args.seed)
    lock = threading.Lock()
    record = open(args.record, "a", buffering=1) if args.record else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def answer(self, code, extra=None):
            body = b"{}"
            self.send_response(code)
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            msg_id = self.headers.get("webhook-id", "")
            stamp = self.headers.get("webhook-timestamp", "")
            signature = self.headers.get("webhook-signature", "")
            valid = verify(key, msg_id, stamp, body, signature) if key else None
            try:
                message = json.loads(body)
            except ValueError:
                message = None
            with lock:
                roll = rng.random()
            # What to do with this request: drop it, fail it, throttle it, answer late, or take it.
            action, code = "answer", 200
            if message is not None and message.get("profile") in args.refuse:
                code = 422
            elif roll < args.drop:
                action, code = "drop", 0
            elif roll < args.drop + args.fail:
                code = 500
            elif roll < args.drop + args.fail + args.throttle:
                code = 429
            elif roll < args.drop + args.fail + args.throttle + args.slow:
                action = "slow"
            if code == 200 and key and not valid:
                print(f"REJECTED {msg_id}: bad signature", file=sys.stderr, flush=True)
                code = 401
            elif code == 200 and message is None:
                code = 400
            if record:
                with lock:
                    record.write(json.dumps({"id": msg_id, "valid": valid, "received": time.time(), "code": code,
                                             "action": action, "body": hashlib.sha256(body).hexdigest(),
                                             "message": message}) + "\n")
            if action == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if action == "slow":
                time.sleep(args.delay)
            if code == 200 and not args.quiet:
                mark = "signature ok" if valid else "unsigned"
                print(f"{message.get('channel')} to {message.get('address')} ({message.get('profile')}, "
                      f"{message.get('journey')}) [{mark}]: {json.dumps(message.get('content'))}", flush=True)
            self.answer(code, {"Retry-After": "1"} if code == 429 else None)

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    print(f"receiver: listening on {args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
