#!/usr/bin/env python3
"""A Web Push receiver for Lineup's tests, written independently of the server's sender.

It plays both the push service and the subscribed devices: it makes each subscriber's P-256
key pair and auth secret (GET /subscriber/<name>), and on every POST /push/<name> it

- checks the RFC 8292 VAPID header: `vapid t=<JWT>, k=<key>` with k the server's key (given on
  the command line), an ES256 signature that verifies with it, `aud` equal to this receiver's
  origin (scheme, host and port), `exp` in the future and at most 24 h ahead, `sub` a mailto:
  or https: contact;
- checks the RFC 8030 headers (TTL, Urgency) and `Content-Encoding: aes128gcm`;
- decrypts the body (RFC 8291) with the subscriber's private key using `http_ece`, and tries
  another key pair with the same auth secret, which must fail;
- answers by the name's prefix: `gone-` 410, `fail-` 500 the first --fail-times times,
  `slow-` after --slow-s seconds, `retry-` 429 with Retry-After: 1 once, otherwise 201.

GET /records returns everything seen (and how many requests are in progress). The first line
on stdout is {"port": N}.
"""

import argparse
import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class State:
    def __init__(self, vapid_key, slow_s, fail_times):
        self.lock = threading.Lock()
        self.vapid_key = vapid_key
        self.slow_s = slow_s
        self.fail_times = fail_times
        self.subscribers = {}
        self.attempts = {}
        self.records = []
        self.in_progress = 0
        self.port = None

    def subscriber(self, name):
        with self.lock:
            if name not in self.subscribers:
                key = ec.generate_private_key(ec.SECP256R1())
                other = ec.generate_private_key(ec.SECP256R1())
                auth = __import__("os").urandom(16)
                self.subscribers[name] = (key, other, auth)
            return self.subscribers[name]


def check_vapid(state, header):
    """Returns (claims, None) or (None, why)."""
    if not header or not header.startswith("vapid "):
        return None, "no vapid authorization"
    params = {}
    for part in header[len("vapid "):].split(","):
        k, _, v = part.strip().partition("=")
        params[k] = v
    t, k = params.get("t"), params.get("k")
    if not t or not k:
        return None, "t or k missing"
    if k != state.vapid_key:
        return None, "k is not the server's VAPID key"
    pieces = t.split(".")
    if len(pieces) != 3:
        return None, "JWT is not three parts"
    head = json.loads(b64d(pieces[0]))
    if head.get("alg") != "ES256":
        return None, "alg is not ES256"
    claims = json.loads(b64d(pieces[1]))
    sig = b64d(pieces[2])
    if len(sig) != 64:
        return None, "signature is not 64 bytes"
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(k))
    try:
        pub.verify(der, (pieces[0] + "." + pieces[1]).encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return None, "signature does not verify"
    origin = "http://127.0.0.1:%d" % state.port
    if claims.get("aud") != origin:
        return None, "aud %r is not %r" % (claims.get("aud"), origin)
    now = time.time()
    exp = claims.get("exp")
    if not isinstance(exp, int) or not (now < exp <= now + 86400 + 120):
        return None, "exp %r is not within 24 h" % exp
    sub = claims.get("sub", "")
    if not (sub.startswith("mailto:") or sub.startswith("https:")):
        return None, "sub %r is not mailto: or https:" % sub
    return claims, None


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, obj=None, headers=()):
            body = json.dumps(obj).encode() if obj is not None else b""
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            if obj is not None:
                self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.startswith("/subscriber/"):
                name = self.path[len("/subscriber/"):]
                key, _, auth = state.subscriber(name)
                pub = key.public_key().public_bytes(
                    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
                )
                self.reply(200, {
                    "endpoint": "http://127.0.0.1:%d/push/%s" % (state.port, name),
                    "p256dh": b64e(pub),
                    "auth": b64e(auth),
                })
            elif self.path == "/records":
                with state.lock:
                    self.reply(200, {"records": state.records, "in_progress": state.in_progress})
            else:
                self.reply(404, {"error": "no such path"})

        def do_POST(self):
            if not self.path.startswith("/push/"):
                self.reply(404)
                return
            name = self.path[len("/push/"):]
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with state.lock:
                state.in_progress += 1
                state.attempts[name] = state.attempts.get(name, 0) + 1
                attempt = state.attempts[name]
            try:
                self.handle_push(name, body, attempt)
            finally:
                with state.lock:
                    state.in_progress -= 1

        def handle_push(self, name, body, attempt):
            rec = {
                "name": name,
                "attempt": attempt,
                "t": time.time(),
                "ttl": self.headers.get("TTL"),
                "urgency": self.headers.get("Urgency"),
                "content_encoding": self.headers.get("Content-Encoding"),
                "raw_b64": b64e(body),
                "header_text": "\n".join("%s: %s" % kv for kv in self.headers.items()),
                "errors": [],
            }
            claims, why = check_vapid(state, self.headers.get("Authorization"))
            rec["vapid"] = claims
            if why:
                rec["errors"].append("vapid: " + why)
            if rec["content_encoding"] != "aes128gcm":
                rec["errors"].append("content-encoding is not aes128gcm")
            try:
                if int(rec["ttl"]) <= 0:
                    rec["errors"].append("TTL is not positive")
            except (TypeError, ValueError):
                rec["errors"].append("TTL missing or not a number")
            if rec["urgency"] not in ("very-low", "low", "normal", "high"):
                rec["errors"].append("Urgency missing or unknown")
            if name not in state.subscribers:
                rec["errors"].append("unknown subscriber")
                rec["payload"] = None
            else:
                key, other, auth = state.subscribers[name]
                try:
                    plain = http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm")
                    rec["payload"] = json.loads(plain)
                except Exception as e:  # noqa: BLE001 - any failure is recorded for the test
                    rec["payload"] = None
                    rec["errors"].append("decrypt: %r" % e)
                try:
                    http_ece.decrypt(body, private_key=other, auth_secret=auth, version="aes128gcm")
                    rec["other_key_decrypts"] = True
                except Exception:  # noqa: BLE001
                    rec["other_key_decrypts"] = False
            status, headers = 201, [("Location", "/msg/%d" % len(state.records))]
            if name.startswith("gone-"):
                status = 410
            elif name.startswith("fail-") and attempt <= state.fail_times:
                status = 500
            elif name.startswith("retry-") and attempt == 1:
                status, headers = 429, [("Retry-After", "1")]
            elif name.startswith("slow-"):
                time.sleep(state.slow_s)
            rec["status"] = status
            with state.lock:
                state.records.append(rec)
            try:
                self.reply(status, None, headers)
            except (BrokenPipeError, ConnectionResetError):
                rec["client_gone"] = True

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vapid-key", required=True)
    ap.add_argument("--slow-s", type=float, default=3.0)
    ap.add_argument("--fail-times", type=int, default=2)
    args = ap.parse_args()
    state = State(args.vapid_key, args.slow_s, args.fail_times)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    print(json.dumps({"port": state.port}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
