#!/usr/bin/env python3
"""The misbehaving backend of the soak test (scripts/soak.sh), Python 3.11 standard library only.

A raw asyncio TCP server, not http.server: most of its faults are things a well-behaved HTTP
library will not do (reset a connection mid-body, lie about Content-Length, send garbage
instead of a status line). The path picks the fault, the variant inside a fault is random:

    /ok            200 JSON after 0-20 ms
    /latency       200 JSON after 0-1000 ms (the soak endpoint's timeout is 500 ms)
    /reset         RST before the head; head + half the body then RST; head + half the body
                   then FIN (Content-Length not reached); chunked head + one chunk then RST
    /5xx           500, 502, 503 or 504 with a JSON body
    /trickle-fast  200 JSON of ~1 KiB written in 10-20 pieces over 50-200 ms
    /trickle-slow  the same over 1.5-2.5 s (the soak endpoint's timeout is 500 ms)
    /oversized     17 MiB (over the gateway's 16 MiB backend cap): declared up front with
                   Content-Length, or streamed chunked with no length; stops when the gateway
                   hangs up
    /malformed     200 application/json whose body is not one JSON object: truncated, HTML,
                   empty, trailing garbage, invalid UTF-8, an array, null, a string, a number,
                   nesting 10 000 deep
    /broken-http   not HTTP: garbage status line, a non-HTTP greeting, a bad header line, a
                   non-numeric Content-Length, a bad chunk size

A connection that answered cleanly stays open for the next request and is closed after
IDLE_CLOSE seconds without one, so the gateway's idle pooled connections go away when the load
pauses (the soak measures file descriptors at those pauses). Every other connection is closed
after its answer, by FIN or RST as the fault says.

Usage: backend.py [--seed N]   (listens on 127.0.0.1, a free port, printed as `port N`)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import struct
import sys

# Idle keep-alive connections are closed after this long (see the module doc).
IDLE_CLOSE = 1.0
# The gateway's backend response cap is 16 MiB (core/src/proxy/stack.rs); one more MiB.
OVERSIZED = 17 * 1024 * 1024
CHUNK = 64 * 1024
# A request head larger than this is not from the gateway.
MAX_HEAD = 64 * 1024

MALFORMED = [
    b'{"a": 1, "b": [1, 2',
    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    b"",
    b'{"a": 1}xyz',
    b'{"a": "\xff\xfe"}',
    b"[1, 2, 3]",
    b"null",
    b'"a string"',
    b"42",
    b"[" * 10_000 + b"]" * 10_000,
    b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
]

BROKEN = [
    b"HTTP/1.1 two hundred OK\r\nContent-Length: 2\r\n\r\n{}",
    b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nbad header line\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\n{}\r\n0\r\n\r\n",
]


class Closed(Exception):
    """The connection must not be reused after this answer."""

    def __init__(self, reset: bool = False) -> None:
        super().__init__()
        self.reset = reset


def head(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def json_answer(status: int, value: object) -> bytes:
    body = json.dumps(value).encode()
    return head(status, [("Content-Type", "application/json"),
                         ("Content-Length", str(len(body)))]) + body


def payload(rng: random.Random, size: int) -> bytes:
    """A JSON object of about `size` bytes."""
    return json.dumps({"n": rng.randrange(1 << 30), "pad": "x" * size}).encode()


async def read_request(reader: asyncio.StreamReader) -> str | None:
    """Read one request (head and body); return its path, or None at EOF."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    path = parts[1].split("?")[0] if len(parts) > 1 else "/"
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                break
            await reader.readexactly(size + 2)
    elif int(headers.get("content-length") or 0):
        await reader.readexactly(int(headers["content-length"]))
    return path


class Backend:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reset = False
        try:
            while True:
                try:
                    path = await asyncio.wait_for(read_request(reader), IDLE_CLOSE)
                except TimeoutError:
                    return
                if path is None:
                    return
                await self.answer(path, writer)
        except Closed as c:
            reset = c.reset
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError):
            pass  # the gateway hung up (its timeout, its body cap) or sent nonsense
        finally:
            if reset:
                # SO_LINGER on with a zero timeout: close() sends RST instead of FIN.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()

    async def answer(self, path: str, w: asyncio.StreamWriter) -> None:
        rng = self.rng
        match path:
            case "/ok":
                await asyncio.sleep(rng.uniform(0, 0.02))
                w.write(json_answer(200, {"ok": True, "n": rng.randrange(1 << 30)}))
            case "/latency":
                await asyncio.sleep(rng.uniform(0, 1.0))
                w.write(json_answer(200, {"late": True}))
            case "/5xx":
                w.write(json_answer(rng.choice([500, 502, 503, 504]), {"error": "backend down"}))
            case "/reset":
                await self.reset(w)
            case "/trickle-fast":
                await self.trickle(w, rng.uniform(0.05, 0.2))
            case "/trickle-slow":
                await self.trickle(w, rng.uniform(1.5, 2.5))
            case "/oversized":
                await self.oversized(w)
            case "/malformed":
                body = rng.choice(MALFORMED)
                w.write(head(200, [("Content-Type", "application/json"),
                                   ("Content-Length", str(len(body)))]) + body)
            case "/broken-http":
                w.write(rng.choice(BROKEN))
                await w.drain()
                raise Closed()
            case _:
                w.write(json_answer(404, {"error": "no such fault"}))
        await w.drain()

    async def reset(self, w: asyncio.StreamWriter) -> None:
        body = payload(self.rng, 2048)
        half = body[: len(body) // 2]
        variant = self.rng.randrange(4)
        if variant == 0:
            raise Closed(reset=True)
        if variant == 3:
            w.write(head(200, [("Content-Type", "application/json"),
                               ("Transfer-Encoding", "chunked")]))
            w.write(b"%x\r\n%s\r\n" % (len(half), half))
        else:
            w.write(head(200, [("Content-Type", "application/json"),
                               ("Content-Length", str(len(body)))]) + half)
        await w.drain()
        raise Closed(reset=variant != 2)

    async def trickle(self, w: asyncio.StreamWriter, seconds: float) -> None:
        body = payload(self.rng, 1024)
        pieces = self.rng.randint(10, 20)
        chunked = self.rng.random() < 0.5
        framing = ("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(len(body)))
        w.write(head(200, [("Content-Type", "application/json"), framing]))
        step = -(-len(body) // pieces)
        for i in range(0, len(body), step):
            piece = body[i:i + step]
            w.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            await w.drain()
            await asyncio.sleep(seconds / pieces)
        if chunked:
            w.write(b"0\r\n\r\n")

    async def oversized(self, w: asyncio.StreamWriter) -> None:
        block = b" " * CHUNK
        if self.rng.random() < 0.5:
            w.write(head(200, [("Content-Type", "application/json"),
                               ("Content-Length", str(OVERSIZED))]))
            for _ in range(OVERSIZED // CHUNK):
                w.write(block)
                await w.drain()
        else:
            w.write(head(200, [("Content-Type", "application/json"),
                               ("Transfer-Encoding", "chunked")]))
            for _ in range(OVERSIZED // CHUNK):
                w.write(b"%x\r\n%s\r\n" % (CHUNK, block))
                await w.drain()
            w.write(b"0\r\n\r\n")
        await w.drain()
        raise Closed()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    backend = Backend(args.seed)
    server = await asyncio.start_server(backend.serve, "127.0.0.1", 0, limit=MAX_HEAD,
                                        backlog=1024)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
