#!/usr/bin/env python3
"""Size, local cold start and peak RSS of the Lambda bootstrap (scripts/lambda-e2e.sh --measure).

1. Builds the release bootstraps with cargo lambda (x86_64, then arm64) and reports the size of
   each (cargo lambda strips them).
2. Runs the x86_64 bootstrap on this machine against a minimal Lambda Runtime API written here
   (next / response, as the real one), so that no emulator sits in the measured path:
   * cold start = from just before the process is spawned to the moment its first answer
     reaches the Runtime API; the gateway's own init (config parse + compile + ports) is the
     `gateway ready in N µs` figure the bootstrap logs;
   * peak RSS = VmHWM of the process after the first answer, and after 1000 warm invocations.
   Two cases: the embedded config (config/gateway.json) answering GET /__health, and the e2e
   config (runtime override) answering GET /users/42 from two local backends.

Prints a Markdown table (pasted into docs/lambda.md). Usage: measure.py [--runs N] [--binary PATH]
[--embedded-only]

measure.py --per-config [CONFIG] [--runs N] compares instead the two release bootstraps of
docs/lambda.md's "Per-config build", both with CONFIG embedded (default config/gateway.json):
`cargo build --release -p manifold-lambda --bin bootstrap` with every capability, and with only
the manifold-core features CONFIG needs (`--no-default-features --features $(manifold-features
CONFIG)`). For each: its size, stripped (`strip`, as cargo lambda does) and as the zip a deploy
uploads (`zip -9` of the stripped file named bootstrap), then N cold starts of each stripped
binary on CONFIG's `GET /__health`, alternated so both see the same host load. The per-config
build is made first, so target/release/bootstrap is the every-capability one afterwards (what
bench/bench.py and `cargo lambda watch --release` expect). Exit status 1 if the per-config
bootstrap is not smaller. bench/run.sh's full mode runs it (bench.py's Lambda section).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ARTIFACT = ROOT / "target/lambda/bootstrap/bootstrap"


class RuntimeApi:
    """The two Runtime API calls a function makes, with the time each answer arrived."""

    def __init__(self, event: bytes, count: int) -> None:
        self.event, self.remaining = event, count
        self.answers: list[float] = []
        self.statuses: list[int] = []
        self.done = threading.Event()
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # One write per answer would do too; without either, Nagle + delayed ACK
                # adds 40 ms to each keep-alive exchange.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: object) -> None:
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except ConnectionError:
                    pass  # the function was killed while waiting for its next event

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                with api.lock:
                    serve = api.remaining > 0
                    api.remaining -= 1
                if not serve:
                    time.sleep(3600)  # like Lambda: no event, the function waits (until killed)
                    return
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", f"req-{len(api.answers)}")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:manifold")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Length", str(len(api.event)))
                self.end_headers()
                self.wfile.write(api.event)

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                now = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = json.loads(body).get("statusCode", 0) if self.path.endswith("/response") else -1
                with api.lock:
                    api.answers.append(now)
                    api.statuses.append(status)
                    if api.remaining <= 0:
                        api.done.set()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def run_once(binary: Path, event: bytes, env: dict, invocations: int) -> dict:
    api = RuntimeApi(event, invocations)
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{api.port}", AWS_LAMBDA_FUNCTION_NAME="manifold",
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256", AWS_LAMBDA_FUNCTION_VERSION="$LATEST")
    start = time.perf_counter()
    proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not api.done.wait(60):
            raise RuntimeError(f"no answer within 60 s: {proc.stderr.read1(4000)!r}" if proc.poll() is not None else "no answer within 60 s")
        first = api.answers[0] - start
        rss = vm_hwm_kib(proc.pid)
        warm = [b - a for a, b in zip(api.answers, api.answers[1:])]
    finally:
        proc.kill()
        log = proc.stderr.read().decode(errors="replace")
        proc.wait()
        api.server.shutdown()
    init = re.search(r"gateway ready in (\d+) µs", log)
    if not init:
        raise RuntimeError(f"no init line in the bootstrap's log: {log[-500:]}")
    if any(s != 200 for s in api.statuses):
        raise RuntimeError(f"non-200 answers: {sorted(set(api.statuses))}")
    return {"first_ms": first * 1000, "init_ms": int(init.group(1)) / 1000, "rss_kib": rss, "warm": warm}


def zipped_size(path: Path) -> int:
    """What Lambda downloads: the bootstrap in a deflated zip, as sam and cargo lambda make it."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "bootstrap.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(path, "bootstrap")
        return archive.stat().st_size


def build(arch_flag: list[str]) -> tuple[int, str, Path]:
    subprocess.run(["cargo", "lambda", "build", "--release", "-p", "manifold-lambda", "--bin", "bootstrap", *arch_flag],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kept = Path(tempfile.mkdtemp(prefix="manifold-bootstrap-")) / "bootstrap"
    shutil.copy2(ARTIFACT, kept)
    kind = subprocess.run(["file", "-b", str(kept)], capture_output=True, text=True, check=False).stdout.strip()
    return kept.stat().st_size, kind, kept


def target_dir() -> Path:
    """Where cargo puts the builds: $CARGO_TARGET_DIR (relative to the repository) or target/."""
    return ROOT / os.environ.get("CARGO_TARGET_DIR", "target")


def release_bootstrap(config: Path, features: list[str] | None, keep: Path) -> Path:
    """`cargo build --release` of the bootstrap with `config` embedded: every capability
    (`features` None) or only `features`; a copy is kept at `keep`/bootstrap."""
    argv = ["cargo", "build", "--release", "-q", "-p", "manifold-lambda", "--bin", "bootstrap"]
    if features is not None:
        argv += ["--no-default-features", "--features", ",".join(features)]
    env = dict(os.environ)
    env.pop("MANIFOLD_CONFIG", None)
    # The default config unnamed, as bench.py builds it: a changed MANIFOLD_CONFIG reruns build.rs.
    if config.resolve() != (ROOT / "config/gateway.json").resolve():
        env["MANIFOLD_CONFIG"] = str(config.resolve())
    print("measure: " + " ".join(argv), f"(MANIFOLD_CONFIG={env.get('MANIFOLD_CONFIG', '')})", flush=True)
    subprocess.run(argv, cwd=ROOT, check=True, env=env)
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy2(target_dir() / "release/bootstrap", keep / "bootstrap")
    return keep / "bootstrap"


def sizes(binary: Path) -> tuple[int, int, int, Path]:
    """(size, stripped, zip -9 of the stripped file, the stripped file) of an unstripped build."""
    stripped = binary.parent / "stripped" / "bootstrap"
    stripped.parent.mkdir(exist_ok=True)
    shutil.copy2(binary, stripped)
    subprocess.run(["strip", str(stripped)], check=True)
    archive = stripped.parent / "bootstrap.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(stripped, "bootstrap")
    return binary.stat().st_size, stripped.stat().st_size, archive.stat().st_size, stripped


def per_config(config: Path, runs: int) -> list[dict]:
    """The every-capability and the per-config bootstrap of `config`: sizes and `runs` cold starts
    of each (alternated), as dicts; both printed as a Markdown table and one line each."""
    listed = subprocess.run(["cargo", "run", "-q", "-p", "manifold-build", "--bin", "manifold-features", "--",
                             str(config)], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
    features = [f for f in listed.split(",") if f]
    work = Path(tempfile.mkdtemp(prefix="manifold-bootstraps-"))
    try:
        builds = [{"name": "per-config", "features": features},
                  {"name": "every capability", "features": None}]
        for b in builds:
            kept = release_bootstrap(config, b["features"], work / b["name"].replace(" ", "-"))
            b["size"], b["stripped"], b["zipped"], b["binary"] = sizes(kept)
            b["cold"] = []
        builds.reverse()  # every capability first in the table
        function_url = json.loads((HERE / "events/function-url.json").read_text())
        health = json.dumps(dict(function_url, rawPath="/__health", cookies=None)).encode()
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MANIFOLD_"))}
        for _ in range(runs):
            for b in builds:
                b["cold"].append(run_once(b["binary"], health, base, 1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    name = config.resolve().relative_to(ROOT) if config.resolve().is_relative_to(ROOT) else config
    print(f"\n| bootstrap, {name} embedded (x86_64, `cargo build --release`) | manifold-core features | size "
          f"| stripped | zip -9 of the stripped file | process start → first answer, ms ({runs} cold starts, "
          f"alternated) | gateway init, ms | peak RSS, 1st answer |")
    print("|---|---|---:|---:|---:|---|---|---:|")
    for b in builds:
        listed = "all (default)" if b["features"] is None else (", ".join(b["features"]) or "none")
        print(f"| {b['name']} | {listed} | {b['size']:,} | {b['stripped']:,} | {b['zipped']:,} "
              f"| {fmt([c['first_ms'] for c in b['cold']])} | {fmt([c['init_ms'] for c in b['cold']])} "
              f"| {statistics.median(c['rss_kib'] for c in b['cold']) / 1024:.1f} MiB |")
    print()
    for b in builds:
        label = "every capability" if b["features"] is None else f"{name}, per-config build"
        print(f"lambda bootstrap ({label}): {b['stripped']:,} bytes stripped, {b['zipped']:,} bytes zip -9")
    return [{k: v for k, v in b.items() if k != "binary"} for b in builds]


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} (min {min(values):.1f}, max {max(values):.1f})"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--binary", help="skip the builds and measure this (host-runnable) bootstrap")
    ap.add_argument("--embedded-only", action="store_true",
                    help="only the embedded-config case: a per-config build of config/gateway.json "
                         "lacks the capabilities the override config uses (docs/lambda.md)")
    ap.add_argument("--per-config", nargs="?", const="config/gateway.json", metavar="CONFIG",
                    help="build the every-capability and the per-config bootstrap of CONFIG (default "
                         "config/gateway.json) with cargo build --release; compare sizes and cold starts")
    args = ap.parse_args()
    if args.per_config:
        builds = per_config(ROOT / args.per_config, args.runs)
        every, own = builds[0]["stripped"], builds[1]["stripped"]
        if own >= every:
            print(f"measure: the per-config bootstrap ({own:,} B) is not smaller than the every-capability one "
                  f"({every:,} B)", file=sys.stderr)
            return 1
        return 0

    binary = Path(args.binary) if args.binary else ARTIFACT
    temporary: list[Path] = []
    if not args.binary:
        rows = []
        for label, flag in (("x86_64", []), ("arm64", ["--arm64"])):
            size, kind, kept = build(flag)
            rows.append(f"| {label} | {size:,} bytes ({size / 1048576:.2f} MiB) | {zipped_size(kept):,} bytes "
                        f"| {kind.split(',')[0]}, {'stripped' if 'not stripped' not in kind else 'NOT stripped'} |")
            temporary.append(kept.parent)
            if label == "x86_64":
                binary = kept
        print("| bootstrap | size | zipped | file |\n|---|---|---|---|")
        print("\n".join(rows))
        print()

    function_url = json.loads((HERE / "events/function-url.json").read_text())
    health = dict(function_url, rawPath="/__health", cookies=None)
    backend = subprocess.Popen([sys.executable, str(HERE / "backend.py"), "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    try:
        port = int(backend.stdout.readline())
        cases = [
            ("embedded config/gateway.json, GET /__health", health, {}),
            ("override tests/lambda/gateway.e2e.json, GET /users/42 (2 backends)", function_url,
             {"MANIFOLD_LAMBDA_CONFIG": str(HERE / "gateway.e2e.json"), "E2E_BACKEND_PORT": str(port)}),
        ][: 1 if args.embedded_only else None]
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MANIFOLD_"))}
        print(f"| case ({args.runs} cold starts, x86_64 release bootstrap) | process start → first answer, ms | gateway init, ms | peak RSS after 1st answer | peak RSS after 1000 warm | warm invoke, ms |")
        print("|---|---|---|---|---|---|")
        for name, event, extra in cases:
            data = json.dumps(event).encode()
            cold = [run_once(binary, data, dict(base, **extra), 1) for _ in range(args.runs)]
            warm = run_once(binary, data, dict(base, **extra), 1001)
            print(f"| {name} | {fmt([c['first_ms'] for c in cold])} | {fmt([c['init_ms'] for c in cold])} "
                  f"| {statistics.median(c['rss_kib'] for c in cold) / 1024:.1f} MiB "
                  f"| {warm['rss_kib'] / 1024:.1f} MiB | {statistics.median(warm['warm']) * 1000:.2f} (median) |")
    finally:
        backend.kill()
        backend.wait()
        for tmp in temporary:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
