"""Telemetry overhead (issue 14, point 6): Manifold native on scenarios a and b of bench.py, three
ways, each pinned to one CPU with one worker thread, measured the same way as bench.py (wrk,
CPU time from /proc):

  off       no access log (RUST_LOG=warn: the CLI then attaches no sink, no record is built)
  logs      the access log (text, to a file), no telemetry/opentelemetry
  tracing   the access log and telemetry/opentelemetry at trace_sample_rate 1, exporting every
            span over OTLP/HTTP to an nginx that answers 200 (a collector that costs nothing)

Prints one line per run and a table; --json writes the figures. Run by `bench/run.sh
--telemetry` (which installs nginx and wrk and builds the release binary first).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
import bench as b  # noqa: E402 - bench.py's processes, nginx, wrk and measurements

MODES = ("off", "logs", "tracing")


def config(base: str, mode: str, otlp: str) -> dict:
    cfg = b.manifold_config(base)
    if mode == "tracing":
        cfg["extra_config"] = {"telemetry/opentelemetry": {
            "service_name": "manifold-bench", "trace_sample_rate": 1, "metric_reporting_period": 30,
            "exporters": {"otlp": [{"name": "sink", "host": otlp, "use_http": True}]},
        }}
    return cfg


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifold", default=b.MANIFOLD_BIN)
    ap.add_argument("--quick", action="store_true", help="a few seconds per run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    params = dict(warmup=1.0, sat=3.0, paced=2.0) if args.quick else dict(warmup=2.0, sat=10.0, paced=5.0)
    params.update(conns=64)
    rounds = 1 if args.quick else args.rounds
    target_cpu = "1" if (os.cpu_count() or 1) >= 2 else None
    load_cpu = "0" if target_cpu else None
    work = tempfile.mkdtemp(prefix="manifold-bench-telemetry-")
    os.chmod(work, 0o755)
    results: dict[str, dict[str, list[dict]]] = {}
    try:
        files = b.data_files()
        expected = b.expected_outputs(files)
        data = os.path.join(work, "data")
        for rel, obj in files.items():
            path = os.path.join(data, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                json.dump(obj, f, separators=(",", ":"))
        for d in (data, *(os.path.join(data, s) for s in ("b", "c", "d"))):
            os.chmod(d, 0o755)
        # The backend and the "collector" share CPU 0 with wrk, as bench.py's backend does.
        bport = b.free_port()
        backend = b.start_nginx(work, "backend", bport, f"""    root {data};
    location /v1/ {{ return 200; }}""", load_cpu)
        base = f"http://127.0.0.1:{bport}"
        b.wait_http(backend, base + "/a.json")
        targets = {}
        for mode in MODES:
            port = b.free_port()
            cfg = os.path.join(work, f"manifold-{mode}.json")
            with open(cfg, "w") as f:
                json.dump(config(base, mode, base), f)
            env = dict(os.environ, RUST_LOG="warn" if mode == "off" else "info")
            proc = b.Proc(f"manifold-{mode}", b.pinned(target_cpu, [
                args.manifold, "run", "-c", cfg, "-p", str(port), "--threads", "1"]),
                os.path.join(work, f"manifold-{mode}.log"), env=env)
            b.STARTED.append(proc)
            targets[mode] = (proc, f"http://127.0.0.1:{port}")
        for mode, (proc, url) in targets.items():
            b.wait_http(proc, url + "/")
        for key in "ab":
            sc = b.SCENARIOS[key]
            print(f"\n== {sc['title']}", flush=True)
            results[key] = {m: [] for m in MODES}
            for mode, (_, url) in targets.items():
                problem = b.check_response(url + sc["gateway_path"], expected[key], key)
                if problem:
                    raise b.StartFailure(f"{mode}: {problem}")
            for rnd in range(rounds):
                for mode in (MODES if rnd % 2 == 0 else tuple(reversed(MODES))):
                    proc, url = targets[mode]
                    run = b.measure_once(proc, url + sc["gateway_path"], params, 20, 20, load_cpu, rnd)
                    results[key][mode].append(run)
                    print(f"   round {rnd + 1} {mode:8s} {run['rps']:9.0f} req/s  "
                          f"cpu {run['cpu_us_per_req']:6.1f} us/req  p50 {run['p50_ms']:5.2f} ms  "
                          f"errors {run['errors']}", flush=True)
    finally:
        b.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    print("\n| scenario | mode | CPU µs/req (median) | vs off | req/s (median) |")
    print("|---|---|---|---|---|")
    summary = {}
    for key, modes in results.items():
        med = {m: sorted(r["cpu_us_per_req"] for r in runs)[len(runs) // 2] for m, runs in modes.items()}
        rps = {m: sorted(r["rps"] for r in runs)[len(runs) // 2] for m, runs in modes.items()}
        for m in MODES:
            print(f"| {key} | {m} | {med[m]:.1f} | {(med[m] / med['off'] - 1) * 100:+.1f} % | {rps[m]:.0f} |")
        summary[key] = {"cpu_us_per_req": med, "rps": rps}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "runs": results, "machine": b.machine()}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
