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


def extra_sections(root: str) -> list[tuple[str, str]]:
    """The workerd and Lambda parts: (title, text). They say why they were not measured."""
    cache = os.environ.get("MANIFOLD_CACHE", os.path.expanduser("~/.cache/manifold"))
    out = []
    workerd = os.path.join(cache, "npm", "node_modules", ".bin", "workerd")
    shim = os.path.join(root, "edge-worker", "build", "worker", "shim.mjs")
    if not os.path.exists(workerd):
        reason = f"workerd is not installed ({workerd} missing; scripts/tools.sh worker installs it)"
    elif not os.path.exists(shim):
        reason = f"the Manifold worker is not built ({os.path.relpath(shim, root)} missing)"
    else:
        reason = ("workerd and a built worker exist, but this harness has no workerd section yet: "
                  "the worker embeds its gateway config at build time (edge-worker/build.sh, "
                  "MANIFOLD_CONFIG), so the section needs its own build with the bench config, plus "
                  "a hand-written JS worker with the same logic")
    out.append(("workerd: Manifold wasm worker vs a hand-written JS worker", f"Not measured: {reason}."))
    cargo_lambda = os.path.join(cache, "venv", "bin", "cargo-lambda")
    if not os.path.exists(cargo_lambda):
        reason = f"cargo-lambda is not installed ({cargo_lambda} missing; scripts/tools.sh lambda installs it)"
    else:
        reason = ("cargo-lambda is installed, but this harness has no `cargo lambda watch` section yet "
                  "(cold start and per-invoke latency)")
    out.append(("Lambda: cold start and per-invoke latency", f"Not measured: {reason}."))
    return out


def fmt_rps(a: dict) -> str:
    runs = " / ".join(f"{x:,.0f}" for x in a["rps_runs"])
    return f"{a['rps']:,.0f} ({runs})" if len(a["rps_runs"]) > 1 else f"{a['rps']:,.0f}"


def markdown(results, failures, info, params, scenarios, labels, *, quick, svg_name, extras,
             d_timeout_ms) -> str:
    L: list[str] = []
    w = L.append
    w("# Benchmarks: Manifold against nginx, a Node aggregator and the direct backend\n")
    w(f"Generated by `bench/run.sh{' --quick' if quick else ''}` on {info['started']} "
      f"(took {info['duration_s']} s). Do not edit by hand; rerun the script.\n")
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
      "(one worker, static JSON files, `echo_sleep` from libnginx-mod-http-echo for the slow backend) "
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
        w(f"### {sc['title']}\n")
        w("| target | req/s (saturated) | CPU of its core | CPU µs/req | p50 ms | p99 ms | at req/s | peak RSS MB | errors (sat. / paced) |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for t in sc["peers"]:
            a = agg(runs[t])
            w(f"| {labels[t]} | {fmt_rps(a)} | {a['cpu_util'] * 100:.0f} % | {a['cpu_us_per_req']:.1f} | "
              f"{a['p50_ms']:.2f} | {a['p99_ms']:.2f} | {a['paced_rps']:,.0f} | {a['peak_rss_mb']:.1f} | "
              f"{a['sat_errors']} / {a['paced_errors']} |")
        m = agg(runs["manifold"])
        parts = []
        for t in sc["peers"]:
            if t == "manifold":
                continue
            p = agg(runs[t])
            parts.append(f"vs {labels[t]}: req/s {m['rps'] / p['rps']:.2f}×, CPU/req "
                         f"{m['cpu_us_per_req'] / p['cpu_us_per_req']:.2f}×, p99 {m['p99_ms'] - p['p99_ms']:+.2f} ms, "
                         f"RSS {m['peak_rss_mb'] / p['peak_rss_mb']:.2f}×" if p["rps"] and p["cpu_us_per_req"]
                         and p["peak_rss_mb"] else f"vs {labels[t]}: n/a")
        w("\nManifold/peer: " + "; ".join(parts) + ".\n")

    w("## Targets (reported, not asserted)\n")
    w(targets_text(results, d_timeout_ms, extras))
    for title, text in extras:
        w(f"## {title}\n\n{text}\n")
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profile-notes.md")
    if os.path.exists(notes):
        with open(notes) as f:
            w("## Profile of the biggest miss\n")
            w("From `bench/profile-notes.md` (written by hand from `python3 bench/profile.py`; "
              "not regenerated by this run).\n")
            w(f.read())
    return "\n".join(L) + "\n"


def targets_text(results: dict, d_timeout_ms: int, extras) -> str:
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
        out.append(f"- **b** (≥ 3× the Node aggregator's req/s): **{'met' if r >= 3 else 'missed'}**, "
                   f"{r:.2f}× ({m['rps']:,.0f} vs {n['rps']:,.0f} req/s). "
                   f"p99 within 1 ms of the direct backend's: **{'met' if diff <= 1.0 else 'missed'}**, "
                   f"{m['p99_ms']:.2f} ms vs {d['p99_ms']:.2f} ms ({diff:+.2f} ms) at ≈{m['paced_rps']:,.0f} req/s."
                   + (f" Caveat: the direct backend's p50 is {d['p50_ms']:.2f} ms but its p99 {d['p99_ms']:.2f} ms, "
                      "so p99 here is dominated by scheduling noise on this shared machine; treat the p99 "
                      "comparison as indicative only." if d["p99_ms"] > 5 * d["p50_ms"] else ""))
    else:
        out.append("- **b**: not measured (see Failures).")
    m = get("d", "manifold")
    if m:
        limit = d_timeout_ms + 5
        out.append(f"- **d** (partial response within timeout + 5 ms = {limit} ms at p99): "
                   f"**{'met' if m['p99_ms'] <= limit else 'missed'}**, p99 {m['p99_ms']:.2f} ms "
                   f"(p50 {m['p50_ms']:.2f} ms; KrakenD's merge deadline is 85 % of the timeout, "
                   f"{d_timeout_ms * 0.85:.0f} ms).")
    else:
        out.append("- **d**: not measured (see Failures).")
    wasm = [t for title, t in extras if title.startswith("workerd")]
    out.append(f"- **wasm** (CPU/req ≤ the JS worker's): {wasm[0] if wasm else 'not measured.'}")
    return "\n".join(out) + "\n"
