#!/usr/bin/env python3
"""Where a Worker's CPU goes in workerd: a V8 CPU profile under wrk load, summarised by function
and by category (JS glue, header conversion, body copies, JSON, allocation, the pipeline).

    python3 bench/workerd_profile.py --dist DIR [--seconds 10] [--out DIR]
    python3 bench/workerd_profile.py --js           (the hand-written JS Worker, same load)
    python3 bench/workerd_profile.py --summary FILE.cpuprofile [--dist DIR] [--top 40]

--dist is a Worker built with bench.py's Worker config (the backend host is
`${env:BENCH_BACKEND_PORT}`, so the build serves any port; `bench.workerd_config()`), ideally with MANIFOLD_WORKER_NAMES=1
so that wasm frames carry their Rust names. The script starts the bench's backend (nginx, CPU 0,
with the load generator), the Worker in workerd (bench/workerd/serve.mjs, CPU 1) with the V8
inspector open, warms it up, starts bench/workerd-profile.mjs, drives scenario b with wrk
(64 connections) for --seconds, stops the profile and prints the summary, plus workerd's CPU
per request over the same window (from /proc, as bench.py measures it).

The V8 profiler sees the isolate's thread only while it runs JS or wasm: workerd's own C++ work
(HTTP parsing, the event loop, fetch's sockets) shows up as `(program)` or not at all, so the
profile splits the isolate's share; the /proc figure is the whole.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as b  # noqa: E402

# Category rules, first match wins, on "<function name> <url>". Rust symbols keep their paths in
# the name section (`manifold_core::json::parse::...`), the JS glue is index.js.
CATEGORIES: list[tuple[str, str]] = [
    ("v8: garbage collector", r"^\(garbage collector\)"),
    ("v8: idle", r"^\(idle\)"),
    ("v8: program (workerd C++ outside JS/wasm)", r"^\(program\)"),
    ("v8: root", r"^\(root\)"),
    ("access log (console.log)", r"^js:log\b|console::log|ConsoleLog|formatLog"),
    ("fetch abort (AbortController.abort on drop)", r"^js:abort\b|^abort$|AbortOnDrop"),
    ("body stream reads (ReadableStream reader)", r"^js:(read|releaseLock|getReader|done|value|cancel)\b|"
     r"ByteStream|wasm_streams|^read$|^releaseLock$"),
    ("headers (JS Headers, http::header, conversions)", r"^js:(append|entries|headers|next)\b|^entries$|^Headers$|"
     r"http::header|HeaderMap|HeaderName|HeaderValue|headers_(from|to)_js|convert::(header|byte_string|crosses)"),
    ("timers (setTimeout/clearTimeout)", r"^js:(setTimeout|clearTimeout)\b|^setTimeout$|^clearTimeout$|Delay"),
    ("futures, promises, closures (wasm-bindgen-futures)", r"^js:(queueMicrotask|then|resolve|cb_unref)|"
     r"^queueMicrotask$|^[IL] index\.js|js_sys::futures|wasm_bindgen_futures|Closure|closures::"),
    ("allocator (dlmalloc, alloc::)", r"dlmalloc|__rust_(alloc|dealloc|realloc)|__rdl_|alloc::raw_vec|"
     r"alloc::alloc|RawVec|<alloc::vec::Vec<.*> as core::clone|alloc::string::String::push|"
     r"finish_grow|do_reserve_and_handle|malloc|free\b"),
    ("memcpy/memmove/memset (body and string copies)", r"^(memcpy|memmove|memset|compiler_builtins::mem)"),
    ("JSON (manifold_core::json, serde_json)", r"json|serde"),
    ("UTF-8 / strings (core::str, fmt)", r"core::str|core::fmt|alloc::fmt|alloc::str|from_utf8|to_string|"
     r"char::|String"),
    ("wasm-bindgen glue (Rust side)", r"wasm_bindgen|js_sys|web_sys|__wbindgen|__externref|externref"),
    ("workers-rs (worker::)", r"worker::|worker_sys"),
    ("runtime fetch / Response (native)", r"^fetch$|^Response$|^js:(fetch|new_with|arrayBuffer|array_buffer)"),
    ("futures / executor", r"futures_|futures::|core::task|Waker|poll_fn"),
    ("pipeline (manifold_core)", r"manifold_core|manifold_worker"),
    ("other Rust std/core", r"core::|alloc::|std::|hashbrown|bytes::|http::"),
    ("wasm (unnamed)", r"wasm-function|^\$"),
    ("JS glue (index.js, other wasm-bindgen shims)", r"index\.js|__wbg|shim|^js:"),
    ("JS runtime / Worker script", r"."),
]


# wasm-bindgen's import shims are anonymous functions in index.js, one per line, each after its
# key `__wbg_<name>_<hash>:`; their names say which JS API the module called.
SHIM = re.compile(r"__wbg_(\w+?)_[0-9a-f]{16}:")
GLUE_LINES: dict[tuple[str, int], str] = {}


def load_glue(dist: str | None) -> None:
    """Learn the import shims' names from the Worker's index.js (the bundle wrangler wrote)."""
    if not dist:
        return
    path = os.path.join(dist, "index.js")
    if not os.path.exists(path):
        return
    with open(path, errors="replace") as f:
        for n, line in enumerate(f):
            names = [(m.end(), m.group(1)) for m in SHIM.finditer(line)]
            for end, name in names:
                GLUE_LINES[("index.js", n, end)] = name


def frame_name(node: dict) -> str:
    cf = node["callFrame"]
    name = cf.get("functionName") or "(anonymous)"
    url = os.path.basename(cf.get("url") or "")
    if url == "index.js" and name == "(anonymous)":
        # The shim whose key ends last before this function's column.
        line, col = cf.get("lineNumber", -1), cf.get("columnNumber", -1)
        best = max(((end, shim) for (u, n, end), shim in GLUE_LINES.items() if n == line and end <= col),
                   default=None)
        if best:
            return f"js:{best[1]} (wasm-bindgen import shim)"
    return f"{name} {url}".strip()


def category(name: str) -> str:
    for cat, rx in CATEGORIES:
        if re.search(rx, name):
            return cat
    return "?"


def summarise(profile: dict, top: int = 40) -> str:
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent: dict[int, int] = {}
    for n in profile["nodes"]:
        for c in n.get("children", []):
            parent[c] = n["id"]
    samples, deltas = profile.get("samples", []), profile.get("timeDeltas", [])
    # Each sample's time is the delta to the next one (the last one gets the mean).
    times = list(deltas[1:]) + [sum(deltas) / max(len(deltas), 1)]
    self_t: collections.Counter = collections.Counter()
    incl_t: collections.Counter = collections.Counter()
    cat_self: collections.Counter = collections.Counter()
    cat_incl: collections.Counter = collections.Counter()
    total = 0.0
    for sid, dt in zip(samples, times):
        dt = max(dt, 0)
        total += dt
        leaf = frame_name(nodes[sid])
        self_t[leaf] += dt
        # An unnamed native frame (a builtin the runtime runs for a JS call) counts in its
        # caller's category: console.log's formatting is the access log's.
        owner, nid = leaf, sid
        while owner == "(anonymous)" and nid in parent:
            nid = parent[nid]
            owner = frame_name(nodes[nid])
        cat_self[category(owner)] += dt
        seen, cats, nid = set(), set(), sid
        while nid is not None:
            name = frame_name(nodes[nid])
            if name not in seen:
                seen.add(name)
                incl_t[name] += dt
            c = category(name)
            if c not in cats:
                cats.add(c)
                cat_incl[c] += dt
            nid = parent.get(nid)
    busy = total - cat_self.get("v8: idle", 0)
    lines = [f"samples {len(samples)}, {total / 1e6:.2f} s sampled, {busy / 1e6:.2f} s not idle "
             "(percentages below are of the non-idle time)", "",
             "| category | self % | inclusive % |", "|---|---:|---:|"]
    for cat, t in cat_self.most_common():
        if cat in ("v8: idle", "v8: root"):
            continue
        lines.append(f"| {cat} | {t * 100 / busy:.1f} | {cat_incl[cat] * 100 / busy:.1f} |")
    lines += ["", f"top {top} functions by self time:", "", "| function | self % | inclusive % |",
              "|---|---:|---:|"]
    for name, t in self_t.most_common(top + 1):
        if name.startswith("(idle)"):
            continue
        lines.append(f"| `{name[:110]}` | {t * 100 / busy:.1f} | {incl_t[name] * 100 / busy:.1f} |")
    lines += ["", f"top {top} functions by inclusive time:", "", "| function | inclusive % |", "|---|---:|"]
    for name, t in incl_t.most_common(top + 3):
        if name.startswith("(idle)") or name.startswith("(root)"):
            continue
        lines.append(f"| `{name[:110]}` | {t * 100 / busy:.1f} |")
    return "\n".join(lines)


def run(args) -> int:
    work = tempfile.mkdtemp(prefix="manifold-workerd-profile-")
    os.chmod(work, 0o755)
    out = args.out or work
    os.makedirs(out, exist_ok=True)
    target_cpu = "1" if (os.cpu_count() or 1) >= 2 else None
    load_cpu = "0" if target_cpu else None
    prof = None
    try:
        data, _, expected = b.write_data(work)
        bport = b.free_port()
        backend = b.start_nginx(work, "backend", bport, f"    root {data};", load_cpu)
        base = f"http://127.0.0.1:{bport}"
        b.wait_http(backend, base + "/a.json")
        iport = b.free_port()
        os.environ["MANIFOLD_INSPECTOR_PORT"] = str(iport)
        if args.js:
            tail = ["js", os.path.join(b.BENCH, "workerd", "aggregator.js"), base]
            label = "js-worker"
        else:
            tail = ["manifold", args.dist, base]
            label = "manifold-wasm"
        proc, url = b.start_worker(work, label, tail, target_cpu)
        path = b.SCENARIOS["b"]["gateway_path"]
        problem = b.check_response(url + path, expected["b"], "b")
        if problem:
            raise b.StartFailure(f"{label}: {problem}")
        b.wrk(url + path, 64, 3, cpu=load_cpu)
        cpuprofile = os.path.join(out, f"{label}.cpuprofile")
        prof = subprocess.Popen(["node", os.path.join(b.BENCH, "workerd-profile.mjs"), str(iport), cpuprofile,
                                 str(args.sampling)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = prof.stdout.readline() if prof.stdout else ""
        if not line.startswith("STARTED"):
            raise b.StartFailure(f"the profiler did not start: {line!r}")
        c0 = proc.cpu_seconds()
        res = b.wrk(url + path, 64, args.seconds, cpu=load_cpu)
        c1 = proc.cpu_seconds()
        prof.communicate("stop\n", timeout=120)
        prof = None
        cpu_us = (c1 - c0) * 1e6 / max(res["requests"], 1)
        with open(cpuprofile) as f:
            profile = json.load(f)
        load_glue(args.dist)
        head = (f"{label}: {res['rps']:.0f} req/s, workerd CPU {cpu_us:.1f} us/req over the profiled "
                f"{args.seconds:.0f} s (profiler on), errors {res['errors']}; load average {b.loadavg()}")
        text = head + "\n\n" + summarise(profile, args.top)
        print(text)
        with open(os.path.join(out, f"{label}.summary.md"), "w") as f:
            f.write(text + "\n")
        return 0
    finally:
        if prof is not None:
            prof.kill()
        b.stop_all()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dist", help="the Worker build (wrangler deploy --dry-run --outdir)")
    ap.add_argument("--js", action="store_true", help="profile the hand-written JS Worker instead")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--sampling", type=int, default=200, help="sampling interval, microseconds")
    ap.add_argument("--out", help="where the .cpuprofile and summary go (default: a temp dir)")
    ap.add_argument("--summary", help="only summarise this .cpuprofile")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    if args.summary:
        load_glue(args.dist)
        with open(args.summary) as f:
            print(summarise(json.load(f), args.top))
        return 0
    if not args.js and not args.dist:
        ap.error("--dist DIR or --js")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
