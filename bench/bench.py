#!/usr/bin/env python3
"""Manifold benchmark harness (driven by bench/run.sh, which installs the tools first).

Starts every process on 127.0.0.1 with free ports, measures each scenario against its peers
with wrk, reads CPU time and peak RSS from /proc, and writes BENCHMARKS.md plus an SVG chart
of the Manifold/peer ratios. Everything it starts is stopped on exit (normal or signalled).

Layout on a 2-core machine: the measured target (direct nginx, nginx proxy, Node aggregator
or Manifold) runs pinned to CPU 1 with one worker; the load generator (wrk, one thread) and
the backend nginx (one worker) share CPU 0.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where cargo puts the release binary (CARGO_TARGET_DIR, as bench/run.sh builds it).
MANIFOLD_BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"),
                            "release", "manifold")
BENCH = os.path.join(ROOT, "bench")
CLK_TCK = os.sysconf("SC_CLK_TCK")
NGINX_ECHO = "/usr/lib/nginx/modules/ngx_http_echo_module.so"

D_TIMEOUT_MS = 100  # scenario d's endpoint timeout; KrakenD answers partially at 85 % of it


# ---------------------------------------------------------------------------------------------
# Backend data: written as static files served by nginx; the expected gateway outputs are
# computed here from the same dicts.


def data_files() -> dict[str, object]:
    files: dict[str, object] = {}
    files["a.json"] = {
        "id": 1,
        "name": "widget",
        "price": 999,
        "tags": ["blue", "small"],
        "stock": {"warehouse": 12, "store": 3},
    }
    files["b/user-1.json"] = {
        "id_user": 1,
        "name": "Ada Lovelace",
        "avatar": "https://img.example.com/u/1.png",
        "email": "ada@example.com",
        "password_hash": "x" * 60,
        "address": {"street": "12 Analytical Row", "city": "London", "zip": "N1"},
        "preferences": {"theme": "dark", "lang": "en", "newsletter": True},
    }
    files["b/products.json"] = {
        "items": [
            {"id": i, "title": f"Product {i}", "price": 100 + i, "img": f"/p/{i}.jpg"}
            for i in range(10)
        ],
        "total": 10,
        "page": 1,
        "internal": {"cache": "hit", "shard": 7, "build": "2024.06.01"},
    }
    files["b/promos.json"] = {
        "banner": {"title": "Summer sale", "image": "/b/summer.jpg", "tracking": "utm=abc"},
        "campaign": "summer",
        "budget": 120000,
        "owner": "marketing",
    }
    items = [
        {
            "id": i,
            "sku": f"SKU-{i:06d}",
            "title": f"Catalogue item number {i}",
            "description": "A reasonably long description used to pad the body to size. " * 2,
            "price": 1000 + i,
            "tags": ["alpha", "beta", "gamma"],
        }
        for i in range(405)
    ]
    files["c/big.json"] = {
        "items": items,
        "meta": {"count": len(items), "trace": "t" * 200, "region": "eu"},
        "debug": {"sql": "SELECT * FROM items " * 20, "host": "db-7"},
    }
    for i in range(9):
        files[f"d/s{i}.json"] = {"v": i, "name": f"part {i}", "ok": True}
    return files



def write_data(work: str) -> tuple[str, dict, dict]:
    """The backend's files as compact JSON under work/data, readable by nginx's worker (nobody):
    returns that directory, the files and the answers each scenario expects."""
    files = data_files()
    data = os.path.join(work, "data")
    for rel, obj in files.items():
        path = os.path.join(data, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(obj, f, separators=(",", ":"))
    for d, _, _ in os.walk(data):
        os.chmod(d, 0o755)
    return data, files, expected_outputs(files)

def expected_outputs(files: dict[str, object]) -> dict[str, object]:
    user = files["b/user-1.json"]
    products = files["b/products.json"]
    promos = files["b/promos.json"]
    big = json.loads(json.dumps(files["c/big.json"]))
    del big["debug"]
    del big["meta"]["trace"]
    return {
        "a": files["a.json"],
        "b": {
            "user": {
                "name": user["name"],
                "avatar": user["avatar"],
                "address": {"city": user["address"]["city"]},
            },
            "products": {"items": products["items"], "total": products["total"]},
            "promos": {
                "banner": {
                    "title": promos["banner"]["title"],
                    "image": promos["banner"]["image"],
                },
                "campaign": promos["campaign"],
            },
        },
        "c": big,
        "d": {f"s{i}": files[f"d/s{i}.json"] for i in range(9)},
        "e": files["a.json"],
    }


# Scenario e's limit: high enough never to refuse, so only its cost shows.
E_LIMIT = {"client_max_rate": 1_000_000_000}


def manifold_config(backend: str, redis_port: int | None = None) -> dict:
    """The gateway config of every scenario; with `redis_port`, also the Redis pool and scenario
    e's `/e/redis` (the Worker and Lambda sections run without Redis)."""
    redis = [] if redis_port is None else [
        {"endpoint": "/e/redis", "backend": [{"url_pattern": "/a.json"}],
         "extra_config": {"qos/ratelimit/router/redis": dict(E_LIMIT, connection_name="bench")}}]
    cfg = {
        "version": 3,
        "name": "manifold-bench",
        "host": [backend],
        "endpoints": [
            {"endpoint": "/a", "backend": [{"url_pattern": "/a.json"}]},
            {"endpoint": "/e/memory", "backend": [{"url_pattern": "/a.json"}],
             "extra_config": {"qos/ratelimit/router": E_LIMIT}},
            *redis,
            {
                "endpoint": "/frontpage/{id}",
                "backend": [
                    {
                        "url_pattern": "/b/user-{id}.json",
                        "group": "user",
                        "allow": ["name", "avatar", "address.city"],
                    },
                    {
                        "url_pattern": "/b/products.json",
                        "group": "products",
                        "allow": ["items", "total"],
                    },
                    {
                        "url_pattern": "/b/promos.json",
                        "group": "promos",
                        "allow": ["banner.title", "banner.image", "campaign"],
                    },
                ],
            },
            {
                "endpoint": "/c",
                "backend": [{"url_pattern": "/c/big.json", "deny": ["debug", "meta.trace"]}],
            },
            {
                "endpoint": "/d",
                "timeout": f"{D_TIMEOUT_MS}ms",
                "backend": [
                    {"url_pattern": "/d/slow" if i == 9 else f"/d/s{i}.json", "group": f"s{i}"}
                    for i in range(10)
                ],
            },
        ],
    }
    if redis_port is not None:
        cfg["extra_config"] = {"redis": {"connection_pools": [
            {"name": "bench", "address": f"127.0.0.1:{redis_port}"}]}}
    return cfg


# Scenario -> (path on gateways, path on the direct backend, peers besides Manifold).
SCENARIOS = {
    "a": {
        "title": "a. single-backend proxy (small JSON)",
        "gateway_path": "/a",
        "direct_path": "/a.json",
        "peers": ["direct", "nginx-proxy", "manifold"],
        "peer": "nginx-proxy",
    },
    "b": {
        "title": "b. 3-backend aggregation, group + allow",
        "gateway_path": "/frontpage/1",
        "direct_path": "/b/user-1.json",
        "peers": ["direct", "node", "manifold"],
        "peer": "node",
    },
    "c": {
        "title": "c. one 100 KB backend body, deny filter",
        "gateway_path": "/c",
        "direct_path": "/c/big.json",
        "peers": ["direct", "node", "manifold"],
        "peer": "node",
    },
    "d": {
        "title": f"d. fan-out to 10 backends, one slow, timeout {D_TIMEOUT_MS} ms",
        "gateway_path": "/d",
        "direct_path": "/d/s0.json",
        "peers": ["direct", "node", "manifold"],
        "peer": "node",
    },
    "e": {
        "title": "e. scenario a behind a client rate limit: in memory vs in Redis (one take per request)",
        "gateway_path": "/e/redis",
        "direct_path": "/a.json",
        "paths": {"manifold-memory": "/e/memory"},
        "peers": ["manifold-memory", "manifold"],
        "peer": "manifold-memory",
        "labels": {"manifold": "Manifold, buckets in Redis"},
    },
}

TARGET_LABEL = {
    "manifold-memory": "Manifold, buckets in memory",
    "direct": "direct backend (nginx static)",
    "nginx-proxy": "nginx reverse proxy",
    "node": "Node aggregator (fetch)",
    "manifold": "Manifold native",
}


# ---------------------------------------------------------------------------------------------
# Processes


class Proc:
    """A process we started, in its own session so that its whole group can be stopped."""

    def __init__(self, name: str, argv: list[str], log: str, env: dict | None = None):
        self.name = name
        self.argv = argv
        self.log = log
        with open(log, "ab") as out:
            self.popen = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.pid = self.popen.pid

    def pids(self) -> list[int]:
        """The process and its descendants (nginx master + worker)."""
        found = [self.pid]
        i = 0
        while i < len(found):
            try:
                with open(f"/proc/{found[i]}/task/{found[i]}/children") as f:
                    found += [int(p) for p in f.read().split()]
            except OSError:
                pass
            i += 1
        return found

    def cpu_seconds(self) -> float:
        return self._ticks(user=True, kernel=True) / CLK_TCK

    def user_seconds(self) -> float:
        """User time alone: CPU time minus it is the kernel's work for the process."""
        return self._ticks(user=True, kernel=False) / CLK_TCK

    def _ticks(self, user: bool, kernel: bool) -> int:
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) if user else 0) + (int(fields[12]) if kernel else 0)  # utime, stime
            except (OSError, IndexError, ValueError):
                pass
        return total

    def peak_rss_kb(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(5)


STARTED: list[Proc] = []


def stop_all() -> None:
    while STARTED:
        STARTED.pop().stop()


def cache_dir() -> str:
    """Where the scripts keep what they install and build (MANIFOLD_CACHE, ~/.cache/manifold)."""
    return os.environ.get("MANIFOLD_CACHE", os.path.expanduser("~/.cache/manifold"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(cpu: str | None, argv: list[str]) -> list[str]:
    return (["taskset", "-c", cpu] if cpu is not None else []) + argv


def http_get(url: str, timeout: float = 3.0) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def wait_http(proc: Proc, url: str, seconds: float = 20.0) -> None:
    deadline = time.time() + seconds
    last = ""
    while time.time() < deadline:
        if not proc.alive():
            raise StartFailure(f"{proc.name} exited with {proc.popen.returncode}; see {proc.log}")
        try:
            http_get(url, timeout=1.0)
            return
        except OSError as e:
            last = str(e)
            time.sleep(0.1)
    raise StartFailure(f"{proc.name} did not answer {url} within {seconds:.0f}s ({last}); see {proc.log}")


class StartFailure(Exception):
    pass


def nginx_conf(work: str, name: str, port: int, body: str, modules: str = "") -> str:
    prefix = os.path.join(work, name)
    os.makedirs(prefix, exist_ok=True)
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(
            f"""{modules}
daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  # The static backends keep their few files open: without it each answer costs nginx an
  # open, fstat and close (10.4-11.1 against 7.8-7.9 µs of CPU per request, measured), and
  # the backend's core, shared with wrk, capped the targets' saturated req/s in a and b.
  open_file_cache max=64;
  default_type application/json;
  server {{
    listen 127.0.0.1:{port} reuseport backlog=4096;
{body}
  }}
}}
"""
        )
    return conf


def start_nginx(work: str, name: str, port: int, body: str, cpu: str | None, modules: str = "") -> Proc:
    conf = nginx_conf(work, name, port, body, modules)
    p = Proc(name, pinned(cpu, ["nginx", "-c", conf, "-p", os.path.dirname(conf) + "/"]),
             os.path.join(work, f"{name}.log"))
    STARTED.append(p)
    return p


# ---------------------------------------------------------------------------------------------
# Load generation


def wrk(url: str, connections: int, seconds: float, pause_ms: int = 0, cpu: str | None = "0") -> dict:
    argv = pinned(cpu, [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
        "-s", os.path.join(BENCH, "wrk", "report.lua"), url,
    ])
    if pause_ms:
        argv += ["--", str(pause_ms)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH "):
            r = json.loads(line[6:])
            r["rps"] = r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0
            r["errors"] = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
            return r
    raise RuntimeError(f"wrk gave no result (rc {out.returncode}): {out.stdout}\n{out.stderr}")



def measure_once(proc, url: str, params: dict, paced_conns: int, paced_ms: int, load_cpu: str | None,
                 rnd: int) -> dict:
    """One measurement of one target: warm-up, saturating run (req/s, CPU), paced run (latency).
    `proc` needs cpu_seconds(); for the Workers it is the workerd process only."""
    if params["warmup"]:
        wrk(url, params["conns"], params["warmup"], cpu=load_cpu)
    c0 = proc.cpu_seconds()
    u0 = proc.user_seconds() if hasattr(proc, "user_seconds") else None
    h0 = proc.host_cpu_seconds() if hasattr(proc, "host_cpu_seconds") else None
    sat = wrk(url, params["conns"], params["sat"], cpu=load_cpu)
    c1 = proc.cpu_seconds()
    u1 = proc.user_seconds() if u0 is not None else None
    h1 = proc.host_cpu_seconds() if h0 is not None else None
    paced = wrk(url, paced_conns, params["paced"], pause_ms=paced_ms, cpu=load_cpu)
    run = {
        "round": rnd + 1,
        "rps": sat["rps"],
        "cpu_us_per_req": (c1 - c0) * 1e6 / max(sat["requests"], 1),
        "cpu_util": (c1 - c0) / (sat["duration_us"] / 1e6),
        "sat_p99_ms": sat["p99_us"] / 1000,
        "paced_rps": paced["rps"],
        "p50_ms": paced["p50_us"] / 1000,
        "p99_ms": paced["p99_us"] / 1000,
        "errors": sat["errors"] + paced["errors"],
        "sat_errors": sat["errors"],
        "sat_status_errors": sat["status"],
        "paced_errors": paced["errors"],
        "requests": sat["requests"] + paced["requests"],
    }
    if h0 is not None:
        run["host_cpu_us_per_req"] = (h1 - h0) * 1e6 / max(sat["requests"], 1)
    if u0 is not None:
        # Kernel time grows with the gateway's own under load (its peers' wake-ups): the
        # split says which of the two a change moved.
        run["user_us_per_req"] = (u1 - u0) * 1e6 / max(sat["requests"], 1)
    return run


def target_path(sc: dict, t: str) -> str:
    if t == "direct":
        return sc["direct_path"]
    return sc.get("paths", {}).get(t, sc["gateway_path"])


class WithRedis:
    """Manifold measured as usual, plus the Redis server's CPU (as `host_cpu_us_per_req`)."""

    def __init__(self, manifold: "Proc", redis: "Proc"):
        self.manifold, self.redis = manifold, redis

    def cpu_seconds(self) -> float:
        return self.manifold.cpu_seconds()

    def host_cpu_seconds(self) -> float:
        return self.redis.cpu_seconds()

    def alive(self) -> bool:
        return self.manifold.alive() and self.redis.alive()


def same_json(a: object, b: object) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def check_response(url: str, expected: object, scenario: str) -> str | None:
    """None when the target answers correctly, else the problem."""
    try:
        status, headers, body = http_get(url, timeout=5)
    except OSError as e:
        return f"GET {url}: {e}"
    if status != 200:
        return f"GET {url}: status {status}"
    try:
        got = json.loads(body)
    except ValueError:
        return f"GET {url}: body is not JSON: {body[:200]!r}"
    if not same_json(got, expected):
        return f"GET {url}: unexpected body {json.dumps(got, sort_keys=True)[:300]}"
    if scenario == "d":
        completed = {k.lower(): v for k, v in headers.items()}.get("x-krakend-completed")
        if completed not in (None, "false"):
            return f"GET {url}: X-Krakend-Completed is {completed}, expected false (partial)"
    return None


# ---------------------------------------------------------------------------------------------
# workerd: Manifold's wasm Worker against a hand-written JS Worker (scenario b), both in workerd
# started by Miniflare 4 (bench/workerd/serve.mjs), pinned like the other targets.


class PidView:
    """CPU and RSS of one process we did not start directly (the workerd child of Miniflare's
    node host), plus the host's own CPU for comparison."""

    def __init__(self, host: Proc, pid: int):
        self.host, self.pid = host, pid
        self.log = host.log

    def _stat(self, pid: int) -> float:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            return 0.0

    def cpu_seconds(self) -> float:
        return self._stat(self.pid)

    def host_cpu_seconds(self) -> float:
        return self._stat(self.host.pid)

    def peak_rss_kb(self) -> int:
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def alive(self) -> bool:
        return self.host.alive() and os.path.exists(f"/proc/{self.pid}")


# The access-log line each Manifold Worker writes per request through console.log (JSON).
ACCESS_LINE = '"message":"request"'


def workerd_config(access_log: bool = False) -> dict:
    """The bench config for the Worker: the backend's port is the Worker's var
    BENCH_BACKEND_PORT (serve.mjs binds it), so one build serves any run; no Redis pool (the
    Worker keeps shared buckets in Durable Objects, and scenario b needs none). The access log
    is off (`router.disable_access_log`) as it is for every native target and as the JS Worker
    has none; `access_log` keeps Manifold's default, one console.log per request."""
    cfg = manifold_config("http://127.0.0.1:${env:BENCH_BACKEND_PORT:-8080}")
    if not access_log:
        cfg.setdefault("extra_config", {})["router"] = {"disable_access_log": True}
    return cfg


def access_logged(proc: "PidView") -> bool:
    """Whether the Worker served by `proc` (serve.mjs, whose log holds workerd's console output)
    has written an access line."""
    with open(proc.log, errors="replace") as f:
        return ACCESS_LINE in f.read()


def build_worker(work: str, dist: str, log: str, timeout: int = 1500,
                 access_log: bool = False) -> tuple[object, str]:
    """`wrangler deploy --dry-run --outdir dist` with workerd_config(access_log) embedded: (rc,
    log text)."""
    cfg = os.path.join(work, f"worker-config{'-log' if access_log else ''}.json")
    with open(cfg, "w") as f:
        json.dump(workerd_config(access_log), f, indent=2)
    with open(log, "wb") as f:
        try:
            rc = subprocess.run(["wrangler", "deploy", "--dry-run", "--outdir", dist], cwd=ROOT, stdout=f,
                                stderr=subprocess.STDOUT, timeout=timeout,
                                env=dict(os.environ, MANIFOLD_CONFIG=cfg, CI="true")).returncode
        except subprocess.TimeoutExpired:
            rc = f"timeout ({timeout} s)"
    with open(log, errors="replace") as f:
        return rc, f.read()


def build_rust_floor(work: str, log: str, timeout: int = 1500) -> tuple[object, str]:
    """bench/workerd/rust-floor (the plain JS Worker in Rust on workers-rs) built with
    `worker-build --release` into <work>/rust-floor-dist: (rc, where). Its target directory is
    kept under MANIFOLD_CACHE (about 40 s once its dependencies are built)."""
    crate = os.path.join(BENCH, "workerd", "rust-floor")
    cache = cache_dir()
    env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(cache, "bench-rust-floor-target"))
    with open(log, "wb") as f:
        try:
            rc = subprocess.run(["worker-build", "--release", "."], cwd=crate, stdout=f,
                                stderr=subprocess.STDOUT, timeout=timeout, env=env).returncode
        except subprocess.TimeoutExpired:
            rc = f"timeout ({timeout} s)"
    if rc != 0:
        with open(log, errors="replace") as f:
            return rc, " | ".join(f.read().splitlines()[-6:])
    dist = os.path.join(work, "rust-floor-dist")
    os.makedirs(dist, exist_ok=True)
    for name in ("index.js", "index_bg.wasm"):
        shutil.copy(os.path.join(crate, "build", name), dist)
    return 0, dist


def start_worker(work: str, name: str, argv_tail: list[str], cpu: str | None) -> tuple[PidView, str]:
    port = free_port()
    p = Proc(name, pinned(cpu, ["node", os.path.join(BENCH, "workerd", "serve.mjs"), str(port), *argv_tail]),
             os.path.join(work, f"{name}.log"))
    STARTED.append(p)
    deadline = time.time() + 60
    while time.time() < deadline:
        if not p.alive():
            raise StartFailure(f"{name} exited with {p.popen.returncode}; see {p.log}")
        with open(p.log, errors="replace") as f:
            m = re.search(r"^READY (\d+)$", f.read(), re.M)
        if m:
            pid = int(m.group(1))
            if not pid:
                raise StartFailure(f"{name}: no workerd child process found; see {p.log}")
            view = PidView(p, pid)
            url = f"http://127.0.0.1:{port}"
            wait_http(p, url + "/")
            return view, url
        time.sleep(0.2)
    raise StartFailure(f"{name} was not ready within 60 s; see {p.log}")


def workerd_section(work: str, base: str, expected: dict, params: dict, target_cpu, load_cpu,
                    dists: dict[str, str] | None = None) -> dict:
    """Builds the Manifold Worker with the bench config embedded (as scripts/worker-e2e.sh
    does: `wrangler deploy --dry-run --outdir`) twice, with the access log off (as every native
    target runs; the JS Workers have none) and on (Manifold's default), starts them, the two
    hand-written JS Workers (aggregator.js; aggregator-duties.js, the same with the gateway's
    duties, whose answer must be Manifold's byte for byte) and the first of them in Rust
    (rust-floor: what a Rust/wasm Worker costs before any gateway code), and measures scenario
    b. `dists` (--workerd-dist NAME=DIR) measures those prebuilt Workers (workerd_config())
    instead of a build, each against the same peers in the same run: an A/B of two builds."""
    out: dict = {"status": "not measured", "runs": {}}
    cache = cache_dir()
    if not shutil.which("wrangler") or not os.path.exists(os.path.join(cache, "npm", "node_modules", "miniflare")):
        out["reason"] = ("wrangler/miniflare not found (bench/run.sh runs `scripts/tools.sh worker` and "
                         "sources ~/.cache/manifold/env.sh in the full mode)")
        return out
    logging = {}
    if not dists:
        dists = {}
        for name, access_log in (("manifold-wasm", False), ("manifold-wasm-log", True)):
            dist = os.path.join(work, f"{name}-dist")
            print(f"bench: building the Manifold Worker with the bench config, access log "
                  f"{'on' if access_log else 'off'} (wrangler deploy --dry-run)", flush=True)
            t0 = time.time()
            rc, text = build_worker(work, dist, os.path.join(work, f"{name}-build.log"), access_log=access_log)
            if rc != 0:
                out["status"] = "failed"
                out["reason"] = f"the Worker build failed ({rc}); last lines: " + " | ".join(text.splitlines()[-6:])
                return out
            if not access_log:
                out["build_s"] = round(time.time() - t0)
                m = re.search(r"Total Upload: ([^\n]*)", text)
                out["bundle"] = m.group(1).strip() if m else "?"
            dists[name] = dist
            logging[name] = access_log
    out["workerd"] = subprocess.run(["workerd", "--version"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("workerd") else "?"
    print("bench: building the Rust Worker floor (bench/workerd/rust-floor, worker-build --release)", flush=True)
    rc, floor = build_rust_floor(work, os.path.join(work, "rust-floor-build.log"))
    if rc != 0:
        out["status"] = "failed"
        out["reason"] = f"the Rust Worker floor's build failed ({rc}): {floor}"
        return out
    targets = {}
    try:
        # The floor takes the backend's port as Manifold's bench Worker does (serve.mjs).
        for name, dist in {**dists, "rust-floor": floor}.items():
            targets[name] = start_worker(work, name, ["manifold", dist, base], target_cpu)
        for name, script in (("js-worker", "aggregator.js"), ("js-duties", "aggregator-duties.js")):
            targets[name] = start_worker(work, name, ["js", os.path.join(BENCH, "workerd", script), base],
                                         target_cpu)
    except StartFailure as e:
        out["status"] = "failed"
        out["reason"] = str(e)
        return out
    for t, (proc, url) in targets.items():
        problem = check_response(url + SCENARIOS["b"]["gateway_path"], expected["b"], "b")
        if problem:
            out["status"] = "failed"
            out["reason"] = f"{t}: {problem}"
            return out
    # The JS Worker with the gateway's duties writes what Manifold writes, byte for byte.
    bodies = {t: http_get(url + SCENARIOS["b"]["gateway_path"], timeout=5)[2]
              for t, (_, url) in targets.items() if t not in ("js-worker", "rust-floor")}
    differs = [t for t, body in bodies.items() if body != bodies["js-duties"]]
    if differs:
        out["status"] = "failed"
        out["reason"] = f"js-duties: its answer's body differs from {', '.join(differs)}'s"
        return out
    print("\n== workerd: scenario b, Manifold wasm Worker vs JS Workers", flush=True)
    order = list(targets)
    runs: dict[str, list[dict]] = {t: [] for t in order}
    path = SCENARIOS["b"]["gateway_path"]
    for rnd in range(params["rounds"]):
        for t in (order if rnd % 2 == 0 else list(reversed(order))):
            proc, url = targets[t]
            if not proc.alive():
                out["status"] = "failed"
                out["reason"] = f"{t} died; see {proc.log}"
                return out
            try:
                run = measure_once(proc, url + path, params, params["paced_conns"], params["paced_ms"],
                                   load_cpu, rnd)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                out["status"] = "failed"
                out["reason"] = f"{t}: {e}"
                return out
            run["peak_rss_kb"] = proc.peak_rss_kb()
            runs[t].append(run)
            print(f"   round {rnd + 1} {t:13s} {run['rps']:9.0f} req/s  cpu {run['cpu_us_per_req']:7.1f} us/req "
                  f"(workerd, {run['cpu_util'] * 100:3.0f}% of a core; node host {run['host_cpu_us_per_req']:.1f})  "
                  f"p50 {run['p50_ms']:6.2f} ms  p99 {run['p99_ms']:6.2f} ms  errors {run['errors']}", flush=True)
    out["runs"] = runs
    # After thousands of answers (no race with the console output reaching the log): a build
    # that does not log as intended fails the run instead of being reported as the other kind.
    for t, on in logging.items():
        if access_logged(targets[t][0]) != on:
            out["status"] = "failed"
            out["reason"] = f"{t}: access log expected {'on' if on else 'off'}, found the other; see {targets[t][0].log}"
            return out
    med = {t: statistics.median(r["cpu_us_per_req"] for r in rs) if rs else 0.0 for t, rs in runs.items()}
    for t in runs:
        ratios = ", ".join(f"{med[t] / med[peer]:.2f}x {peer}" for peer in ("js-worker", "js-duties", "rust-floor")
                           if med.get(peer))
        print(f"   {t:13s} median workerd cpu {med[t]:7.1f} us/req ({ratios or '-'})", flush=True)
    bad = {t: sum(r["errors"] for r in rs) for t, rs in runs.items() if sum(r["errors"] for r in rs)}
    if bad:
        out["status"] = "failed"
        out["reason"] = "errors in responses: " + ", ".join(f"{t} {n}" for t, n in bad.items())
    else:
        out["status"] = "measured"
    return out


# ---------------------------------------------------------------------------------------------
# Lambda: cold start of the release bootstrap (tests/lambda/measure.py's minimal Runtime API,
# reused) and per-invoke latency under `cargo lambda watch --release` (Function URL emulation).


def lambda_section(work: str, base: str, expected: dict, n_cold: int, n_invokes: int, target_cpu) -> dict:
    out: dict = {"status": "not measured"}
    binary = os.path.join(os.path.dirname(MANIFOLD_BIN), "bootstrap")
    if subprocess.run(["cargo", "lambda", "--version"], capture_output=True).returncode != 0:
        out["reason"] = "cargo-lambda not found (scripts/tools.sh lambda installs it)"
        return out
    out["cargo_lambda"] = subprocess.run(["cargo", "lambda", "--version"], capture_output=True,
                                         text=True).stdout.strip()
    if not os.environ.get("BENCH_NO_BUILD"):
        # Fresh, so that `cargo lambda watch --release` (which runs `cargo run --release`) finds
        # nothing to rebuild and the cold starts measure the current source.
        print("bench: cargo build --release -p manifold-lambda --bin bootstrap", flush=True)
        try:
            b = subprocess.run(["cargo", "build", "--release", "-q", "-p", "manifold-lambda", "--bin", "bootstrap"],
                               cwd=ROOT, capture_output=True, text=True, timeout=1500)
            if b.returncode != 0:
                out["status"] = "failed"
                out["reason"] = "cargo build --release -p manifold-lambda failed: " + b.stderr.strip()[-400:]
                return out
        except subprocess.TimeoutExpired:
            out["status"] = "failed"
            out["reason"] = "cargo build --release -p manifold-lambda took over 1500 s"
            return out
    # Checked after the build: on a fresh checkout the bootstrap exists only once it ran.
    if not os.path.exists(binary):
        out["reason"] = ("target/release/bootstrap missing (bench/run.sh builds it in the full mode: "
                         "`cargo build --release -p manifold-lambda --bin bootstrap`)")
        return out
    cfg = os.path.join(work, "lambda-config.json")
    with open(cfg, "w") as f:
        json.dump(manifold_config(base), f, indent=2)
    sys.path.insert(0, os.path.join(ROOT, "tests", "lambda"))
    import measure  # tests/lambda/measure.py: RuntimeApi + run_once

    path = SCENARIOS["b"]["gateway_path"]
    with open(os.path.join(ROOT, "tests", "lambda", "events", "function-url.json")) as f:
        event = json.load(f)
    event = dict(event, rawPath=path, rawQueryString="", cookies=None, body=None, isBase64Encoded=False)
    event["requestContext"] = dict(event["requestContext"], http=dict(event["requestContext"]["http"],
                                                                       method="GET", path=path))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MANIFOLD_"))}
    env["MANIFOLD_LAMBDA_CONFIG"] = cfg
    print(f"\n== Lambda: {n_cold} cold starts of target/release/bootstrap (tests/lambda/measure.py run_once)",
          flush=True)
    try:
        cold = [measure.run_once(measure.Path(binary), json.dumps(event).encode(), env, 1) for _ in range(n_cold)]
        warm = measure.run_once(measure.Path(binary), json.dumps(event).encode(), env, n_invokes + 1)
    except RuntimeError as e:
        out["status"] = "failed"
        out["reason"] = f"cold start measurement: {e}"
        return out
    out["cold_first_ms"] = [c["first_ms"] for c in cold]
    out["cold_init_ms"] = [c["init_ms"] for c in cold]
    out["cold_rss_kib"] = [c["rss_kib"] for c in cold]
    out["direct_warm_ms"] = [w * 1000 for w in warm["warm"]]
    out["direct_rss_after_kib"] = warm["rss_kib"]
    print(f"   cold start median {sorted(out['cold_first_ms'])[len(cold) // 2]:.1f} ms; "
          f"warm invoke (Runtime API interval) median "
          f"{sorted(out['direct_warm_ms'])[len(out['direct_warm_ms']) // 2]:.3f} ms", flush=True)

    # cargo lambda watch: the emulator starts the function at the first invoke.
    port = free_port()
    watch = Proc("cargo-lambda-watch", pinned(target_cpu, [
        "cargo", "lambda", "watch", "--release", "-p", "manifold-lambda", "--bin", "bootstrap",
        "--ignore-changes", "-A", "127.0.0.1", "-P", str(port), "--env-var", f"MANIFOLD_LAMBDA_CONFIG={cfg}",
    ]), os.path.join(work, "cargo-lambda-watch.log"))
    STARTED.append(watch)
    url = f"http://127.0.0.1:{port}/lambda-url/bootstrap{path}"
    try:
        deadline = time.time() + 300
        while True:
            if not watch.alive():
                raise StartFailure(f"cargo lambda watch exited with {watch.popen.returncode}; see {watch.log}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.time() > deadline:
                    raise StartFailure(f"cargo lambda watch did not listen within 300 s; see {watch.log}")
                time.sleep(0.2)
        old_affinity = os.sched_getaffinity(0)
        if target_cpu is not None:
            os.sched_setaffinity(0, {0})  # the client on the load core, like wrk
        try:
            t0 = time.perf_counter()
            status, _, body = http_get(url, timeout=300)
            out["watch_first_ms"] = (time.perf_counter() - t0) * 1000
            with open(watch.log, errors="replace") as f:
                out["watch_first_rebuilt"] = "Compiling " in f.read()
            if status != 200 or not same_json(json.loads(body), expected["b"]):
                raise StartFailure(f"first invoke under cargo lambda watch: status {status}, body {body[:200]!r}")
            lat = []
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            errors = 0
            for _ in range(n_invokes):
                t0 = time.perf_counter()
                conn.request("GET", f"/lambda-url/bootstrap{path}")
                resp = conn.getresponse()
                data = resp.read()
                lat.append((time.perf_counter() - t0) * 1000)
                if resp.status != 200:
                    errors += 1
            conn.close()
            if not same_json(json.loads(data), expected["b"]):
                errors += 1
        finally:
            os.sched_setaffinity(0, old_affinity)
        out["watch_ms"] = lat
        out["watch_errors"] = errors
        out["status"] = "measured" if not errors else "failed"
        if errors:
            out["reason"] = f"{errors} non-200 or wrong answers under cargo lambda watch"
        s = sorted(lat)
        print(f"   cargo lambda watch: first invoke {out['watch_first_ms']:.0f} ms; {n_invokes} invokes "
              f"p50 {s[len(s) // 2]:.2f} ms p99 {s[int(len(s) * 0.99)]:.2f} ms; errors {errors}", flush=True)
    except (StartFailure, OSError, ValueError, http.client.HTTPException) as e:
        out["status"] = "failed"
        out["reason"] = f"cargo lambda watch: {e}"
    finally:
        watch.stop()
    # What a per-config build saves (docs/lambda.md, "Per-config build"): the embedded default
    # config's bootstrap with only the features it needs against the every-capability one, sizes
    # and alternated cold starts. Two more release builds of the adapter's crates (the first time
    # its features change), so only here, in the full mode, never in scripts/test.sh.
    if not os.environ.get("BENCH_NO_BUILD"):
        print("\n== Lambda: every-capability vs per-config bootstrap (tests/lambda/measure.py per_config)",
              flush=True)
        try:
            out["per_config"] = measure.per_config(measure.ROOT / "config" / "gateway.json", n_cold)
        except (subprocess.CalledProcessError, RuntimeError, OSError) as e:
            out["per_config_error"] = f"tests/lambda/measure.py per_config: {e}"
            print(f"   {out['per_config_error']}", flush=True)
    return out


# ---------------------------------------------------------------------------------------------
# The run


def machine() -> dict:
    def cmd(argv: list[str]) -> str:
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            return (r.stdout + r.stderr).strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    hypervisor = cmd(["sh", "-c", "lscpu | sed -n 's/^Hypervisor vendor: *//p'"]) or "none"
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "mem_gib": round(mem_kb / 1048576, 1),
        "kernel": platform.release(),
        "os": cmd(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "hypervisor": hypervisor,
        "nginx": cmd(["nginx", "-v"]).replace("nginx version: ", ""),
        "wrk": cmd(["sh", "-c", "wrk -v 2>&1 | head -n1 | cut -d\" \" -f1-2"]),
        "node": cmd(["node", "--version"]),
        "manifold": cmd([MANIFOLD_BIN, "--version"]),
        "commit": cmd(["git", "-C", ROOT, "describe", "--always", "--dirty"]),
    }


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few seconds per target (CI smoke run)")
    ap.add_argument("--out", help="directory for BENCHMARKS.md and ratios.svg")
    ap.add_argument("--scenarios", default="abcde")
    ap.add_argument("--manifold", default=MANIFOLD_BIN)
    ap.add_argument("--edge", default=None,
                    help="comma list of workerd,lambda (default: both in the full mode, none with --quick)")
    ap.add_argument("--rounds", type=int, metavar="N",
                    help="rounds per target (default 2, 1 with --quick): more rounds for an A/B of "
                         "--workerd-dist builds, whose rounds spread by up to 15 %% on a shared host")
    ap.add_argument("--workerd-dist", action="append", metavar="NAME=DIR",
                    help="measure this prebuilt Worker (wrangler deploy --dry-run --outdir of workerd_config()) "
                         "in the workerd section instead of building one; repeat for an A/B")
    args = ap.parse_args()
    edge = set(filter(None, (args.edge if args.edge is not None else ("" if args.quick else "workerd,lambda"))
                      .split(",")))

    if args.quick:
        params = dict(rounds=1, warmup=1.0, sat=2.0, paced=2.0)
    else:
        params = dict(rounds=2, warmup=2.0, sat=10.0, paced=10.0)
    if args.rounds:
        params["rounds"] = args.rounds
    params.update(conns=64, paced_conns=20, paced_ms=20, d_paced_conns=20, d_paced_ms=100)
    out_dir = args.out or (os.path.join(tempfile.gettempdir(), "manifold-bench-quick") if args.quick else ROOT)
    os.makedirs(out_dir, exist_ok=True)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    target_cpu = "1" if (os.cpu_count() or 1) >= 2 else None
    load_cpu = "0" if target_cpu else None
    work = tempfile.mkdtemp(prefix="manifold-bench-")
    os.chmod(work, 0o755)  # nginx workers may run as nobody
    info = machine()
    info["load_before"] = loadavg()
    started_at = datetime.datetime.now(datetime.timezone.utc)
    print(f"bench: work dir {work}; load average {info['load_before']}", flush=True)

    results: dict = {}
    failures: dict[str, str] = {}
    edge_results: dict = {}
    try:
        data, files, expected = write_data(work)
        info["sizes"] = {rel: os.path.getsize(os.path.join(data, rel)) for rel in files}

        # Backend nginx (CPU 0, with the load generator): static files plus the slow one.
        if not os.path.exists(NGINX_ECHO):
            raise StartFailure(f"{NGINX_ECHO} missing (Debian package libnginx-mod-http-echo)")
        bport = free_port()
        backend = start_nginx(
            work, "backend", bport,
            f"""    root {data};
    location = /d/slow {{ echo_sleep 1.0; echo '{{"slow":true}}'; }}""",
            load_cpu, modules=f"load_module {NGINX_ECHO};",
        )
        base = f"http://127.0.0.1:{bport}"
        wait_http(backend, base + "/a.json")

        # Redis for scenario e (CPU 0: a dependency, like the backend), no persistence.
        rport = free_port()
        redis = Proc("redis", pinned(load_cpu, ["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                                                 "--save", "", "--appendonly", "no"]),
                     os.path.join(work, "redis.log"))
        STARTED.append(redis)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", rport), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(8).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or not redis.alive():
                raise StartFailure(f"redis-server did not start; see {redis.log}")
            time.sleep(0.05)

        # Targets, each pinned to the target CPU with one worker.
        targets: dict[str, tuple[Proc, str]] = {}
        dport = free_port()
        targets["direct"] = (start_nginx(work, "direct", dport, f"    root {data};", target_cpu),
                             f"http://127.0.0.1:{dport}")
        pport = free_port()
        targets["nginx-proxy"] = (start_nginx(work, "nginx-proxy", pport, f"""    location = /a {{
      proxy_pass http://backend/a.json;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
  upstream backend {{
    server 127.0.0.1:{bport};
    keepalive 128;""", target_cpu), f"http://127.0.0.1:{pport}")
        nport = free_port()
        node = Proc("node", pinned(target_cpu, ["node", os.path.join(BENCH, "node", "aggregator.mjs"),
                                               str(nport), base]),
                    os.path.join(work, "node.log"))
        STARTED.append(node)
        targets["node"] = (node, f"http://127.0.0.1:{nport}")
        mport = free_port()
        cfg = os.path.join(work, "manifold.json")
        with open(cfg, "w") as f:
            json.dump(manifold_config(base, rport), f, indent=2)
        env = dict(os.environ, RUST_LOG=os.environ.get("BENCH_MANIFOLD_LOG", "warn"))
        mani = Proc("manifold", pinned(target_cpu, [args.manifold, "run", "-c", cfg, "-p", str(mport),
                                                   "--threads", "1"]),
                    os.path.join(work, "manifold.log"), env=env)
        STARTED.append(mani)
        targets["manifold"] = (mani, f"http://127.0.0.1:{mport}")
        targets["manifold-memory"] = (mani, f"http://127.0.0.1:{mport}")
        for name, (proc, url) in targets.items():
            wait_http(proc, url + "/")
        print("bench: backend, direct, nginx-proxy, node and manifold are up", flush=True)

        for key in args.scenarios:
            sc = SCENARIOS[key]
            print(f"\n== {sc['title']}", flush=True)
            runs: dict[str, list[dict]] = {t: [] for t in sc["peers"]}
            problem = None
            for t in sc["peers"]:
                proc, url = targets[t]
                path = target_path(sc, t)
                want = files[sc["direct_path"].lstrip("/")] if t == "direct" else expected[key]
                problem = check_response(url + path, want, key if t != "direct" else "")
                if problem:
                    problem = f"{t}: {problem}"
                    break
            if problem:
                print(f"   FAILED: {problem}", flush=True)
                failures[key] = problem
                continue
            pc, pm = ((params["d_paced_conns"], params["d_paced_ms"]) if key == "d"
                      else (params["paced_conns"], params["paced_ms"]))
            try:
                for rnd in range(params["rounds"]):
                    order = sc["peers"] if rnd % 2 == 0 else list(reversed(sc["peers"]))
                    for t in order:
                        proc, url = targets[t]
                        path = target_path(sc, t)
                        if key == "e" and t == "manifold":
                            proc = WithRedis(proc, redis)
                        if not proc.alive():
                            raise StartFailure(f"{t} died; see {proc.log}")
                        run = measure_once(proc, url + path, params, pc, pm, load_cpu, rnd)
                        runs[t].append(run)
                        print(f"   round {rnd + 1} {t:12s} {run['rps']:9.0f} req/s  "
                              f"cpu {run['cpu_us_per_req']:7.1f} us/req ({run['cpu_util'] * 100:3.0f}% of a core)  "
                              f"p50 {run['p50_ms']:6.2f} ms  p99 {run['p99_ms']:6.2f} ms at {run['paced_rps']:.0f} req/s  "
                              f"errors {run['errors']}", flush=True)
            except RuntimeError as e:
                failures[key] = str(e)
                print(f"   FAILED: {e}", flush=True)
                continue
            for t in sc["peers"]:
                proc, _ = targets[t]
                for r in runs[t]:
                    r["peak_rss_kb"] = proc.peak_rss_kb()
            results[key] = runs
            # Real failures: any error below saturation, socket errors anywhere, and non-2xx
            # answers under saturation except in d, where an overloaded gateway may legitimately
            # see every backend miss the deadline and answer 500 (shown in the table).
            def real_errors(r: dict) -> int:
                sat = r["sat_errors"] - (r["sat_status_errors"] if key == "d" else 0)
                return sat + r["paced_errors"]

            errs = {t: sum(real_errors(r) for r in runs[t]) for t in runs}
            # Only Manifold's own errors fail the run: an overloaded peer (Node under
            # saturation on a busy CI machine) is reported in the table, not a failure of ours.
            bad = {t: n for t, n in errs.items() if n and t.startswith("manifold")}
            if bad:
                failures[key] = "errors in responses: " + ", ".join(f"{t} {n}" for t, n in bad.items())
                print(f"   FAILED: {failures[key]}", flush=True)
        for name, (proc, _) in targets.items():
            if not proc.alive():
                failures.setdefault("processes", f"{name} exited during the run; see {proc.log}")
        # The native targets are idle from here on; the Workers and Lambda use the same cores.
        if "workerd" in edge:
            dists = dict(d.split("=", 1) for d in args.workerd_dist) if args.workerd_dist else None
            edge_results["workerd"] = workerd_section(work, base, expected, params, target_cpu, load_cpu, dists)
            if edge_results["workerd"]["status"] == "failed":
                failures["workerd"] = edge_results["workerd"]["reason"]
        if "lambda" in edge:
            n_cold, n_inv = (5, 100) if args.quick else (30, 1000)
            edge_results["lambda"] = lambda_section(work, base, expected, n_cold, n_inv, target_cpu)
            if edge_results["lambda"]["status"] == "failed":
                failures["lambda"] = edge_results["lambda"]["reason"]
    except StartFailure as e:
        failures["start"] = str(e)
        print(f"bench: FAILED to start: {e}", flush=True)
    finally:
        stop_all()

    info["load_after"] = loadavg()
    info["started"] = started_at.strftime("%Y-%m-%d %H:%M UTC")
    info["duration_s"] = round((datetime.datetime.now(datetime.timezone.utc) - started_at).total_seconds())
    import report  # bench/report.py

    for key in ("workerd", "lambda"):
        edge_results.setdefault(key, {"status": "not measured", "reason": (
            "not part of --quick (the Worker build alone takes about a minute; the Lambda section "
            "needs the release bootstrap built); run the full mode or --edge workerd,lambda"
            if args.quick else f"skipped (--edge {args.edge!r})")})
    raw = {
        "results": results, "failures": failures, "info": info, "params": params,
        "scenarios": SCENARIOS, "labels": TARGET_LABEL, "quick": args.quick,
        "d_timeout_ms": D_TIMEOUT_MS, "edge": edge_results,
    }
    raw_name = "bench/results.json" if out_dir == ROOT else "results.json"
    with open(os.path.join(out_dir, raw_name), "w") as f:
        json.dump(raw, f, indent=1)
    md_path, svg_path = report.write(raw, out_dir, ROOT)
    print(f"\nbench: wrote {md_path}, {svg_path} and {os.path.join(out_dir, raw_name)}")
    print(f"bench: load average before {info['load_before']}, after {info['load_after']}")
    measured = len(results) + sum(1 for v in edge_results.values() if v["status"] == "measured")
    failed = len(failures)
    print(f"bench: {measured} scenarios measured, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    sys.path.insert(0, BENCH)
    try:
        sys.exit(main())
    finally:
        stop_all()
