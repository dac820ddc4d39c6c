// Runs one Worker in workerd through Miniflare 4 (as tests/worker/e2e.test.mjs and `wrangler
// dev` do) on 127.0.0.1:PORT, prints `READY <workerd pid>` and serves until SIGTERM/SIGINT.
//
//   node bench/workerd/serve.mjs PORT manifold DIST_DIR [BACKEND_URL]  (wrangler deploy --dry-run output)
//   node bench/workerd/serve.mjs PORT js SCRIPT BACKEND_URL             (bench/workerd/aggregator.js)
//
// The Manifold Worker gets BACKEND_URL's port as the var BENCH_BACKEND_PORT: bench.py's Worker
// config names its host as `${env:BENCH_BACKEND_PORT}`, so one build serves any backend port
// (and two prebuilt Workers can be compared, bench.py --workerd-dist).
// MANIFOLD_INSPECTOR_PORT=<port> opens the V8 inspector there (bench/workerd-profile.mjs).
// Needs MANIFOLD_CACHE (miniflare comes with the pinned wrangler, scripts/tools.sh worker).
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const [port, kind, where, backend] = process.argv.slice(2);
const cache = process.env.MANIFOLD_CACHE || path.join(process.env.HOME, ".cache", "manifold");
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..");
const toml = fs.readFileSync(path.join(root, "wrangler.toml"), "utf8");
const compatibilityDate = toml.match(/^compatibility_date\s*=\s*"([^"]+)"/m)?.[1];
const require = createRequire(path.join(cache, "npm", "package.json"));
const { Miniflare } = require("miniflare");

let options;
if (kind === "manifold") {
  const modules = fs
    .readdirSync(where)
    .filter((f) => f.endsWith(".js") || f.endsWith(".wasm"))
    .map((f) => ({
      type: f.endsWith(".wasm") ? "CompiledWasm" : "ESModule",
      path: path.join(where, f),
      contents: fs.readFileSync(path.join(where, f)),
    }));
  modules.sort((a, b) => Number(b.path.endsWith("index.js")) - Number(a.path.endsWith("index.js")));
  options = { modulesRoot: where, modules };
  if (backend) options.bindings = { BENCH_BACKEND_PORT: new URL(backend).port };
} else {
  options = { modules: true, scriptPath: where, bindings: { BACKEND: backend } };
}
const inspector = process.env.MANIFOLD_INSPECTOR_PORT;
if (inspector) Object.assign(options, { name: "bench", unsafeInspectorProxy: true, inspectorPort: Number(inspector) });
const mf = new Miniflare({ host: "127.0.0.1", port: Number(port), compatibilityDate, ...options });
await mf.ready;

// The workerd process Miniflare started: our child whose command line names workerd.
function workerdPid() {
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== process.pid) continue;
      if (fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("workerd")) return Number(pid);
    } catch {}
  }
  return 0;
}
console.log(`READY ${workerdPid()}`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
