#!/usr/bin/env python3
"""Response compression (`manifold/compression`) on bench scenarios b and c: bytes on the wire
and Manifold's CPU per request, without compression and with gzip and with brotli at the
default levels (gzip 6, brotli 4).

Same setup as bench/bench.py (whose helpers it imports): the backend nginx and wrk share CPU 0,
Manifold (`--threads 1`) is pinned to CPU 1; CPU µs/req is utime+stime of the Manifold process
over a saturating `wrk -t1 -c64` run with the given `Accept-Encoding`, divided by its requests.
Needs nginx, libnginx-mod-http-echo, wrk (bench/run.sh installs them) and a release build of
`manifold` (`cargo build --release -p manifold`).

Usage: python3 bench/compression.py [--seconds 5] [--rounds 2] [--min-size N] [--manifold PATH]
A body under min_size (scenario b's 805 bytes with the default 1024) is expected uncompressed.
Last line: `compression bench: N measured, F failed`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the helpers of the main benchmark)

CODINGS = [("identity", None), ("gzip", "gzip"), ("br", "br")]


def fetch(url: str, accept: str | None) -> tuple[int, str | None, int]:
    req = urllib.request.Request(url, headers={"Accept-Encoding": accept or "identity"})
    with urllib.request.urlopen(req, timeout=5) as r:
        body = r.read()
        return r.status, r.headers.get("Content-Encoding"), len(body)


def wrk(url: str, accept: str | None, seconds: int) -> dict:
    argv = bench.pinned("0", [
        "wrk", "-t1", "-c64", f"-d{seconds}s", "--timeout", "5s",
        "-H", f"Accept-Encoding: {accept or 'identity'}",
        "-s", os.path.join(bench.BENCH, "wrk", "report.lua"), url,
    ])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH "):
            r = json.loads(line[6:])
            r["rps"] = r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0
            r["errors"] = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
            return r
    raise RuntimeError(f"wrk gave no result: {out.stdout}\n{out.stderr}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--min-size", type=int, default=None,
                    help="manifold/compression min_size (default: the namespace's default, 1024)")
    ap.add_argument("--manifold", default=os.path.join(bench.ROOT, "target/release/manifold"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="manifold-compression-bench.")
    os.chmod(work, 0o755)  # the nginx worker (nobody) reads the data files under it
    measured = failed = 0
    try:
        data = bench.write_data(work)[0]
        bport = bench.free_port()
        backend = bench.start_nginx(work, "backend", bport, f"    root {data};", "0")
        base = f"http://127.0.0.1:{bport}"
        bench.wait_http(backend, base + "/a.json")
        cfg = bench.manifold_config(base)
        ns = {} if args.min_size is None else {"min_size": args.min_size}
        cfg.setdefault("extra_config", {})["manifold/compression"] = ns
        min_size = 1024 if args.min_size is None else args.min_size
        path = os.path.join(work, "manifold.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        port = bench.free_port()
        env = dict(os.environ, RUST_LOG="warn")
        mani = bench.Proc("manifold", bench.pinned("1", [args.manifold, "run", "-c", path, "-p", str(port),
                                                         "--threads", "1"]),
                          os.path.join(work, "manifold.log"), env=env)
        bench.STARTED.append(mani)
        url = f"http://127.0.0.1:{port}"
        bench.wait_http(mani, url + "/a")
        print(f"load average before: {bench.loadavg()}")
        print("| scenario | Accept-Encoding | Content-Encoding | body bytes | saved | CPU µs/req (runs) | req/s (runs) |")
        print("|---|---|---|---|---|---|---|")
        for key in "bc":
            target = url + bench.SCENARIOS[key]["gateway_path"]
            plain = None
            for label, accept in CODINGS:
                status, encoding, size = fetch(target, accept)
                small = plain is not None and plain < min_size
                want = accept if accept and not small else None
                if status != 200 or encoding != want:
                    print(f"FAILED {key} {label}: status {status}, Content-Encoding {encoding}")
                    failed += 1
                    continue
                plain = size if accept is None else plain
                wrk(target, accept, 2)  # warm-up
                cpu, rps = [], []
                for _ in range(args.rounds):
                    c0 = mani.cpu_seconds()
                    r = wrk(target, accept, args.seconds)
                    c1 = mani.cpu_seconds()
                    if r["errors"]:
                        print(f"FAILED {key} {label}: {r['errors']} errors under load")
                        failed += 1
                    cpu.append((c1 - c0) * 1e6 / max(r["requests"], 1))
                    rps.append(r["rps"])
                saved = f"{100 * (1 - size / plain):.1f} %" if plain and accept else "–"
                print(f"| {key} | {label} | {encoding or '–'} | {size:,} | {saved} | "
                      f"{sum(cpu) / len(cpu):.1f} ({', '.join(f'{c:.1f}' for c in cpu)}) | "
                      f"{sum(rps) / len(rps):,.0f} ({', '.join(f'{x:,.0f}' for x in rps)}) |", flush=True)
                measured += 1
        print(f"load average after: {bench.loadavg()}")
    except (bench.StartFailure, RuntimeError, OSError) as e:
        print(f"ERROR: {e}")
        failed += 1
    finally:
        bench.stop_all()
    print(f"compression bench: {measured} measured, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
