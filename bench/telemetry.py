"""Telemetry overhead (issue 14, point 6): Manifold native on scenarios a and b of bench.py, three
ways, each pinned to one CPU with one worker thread, measured the same way as bench.py (wrk,
CPU time from /proc):

  off       no access log (RUST_LOG=warn: the CLI then attaches no sink, no record is built)
  logs      the access log (text, to a file), no telemetry/opentelemetry
  tracing   the access log and telemetry/opentelemetry at trace_sample_rate 1, exporting every
            span over OTLP/HTTP to an nginx that answers 200 (a collector that costs nothing)

Prints one line per run and a table; --json writes the figures. Run by `bench/run.sh
--telemetry` (which installs nginx and wrk and builds the release binary first).

--instructions N: instead of wrk's wall-clock figures (noisy on a shared host), count the
instructions the gateway executes for N requests (valgrind's callgrind, all threads, the
exporter's background sends included) in each mode and scenario. The counts are repeatable to
well under 1 % from run to run, so an A/B of a change shows in them even when the machine is
busy. --callgrind-dir DIR keeps the callgrind files (for callgrind_annotate). --connections C
sends the N requests over C keep-alive connections at once instead of one (closer to wrk's load:
the gateway then serves several requests per wake-up). --floor also counts bench/otel-floor: the
same telemetry (spans, metrics, access line) made with the official OpenTelemetry Rust SDK and
tracing-subscriber, without a gateway, beside what Manifold's telemetry adds to its requests.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import http.client
import re
import shutil
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
FLOOR = os.path.join(BENCH, "otel-floor")
sys.path.insert(0, BENCH)
import bench as b  # noqa: E402 - bench.py's processes, nginx, wrk and measurements

MODES = ("off", "logs", "tracing")


def config(base: str, mode: str, otlp: str, metric_period: int = 30, prom_port: int = 0) -> dict:
    # bench.py's config without its Redis pool and scenario e (no Redis here).
    cfg = b.manifold_config(base)
    cfg["endpoints"] = [e for e in cfg["endpoints"] if not e["endpoint"].startswith("/e/")]
    cfg["extra_config"] = {}
    if mode == "tracing":
        cfg["extra_config"] = {"telemetry/opentelemetry": {
            "service_name": "manifold-bench", "trace_sample_rate": 1,
            "metric_reporting_period": metric_period,
            "exporters": {"otlp": [{"name": "sink", "host": otlp, "use_http": True}]},
        }}
        if prom_port:
            # Read after each run: spans dropped would make tracing look cheaper than it is.
            cfg["extra_config"]["telemetry/opentelemetry"]["exporters"]["prometheus"] = [
                {"name": "bench", "port": prom_port, "listen_ip": "127.0.0.1"}]
    return cfg


def span_counters(prom_port: int) -> dict:
    """The telemetry's own counters from /metrics: spans exported and dropped so far."""
    conn = http.client.HTTPConnection("127.0.0.1", prom_port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    out = {}
    for line in text.splitlines():
        for key in ("dropped", "exported"):
            if line.startswith(f"manifold_telemetry_spans_{key}_total "):
                out[key] = int(float(line.split()[1]))
    return out


def write_data(work: str) -> dict:
    """bench.py's backend files under work/data; returns the expected answers."""
    return b.write_data(work)[2]


def get_n(port: int, path: str, n: int, connections: int = 1) -> None:
    """n GETs of path over `connections` keep-alive connections at once, one request after the
    other on each; each must be a 200."""
    def one(count: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for _ in range(count):
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    raise b.StartFailure(f"GET {path}: status {r.status}")
        finally:
            conn.close()

    if connections <= 1:
        return one(n)
    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        shares = [n // connections + (i < n % connections) for i in range(connections)]
        for done in [pool.submit(one, k) for k in shares]:
            done.result()


def callgrind_total(path: str) -> int:
    with open(path) as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")



def callgrind_gateway(name: str, binary: str, cfg: str, out: str, log: str, env: dict,
                      key: str, expected: dict) -> tuple[b.Proc, int]:
    """`binary run --threads 1` under callgrind, instrumentation off until `instrument(…, "on")`,
    once it answers scenario `key` as expected: (the process, its port)."""
    port = b.free_port()
    proc = b.Proc(name, ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                         binary, "run", "-c", cfg, "-p", str(port), "--threads", "1"], log, env=env)
    b.STARTED.append(proc)
    url = f"http://127.0.0.1:{port}"
    b.wait_http(proc, url + "/", 120)
    problem = b.check_response(url + b.SCENARIOS[key]["gateway_path"], expected[key], key)
    if problem:
        raise b.StartFailure(f"{name}: {problem}")
    return proc, port


def build_floor() -> str:
    """bench/otel-floor built (release, its own Cargo.lock), its target directory under
    ~/.cache/manifold: the binary's path."""
    cache = b.cache_dir()
    target = os.path.join(cache, "bench-otel-floor-target")
    print("bench: building bench/otel-floor", flush=True)
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet", "--manifest-path",
                    os.path.join(FLOOR, "Cargo.toml")], check=True,
                   env=dict(os.environ, CARGO_TARGET_DIR=target))
    return os.path.join(target, "release", "bench-otel-floor")


def floor_instructions(binary: str, key: str, mode: str, n: int, warm: int, work: str) -> float:
    """The floor's instructions per request: two runs under callgrind, of `warm` and of
    `warm + n` requests; their difference over n (start-up and shut-down cancel out, the export
    of the n requests' spans at shut-down stays in)."""
    totals = []
    for count in (warm, warm + n):
        out = os.path.join(work, f"callgrind-floor-{key}-{mode}-{count}.out")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, key,
                        mode, str(count), os.path.join(work, "floor.log")], check=True,
                       capture_output=True)
        totals.append(callgrind_total(out))
    return (totals[1] - totals[0]) / n


def instrument(proc: b.Proc, state: str) -> None:
    """Switches callgrind's counting "on" or "off" in the running gateway."""
    subprocess.run(["callgrind_control", "-i", state, str(proc.pid)], check=True, capture_output=True)

def instructions(args) -> int:
    """Instructions per request (callgrind) for each scenario and mode."""
    for tool in ("valgrind", "callgrind_control"):
        if not shutil.which(tool):
            print(f"bench: ERROR: {tool} not found (Debian package valgrind; bench/run.sh --telemetry "
                  "installs it)", file=sys.stderr)
            return 1
    n, warm = args.instructions, 50
    work = tempfile.mkdtemp(prefix="manifold-bench-telemetry-")
    os.chmod(work, 0o755)
    keep = args.callgrind_dir
    results: dict[str, dict[str, int]] = {}
    floor: dict[str, dict[str, float]] = {}
    try:
        floor_bin = build_floor() if args.floor else None
        expected = write_data(work)
        bport, cport = b.free_port(), b.free_port()
        backend = b.start_nginx(work, "backend", bport, f"    root {work}/data;", None)
        base = f"http://127.0.0.1:{bport}"
        b.wait_http(backend, base + "/a.json")
        # The "collector" logs each export with its time, so that the measurement can wait for
        # the export that carries the last request's spans (the exporter sends every 500 ms).
        sent_log = os.path.join(work, "collector-access.log")
        collector_nginx(work, cport, sent_log)
        for key in args.scenarios:
            sc = b.SCENARIOS[key]
            results[key] = {}
            for mode in MODES:
                cfg = os.path.join(work, f"manifold-{mode}.json")
                # The Prometheus exporter only answers when asked (after the window): it tells
                # whether every span was exported, so a build that fails to is not counted.
                prom = b.free_port() if mode == "tracing" else 0
                with open(cfg, "w") as f:
                    # No metrics export inside the measured window: its cost is per period.
                    json.dump(config(base, mode, f"http://127.0.0.1:{cport}", 3600, prom), f)
                out = os.path.join(work, f"callgrind-{key}-{mode}.out")
                env = dict(os.environ, RUST_LOG="warn" if mode == "off" else "info")
                proc, port = callgrind_gateway(f"manifold-{mode}", args.manifold, cfg, out,
                                               os.path.join(work, f"manifold-{key}-{mode}.log"), env,
                                               key, expected)
                get_n(port, sc["gateway_path"], warm, args.connections)
                instrument(proc, "on")
                get_n(port, sc["gateway_path"], n, args.connections)
                if mode == "tracing":
                    last = time.time()
                    deadline = last + 10
                    while time.time() < deadline:
                        with open(sent_log) as f:
                            stamps = [float(line.split()[0]) for line in f if "/v1/traces" in line]
                        if stamps and stamps[-1] > last:
                            break
                        time.sleep(0.05)
                    else:
                        raise b.StartFailure(f"{key}: no span export within 10 s of the last request")
                instrument(proc, "off")
                if prom:
                    check_spans(prom, key, os.path.join(work, f"manifold-{key}-{mode}.log"))
                proc.stop()
                b.STARTED.remove(proc)
                total = callgrind_total(out)
                results[key][mode] = total
                print(f"   {key} {mode:8s} {total / n:12,.0f} instructions/request  ({n} requests)",
                      flush=True)
                if keep:
                    os.makedirs(keep, exist_ok=True)
                    shutil.copy(out, os.path.join(keep, os.path.basename(out)))
                if floor_bin and mode != "off":
                    floor.setdefault(key, {})[mode] = floor_instructions(floor_bin, key, mode, n, warm, work)
                    print(f"   {key} {mode:8s} {floor[key][mode]:12,.0f} instructions/request  "
                          "(bench/otel-floor: the same telemetry with the OpenTelemetry SDK, no gateway)",
                          flush=True)
    finally:
        b.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    print("\n| scenario | mode | instructions/request | vs off | telemetry's own | SDK floor |")
    print("|---|---|---|---|---|---|")
    for key, modes in results.items():
        for m in MODES:
            own = f"{(modes[m] - modes['off']) / n:,.0f}" if m != "off" else ""
            sdk = f"{floor[key][m]:,.0f}" if m in floor.get(key, {}) else ""
            print(f"| {key} | {m} | {modes[m] / n:,.0f} | {(modes[m] / modes['off'] - 1) * 100:+.1f} % "
                  f"| {own} | {sdk} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"instructions_per_request": {k: {m: v / n for m, v in ms.items()}
                                                    for k, ms in results.items()},
                       "sdk_floor_instructions_per_request": floor,
                       "requests": n, "machine": b.machine()}, f, indent=2)
    return 0


def check_spans(prom_port: int, key: str, log: str) -> None:
    """Every span of the requests the gateway logged in `log` (the scenario's, and the ones
    that checked it was up) was exported and none dropped: a server span each, a proxy span
    when an endpoint matched, a client span per backend call (the line's `backends`)."""
    def logged() -> int:
        spans = 0
        with open(log) as f:
            for line in f:
                line = re.sub(r"\x1b\[[0-9;]*m", "", line)
                if "manifold::access" not in line:
                    continue
                calls = re.search(r" backends=(\d+)", line)
                spans += 1 + (" endpoint=" in line) + (int(calls.group(1)) if calls else 0)
        return spans
    # The collector's log line comes before the exporter has read its answer, and the log's
    # last lines may wait for the runtime to park: both polled.
    deadline = time.time() + 10
    while True:
        want, got = logged(), span_counters(prom_port)
        if got.get("exported", 0) == want or time.time() >= deadline:
            break
        time.sleep(0.05)
    if got.get("dropped", 0) or got.get("exported", 0) != want or want == 0:
        raise b.StartFailure(f"{key}: {got.get('exported', 0)} spans exported, "
                             f"{got.get('dropped', 0)} dropped; expected {want}")


def collector_nginx(work: str, port: int, sent_log: str) -> b.Proc:
    """An nginx that answers 200 to every OTLP export and logs each with its time."""
    conf = b.nginx_conf(work, "collector", port, f"""    location /v1/ {{
      access_log {sent_log} stamp;
      return 200;
    }}""")
    with open(conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text.replace("  access_log off;", "  access_log off;\n  log_format stamp '$msec $request_uri';", 1))
    proc = b.Proc("collector", ["nginx", "-c", conf, "-p", os.path.dirname(conf) + "/"],
                  os.path.join(work, "collector.log"))
    b.STARTED.append(proc)
    b.wait_http(proc, f"http://127.0.0.1:{port}/v1/ping")
    return proc


def workerd(args) -> int:
    """Scenarios a and b in workerd (Miniflare, as bench.py's workerd section): the Manifold Worker
    built three times, with the access log off (router.disable_access_log), on (console.log), and
    with telemetry/opentelemetry at 100 % sampling exporting through fetch after each answer."""
    cache = b.cache_dir()
    if not shutil.which("wrangler") or not os.path.exists(os.path.join(cache, "npm", "node_modules", "miniflare")):
        print("bench: ERROR: wrangler/miniflare not found (scripts/tools.sh worker, then source "
              "~/.cache/manifold/env.sh; bench/run.sh --telemetry --workerd does both)", file=sys.stderr)
        return 1
    params = dict(warmup=1.0, sat=3.0, paced=2.0) if args.quick else dict(warmup=2.0, sat=10.0, paced=5.0)
    params.update(conns=64)
    rounds = 1 if args.quick else args.rounds
    target_cpu = "1" if (os.cpu_count() or 1) >= 2 else None
    load_cpu = "0" if target_cpu else None
    work = tempfile.mkdtemp(prefix="manifold-bench-telemetry-workerd-")
    os.chmod(work, 0o755)
    keys = ("a", "b")
    runs: dict[tuple[str, str], list[dict]] = {(k, m): [] for k in keys for m in MODES}
    bundles: dict[str, str] = {}
    try:
        expected = write_data(work)
        bport, cport = b.free_port(), b.free_port()
        backend = b.start_nginx(work, "backend", bport, f"    root {work}/data;", load_cpu)
        base = f"http://127.0.0.1:{bport}"
        b.wait_http(backend, base + "/a.json")
        collector_nginx(work, cport, os.path.join(work, "collector-access.log"))
        targets = {}
        for mode in MODES:
            cfg = config(base, mode, f"http://127.0.0.1:{cport}")
            if mode == "off":
                cfg["extra_config"]["router"] = {"disable_access_log": True}
            path = os.path.join(work, f"worker-{mode}.json")
            with open(path, "w") as f:
                json.dump(cfg, f)
            dist = os.path.join(work, f"dist-{mode}")
            print(f"bench: building the Worker ({mode}): wrangler deploy --dry-run", flush=True)
            log = os.path.join(work, f"build-{mode}.log")
            with open(log, "wb") as f:
                rc = subprocess.run(["wrangler", "deploy", "--dry-run", "--outdir", dist], cwd=b.ROOT,
                                    stdout=f, stderr=subprocess.STDOUT, timeout=1800,
                                    env=dict(os.environ, MANIFOLD_CONFIG=path, CI="true")).returncode
            with open(log, errors="replace") as f:
                text = f.read()
            if rc != 0:
                raise b.StartFailure(f"Worker build ({mode}) failed: " + " | ".join(text.splitlines()[-6:]))
            m = re.search(r"Total Upload: ([^\n]*)", text)
            bundles[mode] = m.group(1).strip() if m else "?"
            print(f"   bundle ({mode}): {bundles[mode]}", flush=True)
            targets[mode] = b.start_worker(work, f"worker-{mode}", ["manifold", dist], target_cpu)
        for key in keys:
            path = b.SCENARIOS[key]["gateway_path"]
            for mode, (proc, url) in targets.items():
                problem = b.check_response(url + path, expected[key], key)
                if problem:
                    raise b.StartFailure(f"{mode}: {problem}")
        for key in keys:
            path = b.SCENARIOS[key]["gateway_path"]
            print(f"\n== workerd: scenario {key}", flush=True)
            for rnd in range(rounds):
                for mode in (MODES if rnd % 2 == 0 else tuple(reversed(MODES))):
                    proc, url = targets[mode]
                    run = b.measure_once(proc, url + path, params, 20, 20, load_cpu, rnd)
                    runs[(key, mode)].append(run)
                    print(f"   round {rnd + 1} {mode:8s} {run['rps']:9.0f} req/s  "
                          f"cpu {run['cpu_us_per_req']:7.1f} us/req (workerd)  p50 {run['p50_ms']:6.2f} ms  "
                          f"errors {run['errors']}", flush=True)
        # After the runs (the console output has reached the logs): the off build logs nothing,
        # the other two log, or the figures would be of other modes than their names say.
        for mode, (proc, _) in targets.items():
            if b.access_logged(proc) != (mode != "off"):
                raise b.StartFailure(f"{mode}: the Worker's access log is not what the mode says; see {proc.log}")
    finally:
        b.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    med = {km: sorted(r["cpu_us_per_req"] for r in rs)[len(rs) // 2] for km, rs in runs.items()}
    rps = {km: sorted(r["rps"] for r in rs)[len(rs) // 2] for km, rs in runs.items()}
    print("\n| scenario | mode | workerd CPU µs/req (median) | vs off | req/s (median) |")
    print("|---|---|---|---|---|")
    for k in keys:
        for m in MODES:
            print(f"| {k} (workerd) | {m} | {med[(k, m)]:.1f} | {(med[(k, m)] / med[(k, 'off')] - 1) * 100:+.1f} % "
                  f"| {rps[(k, m)]:.0f} |")
    print("\n| mode | bundle |\n|---|---|")
    for m in MODES:
        print(f"| {m} | {bundles.get(m, '?')} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": {f"{k}/{m}": {"cpu_us_per_req": med[(k, m)], "rps": rps[(k, m)]}
                                   for k, m in runs},
                       "bundles": bundles, "runs": {f"{k}/{m}": r for (k, m), r in runs.items()},
                       "machine": b.machine()}, f, indent=2)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifold", default=b.MANIFOLD_BIN)
    ap.add_argument("--quick", action="store_true", help="a few seconds per run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scenarios", default="ab", help="which of scenarios a and b")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--instructions", type=int, metavar="N",
                    help="count instructions (callgrind) over N requests instead of wrk runs")
    ap.add_argument("--connections", type=int, default=1, metavar="C",
                    help="--instructions: send the N requests over C connections at once")
    ap.add_argument("--callgrind-dir", help="keep the callgrind files here (--instructions)")
    ap.add_argument("--floor", action="store_true",
                    help="--instructions: also count bench/otel-floor (the OpenTelemetry SDK's cost)")
    ap.add_argument("--workerd", action="store_true",
                    help="scenarios a and b in workerd instead (three Worker builds; needs wrangler)")
    args = ap.parse_args()
    if args.instructions:
        return instructions(args)
    if args.workerd:
        return workerd(args)
    params = dict(warmup=1.0, sat=3.0, paced=2.0) if args.quick else dict(warmup=2.0, sat=10.0, paced=5.0)
    params.update(conns=64)
    rounds = 1 if args.quick else args.rounds
    target_cpu = "1" if (os.cpu_count() or 1) >= 2 else None
    load_cpu = "0" if target_cpu else None
    work = tempfile.mkdtemp(prefix="manifold-bench-telemetry-")
    os.chmod(work, 0o755)
    results: dict[str, dict[str, list[dict]]] = {}
    try:
        expected = write_data(work)
        data = os.path.join(work, "data")
        # The backend and the "collector" share CPU 0 with wrk, as bench.py's backend does.
        bport = b.free_port()
        backend = b.start_nginx(work, "backend", bport, f"""    root {data};
    location /v1/ {{ return 200; }}""", load_cpu)
        base = f"http://127.0.0.1:{bport}"
        b.wait_http(backend, base + "/a.json")
        targets = {}
        prom_port = b.free_port()
        for mode in MODES:
            port = b.free_port()
            cfg = os.path.join(work, f"manifold-{mode}.json")
            with open(cfg, "w") as f:
                json.dump(config(base, mode, base, prom_port=prom_port), f)
            env = dict(os.environ, RUST_LOG="warn" if mode == "off" else "info")
            proc = b.Proc(f"manifold-{mode}", b.pinned(target_cpu, [
                args.manifold, "run", "-c", cfg, "-p", str(port), "--threads", "1"]),
                os.path.join(work, f"manifold-{mode}.log"), env=env)
            b.STARTED.append(proc)
            targets[mode] = (proc, f"http://127.0.0.1:{port}")
        for mode, (proc, url) in targets.items():
            b.wait_http(proc, url + "/")
        for key in args.scenarios:
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
                    before = span_counters(prom_port) if mode == "tracing" else {}
                    run = b.measure_once(proc, url + sc["gateway_path"], params, 20, 20, load_cpu, rnd)
                    spans = ""
                    if mode == "tracing":
                        after = span_counters(prom_port)
                        run["spans_dropped"] = after.get("dropped", 0) - before.get("dropped", 0)
                        spans = f"  spans dropped {run['spans_dropped']}"
                    results[key][mode].append(run)
                    print(f"   round {rnd + 1} {mode:8s} {run['rps']:9.0f} req/s  "
                          f"cpu {run['cpu_us_per_req']:6.1f} us/req (user {run['user_us_per_req']:5.1f})  "
                          f"p50 {run['p50_ms']:5.2f} ms  errors {run['errors']}{spans}", flush=True)
    finally:
        b.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    print("\n| scenario | mode | CPU µs/req (median) | vs off | user µs/req | kernel µs/req | req/s (median) |")
    print("|---|---|---|---|---|---|---|")
    summary = {}
    for key, modes in results.items():
        def median(field: str) -> dict:
            return {m: sorted(r[field] for r in runs)[len(runs) // 2] for m, runs in modes.items()}
        med, rps = median("cpu_us_per_req"), median("rps")
        user = median("user_us_per_req")
        kernel = {m: sorted(r["cpu_us_per_req"] - r["user_us_per_req"] for r in runs)[len(runs) // 2]
                  for m, runs in modes.items()}
        for m in MODES:
            print(f"| {key} | {m} | {med[m]:.1f} | {(med[m] / med['off'] - 1) * 100:+.1f} % "
                  f"| {user[m]:.1f} | {kernel[m]:.1f} | {rps[m]:.0f} |")
        summary[key] = {"cpu_us_per_req": med, "user_us_per_req": user, "kernel_us_per_req": kernel,
                        "rps": rps}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "runs": results, "machine": b.machine()}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
