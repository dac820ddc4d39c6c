#!/usr/bin/env python3
"""Shared state on Lambda through one Redis (issue #11 points 4 and 6), run by scripts/lambda-e2e.sh.

Started here, all on loopback and always stopped: one redis-server (no persistence, a free
port), backend.py, and two `cargo lambda watch` emulators of the same function, each allowed
two concurrent sandboxes (`--concurrency 2`), so up to four function processes share the Redis.
Both serve one config, written here with the Redis port and given to the function through its
runtime override (MANIFOLD_LAMBDA_CONFIG), requests going through the emulators' Function-URL
endpoint:

  1. one client, `client_max_rate: 10` per hour, 30 requests alternated over both emulators:
     exactly 10 pass and 20 get 429;
  2. 5 clients x 30 requests sent concurrently over both emulators (up to 4 sandboxes): exactly
     10 pass per client (no over-admission);
  3. `qos/http-cache` with `shared: true` and the pool: an answer cached through the first
     emulator is served by the second without calling the backend;
  4. Redis stopped: the fail-closed limit answers 503, the fail-open one 200, every request
     fast (no hang); the function logs the outage (stderr) once per sandbox, not per request.

Before 4, API keys (issue 18): a daily quota per key (`strategy: api_key`, QUOTA per 24h,
RateLimit-* headers) in the pool, alternated over both emulators: key A exhausts it with
RateLimit-Remaining counting down across sandboxes, key B still passes; and `keys_from` the
pool: key C, written to Redis while the function runs, is accepted (polled within the cache
TTL), counted under its stored id, and refused again once deleted.

Usage: redis.py REDIS_SERVER [--counts FILE]. Output: `ok`/`FAIL` per check, last line
`redis.py: P passed, F failed`; --counts FILE as e2e.py.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hashlib
import os

import e2e
from e2e import HERE, Processes, Scenario, free_port, wait_port

CLIENT_RATE = 10
FAST = 1.0  # seconds: the longest a request may take while Redis is down (command_timeout 500 ms)
PREFIX = f"/lambda-url/{e2e.FUNCTION}"
QUOTA = 5
KEY_A = "lambda-key-a-" + os.urandom(8).hex()
KEY_B = "lambda-key-b-" + os.urandom(8).hex()
KEY_C = "lambda-key-c-" + os.urandom(8).hex()
KEYS_PREFIX = "lambda:apikey:"
KEYS_TTL = 1.0


def redis_cmd(port: int, *args: str) -> str:
    """One command over RESP; the first line of the answer (`+OK`, `:1`...)."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode())
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(out)
        return s.recv(256).split(b"\r\n")[0].decode()


def keyed(port: int, path: str, key: str) -> e2e.Answer:
    """One GET with `Authorization: Bearer KEY` through an emulator's Function-URL endpoint."""
    s = Scenario(path, "GET", path, headers=[("Authorization", f"Bearer {key}")])
    return e2e.http_call(port, s, prefix=PREFIX, single_headers=True)


def poll(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def config(redis_port: int, backend_port: int) -> dict:
    def limited(path: str, **extra) -> dict:
        limit = {"connection_name": "shared", "client_max_rate": CLIENT_RATE, "every": "1h",
                 "strategy": "header", "key": "X-Client", **extra}
        return {"endpoint": path, "backend": [{"url_pattern": "/echo/limited"}],
                "extra_config": {"qos/ratelimit/router/redis": limit}}

    return {
        "version": 3,
        "host": [f"http://127.0.0.1:{backend_port}"],
        "extra_config": {"redis": {"connection_pools": [{
            "name": "shared", "address": f"127.0.0.1:{redis_port}",
            "dial_timeout": "500ms", "command_timeout": "500ms"}]},
            "auth/api-keys": {
                "keys": [{"key": KEY_A, "roles": ["customer"], "id": "tenant-a"},
                         {"key": KEY_B, "roles": ["customer"], "id": "tenant-b"}],
                "keys_from": {"connection_name": "shared", "prefix": KEYS_PREFIX,
                              "cache_ttl": f"{int(KEYS_TTL * 1000)}ms"}}},
        "endpoints": [
            limited("/alternated"),
            limited("/hammered"),
            limited("/closed", client_max_rate=1000),
            limited("/open", client_max_rate=1000, on_failure_allow=True),
            {"endpoint": "/quota", "backend": [{"url_pattern": "/echo/quota"}],
             "extra_config": {
                 "auth/api-keys": {"roles": ["customer"]},
                 "qos/ratelimit/router/redis": {
                     "connection_name": "shared", "strategy": "api_key",
                     "client_max_rate": QUOTA, "every": "24h", "headers": True}}},
            {"endpoint": "/keyed", "backend": [{"url_pattern": "/echo/keyed"}],
             "extra_config": {"auth/api-keys": {"roles": ["customer"]}}},
            {"endpoint": "/cached/{tag}", "backend": [{
                "url_pattern": "/cacheable/public/{tag}", "encoding": "no-op",
                "extra_config": {"qos/http-cache": {"shared": True, "connection_name": "shared"}}}]},
        ],
    }


def get(port: int, path: str, client: str) -> tuple[int, float]:
    """(status, seconds) of one GET through an emulator's Function-URL endpoint."""
    start = time.monotonic()
    answer = e2e.http_call(port, Scenario(path, "GET", path, headers=[("X-Client", client)]),
                           prefix=PREFIX, single_headers=True)
    return answer.status, time.monotonic() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("redis_server")
    ap.add_argument("--counts", help="write 'PASSED FAILED' here")
    args = ap.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="manifold-lambda-redis-"))
    tally = e2e.Tally()
    check = tally.check

    procs = Processes()
    # The wrapper forwards a TERM: leave through `finally`, which stops everything started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        redis_port = free_port()
        redis = procs.start("redis-server", [
            args.redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no"], logs / "redis.log")
        deadline = time.monotonic() + 10
        while not redis_ping(redis_port):
            if time.monotonic() > deadline or redis.poll() is not None:
                raise RuntimeError("redis-server did not answer PING")
            time.sleep(0.05)
        backend = procs.start("backend", [sys.executable, str(HERE / "backend.py"), "0"],
                              logs / "backend.log", stdout=subprocess.PIPE)
        backend_port = int(backend.stdout.readline())
        path = logs / "gateway.redis.json"
        path.write_text(json.dumps(config(redis_port, backend_port), indent=2))

        ports = [free_port(), free_port()]
        for i, port in enumerate(ports):
            watcher = procs.start(f"cargo lambda watch #{i}", [
                "cargo", "lambda", "watch", "-p", "manifold-lambda", "--bin", e2e.FUNCTION,
                "--ignore-changes", "-A", "127.0.0.1", "-P", str(port), "--disable-cors",
                "--concurrency", "2", "--env-var", f"MANIFOLD_LAMBDA_CONFIG={path}"],
                logs / f"watch{i}.log")
            wait_port(port, watcher, f"cargo lambda watch #{i}", 120)
        print(f"redis :{redis_port}, backend :{backend_port}, cargo lambda watch :{ports[0]} and "
              f":{ports[1]}, logs {logs}")

        # 1. one client, alternated over the two emulators.
        statuses = [get(ports[i % 2], "/alternated", "solo")[0] for i in range(30)]
        counts = (statuses.count(200), statuses.count(429))
        check("lambda + redis: 30 alternated requests, client_max_rate 10/h: 10 pass, 20 get 429",
              [] if counts == (10, 20) else [f"{counts[0]} passed, {counts[1]} refused: {statuses}"])
        check("lambda + redis: both emulators served and both refused",
              [] if all({200, 429} <= set(statuses[i::2]) for i in (0, 1)) else [f"{statuses}"])

        # 2. five clients at once over both emulators, two sandboxes each.
        clients = [f"client{n}" for n in range(5)]
        jobs = [(ports[i % 2], c) for c in clients for i in range(30)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda j: (j[1], get(j[0], "/hammered", j[1])[0]), jobs))
        per_client = {c: sum(1 for cl, s in results if cl == c and s == 200) for c in clients}
        others = [s for _, s in results if s not in (200, 429)]
        check("lambda + redis: 5 concurrent clients x 30 requests over both emulators: exactly 10 pass each",
              [] if all(v == CLIENT_RATE for v in per_client.values()) and not others
              else [f"passed per client {per_client}, other statuses {others}"])

        # 3. the HTTP cache shared through the pool.
        # The key holds every header sent to the backend, X-Forwarded-Host too: both
        # emulators are reached under one name, as one Function URL is.
        calls = e2e.backend_get(backend_port, "/__count")["calls"]
        cached = Scenario("cached", "GET", "/cached/one", headers=[("Host", "fn.example.test")])
        first = e2e.http_call(ports[0], cached, prefix=PREFIX, single_headers=True)
        second = e2e.http_call(ports[1], cached, prefix=PREFIX, single_headers=True)
        called = e2e.backend_get(backend_port, "/__count")["calls"] - calls
        problems = [f"{who}: status {a.status}" for who, a in (("first", first), ("second", second))
                    if a.status != 200]
        problems += [] if first.body == second.body else [f"bodies differ: {first.body!r} {second.body!r}"]
        problems += [] if called == 1 else [f"the backend was called {called} times, not once"]
        check("lambda + redis: qos/http-cache shared: an answer cached through one emulator is "
              "served by the other without a backend call", problems)

        # API keys: a quota per key, exact over both emulators.
        a = [keyed(ports[i % 2], "/quota", KEY_A) for i in range(QUOTA + 4)]
        a_status = [x.status for x in a]
        left = [(x.headers.get("ratelimit-remaining") or ["-"])[0] for x in a[:QUOTA]]
        check(f"lambda + redis: api key A, {QUOTA}/24h alternated over both emulators: "
              f"{QUOTA} pass, 4 get 429, RateLimit-Remaining {QUOTA - 1}..0",
              [] if a_status == [200] * QUOTA + [429] * 4
              and left == [str(n) for n in range(QUOTA - 1, -1, -1)]
              else [f"statuses {a_status}, remaining {left}"])
        limit = (a[0].headers.get("ratelimit-limit") or ["-"])[0]
        retry = (a[-1].headers.get("retry-after") or ["-"])[0]
        check("lambda + redis: key A's answers carry RateLimit-Limit 5, its 429 Retry-After 17280",
              [] if limit == str(QUOTA) and retry in ("17280", "17279")
              else [f"RateLimit-Limit {limit}, Retry-After {retry}"])
        b = [keyed(ports[(i + 1) % 2], "/quota", KEY_B).status for i in range(3)]
        check("lambda + redis: api key B still passes after A is exhausted",
              [] if b == [200] * 3 else [f"{b}"])
        denied = [keyed(ports[0], "/quota", k).status for k in ("nobody", KEY_A[:-1])]
        check("lambda + redis: an unknown key and a key one character short: 401",
              [] if denied == [401, 401] else [f"{denied}"])

        # keys_from: key C written to Redis at run time, then deleted.
        entry = KEYS_PREFIX + hashlib.sha256(KEY_C.encode()).hexdigest()
        before = [keyed(p, "/keyed", KEY_C).status for p in ports]
        redis_cmd(redis_port, "SET", entry, json.dumps({"roles": ["customer"], "id": "tenant-c"}))
        accepted = all(poll(lambda p=p: keyed(p, "/keyed", KEY_C).status == 200, KEYS_TTL + 5)
                       for p in ports)
        # Each sandbox (up to two per emulator) caches its own "no such key" from the check
        # above for KEYS_TTL: ask until a run of requests over both emulators all pass.
        accepted = accepted and poll(
            lambda: all(keyed(ports[i % 2], "/keyed", KEY_C).status == 200 for i in range(8)),
            KEYS_TTL + 5)
        check("lambda + redis: keys_from: key C refused before it is in Redis, accepted by both "
              "emulators once written", [] if before == [401, 401] and accepted
              else [f"before {before}, accepted {accepted}"])
        c = [keyed(ports[i % 2], "/quota", KEY_C).status for i in range(QUOTA + 1)]
        exists = redis_cmd(redis_port, "EXISTS", "manifold:rl:GET /quota:c:tenant-c")
        check("lambda + redis: keys_from: key C has its own quota under its stored id",
              [] if c == [200] * QUOTA + [429] and exists == ":1"
              else [f"statuses {c}, bucket EXISTS {exists}"])
        redis_cmd(redis_port, "DEL", entry)
        refused = all(poll(lambda p=p: keyed(p, "/keyed", KEY_C).status == 401, KEYS_TTL + 5)
                      for p in ports)
        check("lambda + redis: keys_from: key C deleted from Redis is refused again",
              [] if refused else ["still accepted"])
        logged = [k for k in (KEY_A, KEY_B, KEY_C) for i in range(2)
                  if k in (logs / f"watch{i}.log").read_text(errors="replace")]
        check("lambda + redis: no key in the function's logs",
              [] if not logged else [f"{len(logged)} keys logged"])

        # 4. Redis stops.
        for port in ports:
            get(port, "/closed", "probe")
        redis.terminate()
        redis.wait(10)
        closed = [get(ports[i % 2], "/closed", "probe") for i in range(10)]
        opened = [get(ports[i % 2], "/open", "probe") for i in range(10)]
        slowest = max(t for _, t in closed + opened)
        check("lambda + redis down: on_failure_allow false (default) answers 503",
              [] if all(s == 503 for s, _ in closed) else [f"{[s for s, _ in closed]}"])
        check("lambda + redis down: on_failure_allow true answers 200",
              [] if all(s == 200 for s, _ in opened) else [f"{[s for s, _ in opened]}"])
        check(f"lambda + redis down: no hang (slowest request {slowest:.3f} s < {FAST} s)",
              [] if slowest < FAST else [f"slowest {slowest:.3f} s"])
        # Each sandbox logs the outage once: at most one line per sandbox (2 per emulator),
        # at least one in all, never one per request (40 requests failed or passed unlimited).
        lines = [sum("unreachable" in line for line in (logs / f"watch{i}.log").read_text(errors="replace")
                     .splitlines()) for i in range(2)]
        check("lambda + redis down: the outage is logged once per sandbox, not per request",
              [] if 1 <= sum(lines) and all(n <= 2 for n in lines)
              else [f"'unreachable' lines per emulator: {lines}"])
    except Exception as e:  # noqa: BLE001 - setup failures are counted, never skipped
        check("lambda + redis: suite ran to the end", [f"{type(e).__name__}: {e}"])
    finally:
        procs.stop()

    return tally.finish("redis.py", logs, args.counts)


if __name__ == "__main__":
    sys.exit(main())
