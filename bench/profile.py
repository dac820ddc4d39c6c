#!/usr/bin/env python3
"""Profile Manifold's hot path for one bench scenario with `perf record` (cpu-clock sampling).

Usage: python3 bench/profile.py [SCENARIO] [SECONDS] [--manifold BIN] [--svg OUT.svg]
                                [--telemetry off|logs|tracing]
       (default: a 10, the release build, telemetry off)

Starts the bench backend nginx and `manifold run --threads 1` exactly as bench/run.sh does
(Manifold pinned to CPU 1, backend + wrk on CPU 0), saturates the scenario's URL with wrk while
`perf record` samples the Manifold process, and prints the top of `perf report` (self time,
and inclusive time with DWARF call graphs). Run bench/run.sh once first (it installs the tools
and builds target/release/manifold). Needs `perf` (Debian linux-perf) and perf_event access.
--svg renders the samples as a flame graph with inferno (`inferno-collapse-perf` and
`inferno-flamegraph` on PATH or under ~/.cache/manifold/inferno/bin; `cargo install inferno
--root ~/.cache/manifold/inferno` installs them).
--telemetry logs|tracing runs the gateway as bench/telemetry.py's mode of that name (access log;
access log and every span exported over OTLP/HTTP to the backend nginx, which answers 200), to
see where telemetry's time goes on the wall clock rather than in instruction counts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import telemetry  # noqa: E402 - its modes' configs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default="a")
    ap.add_argument("seconds", nargs="?", type=int, default=10)
    ap.add_argument("--manifold", default=bench.MANIFOLD_BIN)
    ap.add_argument("--svg", help="write a flame graph of the samples here (inferno)")
    ap.add_argument("--telemetry", choices=telemetry.MODES, default="off",
                    help="bench/telemetry.py's mode: off (bench.py's config), logs or tracing")
    args = ap.parse_args()
    key, seconds = args.scenario, args.seconds
    sc = bench.SCENARIOS[key]
    work = tempfile.mkdtemp(prefix="manifold-profile-")
    os.chmod(work, 0o755)
    try:
        data = bench.write_data(work)[0]
        bport = bench.free_port()
        backend = bench.start_nginx(
            work, "backend", bport,
            f"""    root {data};
    location = /d/slow {{ echo_sleep 1.0; echo '{{"slow":true}}'; }}
    location /v1/ {{ return 200; }}""",
            "0", modules=f"load_module {bench.NGINX_ECHO};",
        )
        base = f"http://127.0.0.1:{bport}"
        bench.wait_http(backend, base + "/a.json")
        cfg = os.path.join(work, "manifold.json")
        with open(cfg, "w") as f:
            # bench.py's config without its Redis pool and scenario e (no Redis here), with the
            # telemetry of the mode (the backend nginx is the OTLP collector).
            json.dump(telemetry.config(base, args.telemetry, base), f)
        mport = bench.free_port()
        mani = bench.Proc("manifold", ["taskset", "-c", "1", args.manifold,
                                       "run", "-c", cfg, "-p", str(mport), "--threads", "1"],
                          os.path.join(work, "manifold.log"),
                          env=dict(os.environ, RUST_LOG="warn" if args.telemetry == "off" else "info"))
        bench.STARTED.append(mani)
        url = f"http://127.0.0.1:{mport}{sc['gateway_path']}"
        bench.wait_http(mani, url)
        bench.wrk(url, 64, 2)  # warm-up
        perf_data = os.path.join(work, "perf.data")
        perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "1999", "--call-graph",
                                 "dwarf,16384", "-o", perf_data, "-p", str(mani.pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        r = bench.wrk(url, 64, seconds)
        perf.send_signal(2)
        perf.wait(60)
        print(f"profile: scenario {key}, {r['rps']:.0f} req/s under perf, {r['errors']} errors; {perf_data}")
        for title, extra in (("self", ["--no-children"]), ("inclusive", ["--children"])):
            out = subprocess.run(["perf", "report", "-i", perf_data, "--stdio", "--percent-limit", "1.5",
                                  "-g", "none", "--sort", "symbol", *extra],
                                 capture_output=True, text=True)
            lines = [ln for ln in out.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
            print(f"\n== {title} (perf report --sort symbol {' '.join(extra)})")
            print("\n".join(lines[:40]))
        if args.svg:
            flamegraph(perf_data, args.svg, f"manifold, scenario {key}, {r['rps']:.0f} req/s under perf")
    finally:
        bench.stop_all()
    return 0


def flamegraph(perf_data: str, svg: str, title: str) -> None:
    """perf script | inferno-collapse-perf | inferno-flamegraph > svg."""
    cache = os.path.join(bench.cache_dir(), "inferno", "bin")
    path = os.pathsep.join([cache, os.environ.get("PATH", "")])
    tools = [shutil.which(t, path=path) for t in ("inferno-collapse-perf", "inferno-flamegraph")]
    if not all(tools):
        raise SystemExit("profile: inferno not found; cargo install inferno --root ~/.cache/manifold/inferno")
    script = subprocess.run(["perf", "script", "-i", perf_data], capture_output=True, check=True)
    folded = subprocess.run([tools[0]], input=script.stdout, capture_output=True, check=True)
    graph = subprocess.run([tools[1], "--title", title, "--width", "1600"], input=folded.stdout,
                           capture_output=True, check=True)
    with open(svg, "wb") as f:
        f.write(graph.stdout)
    print(f"profile: flame graph in {svg}")


if __name__ == "__main__":
    sys.exit(main())
