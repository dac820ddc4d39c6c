#!/usr/bin/env python3
"""A/B of Manifold builds on bench.py's scenarios a and b, in one run (bench/profile-notes.md).

Usage: python3 bench/ab.py NAME=BINARY NAME=BINARY [...] [--scenarios ab] [--rounds 3]
                           [--seconds 5] [--nginx] [--instructions N] [--rss]

Every binary runs at the same time as `manifold run --threads 1` pinned to CPU 1 (only the one
being measured gets load), the backend nginx and wrk share CPU 0, exactly as bench.py lays them
out. Each round measures every binary once (warm-up, then a saturating wrk -c64 run: req/s and
CPU time per request from /proc), the order reversed every other round so that a drift of the
host's load does not favour one side; the table shows each binary's median. `--nginx` adds the
nginx reverse proxy of scenario a as a reference (with --instructions too: its one process under
callgrind, counted the same way). The host is shared: the load average before and after is
printed, and only an A/B from the same run means anything.

--rss: instead, peak memory per scenario: for each round, scenario and binary (alternating
order), a fresh `manifold run --threads 1` is started, its RSS read once it answers (idle),
then it gets the warm-up and the saturating wrk run (-c64, or --conns N) of that scenario
alone, and its VmHWM (peak RSS of the whole process) is read before it is stopped. bench.py's one process serves every
scenario one after the other, so its "peak RSS" of c is the peak over a, b and c.

--instructions N: instead, count the instructions each binary executes for N requests sent one
after the other on one keep-alive connection (valgrind's callgrind, all threads, the kernel's
side not counted), after 50 warm-up requests: repeatable on a busy host.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
sys.dont_write_bytecode = True
import bench as b  # noqa: E402
import telemetry as t  # noqa: E402


def config(base: str) -> dict:
    # bench.py's config without its Redis pool and scenario e (no Redis here).
    cfg = b.manifold_config(base)
    cfg["endpoints"] = [e for e in cfg["endpoints"] if not e["endpoint"].startswith("/e/")]
    cfg["extra_config"] = {}
    return cfg


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bins", nargs="+", metavar="NAME=BINARY")
    ap.add_argument("--scenarios", default="ab")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--nginx", action="store_true", help="add the nginx reverse proxy (scenario a)")
    ap.add_argument("--instructions", type=int, metavar="N")
    ap.add_argument("--callgrind-dir", help="keep the callgrind files here (--instructions)")
    ap.add_argument("--rss", action="store_true", help="peak RSS per scenario, a fresh process each")
    ap.add_argument("--conns", type=int, default=64, help="wrk's connections in --rss (default 64)")
    args = ap.parse_args()
    bins = dict(arg.split("=", 1) for arg in args.bins)
    work = tempfile.mkdtemp(prefix="manifold-ab-")
    os.chmod(work, 0o755)
    print(f"ab: load average {b.loadavg()}", flush=True)
    try:
        expected = t.write_data(work)
        bport = b.free_port()
        backend = b.start_nginx(work, "backend", bport, f"    root {work}/data;", "0")
        base = f"http://127.0.0.1:{bport}"
        b.wait_http(backend, base + "/a.json")
        cfg = os.path.join(work, "manifold.json")
        with open(cfg, "w") as f:
            json.dump(config(base), f)
        if args.instructions:
            return instructions(args, bins, cfg, work, expected, bport)
        if args.rss:
            return rss(args, bins, cfg, work, expected)
        targets: dict[str, tuple[b.Proc, str]] = {}
        for name, binary in bins.items():
            port = b.free_port()
            proc = b.Proc(name, b.pinned("1", [binary, "run", "-c", cfg, "-p", str(port), "--threads", "1"]),
                          os.path.join(work, f"{name}.log"), env=dict(os.environ, RUST_LOG="warn"))
            b.STARTED.append(proc)
            targets[name] = (proc, f"http://127.0.0.1:{port}")
        if args.nginx:
            port = b.free_port()
            proxy = b.start_nginx(work, "nginx-proxy", port, nginx_proxy(bport), "1")
            targets["nginx-proxy"] = (proxy, f"http://127.0.0.1:{port}")
        for proc, url in targets.values():
            b.wait_http(proc, url + "/")
        results: dict[str, dict[str, list[dict]]] = {}
        for key in args.scenarios:
            sc = b.SCENARIOS[key]
            names = [n for n in targets if key == "a" or n != "nginx-proxy"]
            for n in names:
                if n != "nginx-proxy":
                    problem = b.check_response(targets[n][1] + sc["gateway_path"], expected[key], key)
                    if problem:
                        raise b.StartFailure(f"{n}: {problem}")
            results[key] = {n: [] for n in names}
            for rnd in range(args.rounds):
                for n in names if rnd % 2 == 0 else list(reversed(names)):
                    proc, url = targets[n]
                    b.wrk(url + sc["gateway_path"], 64, 1)
                    c0 = proc.cpu_seconds()
                    r = b.wrk(url + sc["gateway_path"], 64, args.seconds)
                    c1 = proc.cpu_seconds()
                    run = {"rps": r["rps"], "cpu_us": (c1 - c0) * 1e6 / max(r["requests"], 1),
                           "errors": r["errors"]}
                    results[key][n].append(run)
                    print(f"   {key} round {rnd + 1} {n:12s} {run['rps']:9.0f} req/s  "
                          f"cpu {run['cpu_us']:6.1f} us/req  errors {run['errors']}", flush=True)
        print(f"ab: load average {b.loadavg()}")
        print("\n| scenario | build | req/s (median) | CPU µs/request (median) | peak RSS KB (whole run) |")
        print("|---|---|---|---|---|")
        for key, by in results.items():
            for n, runs in by.items():
                print(f"| {key} | {n} | {statistics.median(r['rps'] for r in runs):,.0f} | "
                      f"{statistics.median(r['cpu_us'] for r in runs):.1f} | {targets[n][0].peak_rss_kb():,} |")
        bad = sum(r["errors"] for by in results.values() for runs in by.values() for r in runs)
        return 1 if bad else 0
    finally:
        b.stop_all()
        shutil.rmtree(work, ignore_errors=True)


def nginx_proxy(backend_port: int) -> str:
    """The `server` body of bench.py's nginx reverse proxy of scenario a."""
    return f"""    location = /a {{
      proxy_pass http://backend/a.json;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
  upstream backend {{
    server 127.0.0.1:{backend_port};
    keepalive 128;"""


def instructions(args, bins: dict[str, str], cfg: str, work: str, expected: dict, backend_port: int) -> int:
    n = args.instructions
    print("\n| scenario | build | instructions/request |")
    print("|---|---|---|")
    if args.nginx and "a" in args.scenarios:
        print(f"| a | nginx-proxy | {nginx_instructions(work, backend_port, n, args.callgrind_dir):,.0f} |",
              flush=True)
    for key in args.scenarios:
        sc = b.SCENARIOS[key]
        for name, binary in bins.items():
            out = os.path.join(args.callgrind_dir or work, f"callgrind-{key}-{name}.out")
            proc, port = t.callgrind_gateway(name, binary, cfg, out, os.path.join(work, f"{name}-{key}.log"),
                                             dict(os.environ, RUST_LOG="warn"), key, expected)
            t.get_n(port, sc["gateway_path"], 50)
            t.instrument(proc, "on")
            t.get_n(port, sc["gateway_path"], n)
            t.instrument(proc, "off")
            proc.stop()
            b.STARTED.remove(proc)
            print(f"| {key} | {name} | {t.callgrind_total(out) / n:,.0f} |", flush=True)
    return 0


def nginx_instructions(work: str, backend_port: int, n: int, keep: str | None) -> float:
    """Instructions per request of the nginx reverse proxy of scenario a, counted as the gateways'
    are: one process (no master: `master_process off`, and `user root` so that it does not drop
    to a user who cannot write the callgrind file), the same warm-up and requests."""
    port = b.free_port()
    conf = b.nginx_conf(work, "nginx-proxy-callgrind", port, nginx_proxy(backend_port))
    with open(conf) as f:
        text = f.read().replace("master_process on;", "master_process off;\nuser root;")
    with open(conf, "w") as f:
        f.write(text)
    out = os.path.join(keep or work, "callgrind-a-nginx-proxy.out")
    proc = b.Proc("nginx-proxy", ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                  f"--callgrind-out-file={out}", "nginx", "-c", conf,
                                  "-p", os.path.dirname(conf) + "/"], os.path.join(work, "nginx-callgrind.log"))
    b.STARTED.append(proc)
    b.wait_http(proc, f"http://127.0.0.1:{port}/a", 120)
    t.get_n(port, "/a", 50)
    t.instrument(proc, "on")
    t.get_n(port, "/a", n)
    t.instrument(proc, "off")
    # nginx under valgrind takes longer to exit than Proc.stop waits, and callgrind writes its
    # counts only at the exit.
    os.killpg(proc.pid, signal.SIGTERM)
    proc.popen.wait(120)
    b.STARTED.remove(proc)
    return t.callgrind_total(out) / n


def status_kb(proc: b.Proc, field: str) -> int:
    """A `/proc/PID/status` field in KB (VmRSS, VmHWM), summed over the process tree."""
    total = 0
    for pid in proc.pids():
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def rss(args, bins: dict[str, str], cfg: str, work: str, expected: dict) -> int:
    results: dict[str, dict[str, list[dict]]] = {k: {n: [] for n in bins} for k in args.scenarios}
    bad = 0
    for rnd in range(args.rounds):
        for key in args.scenarios:
            sc = b.SCENARIOS[key]
            names = list(bins) if rnd % 2 == 0 else list(reversed(bins))
            for name in names:
                port = b.free_port()
                proc = b.Proc(name, b.pinned("1", [bins[name], "run", "-c", cfg, "-p", str(port), "--threads", "1"]),
                              os.path.join(work, f"{name}-{key}-{rnd}.log"), env=dict(os.environ, RUST_LOG="warn"))
                b.STARTED.append(proc)
                url = f"http://127.0.0.1:{port}"
                b.wait_http(proc, url + "/")
                idle = status_kb(proc, "VmRSS")
                problem = b.check_response(url + sc["gateway_path"], expected[key], key)
                if problem:
                    raise b.StartFailure(f"{name}: {problem}")
                b.wrk(url + sc["gateway_path"], args.conns, 1)
                r = b.wrk(url + sc["gateway_path"], args.conns, args.seconds)
                run = {"idle": idle, "peak": status_kb(proc, "VmHWM"), "end": status_kb(proc, "VmRSS"),
                       "rps": r["rps"], "errors": r["errors"]}
                bad += r["errors"]
                proc.stop()
                b.STARTED.remove(proc)
                results[key][name].append(run)
                print(f"   {key} round {rnd + 1} {name:12s} idle {run['idle']:7,} KB  peak {run['peak']:7,} KB  "
                      f"end {run['end']:7,} KB  {run['rps']:7.0f} req/s  errors {run['errors']}", flush=True)
    print(f"ab: load average {b.loadavg()}")
    print("\n| scenario | build | RSS idle KB | peak RSS KB (VmHWM) | RSS after the run KB | req/s |")
    print("|---|---|---|---|---|---|")
    for key, by in results.items():
        for n, runs in by.items():
            med = {f: statistics.median(r[f] for r in runs) for f in ("idle", "peak", "end", "rps")}
            print(f"| {key} | {n} | {med['idle']:,.0f} | {med['peak']:,.0f} | {med['end']:,.0f} | {med['rps']:,.0f} |")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
