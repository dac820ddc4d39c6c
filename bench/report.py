"""BENCHMARKS.md and the ratio chart (plain SVG text), written by bench/bench.py."""

from __future__ import annotations

import os
from html import escape


def agg(runs: list[dict]) -> dict:
    n = len(runs)
    out = {k: sum(r[k] for r in runs) / n for k in
           ("rps", "cpu_us_per_req", "cpu_util", "p50_ms", "p99_ms", "paced_rps")}
    out["rps_runs"] = [r["rps"] for r in runs]
    out["p99_runs"] = [r["p99_ms"] for r in runs]
    out["errors"] = sum(r["errors"] for r in runs)
    out["sat_errors"] = sum(r.get("sat_errors", 0) for r in runs)
    out["paced_errors"] = sum(r.get("paced_errors", 0) for r in runs)
    out["requests"] = sum(r["requests"] for r in runs)
    out["peak_rss_mb"] = max(r.get("peak_rss_kb", 0) for r in runs) / 1024
    return out


def ratios(results: dict, scenarios: dict) -> list[tuple[str, str, float, float]]:
    """(scenario, peer, req/s ratio, CPU-per-request ratio), Manifold over peer."""
    rows = []
    for key, runs in results.items():
        m = agg(runs["manifold"])
        for peer in scenarios[key]["peers"]:
            if peer == "manifold" or not runs.get(peer):
                continue
            p = agg(runs[peer])
            rows.append((key, peer, m["rps"] / p["rps"] if p["rps"] else 0.0,
                         m["cpu_us_per_req"] / p["cpu_us_per_req"] if p["cpu_us_per_req"] else 0.0))
    return rows


def svg(results: dict, scenarios: dict) -> str:
    rows = ratios(results, scenarios)
    bar_h, gap, left, width = 14, 10, 190, 420
    vmax = max([2.0] + [max(r[2], r[3]) for r in rows])
    scale = width / vmax
    height = 60 + len(rows) * (2 * bar_h + gap) + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="100%" height="100%" fill="white"/>',
        '<text x="10" y="20" font-size="14" font-weight="bold">Manifold / peer (same run, same machine)</text>',
        '<rect x="10" y="30" width="12" height="10" fill="#2b6cb0"/>'
        '<text x="26" y="39">req/s ratio (higher is better)</text>',
        '<rect x="220" y="30" width="12" height="10" fill="#dd6b20"/>'
        '<text x="236" y="39">CPU per request ratio (lower is better)</text>',
    ]
    y = 55
    for key, peer, rps, cpu in rows:
        out.append(f'<text x="10" y="{y + bar_h + 4}">{escape(key)}: vs {escape(peer)}</text>')
        for i, (val, colour) in enumerate(((rps, "#2b6cb0"), (cpu, "#dd6b20"))):
            yy = y + i * bar_h
            out.append(f'<rect x="{left}" y="{yy}" width="{max(val * scale, 1):.1f}" height="{bar_h - 2}" '
                       f'fill="{colour}"/>')
            out.append(f'<text x="{left + val * scale + 4:.1f}" y="{yy + bar_h - 3}">{val:.2f}×</text>')
        y += 2 * bar_h + gap
    one = left + scale
    out.append(f'<line x1="{one:.1f}" y1="50" x2="{one:.1f}" y2="{y}" stroke="black" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{one - 8:.1f}" y="{y + 14}">1.0</text>')
    if not rows:
        out.append('<text x="10" y="70">no scenario measured</text>')
    out.append("</svg>\n")
    return "\n".join(out)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))] if s else 0.0


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return (s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2) if n else 0.0


def workerd_text(w: dict, params: dict) -> str:
    if w.get("status") != "measured" and not w.get("runs"):
        return f"Not measured: {w.get('reason', '?')}."
    L = []
    L.append("Scenario b (3-backend aggregation, group + allow) served by Manifold's Worker and hand-written ones in the same local "
             "runtime: workerd started by Miniflare 4 (the one bundled with the pinned wrangler 4.86, "
             f"{w.get('workerd', '?')}), each in its own workerd process pinned to CPU 1 "
             "(`taskset -c 1 node bench/workerd/serve.mjs …`), against the same backend nginx, "
             "wrk and settings as the tables above.\n")
    L.append("- **Manifold wasm Worker**: built for this run with the bench config embedded, exactly as "
             "scripts/worker-e2e.sh builds it: `MANIFOLD_CONFIG=<work>/worker-config.json CI=true wrangler "
             f"deploy --dry-run --outdir <work>/manifold-wasm-dist` ({w.get('build_s', '?')} s; upload "
             f"{w.get('bundle', '?')}). The config is `manifold_config()` in bench/bench.py with the "
             "backend's port written in and the access log off (`router.disable_access_log`), as for "
             "every target above (the JS Worker logs nothing either).")
    L.append("- **Manifold wasm Worker, access log on**: the same build with Manifold's default, one "
             "`console.log` of a JSON line per request (Miniflare's node host prints it: its CPU is the "
             "host column). Each run checks that the first logs nothing and the second logs.")
    L.append("- **hand-written JS Worker**: `bench/workerd/aggregator.js` (three `fetch` calls in parallel, "
             "`res.json()`, an `allow` filter on dotted paths, grouped; the backend URL as a binding).")
    L.append("- **JS Worker with the gateway's duties**: `bench/workerd/aggregator-duties.js`, the same "
             "Worker doing by hand what Manifold's Worker does for this config: the endpoint's 2 s timeout "
             "(one `AbortController` and one timer per request), KrakenD's forwarding headers and "
             "`Accept-Encoding: gzip` on each backend call, redirects not followed, a 2xx status and the "
             "declared length checked, keys sorted as Go writes them, `X-Krakend` and an `X-Request-Id`. "
             "Each run checks that its answer's body is Manifold's byte for byte: it tells the runtime "
             "work the duties cost from the cost of Manifold's code.")
    L.append("- **Rust Worker floor**: `bench/workerd/rust-floor`, the hand-written JS Worker in Rust on "
             "workers-rs (three `Fetch` calls joined, each body parsed with serde_json, the same `allow` "
             "filter, grouped and written back; `worker-build --release`, opt-level \"z\", fat LTO): what "
             "a Rust/wasm Worker costs for this job before any gateway code runs (the wasm-bindgen glue, "
             "its promises and copies).")
    L.append("- Every answer is checked against the expected JSON first. **CPU µs/req** is utime+stime of "
             "the **workerd process only** (`/proc/PID/stat`; the Miniflare node host is not in the request "
             "path, its own CPU is shown separately) over the saturating run, divided by its requests. "
             f"Each Worker is measured {params['rounds']} time{'s' if params['rounds'] > 1 else ''}"
             f"{', alternating the order (round 2 runs them in reverse)' if params['rounds'] > 1 else ''}.\n")
    if w.get("status") != "measured":
        L.append(f"**Failed**: {w.get('reason', '?')}\n")
    runs = w.get("runs") or {}
    if runs:
        L.append("| Worker | req/s (saturated) | workerd CPU of its core | workerd CPU µs/req (each run) | node host CPU µs/req | p50 ms | p99 ms | at req/s | workerd peak RSS MB | errors (sat. / paced) |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for t, label in (("manifold-wasm", "Manifold wasm Worker"),
                         ("manifold-wasm-log", "Manifold wasm Worker, access log on"),
                         ("js-worker", "hand-written JS Worker"),
                         ("js-duties", "JS Worker with the gateway's duties"),
                         ("rust-floor", "Rust Worker floor")):
            if not runs.get(t):
                continue
            a = agg(runs[t])
            each = " / ".join(f"{r['cpu_us_per_req']:.1f}" for r in runs[t])
            host = sum(r.get("host_cpu_us_per_req", 0) for r in runs[t]) / len(runs[t])
            L.append(f"| {label} | {fmt_rps(a)} | {a['cpu_util'] * 100:.0f} % | {a['cpu_us_per_req']:.1f} ({each}) | "
                     f"{host:.1f} | {a['p50_ms']:.2f} | {a['p99_ms']:.2f} | {a['paced_rps']:,.0f} | "
                     f"{a['peak_rss_mb']:.1f} | {a['sat_errors']} / {a['paced_errors']} |")
        for t, label in (("manifold-wasm", "Manifold wasm"), ("manifold-wasm-log", "with the access log"),
                         ("js-duties", "JS Worker with the duties"), ("rust-floor", "Rust Worker floor")):
            for peer, peer_label in (("js-worker", "JS Worker"), ("js-duties", "JS Worker with the duties"),
                                     ("rust-floor", "Rust Worker floor")):
                if t != peer and runs.get(t) and runs.get(peer):
                    m, j = agg(runs[t]), agg(runs[peer])
                    L.append(f"\n{label} / {peer_label}: req/s {m['rps'] / j['rps']:.2f}×, workerd CPU/req "
                             f"{m['cpu_us_per_req'] / j['cpu_us_per_req']:.2f}×, p99 {m['p99_ms'] - j['p99_ms']:+.2f} ms.")
    return "\n".join(L)


def lambda_text(l: dict) -> str:
    if l.get("status") != "measured" and not l.get("cold_first_ms"):
        return f"Not measured: {l.get('reason', '?')}."
    L = []
    L.append("The function serves the bench config (`manifold_config()` in bench/bench.py, given at run time "
             "through `MANIFOLD_LAMBDA_CONFIG`) and answers scenario b, `GET /frontpage/1` (three calls to "
             f"the backend nginx), as a Function URL event. {l.get('cargo_lambda', '')}.\n")
    L.append("- **Cold start** (process start → first invoke answered): the release bootstrap "
             "(`cargo build --release -p manifold-lambda --bin bootstrap`, target/release/bootstrap, not pinned) "
             "spawned against the minimal Lambda Runtime API of tests/lambda/measure.py (its `run_once`, "
             "imported, not copied), timed from just before the spawn to the first answer reaching the "
             f"Runtime API; {len(l.get('cold_first_ms', []))} cold starts. *Gateway init* is the bootstrap's "
             "own `gateway ready in N µs` log line. The warm figure is the interval between consecutive "
             f"answers over {len(l.get('direct_warm_ms', []))} invocations of one process (no emulator in "
             "the path).")
    L.append("- **Per-invoke latency under `cargo lambda watch`**: `taskset -c 1 cargo lambda watch --release "
             "-p manifold-lambda --bin bootstrap --ignore-changes -A 127.0.0.1 -P PORT --env-var "
             "MANIFOLD_LAMBDA_CONFIG=<work>/lambda-config.json`; sequential `GET` on its Function URL "
             "emulation (`/lambda-url/bootstrap/frontpage/1`, one keep-alive connection, client on CPU 0), "
             "each answer status-checked and the last one compared with the expected JSON. The first "
             "invoke includes the emulator starting the function (cargo checks the build is fresh, then "
             "spawns it).\n")
    if l.get("status") != "measured":
        L.append(f"**Failed**: {l.get('reason', '?')}\n")
    L.append("| measure | median | p99 | min | max | n |")
    L.append("|---|---:|---:|---:|---:|---:|")

    def row(name, vals, unit="ms", digits=2):
        if vals:
            L.append(f"| {name} | {median(vals):.{digits}f} {unit} | {pct(vals, 0.99):.{digits}f} {unit} | "
                     f"{min(vals):.{digits}f} {unit} | {max(vals):.{digits}f} {unit} | {len(vals)} |")

    row("cold start: process start → first answer", l.get("cold_first_ms"), digits=1)
    row("cold start: gateway init (bootstrap's log)", l.get("cold_init_ms"), digits=2)
    row("warm invoke, Runtime API only (answer-to-answer)", l.get("direct_warm_ms"), digits=3)
    if l.get("watch_first_ms") is not None:
        row("`cargo lambda watch`: first invoke (function started by the emulator"
            + {True: "; **cargo rebuilt it first**: the source changed during the run",
               False: "; nothing rebuilt"}.get(l.get("watch_first_rebuilt"), "") + ")", [l["watch_first_ms"]], digits=0)
    row("`cargo lambda watch`: per-invoke latency, warm", l.get("watch_ms"), digits=2)
    if l.get("cold_rss_kib"):
        L.append(f"\nPeak RSS (VmHWM) after the first answer: {median(l['cold_rss_kib']) / 1024:.1f} MiB (median); "
                 f"after {len(l.get('direct_warm_ms', [])) + 1} invocations: {l.get('direct_rss_after_kib', 0) / 1024:.1f} MiB. "
                 "On AWS a cold start also includes the sandbox, the package download and the runtime's init "
                 "phase, which no local run shows.")
    L.extend(per_config_text(l))
    return "\n".join(L)


def per_config_text(l: dict) -> list[str]:
    """The every-capability and per-config bootstraps of config/gateway.json (measure.py per_config)."""
    if l.get("per_config_error"):
        return [f"\nPer-config bootstrap: not measured: {l['per_config_error']}."]
    builds = l.get("per_config")
    if not builds:
        return []
    L = ["\n**Per-config build** (docs/lambda.md): `config/gateway.json` embedded in two release bootstraps, "
         "`cargo build --release -p manifold-lambda --bin bootstrap` with every capability and with "
         "`--no-default-features --features $(manifold-features config/gateway.json)`; stripped with `strip` "
         "(as cargo lambda does), zipped at deflate level 9 (what a deploy uploads); cold starts of the "
         f"stripped files on `GET /__health`, {len(builds[0].get('cold', []))} each, alternated.\n",
         "| bootstrap | manifold-core features | size | stripped | zipped | cold start, median (min, max) "
         "| peak RSS, 1st answer |",
         "|---|---|---:|---:|---:|---|---:|"]
    for b in builds:
        cold = [c["first_ms"] for c in b.get("cold", [])]
        rss = [c["rss_kib"] for c in b.get("cold", [])]
        features = "all" if b.get("features") is None else (", ".join(b["features"]) or "none")
        timing = f"{median(cold):.1f} ms ({min(cold):.1f}, {max(cold):.1f})" if cold else "-"
        memory = f"{median(rss) / 1024:.1f} MiB" if rss else "-"
        L.append(f"| {b['name']} | {features} | {b['size']:,} B | {b['stripped']:,} B | {b['zipped']:,} B "
                 f"| {timing} | {memory} |")
    return L


def extra_sections(raw: dict) -> list[tuple[str, str]]:
    edge = raw.get("edge") or {}
    return [
        ("workerd: Manifold wasm Worker vs hand-written JS and Rust Workers",
         workerd_text(edge.get("workerd") or {"reason": "no data"}, raw["params"])),
        ("Lambda: cold start and per-invoke latency", lambda_text(edge.get("lambda") or {"reason": "no data"})),
    ]


def wasm_target(raw: dict) -> str:
    w = (raw.get("edge") or {}).get("workerd") or {}
    runs = w.get("runs") or {}
    if w.get("status") != "measured" or not (runs.get("manifold-wasm") and runs.get("js-worker")):
        return f"not measured: {w.get('reason', 'no data')}."
    m, j = agg(runs["manifold-wasm"]), agg(runs["js-worker"])
    r = m["cpu_us_per_req"] / j["cpu_us_per_req"]
    each = lambda t: " / ".join(f"{x['cpu_us_per_req']:.1f}" for x in runs[t])  # noqa: E731
    return (f"**{'met' if r <= 1.0 else 'missed'}**: the Manifold wasm Worker used {m['cpu_us_per_req']:.1f} µs "
            f"of workerd CPU per request (runs {each('manifold-wasm')}) against the JS Worker's "
            f"{j['cpu_us_per_req']:.1f} ({each('js-worker')}), {r:.2f}×; req/s {m['rps']:,.0f} vs {j['rps']:,.0f} "
            f"({m['rps'] / j['rps']:.2f}×), scenario b under local workerd (Miniflare), access logs off"
            + (f" (with Manifold's access log on: {agg(runs['manifold-wasm-log'])['cpu_us_per_req'] / j['cpu_us_per_req']:.2f}×)"
               if runs.get("manifold-wasm-log") else "") + "."
            + (f" The JS Worker with the gateway's duties used {agg(runs['js-duties'])['cpu_us_per_req']:.1f} µs "
               f"({each('js-duties')}), {agg(runs['js-duties'])['cpu_us_per_req'] / j['cpu_us_per_req']:.2f}× the "
               f"plain one; Manifold is {m['cpu_us_per_req'] / agg(runs['js-duties'])['cpu_us_per_req']:.2f}× it."
               if runs.get("js-duties") else "")
            + (f" The same job as the plain JS Worker's in Rust on workers-rs (the Rust Worker floor) used "
               f"{agg(runs['rust-floor'])['cpu_us_per_req']:.1f} µs ({each('rust-floor')}), "
               f"{agg(runs['rust-floor'])['cpu_us_per_req'] / j['cpu_us_per_req']:.2f}× the JS Worker."
               if runs.get("rust-floor") else ""))


def write(raw: dict, out_dir: str, root: str) -> tuple[str, str]:
    """BENCHMARKS.md and the SVG from the raw results (bench.py, or `python3 bench/report.py`)."""
    svg_name = "bench/ratios.svg" if os.path.abspath(out_dir) == os.path.abspath(root) else "ratios.svg"
    svg_path = os.path.join(out_dir, svg_name)
    with open(svg_path, "w") as f:
        f.write(svg(raw["results"], raw["scenarios"]))
    md_path = os.path.join(out_dir, "BENCHMARKS.md")
    with open(md_path, "w") as f:
        f.write(markdown(raw, svg_name=svg_name))
    return md_path, svg_path


def fmt_rps(a: dict) -> str:
    runs = " / ".join(f"{x:,.0f}" for x in a["rps_runs"])
    return f"{a['rps']:,.0f} ({runs})" if len(a["rps_runs"]) > 1 else f"{a['rps']:,.0f}"


def markdown(raw: dict, *, svg_name: str) -> str:
    results, failures, info, params = raw["results"], raw["failures"], raw["info"], raw["params"]
    scenarios, labels, quick, d_timeout_ms = raw["scenarios"], raw["labels"], raw["quick"], raw["d_timeout_ms"]
    extras = extra_sections(raw)
    L: list[str] = []
    w = L.append
    w("# Benchmarks: Manifold against nginx, a Node aggregator and the direct backend\n")
    w(f"Generated by `bench/run.sh{' --quick' if quick else ''}` on {info['started']} "
      f"(took {info['duration_s']} s). Do not edit by hand; rerun the script. The raw figures are in "
      f"`{'bench/results.json' if not quick else 'results.json'}`; `python3 bench/report.py "
      "[RESULTS_JSON [OUT_DIR]]` regenerates this file and the chart from them without re-running.\n")
    if quick:
        w("**Quick mode**: a smoke run of a few seconds per target; the figures are noisy and only "
          "show that everything runs.\n")
    w("## Machine\n")
    w(f"- CPU: {info['cpu']}, {info['cores']} cores (hypervisor: {info['hypervisor']}), "
      f"{info['mem_gib']} GiB RAM")
    w(f"- OS: {info['os']}, kernel {info['kernel']}")
    w(f"- nginx {info['nginx']}, {info['wrk']}, Node {info['node']}, {info['manifold']} "
      f"(commit {info['commit']})")
    w(f"- Load average (1/5/15 min) before the run: {info['load_before']}; after: {info['load_after']}. "
      "The machine is shared: other builds may have been running at the same time, so absolute "
      "numbers drift; compare the ratios, which come from the same run.\n")
    w("## Method\n")
    w("- Every process listens on 127.0.0.1 on a free port. The measured target (direct nginx, nginx "
      "reverse proxy, Node aggregator, Manifold) is pinned to CPU 1 with one worker each "
      "(`worker_processes 1`, one Node process, `manifold run --threads 1`); the backend nginx "
      "(one worker, static JSON files kept open by `open_file_cache`, `echo_sleep` from libnginx-mod-http-echo for the slow backend) "
      "and wrk (one thread) share CPU 0. All access logs are off (Manifold: `RUST_LOG=warn`).")
    w(f"- **req/s**: `taskset -c 0 wrk -t1 -c{params['conns']} -d{params['sat']:g}s --timeout 5s "
      f"-s bench/wrk/report.lua URL`, after a {params['warmup']:g} s warm-up run. When the target's "
      "CPU use is well below 100 % of its core, the backend/wrk core was the limit, not the target.")
    w(f"- **p50/p99 at a fixed rate**: wrk paced by `bench/wrk/report.lua` (each connection pauses "
      f"before each request): `wrk -t1 -c{params['paced_conns']} -d{params['paced']:g}s ... URL -- "
      f"{params['paced_ms']}` (≈1000 req/s) for a–c and `-c{params['d_paced_conns']} ... -- "
      f"{params['d_paced_ms']}` for d. This is a closed loop with think time, not wrk2's open loop "
      "(wrk2 is not in Debian), so latency excludes queueing behind a stalled request; the achieved "
      "rate is shown.")
    w("- **CPU µs/req**: utime+stime of the target's processes (`/proc/PID/stat`, nginx master + "
      "worker) over the saturating run, divided by its requests. **Peak RSS**: VmHWM summed over "
      "the target's processes at the end of the scenario. **Errors**: wrk socket errors + non-2xx "
      "responses in the saturating and the paced runs. A run fails on any error below "
      "saturation, on socket errors, and on non-2xx answers under saturation except in d (an "
      "overloaded gateway may see every backend miss the deadline and answer 500, as KrakenD "
      "does). Before measuring, each target's response is checked against the "
      "expected JSON.")
    rounds = params["rounds"]
    w(f"- Each target is measured {rounds} time{'s' if rounds > 1 else ''}"
      f"{', alternating the order of targets between rounds (round 2 runs them in reverse)' if rounds > 1 else ''}; "
      "the table shows the mean (req/s: mean and each run).")
    w("- The workerd and Lambda sections (below the targets) run in the full mode only: building the "
      "Worker with the bench config alone takes about a minute, which would break `--quick`'s "
      "2-minute budget; `bench/run.sh --quick --edge workerd,lambda` forces them.")
    w("- Command: `bench/run.sh` (full) or `bench/run.sh --quick`; the backend bodies are "
      + ", ".join(f"`{k}` {v:,} B" for k, v in sorted(info.get("sizes", {}).items())
                  if not k.startswith("d/s") or k == "d/s0.json") + ".\n")

    if failures:
        w("## Failures\n")
        for k, v in failures.items():
            w(f"- {k}: {v}")
        w("")

    w("## Results\n")
    w(f"![Manifold/peer ratios]({svg_name})\n")
    for key, sc in scenarios.items():
        if key not in results:
            if key in failures:
                w(f"### {sc['title']}\n\nNot measured: {failures[key]}\n")
            continue
        runs = results[key]
        lab = {**labels, **sc.get("labels", {})}
        w(f"### {sc['title']}\n")
        w("| target | req/s (saturated) | CPU of its core | CPU µs/req | p50 ms | p99 ms | at req/s | peak RSS MB | errors (sat. / paced) |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for t in sc["peers"]:
            a = agg(runs[t])
            w(f"| {lab[t]} | {fmt_rps(a)} | {a['cpu_util'] * 100:.0f} % | {a['cpu_us_per_req']:.1f} | "
              f"{a['p50_ms']:.2f} | {a['p99_ms']:.2f} | {a['paced_rps']:,.0f} | {a['peak_rss_mb']:.1f} | "
              f"{a['sat_errors']} / {a['paced_errors']} |")
        m = agg(runs["manifold"])
        parts = []
        for t in sc["peers"]:
            if t == "manifold":
                continue
            p = agg(runs[t])
            parts.append(f"vs {lab[t]}: req/s {m['rps'] / p['rps']:.2f}×, CPU/req "
                         f"{m['cpu_us_per_req'] / p['cpu_us_per_req']:.2f}×, p99 {m['p99_ms'] - p['p99_ms']:+.2f} ms, "
                         f"RSS {m['peak_rss_mb'] / p['peak_rss_mb']:.2f}×" if p["rps"] and p["cpu_us_per_req"]
                         and p["peak_rss_mb"] else f"vs {lab[t]}: n/a")
        w("\nManifold/peer: " + "; ".join(parts) + ".\n")
        if key == "e":
            w(shared_limit_cost(runs) + "\n")

    w("## Targets (reported, not asserted)\n")
    w(targets_text(results, d_timeout_ms, wasm_target(raw)))
    for title, text in extras:
        w(f"## {title}\n\n{text}\n")
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profile-notes.md")
    if os.path.exists(notes):
        with open(notes) as f:
            text = f.read()
        # Only the notes' first part (the profile); the per-change A/Bs after it stay there.
        head, _, rest = text.partition("\n## ")
        sections = [line for line in ("## " + rest).splitlines() if line.startswith("## ")] if rest else []
        w("## Profile of the biggest miss\n")
        w("From `bench/profile-notes.md` (written by hand from `python3 bench/profile.py`; "
          "not regenerated by this run).\n")
        w(head.rstrip() + "\n")
        if sections:
            w("The same file records each optimisation since as an A/B with its commands: "
              + "; ".join(f"\"{line[3:]}\"" for line in sections) + ".\n")
    return "\n".join(L) + "\n"


def shared_limit_cost(runs: dict) -> str:
    """Scenario e: what keeping the buckets in Redis adds to each request."""
    m, r = agg(runs["manifold-memory"]), agg(runs["manifold"])
    redis_cpu = sum(x.get("host_cpu_us_per_req", 0) for x in runs["manifold"]) / len(runs["manifold"])
    return (f"Cost of the shared limit (one `EVALSHA` round trip per request, Redis on the backend's "
            f"core): gateway CPU {r['cpu_us_per_req'] - m['cpu_us_per_req']:+.1f} µs/req "
            f"({m['cpu_us_per_req']:.1f} → {r['cpu_us_per_req']:.1f}), plus {redis_cpu:.1f} µs/req in "
            f"redis-server; latency at ≈{r['paced_rps']:,.0f} req/s p50 {r['p50_ms'] - m['p50_ms']:+.3f} ms, "
            f"p99 {r['p99_ms'] - m['p99_ms']:+.3f} ms; saturated req/s {r['rps'] / m['rps']:.2f}× "
            "(docs/state.md).")


def targets_text(results: dict, d_timeout_ms: int, wasm: str) -> str:
    out = []

    def get(key, t):
        return agg(results[key][t]) if key in results and results[key].get(t) else None

    m, n = get("a", "manifold"), get("a", "nginx-proxy")
    if m and n:
        r, c = m["rps"] / n["rps"], m["cpu_us_per_req"] / n["cpu_us_per_req"]
        ok = r >= 1.0 and c <= 1.0
        out.append(f"- **a** (req/s ≥ 1.0× nginx and CPU/req ≤ nginx's): **{'met' if ok else 'missed'}**. "
                   f"Manifold {m['rps']:,.0f} req/s vs nginx {n['rps']:,.0f} ({r:.2f}×); "
                   f"CPU {m['cpu_us_per_req']:.1f} vs {n['cpu_us_per_req']:.1f} µs/req ({c:.2f}×).")
    else:
        out.append("- **a**: not measured (see Failures).")
    m, n, d = get("b", "manifold"), get("b", "node"), get("b", "direct")
    if m and n and d:
        r = m["rps"] / n["rps"]
        diff = m["p99_ms"] - d["p99_ms"]
        ok = r >= 10 and m["cpu_us_per_req"] <= 45
        out.append(f"- **b** (≥ 10× the Node aggregator's req/s and ≤ 45 µs CPU/req): "
                   f"**{'met' if ok else 'missed'}**, {r:.2f}× ({m['rps']:,.0f} vs {n['rps']:,.0f} req/s), "
                   f"{m['cpu_us_per_req']:.1f} µs/req. "
                   f"p99 within 1 ms of the direct backend's: **{'met' if diff <= 1.0 else 'missed'}**, "
                   f"{m['p99_ms']:.2f} ms vs {d['p99_ms']:.2f} ms ({diff:+.2f} ms) at ≈{m['paced_rps']:,.0f} req/s."
                   + (f" Caveat: the direct backend's p50 is {d['p50_ms']:.2f} ms but its p99 {d['p99_ms']:.2f} ms, "
                      "so p99 here is dominated by scheduling noise on this shared machine; treat the p99 "
                      "comparison as indicative only." if d["p99_ms"] > 5 * d["p50_ms"] else ""))
    else:
        out.append("- **b**: not measured (see Failures).")
    m = get("c", "manifold")
    if m:
        ok = m["cpu_us_per_req"] <= 250
        out.append(f"- **c** (≤ 250 µs CPU/req): **{'met' if ok else 'missed'}**, "
                   f"{m['cpu_us_per_req']:.1f} µs/req.")
    else:
        out.append("- **c**: not measured (see Failures).")
    m = get("d", "manifold")
    if m:
        limit = d_timeout_ms + 5
        out.append(f"- **d** (partial response within timeout + 5 ms = {limit} ms at p99): "
                   f"**{'met' if m['p99_ms'] <= limit else 'missed'}**, p99 {m['p99_ms']:.2f} ms "
                   f"(p50 {m['p50_ms']:.2f} ms; KrakenD's merge deadline is 85 % of the timeout, "
                   f"{d_timeout_ms * 0.85:.0f} ms).")
    else:
        out.append("- **d**: not measured (see Failures).")
    out.append(f"- **wasm** (workerd CPU/req ≤ the JS Worker's): {wasm}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    # Regenerate BENCHMARKS.md and the chart without re-running: python3 bench/report.py
    # [RESULTS_JSON [OUT_DIR]] (defaults: bench/results.json, the repository root).
    import json
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "results.json")
    dest = sys.argv[2] if len(sys.argv) > 2 else (repo if os.path.abspath(src) == os.path.join(here, "results.json")
                                                   else os.path.dirname(os.path.abspath(src)))
    with open(src) as f:
        data = json.load(f)
    for p in write(data, dest, repo):
        print(f"report: wrote {p}")
