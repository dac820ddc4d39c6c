// Workers end-to-end suite: the built Worker runs in workerd (Miniflare, as `wrangler dev`
// does) and the native server (`manifold run`) runs next to it, both with the same config
// (tests/worker/gateway.json) against the same mock backends (tests/worker/mock.mjs). Every
// scenario of scenarios.json is sent to both; the answers must be equal and match `expect`.
//
// Run it through scripts/worker-e2e.sh, which builds the Worker and the native binary, picks
// free loopback ports and sets:
//   MANIFOLD_CACHE            tool cache (miniflare comes with the pinned wrangler)
//   MANIFOLD_E2E_MOCK_PORT    mock backends' port (also expanded into the config)
//   MANIFOLD_E2E_REFUSED_PORT a free port nobody listens on (the refused-connection case)
//   E2E_JWT_K, E2E_BACKEND_KEY run-time secrets of the config (`${env:NAME}`): the Worker gets
//                             them as bindings, the native server from its environment
//   E2E_NATIVE_BIN, E2E_NATIVE_PORT, E2E_CONFIG, E2E_WORKER_DIR (wrangler's dry-run output),
//   E2E_LOG_DIR (the native server's log goes there)

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import zlib from "node:zlib";

import { startMock } from "./mock.mjs";

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run scripts/worker-e2e.sh`);
  return value;
}

const here = path.dirname(new URL(import.meta.url).pathname);
const spec = JSON.parse(fs.readFileSync(path.join(here, "scenarios.json"), "utf8"));
// The JWT cases' tokens (HS256, far-future exp): tests/e2e-jwt/generate.py wrote them.
const tokens = JSON.parse(fs.readFileSync(path.join(here, "..", "e2e-jwt", "tokens.json"), "utf8")).tokens;
const wranglerToml = fs.readFileSync(path.join(here, "..", "..", "wrangler.toml"), "utf8");
const compatibilityDate = wranglerToml.match(/^compatibility_date\s*=\s*"([^"]+)"/m)?.[1];

let mock;
let native;
let nativeExit;
let mf;
const targets = {};

before(async () => {
  mock = await startMock(Number(need("MANIFOLD_E2E_MOCK_PORT")));

  const log = fs.openSync(path.join(need("E2E_LOG_DIR"), "native.log"), "w");
  const port = need("E2E_NATIVE_PORT");
  native = spawn(need("E2E_NATIVE_BIN"), ["run", "-c", need("E2E_CONFIG"), "-p", port], {
    stdio: ["ignore", log, log],
  });
  nativeExit = new Promise((resolve) => native.once("exit", resolve));
  targets.native = { base: `http://127.0.0.1:${port}`, port };

  // The Worker exactly as `wrangler deploy` would upload it.
  const dir = need("E2E_WORKER_DIR");
  const modules = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".js") || f.endsWith(".wasm"))
    .map((f) => ({
      type: f.endsWith(".wasm") ? "CompiledWasm" : "ESModule",
      path: path.join(dir, f),
      contents: fs.readFileSync(path.join(dir, f)),
    }));
  // index.js first: the first module is the entry point.
  modules.sort((a, b) => Number(b.path.endsWith("index.js")) - Number(a.path.endsWith("index.js")));
  const require = createRequire(path.join(need("MANIFOLD_CACHE"), "npm", "package.json"));
  const { Miniflare } = require("miniflare");
  const bindings = { E2E_JWT_K: need("E2E_JWT_K"), E2E_BACKEND_KEY: need("E2E_BACKEND_KEY") };
  mf = new Miniflare({ host: "127.0.0.1", port: 0, modulesRoot: dir, modules, compatibilityDate, bindings });
  const url = await mf.ready;
  targets.worker = { base: url.origin, port: url.port };

  await waitHealthy(targets.native.base, 15_000);
  await waitHealthy(targets.worker.base, 15_000);
});

after(async () => {
  await mf?.dispose();
  if (native && native.exitCode === null && native.signalCode === null) {
    native.kill("SIGTERM");
    const timer = setTimeout(() => native.kill("SIGKILL"), 5000);
    await nativeExit;
    clearTimeout(timer);
  }
  await mock?.close();
});

async function waitHealthy(base, ms) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    if (native.exitCode !== null) throw new Error(`native server exited (${native.exitCode}); see native.log`);
    try {
      const r = await send(base, { method: "GET", path: "/__health" });
      if (r.status === 200) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${base} not healthy after ${ms} ms: ${last}`);
}

/** One raw HTTP/1.1 exchange (no Accept-Encoding, no automatic decoding). */
function send(base, req) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const body = req.body === undefined ? undefined : Buffer.from(req.body);
    const headers = { ...(req.headers ?? {}) };
    if (req.token !== undefined) {
      if (!tokens[req.token]) throw new Error(`no token ${req.token} in tests/e2e-jwt/tokens.json`);
      headers.authorization = `Bearer ${tokens[req.token]}`;
    }
    if (body) headers["content-length"] = String(body.length);
    const r = http.request(new URL(req.path, base), { method: req.method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        let buf = Buffer.concat(chunks);
        // Neither server should compress unasked; decode anyway so a difference shows as one.
        if (res.headers["content-encoding"] === "gzip") buf = zlib.gunzipSync(buf);
        resolve({ status: res.statusCode, headers: res.headers, body: buf.toString("utf8"), ms: Date.now() - started });
      });
      res.on("error", reject);
    });
    r.setTimeout(10_000, () => r.destroy(new Error("no answer within 10 s")));
    r.on("error", reject);
    r.end(body);
  });
}

/** The answer with the server's own address replaced, so both platforms read the same. */
function normalise(answer, target, ignoreKeys) {
  const text = answer.body.replaceAll(`127.0.0.1:${target.port}`, "127.0.0.1:GATEWAY");
  let body = text;
  try {
    body = JSON.parse(text);
    for (const k of ignoreKeys ?? []) if (body && typeof body === "object") delete body[k];
  } catch {
    // not JSON: compared as text
  }
  const headers = {};
  for (const name of spec.compare_headers) {
    const v = answer.headers[name];
    headers[name] = v === undefined ? null : Array.isArray(v) ? v.join("\n") : v;
  }
  return { status: answer.status, headers, body };
}

/** Wait until the tracked calls to `prefix` made since `from` have ended; their `aborted` flags. */
async function trackedCalls(from, prefix) {
  const deadline = Date.now() + 3000;
  for (;;) {
    const calls = mock.tracked.slice(from).filter((c) => c.path.startsWith(prefix));
    if ((calls.length > 0 && calls.every((c) => c.aborted !== null)) || Date.now() > deadline) {
      return calls.map((c) => c.aborted);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** `expect` checked on one (normalised) answer: status, X-Krakend-Completed, headers, body, JSON paths. */
function checkExpect(a, expect, what) {
  assert.equal(a.status, expect.status, `${what}: status`);
  if (expect.completed !== undefined) {
    assert.equal(a.headers["x-krakend-completed"], expect.completed, `${what}: X-Krakend-Completed`);
  }
  for (const [name, value] of Object.entries(expect.headers ?? {})) {
    assert.ok(name in a.headers, `${what}: ${name} is not in compare_headers`);
    assert.equal(a.headers[name], value, `${what}: ${name}`);
  }
  if (expect.body !== undefined) assert.equal(a.body, expect.body, `${what}: body`);
  for (const [dotted, value] of Object.entries(expect.json ?? {})) {
    const got = dotted.split(".").reduce((v, k) => (v && typeof v === "object" ? v[k] : undefined), a.body);
    assert.deepStrictEqual(got, value, `${what}: JSON ${dotted}`);
  }
}

for (const scenario of spec.scenarios.filter((s) => s.steps)) {
  // Stateful (rate limit): the whole sequence to one target, then to the next. Each target
  // has its own buckets, so each sees the same sequence from the same starting point.
  test(scenario.name, async (t) => {
    const answers = {};
    for (const [name, target] of Object.entries(targets)) {
      answers[name] = [];
      for (const step of scenario.steps) {
        const raw = await send(target.base, step.request);
        answers[name].push(normalise(raw, target, step.ignore_body_keys));
      }
      t.diagnostic(`${name}: ${answers[name].map((a) => a.status).join(", ")}`);
    }
    scenario.steps.forEach((step, i) => {
      const what = `step ${i + 1}`;
      assert.deepStrictEqual(answers.worker[i], answers.native[i], `${what}: the Worker's answer differs from the native server's`);
      checkExpect(answers.native[i], step.expect, what);
    });
  });
}

for (const scenario of spec.scenarios.filter((s) => !s.steps)) {
  test(scenario.name, async (t) => {
    const answers = {};
    for (const [name, target] of Object.entries(targets)) {
      const trackedFrom = mock.tracked.length;
      const raw = await send(target.base, scenario.request);
      answers[name] = normalise(raw, target, scenario.ignore_body_keys);
      t.diagnostic(`${name}: ${raw.status} in ${raw.ms} ms`);
      if (scenario.max_ms !== undefined) {
        assert.ok(raw.ms <= scenario.max_ms, `${name} answered in ${raw.ms} ms (max ${scenario.max_ms})`);
      }
      if (scenario.slow_aborted) {
        const aborted = await trackedCalls(trackedFrom, "/slow");
        assert.deepStrictEqual(aborted, [true], `${name}: the slow backend call was not cancelled`);
      }
      if (scenario.shadow_completed) {
        const aborted = await trackedCalls(trackedFrom, "/shadow/");
        assert.deepStrictEqual(aborted, [false], `${name}: the shadow call did not run to its end`);
      }
    }
    const { native: n, worker: w } = answers;
    assert.deepStrictEqual(w, n, "the Worker's answer differs from the native server's");
    checkExpect(n, scenario.expect, "answer");
  });
}
