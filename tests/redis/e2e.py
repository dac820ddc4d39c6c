#!/usr/bin/env python3
"""Redis-backed rate limits across two `manifold run` processes (issue 13, point 3).

Started here, all on loopback and always stopped: one redis-server (no persistence) and two
gateways sharing it. Checked:

  1. 30 requests alternated across both instances for one client, `client_max_rate: 10` per
     hour: exactly 10 pass, 20 get 429.
  2. 5 clients hammering both instances concurrently: exactly 10 pass per client (no
     over-admission), the rest 429.
  3. Redis stopped mid-run: the fail-closed endpoint answers 503 and the fail-open one 200,
     each request fast (no hang); each instance logs the outage once. Redis started again:
     both instances recover (the limits apply again) and log it.
  4. Redis frozen (SIGSTOP, so connections hang instead of closing): 503 within the command
     timeout; thawed, both instances recover.
  5. `qos/http-cache` with `shared: true` and the pool: an answer cached through one instance
     is served by the other without calling the backend (a mock that counts its calls).
  6. API keys with a daily quota per key in the pool: key A (a run-time secret) exhausts its
     quota over both instances, key B still passes; unknown keys 401.
  7. `auth/api-keys` `keys_from` the pool: key C, written to Redis while the gateways run, is
     accepted by both (polled, within the cache TTL) and has its own quota under its stored
     id; deleted, it is refused again within the TTL. No key ever in the logs.
  8. `auth/client-credentials` with `connection_name`: a token server stub counts its token
     requests and the backend requires the token; a request through each instance makes ONE
     token request in all (the entry is under a digest, never the secret); once the short-lived
     token's entry has expired from Redis (polled) the next request fetches a new one, and the
     other instance takes that one from Redis (still two token requests).

Usage: e2e.py MANIFOLD_BINARY REDIS_SERVER. Prints one line per check and, last,
`redis e2e: P passed, F failed`; exit status 1 on any failure.
"""

import concurrent.futures
import hashlib
import http.server
import threading
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from suite import Suite, free_port, lasting_port, wait_for  # noqa: E402 (after the path above)

CLIENT_RATE = 10
FAST = 1.0  # seconds: the longest a request may take while Redis is down






def redis_ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_cmd(port, *args):
    """One command over RESP; the first line of the answer (`+OK`, `:1`...)."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(out)
        return s.recv(256).split(b"\r\n")[0].decode()


def get(port, path, client, timeout=10):
    """(status, seconds) of one GET; status 0 when the connection failed."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"X-Client": client})
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        e.read()
        status = e.code
    except OSError:
        status = 0
    return status, time.monotonic() - start


def get_with(port, path, headers, timeout=10):
    """(status, headers with lowercase names) of one GET; status 0 when the connection failed."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            return r.status, {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        e.read()
        return e.code, {k.lower(): v for k, v in e.headers.items()}
    except OSError:
        return 0, {}


# API keys (issue 18): key A comes from a run-time secret (`${env:...}`, set only in the
# gateways' environment), key B is written in the config; each has a daily quota of QUOTA
# requests counted in the shared pool under its identity.
KEY_A = "e2e-key-a-" + os.urandom(8).hex()
KEY_B = "e2e-key-b-7f3c1d2e"
QUOTA = 5
# Key C is in no config: written to Redis while the gateways run (`keys_from`), under the
# prefix and its SHA-256; each instance caches an answer for KEYS_TTL.
KEY_C = "e2e-key-c-" + os.urandom(8).hex()
KEYS_PREFIX = "e2e:apikey:"
KEYS_TTL = 1.0


def limited(path, pool, **extra):
    limit = {"connection_name": pool, "client_max_rate": CLIENT_RATE, "every": "1h",
             "strategy": "header", "key": "X-Client"}
    limit.update(extra)
    return {"endpoint": path, "backend": [{"url_pattern": "/__health"}],
            "extra_config": {"qos/ratelimit/router/redis": limit}}


# Client credentials (issue 17 point 4): the token server's tokens live CC_EXPIRES_IN s, so
# they are renewed (and their Redis entry expires) 2 s after they are issued.
CC_ID, CC_SECRET, CC_SCOPES = "e2e-gw", "e2e-secret-" + os.urandom(8).hex(), "read"
CC_EXPIRES_IN = 12


def cc_key(token_url):
    """The pool entry Manifold names a client-credentials config's tokens by."""
    h = hashlib.sha256()
    for part in (token_url, CC_ID, CC_SCOPES):
        b = part.encode()
        h.update(len(b).to_bytes(8, "big") + b)
    return "manifold:cc:" + h.hexdigest()


class CountingBackend(http.server.ThreadingHTTPServer):
    """A backend whose answers may be cached for a minute; counts the calls per path. Also
    the token server (`POST /token`, counted in `tokens`) and `/secured`, which answers 401
    without a token it issued."""

    def __init__(self):
        self.calls = {}
        self.tokens = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    token = f"tok{len(outer.tokens) + 1}-" + os.urandom(4).hex()
                    outer.tokens.append(token)
                body = json.dumps({"access_token": token, "token_type": "bearer",
                                   "expires_in": CC_EXPIRES_IN}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.startswith("/secured"):
                    with outer.lock:
                        issued = [f"Bearer {t}" for t in outer.tokens]
                    got = self.headers.get("Authorization", "")
                    body = json.dumps({"token": got}).encode()
                    self.send_response(200 if got in issued else 401)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                with outer.lock:
                    outer.calls[self.path] = n = outer.calls.get(self.path, 0) + 1
                body = json.dumps({"path": self.path, "call": n}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "public, max-age=60")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_):
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def config(port, redis_port, backend_port):
    return {
        "version": 3,
        "port": port,
        "listen_ip": "127.0.0.1",
        "host": [f"http://127.0.0.1:{port}"],
        "extra_config": {"redis": {"connection_pools": [{
            "name": "shared", "address": f"127.0.0.1:{redis_port}",
            "dial_timeout": "500ms", "command_timeout": "500ms"}]},
            "auth/api-keys": {"keys": [
                {"key": "${env:MANIFOLD_E2E_API_KEY_A}", "roles": ["customer"], "id": "tenant-a"},
                {"key": KEY_B, "roles": ["customer"], "id": "tenant-b"}],
                "keys_from": {"connection_name": "shared", "prefix": KEYS_PREFIX,
                              "cache_ttl": f"{int(KEYS_TTL * 1000)}ms"}}},
        "endpoints": [
            limited("/alternated", "shared"),
            limited("/hammered", "shared"),
            limited("/closed", "shared", client_max_rate=1000),
            limited("/open", "shared", client_max_rate=1000, on_failure_allow=True),
            {"endpoint": "/quota", "backend": [{"url_pattern": "/__health"}],
             "extra_config": {
                 "auth/api-keys": {"roles": ["customer"]},
                 "qos/ratelimit/router/redis": {
                     "connection_name": "shared", "strategy": "api_key",
                     "client_max_rate": QUOTA, "every": "24h", "headers": True}}},
            {"endpoint": "/keyed", "backend": [{"url_pattern": "/__health"}],
             "extra_config": {"auth/api-keys": {"roles": ["customer"]}}},
            {"endpoint": "/cached/{tag}", "backend": [{
                "host": [f"http://127.0.0.1:{backend_port}"], "url_pattern": "/cacheable/{tag}",
                "extra_config": {"qos/http-cache": {"shared": True, "connection_name": "shared"}}}]},
            {"endpoint": "/secured", "backend": [{
                "host": [f"http://127.0.0.1:{backend_port}"], "url_pattern": "/secured",
                "extra_config": {"auth/client-credentials": {
                    "client_id": CC_ID, "client_secret": CC_SECRET, "scopes": CC_SCOPES,
                    "token_url": f"http://127.0.0.1:{backend_port}/token",
                    "connection_name": "shared"}}}]},
        ],
    }




def main():
    manifold, redis_server = sys.argv[1], sys.argv[2]
    suite = Suite()
    work = tempfile.mkdtemp(prefix="manifold-redis-e2e-")
    procs = {}
    # redis-server is stopped and started again on its port (check 3).
    redis_port = lasting_port()

    def start_redis():
        procs["redis"] = subprocess.Popen(
            [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: redis_ping(redis_port), 10, "redis-server")

    def stop_redis():
        p = procs.pop("redis", None)
        if p:
            p.terminate()
            p.wait(10)

    ports = [free_port(), free_port()]
    logs = []
    backend = CountingBackend()
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    backend_port = backend.server_address[1]
    try:
        start_redis()
        for i, port in enumerate(ports):
            path = os.path.join(work, f"gateway{i}.json")
            with open(path, "w") as f:
                json.dump(config(port, redis_port, backend_port), f)
            log = open(os.path.join(work, f"gateway{i}.log"), "w+")
            logs.append(log)
            env = dict(os.environ, MANIFOLD_E2E_API_KEY_A=KEY_A)
            procs[f"gw{i}"] = subprocess.Popen([manifold, "run", "-c", path], stdout=log,
                                               stderr=subprocess.STDOUT, env=env)
        for port in ports:
            wait_for(lambda p=port: get(p, "/__health", "-", 1)[0] == 200, 30,
                     f"manifold on port {port}")
        suite.check("two manifold run processes share one redis-server", True)

        # 1. one client, alternated.
        statuses = [get(ports[i % 2], "/alternated", "solo")[0] for i in range(30)]
        passed, refused = statuses.count(200), statuses.count(429)
        suite.check("30 alternated requests, client_max_rate 10/h: 10 pass, 20 get 429",
                    (passed, refused) == (10, 20), f"{passed} passed, {refused} refused: {statuses}")
        suite.check("both instances served and both refused",
                    all({200, 429} <= set(statuses[i::2]) for i in (0, 1)), f"{statuses}")

        # 2. five clients hammering both instances at once.
        clients = [f"client{n}" for n in range(5)]
        jobs = [(ports[i % 2], c) for c in clients for i in range(30)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(lambda j: (j[1], get(j[0], "/hammered", j[1])[0]), jobs))
        per_client = {c: sum(1 for cl, s in results if cl == c and s == 200) for c in clients}
        others = [s for _, s in results if s not in (200, 429)]
        suite.check("5 concurrent clients x 30 requests over both instances: exactly 10 pass each",
                    all(v == CLIENT_RATE for v in per_client.values()) and not others,
                    f"passed per client {per_client}, other statuses {others}")

        # 6. API keys with a daily quota per key in the shared pool, alternated over both
        # instances: key A exhausts its quota, key B still passes.
        bearer = lambda key: {"Authorization": f"Bearer {key}"}
        a = [get_with(ports[i % 2], "/quota", bearer(KEY_A)) for i in range(12)]
        a_status = [s for s, _ in a]
        suite.check(f"api key A (a run-time secret), {QUOTA}/24h over both instances: "
                    f"{QUOTA} pass, 7 get 429",
                    a_status == [200] * QUOTA + [429] * 7, f"{a_status}")
        remaining = [h.get("ratelimit-remaining") for _, h in a[:QUOTA]]
        suite.check("key A: RateLimit-Remaining counts down across instances",
                    remaining == [str(n) for n in range(QUOTA - 1, -1, -1)], f"{remaining}")
        retry = a[-1][1].get("retry-after")
        suite.check("key A refused: Retry-After is the next token (24h / 5 = 17280 s)",
                    retry in ("17280", "17279"), f"Retry-After {retry}")
        b = [get_with(ports[(i + 1) % 2], "/quota", bearer(KEY_B))[0] for i in range(3)]
        suite.check("api key B still passes after A is exhausted", b == [200] * 3, f"{b}")
        denied = [get_with(ports[0], "/quota", h)[0]
                  for h in ({}, bearer("nobody"), bearer(KEY_A[:-1]))]
        suite.check("no key, an unknown key, a key one character short: 401",
                    denied == [401] * 3, f"{denied}")

        # 7. keys_from: key C added to Redis at run time, then removed. Polled, never slept
        # on: each instance may hold a "no such key" answer for KEYS_TTL.
        entry = KEYS_PREFIX + hashlib.sha256(KEY_C.encode()).hexdigest()
        before = [get_with(p, "/keyed", bearer(KEY_C))[0] for p in ports]
        suite.check("keys_from: key C, not yet in Redis, is refused (401) by both instances",
                    before == [401, 401], f"{before}")
        stored = redis_cmd(redis_port, "SET", entry,
                           json.dumps({"roles": ["customer"], "id": "tenant-c"}))
        started = time.monotonic()
        try:
            for p in ports:
                wait_for(lambda p=p: get_with(p, "/keyed", bearer(KEY_C))[0] == 200,
                         KEYS_TTL + 5, f"key C accepted on port {p}")
            accepted = True
        except RuntimeError:
            accepted = False
        took = time.monotonic() - started
        suite.check(f"keys_from: key C written to Redis ({stored}) is accepted by both instances "
                    f"({took:.2f} s, cache_ttl {KEYS_TTL} s)", accepted, f"after {took:.2f} s")
        c = [get_with(ports[i % 2], "/quota", bearer(KEY_C)) for i in range(QUOTA + 2)]
        c_status = [st for st, _ in c]
        c_left = [h.get("ratelimit-remaining") for _, h in c[:QUOTA]]
        suite.check(f"keys_from: key C has its own quota under its stored id ({QUOTA} pass, "
                    "2 get 429, RateLimit-Remaining counting down)",
                    c_status == [200] * QUOTA + [429] * 2
                    and c_left == [str(n) for n in range(QUOTA - 1, -1, -1)],
                    f"{c_status} {c_left}")
        quota_key = redis_cmd(redis_port, "EXISTS", "manifold:rl:GET /quota:c:tenant-c")
        suite.check("keys_from: key C's bucket is named by its id, not by the key",
                    quota_key == ":1", f"EXISTS answered {quota_key}")
        deleted = redis_cmd(redis_port, "DEL", entry)
        started = time.monotonic()
        try:
            for p in ports:
                wait_for(lambda p=p: get_with(p, "/keyed", bearer(KEY_C))[0] == 401,
                         KEYS_TTL + 5, f"key C refused on port {p}")
            refused = True
        except RuntimeError:
            refused = False
        took = time.monotonic() - started
        suite.check(f"keys_from: key C deleted from Redis ({deleted}) is refused (401) by both "
                    f"instances within the cache TTL ({took:.2f} s)", refused, f"after {took:.2f} s")

        logged = [any(k in open(log.name).read() for k in (KEY_A, KEY_C)) for log in logs]
        suite.check("the keys never appear in the gateways' logs", not any(logged), f"{logged}")

        # 5. the HTTP cache shared through the pool (before the outages, on a fresh Redis).
        # The key holds every header sent to the backend, X-Forwarded-Host too: the instances
        # are reached under one name, as behind a load balancer.
        bodies = []
        for port in ports:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/cached/one",
                                         headers={"Host": "api.example.test"})
            with urllib.request.urlopen(req, timeout=10) as r:
                bodies.append((r.status, r.read()))
        calls = backend.calls.get("/cacheable/one", 0)
        suite.check("qos/http-cache shared through redis: an answer cached through one instance "
                    "is served by the other without a backend call",
                    calls == 1 and bodies[0] == bodies[1] and bodies[0][0] == 200,
                    f"backend calls {calls}, answers {bodies}")

        # 8. client-credentials tokens shared through the pool.
        key = cc_key(f"http://127.0.0.1:{backend_port}/token")
        first = [get(port, "/secured", "cc")[0] for port in ports]
        suite.check("client credentials through redis: a request through each instance makes "
                    "ONE token request in all, and the backend accepts its token on both",
                    first == [200, 200] and len(backend.tokens) == 1,
                    f"statuses {first}, token requests {len(backend.tokens)}")
        stored = redis_cmd(redis_port, "EXISTS", key)
        pttl = redis_cmd(redis_port, "PTTL", key)
        suite.check("the token's entry is under a digest of the config, lives until the renew "
                    f"point (PTTL {pttl} ms <= {(CC_EXPIRES_IN - 10) * 1000})",
                    stored == ":1" and pttl.startswith(":")
                    and 0 < int(pttl[1:]) <= (CC_EXPIRES_IN - 10) * 1000, f"{stored} {pttl}")
        try:
            wait_for(lambda: redis_cmd(redis_port, "EXISTS", key) == ":0", 10,
                     "the token's entry to expire")
            again = [get(port, "/secured", "cc")[0] for port in ports]
        except RuntimeError as e:
            again = [repr(e)]
        suite.check("once the entry expired, one instance fetches a new token and the other "
                    "takes it from redis (2 token requests in all)",
                    again == [200, 200] and len(backend.tokens) == 2,
                    f"statuses {again}, token requests {len(backend.tokens)}")
        logged = [CC_SECRET in open(log.name).read() for log in logs]
        suite.check("the client secret never appears in the gateways' logs", not any(logged))

        # 3. redis stops mid-run.
        for port in ports:
            get(port, "/closed", "probe")
        stop_redis()
        closed = [get(ports[i % 2], "/closed", "probe") for i in range(20)]
        opened = [get(ports[i % 2], "/open", "probe") for i in range(20)]
        slowest = max(t for _, t in closed + opened)
        suite.check("redis down: on_failure_allow false (default) answers 503",
                    all(s == 503 for s, _ in closed), f"{[s for s, _ in closed]}")
        suite.check("redis down: on_failure_allow true answers 200",
                    all(s == 200 for s, _ in opened), f"{[s for s, _ in opened]}")
        suite.check(f"redis down: no hang (slowest request {slowest:.3f} s < {FAST} s)",
                    slowest < FAST)
        # The outage is logged when it starts; wait for each instance's line, then count them.
        down_lines = lambda: [sum(1 for line in open(log.name) if "unreachable" in line)
                              for log in logs]
        wait_for(lambda: min(down_lines()) >= 1, 5, "the outage log lines")
        down_lines = down_lines()
        suite.check("each instance logs the outage once, not per request",
                    down_lines == [1, 1], f"'unreachable' lines per instance: {down_lines}")

        start_redis()
        recovered = []
        for port in ports:
            try:
                wait_for(lambda p=port: get(p, "/closed", "probe", 2)[0] == 200, 15,
                         f"recovery of port {port}")
                recovered.append(True)
            except RuntimeError:
                recovered.append(False)
        suite.check("redis back: both instances recover", all(recovered), f"{recovered}")
        statuses = [get(ports[i % 2], "/alternated", "after")[0] for i in range(12)]
        suite.check("redis back: the shared limit applies again (10 pass, 2 get 429)",
                    (statuses.count(200), statuses.count(429)) == (10, 2), f"{statuses}")
        up_lines = lambda: [sum(1 for line in open(log.name) if "answers again" in line)
                            for log in logs]
        wait_for(lambda: min(up_lines()) >= 1, 5, "the recovery log lines")
        up_lines = up_lines()
        suite.check("each instance logs the recovery once", up_lines == [1, 1],
                    f"'answers again' lines per instance: {up_lines}")

        # 4. redis frozen (SIGSTOP): connections stay open, answers never come; the command
        # timeout (500 ms here) bounds the wait, then requests fail at once.
        procs["redis"].send_signal(signal.SIGSTOP)
        try:
            frozen = [get(ports[i % 2], "/closed", "probe") for i in range(10)]
        finally:
            procs["redis"].send_signal(signal.SIGCONT)
        slowest = max(t for _, t in frozen)
        suite.check(f"redis frozen: 503 within the command timeout (slowest {slowest:.3f} s)",
                    all(s == 503 for s, _ in frozen) and slowest < FAST,
                    f"{[s for s, _ in frozen]}")
        recovered = []
        for port in ports:
            try:
                wait_for(lambda p=port: get(p, "/closed", "probe", 2)[0] == 200, 15,
                         f"recovery of port {port}")
                recovered.append(True)
            except RuntimeError:
                recovered.append(False)
        suite.check("redis thawed: both instances recover", all(recovered), f"{recovered}")
    except Exception as e:  # a setup failure is a failure, never a skip
        suite.check("suite ran to the end", False, repr(e))
    finally:
        backend.shutdown()
        for name, p in list(procs.items()):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if suite.failed:
            for log in logs:
                print(f"---- {log.name} (last lines)")
                print("".join(open(log.name).readlines()[-15:]), end="")
    print(f"redis e2e: {suite.passed} passed, {suite.failed} failed")
    return 1 if suite.failed else 0


if __name__ == "__main__":
    sys.exit(main())
