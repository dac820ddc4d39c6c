#!/usr/bin/env python3
"""The soak test (scripts/soak.sh; docs/soak.md): bounded hostile load against `manifold run`.

What runs, all on 127.0.0.1 on free ports, and all stopped at the end (also on failure, Ctrl-C
or SIGTERM):
  * backend.py, the misbehaving backend (one fault per path);
  * `<bin> run -c tests/soak/config.json -p <port>`, one endpoint per fault, the backend address
    given through ${SOAK_BACKEND} and a refusing address (a bound socket that never listens)
    through ${SOAK_REFUSED};
  * in this process, asyncio clients on raw sockets:
      - WORKERS well-formed clients on keep-alive connections, each picking a weighted random
        endpoint per request;
      - SLOW slow senders: a new connection per request, the head (and a POST body) written in
        1-16 byte pieces over 0.5-3 s, inside the gateway's 10 s head timeout;
      - EARLY clients that go away before the answer: close right after the request, close
        after 0-200 ms, close with RST, or send half a head and close.
    Every answer a client waits for must have a status in its endpoint's EXPECTED set; anything
    else, or no answer within ANSWER_TIMEOUT, is unexpected.

Phases: warm-up (a fifth of the time, at most 30 s), pause, sample the gateway's RSS
(/proc/PID/status VmRSS) and open file descriptors (/proc/PID/fd), main load, pause, sample
again, then GET /__health. The samples are taken in the same idle state: load paused after a
CALM_TAIL without /oversized, every client connection closed, every request the gateway still
ran for a departed client finished, the backend's idle connections gone (see `settled`), and
mimalloc returning freed memory at once (ALLOCATOR_ENV); so the difference is what the load left
behind.

Fails (non-zero exit) on: an unexpected answer; a panic in the gateway's stderr; the gateway
exiting; RSS or fd growth between the samples of 10 % or more *and* at least the floor
(RSS_FLOOR_MB, FDS_FLOOR; why these, below); /__health not answering 200 with status "ok". The
last line is always `soak: N requests, U unexpected, RSS A→B MB, fds C→D`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CONFIG = HERE / "config.json"

# Endpoint → (method, statuses its fault may answer, weight in the well-formed mix). Kept in
# step with docs/soak.md. Where timing decides (/latency straddles its timeout), both outcomes
# are listed; a fault that can never succeed lists only its error status.
# Single-backend failures are 500 as in KrakenD (docs: krakend-behaviour 1.5); the backend's
# status passes through only with `return_error_code` or `no-op`.
# Not a status: the head arrived, then the connection ended inside the body.
ABORTED = 0
EXPECTED: dict[str, tuple[str, frozenset[int], int]] = {
    "/ok": ("GET", frozenset({200}), 20),
    "/ok-post": ("POST", frozenset({200}), 5),
    "/latency": ("GET", frozenset({200, 500}), 10),
    "/reset": ("GET", frozenset({500}), 8),
    "/5xx": ("GET", frozenset({500}), 8),
    "/5xx-passthrough": ("GET", frozenset({500, 502, 503, 504}), 5),
    "/trickle-fast": ("GET", frozenset({200}), 8),
    "/trickle-slow": ("GET", frozenset({500}), 4),
    "/oversized": ("GET", frozenset({500}), 1),
    "/refused": ("GET", frozenset({500}), 8),
    "/malformed": ("GET", frozenset({500}), 8),
    "/broken-http": ("GET", frozenset({500}), 5),
    "/partial": ("GET", frozenset({200}), 6),
    "/noop-5xx": ("GET", frozenset({500, 502, 503, 504}), 4),
    # `no-op` with one backend streams (docs/streaming.md): a reset before the backend's head
    # is a 500, a reset after it can only end the client's body early (ABORTED).
    "/noop-reset": ("GET", frozenset({500, ABORTED}), 4),
}
# Extra header checks: a partial answer must say it is partial.
EXPECTED_HEADERS = {"/partial": ("x-krakend-completed", "false")}
# Endpoints that hold a gateway connection open for a while: preferred by early disconnects.
SLOW_ENDPOINTS = ["/latency", "/trickle-fast", "/trickle-slow", "/ok"]

WORKERS = 12
SLOW = 4
EARLY = 2
# The /oversized answers make the gateway buffer up to 16 MiB each: at most this many at once,
# so the RSS samples do not depend on how many happened to overlap.
OVERSIZED_AT_ONCE = 1
# Longest wait for an answer (the slowest endpoint times out after 5 s).
ANSWER_TIMEOUT = 20.0
# Growth below these floors is never a failure (docs/soak.md, "Thresholds"): idle RSS between
# two pauses varies by up to ~3 MB with no trend (what the allocator still holds from the last
# oversized bodies, up to 16 MiB each, depends on which thread freed them); the fd count at idle
# is exact, and its floor only absorbs a connection closing late.
RSS_FLOOR_MB = 6.0
FDS_FLOOR = 3
# The last seconds before each pause run without /oversized, so the RSS samples do not depend
# on how recently a 16 MiB body went through (without this calm tail, the idle RSS spread is
# ~10 MB instead of ~3).
CALM_TAIL = 5.0
GROWTH_LIMIT = 0.10
# The idle state: no earlier than SETTLE_MIN after the pause (the backend closes idle
# connections after 1 s; the gateway drops a request's backend call as soon as its client
# leaves), then the fd count unchanged for SETTLE_STABLE, waiting at most SETTLE_MAX in all.
SETTLE_MIN = 3.0
SETTLE_STABLE = 2.0
SETTLE_MAX = 30.0
# mimalloc options for the gateway (unless set already): return freed memory to the OS at once,
# so RSS at a pause measures memory in use rather than what mimalloc keeps for later reuse
# (with its defaults, idle RSS in this mix swings between about 20 and 50 MB).
ALLOCATOR_ENV = {"MIMALLOC_PURGE_DELAY": "0", "MIMALLOC_ARENA_EAGER_COMMIT": "0"}


class Unanswered(Exception):
    """The gateway did not answer (closed, reset, or too slow)."""


class Aborted(Exception):
    """The gateway sent a head, then ended the connection inside the body (a streamed answer
    whose backend broke)."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("body cut short")
        self.headers = headers


@dataclass
class Stats:
    requests: int = 0
    early: int = 0
    slow: int = 0
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    unexpected: list[str] = field(default_factory=list)
    unexpected_count: int = 0

    def answer(self, endpoint: str, status: int, headers: dict[str, str]) -> None:
        self.statuses[endpoint][status] += 1
        _, allowed, _ = EXPECTED[endpoint]
        if status not in allowed:
            self.bad(f"{endpoint}: status {status}, expected one of {sorted(allowed)}")
        elif status == 200 and endpoint in EXPECTED_HEADERS:
            name, value = EXPECTED_HEADERS[endpoint]
            if headers.get(name) != value:
                self.bad(f"{endpoint}: {name} is {headers.get(name)!r}, expected {value!r}")

    def bad(self, what: str) -> None:
        self.unexpected_count += 1
        if len(self.unexpected) < 20:
            self.unexpected.append(what)


# --- HTTP/1.1 on raw sockets -------------------------------------------------------------

def request_bytes(method: str, path: str, port: int) -> tuple[bytes, bytes]:
    body = json.dumps({"soak": True, "pad": "y" * 200}).encode() if method == "POST" else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: soak\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode(), body


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bool]:
    """One response: (status, headers, connection stays open)."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
            ValueError, IndexError) as e:
        raise Unanswered(f"{type(e).__name__}: {e}") from e
    try:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        elif "content-length" in headers:
            await reader.readexactly(int(headers["content-length"]))
        else:
            await reader.read()
            return status, headers, False
    except (asyncio.IncompleteReadError, ConnectionError) as e:
        raise Aborted(headers) from e
    except (asyncio.LimitOverrunError, ValueError) as e:
        raise Unanswered(f"{type(e).__name__}: {e}") from e
    return status, headers, headers.get("connection", "").lower() != "close"


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


def abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


# --- the load ----------------------------------------------------------------------------

class Load:
    def __init__(self, port: int, seed: int, max_requests: int) -> None:
        self.port = port
        self.rng = random.Random(seed)
        self.max_requests = max_requests
        self.stats = Stats()
        self.running = asyncio.Event()
        self.stopped = False
        self.busy = 0
        self.idle = asyncio.Event()
        self.oversized = asyncio.Semaphore(OVERSIZED_AT_ONCE)
        paths = list(EXPECTED)
        self.paths = paths
        self.weights = [EXPECTED[p][2] for p in paths]
        self.calm_weights = [0 if p == "/oversized" else w for p, w in zip(paths, self.weights)]
        self.calm = False

    def pick(self) -> str:
        return self.rng.choices(self.paths, self.calm_weights if self.calm else self.weights)[0]

    def go(self) -> bool:
        return not self.stopped and self.stats.requests < self.max_requests

    async def turn(self) -> bool:
        """Wait while paused; False when the load is over."""
        await self.running.wait()
        if not self.go():
            return False
        self.busy += 1
        self.idle.clear()
        self.stats.requests += 1
        return True

    def done(self) -> None:
        self.busy -= 1
        if self.busy == 0:
            self.idle.set()

    async def pause(self) -> None:
        self.running.clear()
        if self.busy:
            await self.idle.wait()

    async def well_formed(self) -> None:
        conn = None
        while True:
            if not self.running.is_set() and conn:
                conn[1].close()
                conn = None
            if not await self.turn():
                break
            path = self.pick()
            method = EXPECTED[path][0]
            head, body = request_bytes(method, path, self.port)
            try:
                if path == "/oversized":
                    await self.oversized.acquire()
                try:
                    if conn is None:
                        conn = await connect(self.port)
                    conn[1].write(head + body)
                    status, headers, keep = await asyncio.wait_for(read_answer(conn[0]),
                                                                   ANSWER_TIMEOUT)
                finally:
                    if path == "/oversized":
                        self.oversized.release()
                self.stats.answer(path, status, headers)
                if not keep:
                    conn[1].close()
                    conn = None
            except Aborted as e:
                self.stats.answer(path, ABORTED, e.headers)
                conn[1].close()
                conn = None
            except (Unanswered, TimeoutError, ConnectionError, OSError) as e:
                self.stats.bad(f"{path}: no answer ({e or type(e).__name__})")
                if conn:
                    conn[1].close()
                conn = None
            finally:
                self.done()
        if conn:
            conn[1].close()

    async def slow_sender(self) -> None:
        while await self.turn():
            self.stats.slow += 1
            path = self.rng.choice(["/ok", "/ok-post", "/ok-post", self.pick()])
            if path == "/oversized":
                path = "/ok"
            method = EXPECTED[path][0]
            head, body = request_bytes(method, path, self.port)
            writer = None
            try:
                reader, writer = await connect(self.port)
                await self.trickle(writer, head, self.rng.uniform(0.5, 3.0))
                if body:
                    await self.trickle(writer, body, self.rng.uniform(0.2, 1.5))
                status, headers, _ = await asyncio.wait_for(read_answer(reader), ANSWER_TIMEOUT)
                self.stats.answer(path, status, headers)
            except Aborted as e:
                self.stats.answer(path, ABORTED, e.headers)
            except (Unanswered, TimeoutError, ConnectionError, OSError) as e:
                self.stats.bad(f"{path} (slow sender): no answer ({e or type(e).__name__})")
            finally:
                if writer:
                    writer.close()
                self.done()

    async def trickle(self, writer: asyncio.StreamWriter, data: bytes, seconds: float) -> None:
        pieces = []
        i = 0
        while i < len(data):
            n = self.rng.randint(1, 16)
            pieces.append(data[i:i + n])
            i += n
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(seconds / len(pieces))

    async def early(self) -> None:
        while await self.turn():
            self.stats.early += 1
            path = self.rng.choice(SLOW_ENDPOINTS + [self.pick()])
            head, body = request_bytes(EXPECTED[path][0], path, self.port)
            writer = None
            try:
                reader, writer = await connect(self.port)
                how = self.rng.randrange(4)
                if how == 3:
                    writer.write(head[: len(head) // 2])
                else:
                    writer.write(head + body)
                await writer.drain()
                if how == 1:
                    await asyncio.sleep(self.rng.uniform(0, 0.2))
                if how == 2:
                    await asyncio.sleep(self.rng.uniform(0, 0.2))
                    abort(writer)
                    writer = None
            except (ConnectionError, OSError):
                pass  # going away is the point; the gateway's side is checked by the rest
            finally:
                if writer:
                    writer.close()
                self.done()

    def tasks(self) -> list[asyncio.Task]:
        return ([asyncio.create_task(self.well_formed()) for _ in range(WORKERS)]
                + [asyncio.create_task(self.slow_sender()) for _ in range(SLOW)]
                + [asyncio.create_task(self.early()) for _ in range(EARLY)])


# --- the gateway process -------------------------------------------------------------------

@dataclass
class Sample:
    rss_mb: float
    fds: int


def sample(pid: int) -> Sample:
    """RSS and open fds of `pid`; zeros once it is gone (its exit is reported elsewhere)."""
    rss_kb = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss_kb = int(line.split()[1])
        return Sample(rss_kb / 1024, len(os.listdir(f"/proc/{pid}/fd")))
    except OSError:
        return Sample(0.0, 0)


async def settled(pid: int) -> Sample:
    """Sample in the idle state (see SETTLE_MIN and SETTLE_STABLE)."""
    start = last_change = time.monotonic()
    last = sample(pid).fds
    while time.monotonic() - start < SETTLE_MAX:
        await asyncio.sleep(0.1)
        now = sample(pid).fds
        if now != last:
            last, last_change = now, time.monotonic()
        elif (time.monotonic() - last_change >= SETTLE_STABLE
              and time.monotonic() - start >= SETTLE_MIN):
            break
    return sample(pid)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await connect(port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                     .encode())
        raw = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


async def wait_healthy(port: int, proc: subprocess.Popen, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            status, _ = await get(port, "/__health")
            if status == 200:
                return True
        except (OSError, ValueError, IndexError, TimeoutError):
            pass
        await asyncio.sleep(0.1)
    return False


def health_ok(status: int, body: bytes) -> bool:
    try:
        return status == 200 and json.loads(body).get("status") == "ok"
    except ValueError:
        return False


# --- the run -------------------------------------------------------------------------------

def log(msg: str) -> None:
    print(f"soak: {msg}", flush=True)


async def soak(args: argparse.Namespace, children: list[subprocess.Popen], workdir: Path) -> int:
    failures: list[str] = []
    zero = Sample(0.0, 0)
    a = b = zero
    load = None

    def finish() -> int:
        for f in failures:
            log(f"FAILED: {f}")
        n = load.stats.requests if load else 0
        u = load.stats.unexpected_count if load else 0
        print(f"soak: {n} requests, {u} unexpected, RSS {a.rss_mb:.1f}→{b.rss_mb:.1f} MB, "
              f"fds {a.fds}→{b.fds}", flush=True)
        return 1 if failures or u else 0

    # The backend, on a free port it reports.
    backend = subprocess.Popen([sys.executable, str(HERE / "backend.py"), "--seed", str(args.seed)],
                               stdout=subprocess.PIPE, stderr=open(workdir / "backend.err", "wb"),
                               text=True)
    children.append(backend)
    line = await asyncio.wait_for(asyncio.to_thread(backend.stdout.readline), 10)
    if not line.startswith("port "):
        failures.append(f"the backend did not start ({line!r})")
        return finish()
    backend_port = int(line.split()[1])
    # A bound socket that never listens: connecting to it is refused, and the port stays ours.
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    port = free_port()
    env = dict(os.environ,
               SOAK_BACKEND=f"127.0.0.1:{backend_port}",
               SOAK_REFUSED=f"127.0.0.1:{refused.getsockname()[1]}")
    env.setdefault("RUST_LOG", "info")
    for name, value in ALLOCATOR_ENV.items():
        env.setdefault(name, value)
    gw_err = workdir / "gateway.err"
    gateway = subprocess.Popen([args.bin, "run", "-c", str(CONFIG), "-p", str(port)],
                               stdout=open(workdir / "gateway.out", "wb"),
                               stderr=open(gw_err, "wb"), env=env)
    children.append(gateway)
    if not await wait_healthy(port, gateway, 15):
        failures.append("the gateway did not become healthy; its stderr:\n"
                        + gw_err.read_text(errors="replace")[-2000:])
        return finish()
    log(f"gateway pid {gateway.pid} on 127.0.0.1:{port}, backend on {backend_port}, "
        f"seed {args.seed}, {args.duration:.0f} s (warm-up {args.warmup:.0f} s), "
        f"{WORKERS} clients + {SLOW} slow senders + {EARLY} early disconnects")

    load = Load(port, args.seed, args.max_requests)
    tasks = load.tasks()
    loaded = 0.0

    async def run_for(seconds: float) -> None:
        nonlocal loaded
        load.running.set()
        begin = time.monotonic()
        end = begin + seconds
        while time.monotonic() < end and load.go() and gateway.poll() is None:
            load.calm = end - time.monotonic() <= CALM_TAIL
            await asyncio.sleep(min(0.5, max(0.0, end - time.monotonic())))
        await load.pause()
        load.calm = False
        loaded += time.monotonic() - begin

    await run_for(args.warmup)
    if gateway.poll() is None:
        a = await settled(gateway.pid)
        log(f"after warm-up: {load.stats.requests} requests, RSS {a.rss_mb:.1f} MB, "
            f"fds {a.fds}")
    await run_for(args.duration - args.warmup)
    load.stopped = True
    await load.pause()
    load.running.set()  # let every client see `stopped` and return
    await asyncio.gather(*tasks)
    if gateway.poll() is not None:
        failures.append(f"the gateway exited with status {gateway.returncode}")
    else:
        b = await settled(gateway.pid)
        try:
            status, body = await get(port, "/__health")
            if not health_ok(status, body):
                failures.append(f"/__health answered {status} {body[:200]!r}")
        except (OSError, ValueError, IndexError, TimeoutError) as e:
            failures.append(f"/__health did not answer: {e!r}")
    refused.close()

    s = load.stats
    log(f"{s.requests} requests in {loaded:.0f} s of load: "
        f"{s.requests - s.slow - s.early} well-formed, {s.slow} slow senders, "
        f"{s.early} early disconnects")
    for path in EXPECTED:
        counts = ", ".join(f"{k}×{v}" for k, v in sorted(s.statuses[path].items()))
        log(f"  {path:<18} expected {sorted(EXPECTED[path][1])}: {counts or 'none'}")
    for u in s.unexpected:
        log(f"unexpected: {u}")
    stderr = gw_err.read_text(errors="replace")
    if "panicked" in stderr:
        failures.append("the gateway panicked:\n" + "\n".join(
            line for line in stderr.splitlines() if "panicked" in line)[:2000])
    if a.fds or a.rss_mb:
        if b.rss_mb - a.rss_mb >= max(GROWTH_LIMIT * a.rss_mb, RSS_FLOOR_MB):
            failures.append(f"RSS grew from {a.rss_mb:.1f} to {b.rss_mb:.1f} MB "
                            f"(limit: +10 % or +{RSS_FLOOR_MB:.0f} MB, whichever is larger)")
        if b.fds - a.fds >= max(GROWTH_LIMIT * a.fds, FDS_FLOOR):
            failures.append(f"open fds grew from {a.fds} to {b.fds} "
                            f"(limit: +10 % or +{FDS_FLOOR}, whichever is larger)")
    return finish()


def stop(children: list[subprocess.Popen]) -> None:
    for p in children:
        if p.poll() is None:
            p.terminate()
    for p in children:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=str(ROOT / "target/release/manifold"))
    ap.add_argument("--duration", type=float, default=300.0, help="seconds of load in all")
    ap.add_argument("--warmup", type=float, help="seconds before the first sample "
                    "(default: a fifth of the duration, at most 30)")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--max-requests", type=int, default=2_000_000)
    args = ap.parse_args()
    if args.warmup is None:
        args.warmup = min(30.0, args.duration / 5)
    children: list[subprocess.Popen] = []
    # SIGTERM (the wrapper's trap) unwinds like Ctrl-C, so the finally below stops everything.
    signal.signal(signal.SIGTERM, interrupt)
    with tempfile.TemporaryDirectory(prefix="manifold-soak-") as tmp:
        try:
            return asyncio.run(soak(args, children, Path(tmp)))
        except KeyboardInterrupt:
            print("soak: interrupted", file=sys.stderr)
            print("soak: 0 requests, 0 unexpected, RSS 0.0→0.0 MB, fds 0→0")
            return 130
        finally:
            stop(children)


if __name__ == "__main__":
    sys.exit(main())
