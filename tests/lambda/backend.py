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

Usage: backend.py PORT   (0 picks a free port; the port is printed on the first line)
"""

from __future__ import annotations

import base64
import json
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

ECHOED_HEADERS = ("content-type", "cookie", "x-multi", "user-agent", "x-user")
BIG_BYTES = 7 * 1024 * 1024


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
        body = self.read_body()
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
        else:
            self.send(404, b"not found\n", "text/plain")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
