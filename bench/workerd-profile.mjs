// A V8 CPU profile of a Worker running in workerd, over the DevTools protocol (the inspector
// that bench/workerd/serve.mjs opens with MANIFOLD_INSPECTOR_PORT):
//
//   node bench/workerd-profile.mjs INSPECTOR_PORT OUT.cpuprofile [SAMPLING_US]
//
// Enables only the Profiler domain (Debugger.enable would tier wasm down to Liftoff for
// stepping, and the profile would no longer show the optimised code), starts sampling, prints
// `STARTED`, and stops when its stdin closes or says `stop`: the caller (bench/workerd_profile.py)
// drives the load in between. Writes the `.cpuprofile` (Chrome DevTools format) and prints
// `DONE <samples>`.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const [port, out, sampling = "200"] = process.argv.slice(2);
const cache = process.env.MANIFOLD_CACHE || path.join(process.env.HOME, ".cache", "manifold");
const require = createRequire(path.join(cache, "npm", "package.json"));
const WebSocket = require("ws");

const list = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
if (!list.length) throw new Error(`no inspector target on port ${port}`);
const ws = new WebSocket(list[0].webSocketDebuggerUrl, { headers: { origin: "http://localhost" } });
await new Promise((resolve, reject) => {
  ws.once("open", resolve);
  ws.once("error", reject);
});

let next = 1;
const pending = new Map();
ws.on("message", (data) => {
  const msg = JSON.parse(data.toString());
  const p = msg.id && pending.get(msg.id);
  if (!p) return;
  pending.delete(msg.id);
  if (msg.error) p.reject(new Error(`${p.method}: ${JSON.stringify(msg.error)}`));
  else p.resolve(msg.result);
});
const call = (method, params = {}) =>
  new Promise((resolve, reject) => {
    const id = next++;
    pending.set(id, { resolve, reject, method });
    ws.send(JSON.stringify({ id, method, params }));
  });

await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: Number(sampling) });
await call("Profiler.start");
console.log("STARTED");

await new Promise((resolve) => {
  process.stdin.on("data", (d) => d.toString().includes("stop") && resolve());
  process.stdin.on("end", resolve);
});
const { profile } = await call("Profiler.stop");
fs.writeFileSync(out, JSON.stringify(profile));
console.log(`DONE ${profile.samples?.length ?? 0}`);
ws.close();
process.exit(0);
