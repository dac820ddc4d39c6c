#!/usr/bin/env python3
"""Mock backend for the Lambda end-to-end test (scripts/lambda-e2e.sh), standard library only.

Routes (every answer is deterministic, so the native server and the Lambda function can be
compared byte for byte):

    GET  /users/{id}   a user object with more fields than the gateway lets through
    GET  /products     a JSON array
    ANY  /echo/...     what arrived: method, path, query, a few headers (repeats joined with
                       ","), X-Forwarded-For, and the body in base64
    GET  /binary       1 KiB of bytes 0..255 (not UTF-8), application/octet-stream
    GET  /cookies      two Set-Cookie and two X-Multi header lines
    GET  /big          a 7 MiB JSON document (over Lambda's 6 MB response limit)
    GET  /slow         answers after 2 s (the endpoint's timeout is shorter)

For the bad-input matrix (docs/bad-input.md), as tests/worker/mock.mjs does for Workers:

    ANY  /raw/...      what arrived, exactly: method, the request target as received, every
                       header but the platform's (PLATFORM_HEADERS), the body as text
    POST /sink         the body's length and SHA-256 (a 10 MiB upload is not echoed back)
    GET  /status/{n}   a JSON error with status n
    GET  /jwks/{oct,rsa,ec}.json  JWK sets (JWKS)
    GET  /cacheable/{kind}/{tag}  an answer a shared cache may store (public) or must not
                       (private, no-store, cookie: Set-Cookie, 5xx: 503), see CACHEABLE
    GET  /redirect     302 to /users/42 (same origin)
    GET  /redirect-cross  307 to /raw/after-redirect on this server's second port (another
                       origin, which serves the same routes)
    and the misbehaving backends of groups B, D and E (Handler.misbehave).

Every request is logged, and `GET /__calls?from=N` answers the ones after the first N (method,
target, headers), so a scenario can assert what the backend received, or that it was never
called (`GET /__count`: how many so far). `/drip`, `/endless` and `/hang` (no answer for 30 s)
are tracked: `GET /__tracked?from=N` says, per call, whether the caller hung up before the
answer was complete (`aborted`; null while it runs).

Usage: backend.py PORT   (0 picks a free port; the port is printed on the first line)
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import select
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ECHOED_HEADERS = ("content-type", "cookie", "x-multi", "user-agent", "x-user", "x-role")
BIG_BYTES = 7 * 1024 * 1024
# Headers that depend on the platform or the connection, not on what the gateway decided to
# forward: left out of `/raw` so the native and the Lambda answers compare as they are.
#  - framing: content-length, transfer-encoding, connection, keep-alive
#  - x-forwarded-host: the host the client asked for (the native server's 127.0.0.1:port, the
#    event's Host on Lambda); x-forwarded-for is kept, the driver checks it per route
#  - x-amzn-*: what AWS adds to an event (trace id, TLS details)
#  - lambda-runtime-aws-request-id: the Function-URL emulator (cargo lambda watch) puts it in
#    the event it builds, like x-amzn-trace-id
PLATFORM_HEADERS = ("content-length", "transfer-encoding", "connection", "keep-alive", "x-forwarded-host",
                    "lambda-runtime-aws-request-id")
PLATFORM_PREFIXES = ("x-amzn-",)

# Every request as it arrived (method, raw target, headers), and the tracked calls.
CALLS: list[dict] = []
TRACKED: list[dict] = []
LOCK = threading.Lock()

# Raw JSON texts the gateway must pass on digit for digit, or filter by decoded key (D35, D36).
NUMBERS = (b'{"big":9007199254740993,"huge":18446744073709551616,"neg_zero":-0,"over":1e400,'
           b'"long":0.1000000000000000055511}')
DUPLICATES = b'{"a":1,"a":2,"pass\\u0077ord":"escaped","password":"plain","kept":true}'
# Bodies that are not the JSON object they claim to be (D38).
NOT_JSON = {
    "html": b"<html><body>502 Bad Gateway</body></html>",
    "empty": b"",
    "null": b"null",
    "string": b'"str"',
    "trailing": b'{"a":1}xyz',
    "bom": '\ufeff{"a":1}'.encode(),
    "latin1": b'{"a":"\xe9"}',
}
_BOMB: list[bytes] = []
# /cacheable/{kind}/{tag}: status and headers per kind; only `public` may be stored.
CACHEABLE = {
    "public": (200, [("Cache-Control", "public, max-age=60")]),
    "private": (200, [("Cache-Control", "private, max-age=60")]),
    "no-store": (200, [("Cache-Control", "no-store")]),
    "cookie": (200, [("Cache-Control", "public, max-age=60"), ("Set-Cookie", "session=abc")]),
    "5xx": (503, [("Cache-Control", "max-age=60")]),
}
# JWK sets for the auth/validator endpoints with a `jwk_url` (F56, F63, F65): the e2e HS256
# key (tests/e2e-jwt/tokens.json), and public RSA and EC keys whose private halves nobody here
# holds (the tokens sent to those endpoints are attacks, never valid).
JWKS = {
    "oct": {"keys": [{"kty": "oct", "kid": "e2e", "alg": "HS256", "k": "XrYSAW2FFfes6SPnWIzsv3494V13dcPWoPZk5TxjlKI"}]},
    "rsa": {"keys": [{"kty": "RSA", "kid": "k1", "e": "AQAB", "n": (
        "v3RjfR-wnaEyxMOT38TLQo-1O4H4RS_NnXaPhsioU550-dWSEVqT_qFDz0L2PFt3Ms0s3SfB_SI9wtp8Gq35MDWDFnP4PbVOldszf"
        "FJRgfo7sKCfljebf6Axy4BnNi1YUwuLaY8mA1O1l25GYqgP99vfYRoJpjVjwcD-I9gwiCeEzwa_vC8yWWHRA8wFiQPc_JOH1hBBIHuj"
        "rjdrdluWwFc9wYmr2d0C8n0Ws6Yd6vBKxKWfpgq6C_pfzTvr_ignCkzQ0joH1-NdJwtIki2wCpW2H53CPSK6r4i0K1IEySzex1wfUGx4"
        "RfYp0mD43ZdkQHASgmbSEzNIKO_1Em4-7Q")}]},
    "ec": {"keys": [{"kty": "EC", "kid": "k1", "crv": "P-256", "x": "xIpU3jKJU7CxZf7Uhvqb4BLJZtCe3ySQuHGhJhe_Gx4",
                     "y": "KsWh46isTFz-zz__shwn7yXQQE6a_rGuN_DpAtLt0Lc"}]},
}
# The second port, another origin (set at start).
OTHER_ORIGIN: list[int] = []


def gzip_bomb() -> bytes:
    """64 MiB of JSON once decompressed (over the 16 MiB backend body limit), 64 KiB on the wire."""
    if not _BOMB:
        _BOMB.append(gzip.compress(b'{"a":"' + b"0" * (64 << 20) + b'"}', compresslevel=9))
    return _BOMB[0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body are separate writes; without this, Nagle plus the client's delayed
        # ACK adds 40 ms to every keep-alive answer, which would drown the figures measured.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass  # quiet: the driver prints the results

    def handle(self) -> None:
        try:
            super().handle()
        except ConnectionError:
            pass  # a client that goes away mid-request (a killed function) is not news

    def send(self, status: int, body: bytes, content_type: str, extra: list[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def json(self, value: object, extra: list[tuple[str, str]] = ()) -> None:
        self.send(200, json.dumps(value, sort_keys=True).encode(), "application/json", extra)

    def read_body(self) -> bytes:
        # The gateway streams request bodies chunked (as KrakenD does); http.server does not
        # decode that framing itself.
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def handle_any(self) -> None:
        url = urlsplit(self.path)
        if url.path in ("/__calls", "/__tracked"):
            start = int(parse_qs(url.query).get("from", ["0"])[0])
            with LOCK:
                records = (CALLS if url.path == "/__calls" else TRACKED)[start:]
                self.json([dict(r) for r in records])
            return
        if url.path == "/__count":
            with LOCK:
                self.json({"calls": len(CALLS), "tracked": len(TRACKED)})
            return
        with LOCK:
            CALLS.append({"method": self.command, "target": self.path,
                          "headers": {k.lower(): v for k, v in self.headers.items()}})
        if url.path == "/sink":
            return self.sink()
        body = self.read_body()
        if url.path.startswith("/raw/"):
            return self.json({
                "method": self.command, "target": self.path,
                "headers": {
                    name: ",".join(self.headers.get_all(name))
                    for name in sorted({k.lower() for k in self.headers.keys()})
                    if name not in PLATFORM_HEADERS and not name.startswith(PLATFORM_PREFIXES)
                },
                "body": body.decode(errors="replace"),
            })
        if self.misbehave(url.path):
            return
        if url.path.startswith("/users/"):
            user_id = url.path.rsplit("/", 1)[-1]
            self.json({
                "id": user_id, "name": "Ada", "email": "ada@example.com", "password_hash": "x",
                "address": {"city": "London", "street": "1 Analytical Row"},
            })
        elif url.path == "/products":
            self.json([{"id": 1, "name": "lamp", "price": 12.5}, {"id": 2, "name": "desk", "price": 99}])
        elif url.path.startswith("/echo/"):
            headers = {
                name: ",".join(v.strip() for value in self.headers.get_all(name, []) for v in value.split(","))
                for name in ECHOED_HEADERS
                if self.headers.get_all(name)
            }
            self.json({
                "method": self.command, "path": url.path, "query": url.query, "headers": headers,
                "x-forwarded-for": self.headers.get("X-Forwarded-For", ""),
                "body": base64.b64encode(body).decode(),
            })
        elif url.path == "/binary":
            self.send(200, bytes(range(256)) * 4, "application/octet-stream")
        elif url.path == "/cookies":
            self.json({"ok": True}, [
                ("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/; HttpOnly"),
                ("X-Multi", "first"), ("X-Multi", "second"),
            ])
        elif url.path == "/big":
            self.send(200, b'{"data":"' + b"a" * (BIG_BYTES - 11) + b'"}', "application/json")
        elif url.path == "/slow":
            time.sleep(2)
            self.json({"late": True})
        elif m := re.fullmatch(r"/status/(\d+)", url.path):
            self.send(int(m[1]), json.dumps({"error": f"status {m[1]}"}).encode(), "application/json",
                      [("X-Mock", "status")])
        elif url.path == "/redirect":
            self.send(302, b"", "text/plain", [("Location", "/users/42")])
        elif url.path == "/redirect-cross":
            # To another origin: this server's second port (B16).
            self.send(307, b"", "text/plain", [("Location", f"http://127.0.0.1:{OTHER_ORIGIN[0]}/raw/after-redirect")])
        else:
            self.send(404, b"not found\n", "text/plain")

    def sink(self) -> None:
        """The body's length and SHA-256, read as it arrives (chunked or not), never kept."""
        digest, size = hashlib.sha256(), 0
        for piece in self.body_pieces():
            digest.update(piece)
            size += len(piece)
        self.json({"bytes": size, "sha256": digest.hexdigest()})

    def body_pieces(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while size := int(self.rfile.readline().split(b";")[0].strip(), 16):
                yield self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return
        left = int(self.headers.get("Content-Length") or 0)
        while left:
            piece = self.rfile.read(min(left, 1 << 16))
            if not piece:
                return
            left -= len(piece)
            yield piece

    def raw_close(self, data: bytes, reset: bool = False) -> None:
        """Bytes written straight to the socket, then the connection closed (reset: with RST)."""
        self.close_connection = True
        sock = self.connection
        if data:
            sock.sendall(data)
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            sock.shutdown(socket.SHUT_WR)

    def tracked(self, head: list[tuple[str, str]], first: bytes, more: bytes, pause: float) -> None:
        """A 200 whose body never ends: `first`, then `more` every `pause` seconds until the
        caller hangs up, which the record says (`aborted`)."""
        record = {"path": urlsplit(self.path).path, "aborted": None}
        with LOCK:
            TRACKED.append(record)
        self.close_connection = True
        try:
            self.send_response(200)
            for name, value in head:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(first)
            deadline = time.monotonic() + 30  # nobody waits that long: the gateway gave up
            while time.monotonic() < deadline:
                self.wfile.write(more)
                self.wfile.flush()
                if pause:
                    time.sleep(pause)
            record["aborted"] = False
        except OSError:
            record["aborted"] = True

    def hang(self) -> None:
        """No answer for 30 s, watching for the caller to hang up (E49): the record says when,
        in ms after the request arrived (`after_ms`)."""
        record = {"path": "/hang", "aborted": None, "after_ms": None}
        with LOCK:
            TRACKED.append(record)
        self.close_connection = True
        started = time.monotonic()
        while time.monotonic() - started < 30:
            readable, _, _ = select.select([self.connection], [], [], 0.02)
            if readable and not self.connection.recv(1, socket.MSG_PEEK):
                record["after_ms"] = round((time.monotonic() - started) * 1000)
                record["aborted"] = True
                return
        self.json({"late": True})
        record["aborted"] = False

    def misbehave(self, path: str) -> bool:
        """The misbehaving backends (docs/bad-input.md groups B, D and E); False: no such route."""
        as_json = "application/json"
        if path == "/numbers":
            self.send(200, NUMBERS, as_json)
        elif path == "/duplicates":
            self.send(200, DUPLICATES, as_json)
        elif (m := re.fullmatch(r"/not-json/(\w+)", path)) and m[1] in NOT_JSON:
            self.send(200, NOT_JSON[m[1]], as_json)
        elif path == "/deep":
            self.send(200, b"[" * 10_000 + b"]" * 10_000, as_json)
        elif m := re.fullmatch(r"/collide/(\d+)/(\w+)", path):
            time.sleep(int(m[1]) / 1000)
            self.json({"id": m[2], m[2]: True})
        elif path == "/leaky":
            # Response headers a merged JSON endpoint must not hand to the client (B24).
            self.json({"leaky": True}, [("Set-Cookie", "session=backend; Path=/"),
                                        ("Access-Control-Allow-Origin", "*"), ("X-Powered-By", "PHP/5.1")])
        elif path == "/gzip-lie":
            self.send(200, b'{"plain":true}', as_json, [("Content-Encoding", "gzip")])
        elif path == "/gzip-bomb":
            self.send(200, gzip_bomb(), as_json, [("Content-Encoding", "gzip")])
        elif path == "/unknown-encoding":
            self.send(200, b'{"coded":true}', as_json, [("Content-Encoding", "x-unknown")])
        elif path == "/short":
            # Declares 1000 bytes, sends 500, then closes (E44).
            self.raw_close(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                           + b'{"a":"' + b"x" * 494)
        elif path == "/garbage":
            # Not HTTP at all (E45): bytes instead of a status line, then close.
            self.raw_close(b"SSH-2.0-OpenSSH_9.6\r\nthis is not a status line\r\n\r\n")
        elif path == "/reset":
            # Reset before any header (E45).
            self.raw_close(b"", reset=True)
        elif path == "/huge-headers":
            # 200 response headers of 600 bytes each: 120 KB of head (E48).
            self.json({"ok": True}, [(f"X-Big-{i}", "h" * 600) for i in range(200)])
        elif (m := re.fullmatch(r"/cacheable/([\w-]+)/([\w-]+)", path)) and m[1] in CACHEABLE:
            # Answers a shared cache may or may not store (H72-H74).
            status, headers = CACHEABLE[m[1]]
            self.send(status, json.dumps({"kind": m[1]}).encode(), as_json, headers)  # no tag: equal bodies
        elif (m := re.fullmatch(r"/jwks/(\w+)\.json", path)) and m[1] in JWKS:
            self.send(200, json.dumps(JWKS[m[1]]).encode(), as_json)
        elif path == "/redirect-metadata":
            # A backend sending the gateway to the cloud metadata service (E47).
            self.send(302, b"", "text/plain", [("Location", "http://169.254.169.254/latest/meta-data/")])
        elif path == "/hang":
            self.hang()
        elif path == "/drip":
            # Headers at once, then the body one byte every 100 ms (E42).
            self.tracked([("Content-Type", as_json)], b'{"a":"', b"x", 0.1)
        elif path == "/endless":
            # A body without end (D37), as fast as the caller reads it; no Content-Length, so
            # it ends only when the connection does.
            self.tracked([("Content-Type", as_json)], b'{"a":"', b"x" * (64 * 1024), 0)
        else:
            return False
        return True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
    server.daemon_threads = True
    # The same routes on a second port: another origin for /redirect-cross.
    other = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    other.daemon_threads = True
    OTHER_ORIGIN.append(other.server_address[1])
    threading.Thread(target=other.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
