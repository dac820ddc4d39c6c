// Workers end-to-end suite: the built Worker runs in workerd (Miniflare, as `wrangler dev`
// does) and the native server (`manifold run`) runs next to it, both with the same config
// against the same mock backends (tests/worker/mock.mjs). Two configs, so two pairs:
//  - tests/worker/gateway.json: every scenario of scenarios.json is sent to both; the answers
//    must be equal and match `expect` (or, where a scenario says so, the Worker's documented
//    platform difference), and the backends must have seen what `backend` says; then the
//    request limits (10 MiB body, 64 KiB head) and a client that hangs up;
//  - tests/worker/ssl.json (a second Worker: the config is embedded at build time):
//    `security/http` `ssl_redirect` over http:// and https:// URLs, and non-default limits.
// The bad-input cases (`case` in scenarios.json) are listed in docs/bad-input.md.
//
// Run it through scripts/worker-e2e.sh, which builds the Workers and the native binary, picks
// free loopback ports and sets:
//   MANIFOLD_CACHE            tool cache (miniflare comes with the pinned wrangler)
//   MANIFOLD_E2E_MOCK_PORT    mock backends' port (also expanded into the configs)
//   MANIFOLD_E2E_REFUSED_PORT a free port nobody listens on (the refused-connection case)
//   E2E_JWT_K, E2E_BACKEND_KEY run-time secrets of the config (`${env:NAME}`): the Worker gets
//                             them as bindings, the native server from its environment
//   E2E_NATIVE_BIN, E2E_NATIVE_PORT, E2E_CONFIG, E2E_WORKER_DIR (wrangler's dry-run output),
//   E2E_NATIVE_SSL_PORT, E2E_SSL_CONFIG, E2E_SSL_WORKER_DIR (the same for ssl.json),
//   E2E_LOG_DIR (the native servers' logs go there)

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import zlib from "node:zlib";

import { need, miniflare } from "./harness.mjs";
import { events, releaseEvents, startMock } from "./mock.mjs";

/** Every string of `value` with ${N x c} written out as c repeated N times. */
function expand(value) {
  if (typeof value === "string") return value.replace(/\$\{(\d+) x (.)\}/g, (_, n, c) => c.repeat(Number(n)));
  if (Array.isArray(value)) return value.map(expand);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v)]));
  return value;
}

const here = path.dirname(new URL(import.meta.url).pathname);
const spec = expand(JSON.parse(fs.readFileSync(path.join(here, "scenarios.json"), "utf8")));
// The JWT cases' tokens (HS256, far-future exp): tests/e2e-jwt/generate.py wrote them.
const tokens = JSON.parse(fs.readFileSync(path.join(here, "..", "e2e-jwt", "tokens.json"), "utf8")).tokens;

const MiB = 1024 * 1024;
const KiB = 1024;
// The limits of tests/worker/gateway.json: the defaults (`router.max_payload`, `max_header_bytes`).
const MAX_BODY = 10 * MiB;
const MAX_HEAD = 64 * KiB;
// workerd refuses a request head over 128 KiB itself (kj's HTTP parser), before the Worker runs.
const WORKERD_MAX_HEAD = 128 * KiB;
// One body buffer for every upload, sliced: the suite never holds more than MAX_BODY + 1 bytes.
const BODY = Buffer.alloc(MAX_BODY + 1, "a");

let mock;
let mockPort;
let wsBackend;
const natives = [];
const miniflares = [];
// tests/worker/gateway.json on both platforms, and tests/worker/ssl.json on both.
const targets = {};
const ssl = {};

before(async () => {
  mockPort = Number(need("MANIFOLD_E2E_MOCK_PORT"));
  mock = await startMock(mockPort);
  wsBackend = startWsBackend(need("MANIFOLD_E2E_WS_PORT"));
  targets.native = startNative(need("E2E_CONFIG"), need("E2E_NATIVE_PORT"), "native.log");
  ssl.native = startNative(need("E2E_SSL_CONFIG"), need("E2E_NATIVE_SSL_PORT"), "native-ssl.log");
  targets.worker = await startWorker(need("E2E_WORKER_DIR"));
  ssl.worker = await startWorker(need("E2E_SSL_WORKER_DIR"));
  // ssl.json redirects every plain request, /__health included: any answer means up.
  for (const [target, ready] of [
    [targets.native, 200],
    [targets.worker, 200],
    [ssl.native, 301],
    [ssl.worker, 301],
  ]) {
    await waitReady(target, ready, 15_000);
  }
});

after(async () => {
  for (const mf of miniflares) await mf.dispose();
  for (const { process: child, exited } of natives) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
  }
  await mock?.close();
  if (wsBackend && wsBackend.exitCode === null) {
    wsBackend.kill("SIGTERM");
    await new Promise((resolve) => wsBackend.once("exit", resolve));
  }
});

/** tests/websocket/backend.py (PyPI websockets from the tools venv) on `port`. */
function startWsBackend(port) {
  const out = fs.openSync(path.join(need("E2E_LOG_DIR"), "ws-backend.log"), "w");
  const script = path.join(here, "..", "websocket", "backend.py");
  return spawn(need("E2E_WS_PYTHON"), [script, String(port)], { stdio: ["ignore", out, out] });
}

/** `manifold run` with `config` on `port`, its log in E2E_LOG_DIR/`log`. */
function startNative(config, port, log) {
  const out = fs.openSync(path.join(need("E2E_LOG_DIR"), log), "w");
  const child = spawn(need("E2E_NATIVE_BIN"), ["run", "-c", config, "-p", port], { stdio: ["ignore", out, out] });
  natives.push({ process: child, exited: new Promise((resolve) => child.once("exit", resolve)) });
  return { base: `http://127.0.0.1:${port}`, port, process: child, log };
}

/** The Worker of wrangler's dry-run output `dir`, exactly as `wrangler deploy` would upload it. */
async function startWorker(dir) {
  const bindings = { E2E_JWT_K: need("E2E_JWT_K"), E2E_BACKEND_KEY: need("E2E_BACKEND_KEY") };
  // The Durable Object binding of wrangler.toml, so the config's pools are served as deployed.
  const durableObjects = { MANIFOLD_STORE: { className: "ManifoldStore", useSQLite: true } };
  const mf = miniflare(dir, { bindings, durableObjects });
  miniflares.push(mf);
  const url = await mf.ready;
  return { base: url.origin, port: url.port, mf };
}

async function waitReady(target, status, ms) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    if (target.process && target.process.exitCode !== null) {
      throw new Error(`native server exited (${target.process.exitCode}); see ${target.log}`);
    }
    try {
      const r = await send(target.base, { method: "GET", path: "/__health" });
      if (r.status === status) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${target.base} not ready after ${ms} ms: ${last}`);
}

/**
 * One HTTP/1.1 exchange (no Accept-Encoding, no automatic decoding). The target is sent as
 * written, never normalised (a URL object would remove `..` and decode `%2e`).
 */
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
    const { hostname, port } = new URL(base);
    const options = { host: hostname, port, path: req.path, method: req.method, headers, agent: false };
    const r = http.request(options, (res) => {
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

/** Delete a dotted path (`headers.accept-encoding`) from a JSON value. */
function drop(value, dotted) {
  const keys = dotted.split(".");
  const last = keys.pop();
  const parent = keys.reduce((v, k) => (v && typeof v === "object" ? v[k] : undefined), value);
  if (parent && typeof parent === "object") delete parent[last];
}

/**
 * The answer with the servers' own addresses replaced, so both platforms read the same: the
 * gateway's as GATEWAY, the mock backends' as MOCK. `raw_body` keeps the body as text (JSON
 * parsing would round the numbers it is about).
 */
function normalise(answer, target, scenario) {
  const text = answer.body
    .replaceAll(`127.0.0.1:${target.port}`, "127.0.0.1:GATEWAY")
    .replaceAll(`127.0.0.1:${mockPort}`, "127.0.0.1:MOCK");
  let body = text;
  if (!scenario.raw_body) {
    try {
      body = JSON.parse(text);
      for (const k of scenario.ignore_body_keys ?? []) drop(body, k);
    } catch {
      // not JSON: compared as text
    }
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
      return calls;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A value at a dotted path of a JSON body (`headers.x-user`). */
function at(body, dotted) {
  return dotted.split(".").reduce((v, k) => (v && typeof v === "object" ? v[k] : undefined), body);
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
  if (expect.body !== undefined) assert.deepStrictEqual(a.body, expect.body, `${what}: body`);
  for (const [dotted, value] of Object.entries(expect.json ?? {})) {
    assert.deepStrictEqual(at(a.body, dotted), value, `${what}: JSON ${dotted}`);
  }
  for (const dotted of expect.json_absent ?? []) {
    assert.equal(at(a.body, dotted), undefined, `${what}: JSON ${dotted} should be absent`);
  }
}

/**
 * What the backends received since `from` against `expected`: a list of request targets
 * (strings, compared as a set), or of `{ target, headers }` where each named header must have
 * that value (null: absent). `[]`: no backend was called at all.
 */
function checkBackend(from, expected, what) {
  const seen = mock.calls.slice(from);
  const want = expected.map((e) => (typeof e === "string" ? { target: e } : e));
  assert.deepStrictEqual(
    seen.map((c) => c.url).sort(),
    want.map((e) => e.target).sort(),
    `${what}: the requests the backends received`,
  );
  for (const e of want) {
    const call = seen.find((c) => c.url === e.target);
    for (const [name, value] of Object.entries(e.headers ?? {})) {
      const got = call.headers[name] ?? null;
      assert.equal(got === null ? null : got.replaceAll(`127.0.0.1:${mockPort}`, "127.0.0.1:MOCK"), value, `${what}: ${e.target} ${name}`);
    }
  }
}

/** `request` with one of a scenario's `each` variants applied (its headers merged). */
function variant(request, each) {
  return { ...request, ...each, headers: { ...(request.headers ?? {}), ...(each.headers ?? {}) } };
}

for (const scenario of spec.scenarios.filter((s) => s.steps)) {
  // Stateful (rate limit): the whole sequence to one target, then to the next. Each target
  // has its own buckets, so each sees the same sequence from the same starting point.
  test(title(scenario), async (t) => {
    const answers = {};
    for (const [name, target] of Object.entries(targets)) {
      answers[name] = [];
      for (const step of scenario.steps) {
        const raw = await send(target.base, step.request);
        answers[name].push(normalise(raw, target, step));
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

/** The test's name: the bad-input case first when it is one. */
function title(scenario) {
  return scenario.case ? `${scenario.case}: ${scenario.name}` : scenario.name;
}

/**
 * One request to both targets. Equal answers matching `expect`; or, with `worker`, the native
 * answer matching `expect` and the Worker's matching `expect` overridden by `worker` (a
 * platform difference, `worker.why` says which).
 */
async function runRequest(t, scenario, request) {
  const answers = {};
  for (const [name, target] of Object.entries(targets)) {
    const trackedFrom = mock.tracked.length;
    const callsFrom = mock.calls.length;
    const raw = await send(target.base, request);
    answers[name] = normalise(raw, target, scenario);
    t.diagnostic(`${name}: ${raw.status} in ${raw.ms} ms`);
    if (scenario.max_ms !== undefined) {
      assert.ok(raw.ms <= scenario.max_ms, `${name} answered in ${raw.ms} ms (max ${scenario.max_ms})`);
    }
    for (const prefix of [scenario.slow_aborted && "/slow", scenario.tracked_aborted].filter(Boolean)) {
      const calls = await trackedCalls(trackedFrom, prefix);
      assert.deepStrictEqual(calls.map((c) => c.aborted), [true], `${name}: the ${prefix} backend call was not cancelled`);
    }
    if (scenario.shadow_completed) {
      const calls = await trackedCalls(trackedFrom, "/shadow/");
      assert.deepStrictEqual(calls.map((c) => c.aborted), [false], `${name}: the shadow call did not run to its end`);
    }
    if (scenario.backend !== undefined) checkBackend(callsFrom, scenario.backend, name);
  }
  const { native: n, worker: w } = answers;
  checkExpect(n, scenario.expect, "native");
  if (scenario.worker) {
    assert.ok(scenario.worker.why, "a platform difference needs its `why`");
    checkExpect(w, { ...scenario.expect, ...scenario.worker }, "worker");
  } else {
    assert.deepStrictEqual(w, n, "the Worker's answer differs from the native server's");
  }
}

for (const scenario of spec.scenarios.filter((s) => !s.steps)) {
  test(title(scenario), async (t) => {
    if (!scenario.each) return runRequest(t, scenario, scenario.request);
    for (const each of scenario.each) {
      const request = variant(scenario.request, each);
      const label = JSON.stringify(each).slice(0, 120);
      await t.test(label, (sub) => runRequest(sub, scenario, request));
    }
  });
}

// ---- request limits: B22 and C28 (bad-input matrix), the same on both platforms ----------------

/**
 * One raw HTTP/1.1 exchange on a fresh connection: `head` as written, then `length` bytes of
 * body (from BODY), in chunked coding if `chunked` (no Content-Length: the server learns the
 * size only while reading). The body is written only as fast as the server reads it, and no
 * more once an answer has begun: a server that refuses a body answers before reading it.
 * With `expectContinue` (the head says `Expect: 100-continue`) the body waits for the
 * server's `100 Continue`, so a server that refuses the declared length sees no body at all.
 * Resolves to `{ status, headers, body, written }` once the answer is complete.
 */
function exchange(base, { head, length = 0, chunked = false, expectContinue = false }) {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(base);
    const socket = net.connect(Number(port), hostname);
    let received = Buffer.alloc(0);
    let written = 0;
    let done = false;
    let go = !expectContinue;
    const finish = (error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const answer = parseAnswer(received, true);
      if (answer) resolve({ ...answer, written });
      else reject(error ?? new Error(`closed after ${received.length} bytes without a complete answer`));
    };
    const timer = setTimeout(() => finish(new Error("no complete answer within 30 s")), 30_000);
    socket.on("data", (d) => {
      received = Buffer.concat([received, d]);
      const interim = received.toString("latin1").match(/^HTTP\/1\.1 100 [^\r]*\r\n\r\n/);
      if (interim && !go) {
        received = received.subarray(interim[0].length);
        go = true;
        pump();
      }
      if (parseAnswer(received, false)) finish();
    });
    // A server that answered early may reset the connection while the body is still being
    // written: the answer read before that counts.
    socket.on("error", (e) => finish(e));
    socket.on("close", () => finish());
    socket.write(head);
    const pump = () => {
      while (go && written < length && received.length === 0) {
        const n = Math.min(64 * KiB, length - written);
        const piece = BODY.subarray(written, written + n);
        written += n;
        let more;
        if (chunked) {
          socket.write(`${n.toString(16)}\r\n`);
          socket.write(piece);
          more = socket.write("\r\n");
        } else {
          more = socket.write(piece);
        }
        if (!more) return socket.once("drain", pump);
      }
      if (go && chunked && written === length && received.length === 0) socket.write("0\r\n\r\n");
    };
    pump();
  });
}

/** A complete HTTP/1.1 answer in `buf` (Content-Length or chunked; else up to `closed`), or null. */
function parseAnswer(buf, closed) {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const [statusLine, ...lines] = buf.subarray(0, end).toString("latin1").split("\r\n");
  const headers = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const status = Number(statusLine.split(" ")[1]);
  let rest = buf.subarray(end + 4);
  let body;
  if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
    const parts = [];
    for (;;) {
      const eol = rest.indexOf("\r\n");
      if (eol < 0) return null;
      const size = parseInt(rest.subarray(0, eol).toString("latin1"), 16);
      if (rest.length < eol + 2 + size + 2) return null;
      if (size === 0) break;
      parts.push(rest.subarray(eol + 2, eol + 2 + size));
      rest = rest.subarray(eol + 2 + size + 2);
    }
    body = Buffer.concat(parts);
  } else if (headers["content-length"] !== undefined) {
    const len = Number(headers["content-length"]);
    if (rest.length < len) return null;
    body = rest.subarray(0, len);
  } else if (closed) {
    body = rest;
  } else {
    return null;
  }
  return { status, headers, body: body.toString("utf8") };
}

/** A request head with one `X-Pad` header sized so the whole head is `size` bytes. */
function headOfSize(size, target = "/users/7") {
  const start = `GET ${target} HTTP/1.1\r\nHost: gw\r\nX-Pad: `;
  const endOfHead = "\r\n\r\n";
  return start + "p".repeat(size - start.length - endOfHead.length) + endOfHead;
}

/** `exchange(request)` with both targets of `pair` (the gateway.json pair by default): their
 * answers, each with the request targets the backends received meanwhile (`calls`). */
async function both(t, what, request, pair = targets) {
  const out = {};
  for (const [name, target] of Object.entries(pair)) {
    const callsFrom = mock.calls.length;
    const started = Date.now();
    const answer = await exchange(target.base, request);
    answer.calls = mock.calls.slice(callsFrom).map((c) => c.url);
    t.diagnostic(`${what}: ${name} ${answer.status} in ${Date.now() - started} ms (${answer.written} body bytes written)`);
    out[name] = answer;
  }
  return out;
}

const SINK_OK = (n) => JSON.stringify({ bytes: n, sha256: crypto.createHash("sha256").update(BODY.subarray(0, n)).digest("hex") });
/** The head of a POST to /upload: `length` declared, or chunked when it is undefined. */
const uploadHead = (length, extra = "") =>
  `POST /upload HTTP/1.1\r\nHost: gw\r\nContent-Type: application/octet-stream\r\n${extra}` +
  (length === undefined ? "Transfer-Encoding: chunked\r\n" : `Content-Length: ${length}\r\n`) +
  "\r\n";

for (const chunked of [false, true]) {
  const how = chunked ? "chunked, no Content-Length" : "with Content-Length";
  test(`C28: a body of exactly 10 MiB (${how}) is served, whole`, async (t) => {
    const a = await both(t, "10 MiB", { head: uploadHead(chunked ? undefined : MAX_BODY), length: MAX_BODY, chunked });
    for (const [name, answer] of Object.entries(a)) {
      assert.equal(answer.status, 200, `${name}: status`);
      assert.equal(answer.body, SINK_OK(MAX_BODY), `${name}: what the backend received`);
      assert.deepStrictEqual(answer.calls, ["/sink"], `${name}: backend calls`);
    }
  });
}

test("C28: a declared Content-Length of 10 MiB + 1 gets 413 before any of the body is sent", async (t) => {
  // `Expect: 100-continue`: the body follows only a `100 Continue`, so a 413 with nothing
  // written shows the limit was decided from the header. (Sent without it, the native server's
  // early 413 races the reset its close causes: docs/bad-input.md, C28.)
  const request = { head: uploadHead(MAX_BODY + 1, "Expect: 100-continue\r\n"), length: MAX_BODY + 1, expectContinue: true };
  const a = await both(t, "declared 10 MiB + 1", request);
  for (const [name, answer] of Object.entries(a)) {
    assert.equal(answer.status, 413, `${name}: status`);
    assert.equal(answer.body, "413 request body too large\n", `${name}: body`);
    assert.equal(answer.written, 0, `${name}: body bytes the client was let send`);
    assert.deepStrictEqual(answer.calls, [], `${name}: backend calls`);
  }
});

test("C28: a chunked body of 10 MiB + 1 (no Content-Length) gets 413 while streaming, the backend never called", async (t) => {
  const a = await both(t, "streamed 10 MiB + 1", { head: uploadHead(undefined), length: MAX_BODY + 1, chunked: true });
  for (const [name, answer] of Object.entries(a)) {
    assert.equal(answer.status, 413, `${name}: status`);
    assert.equal(answer.body, "413 request body too large\n", `${name}: body`);
    assert.ok(answer.written > MAX_BODY / 2, `${name}: refused after ${answer.written} bytes, not from a header`);
    assert.deepStrictEqual(answer.calls, [], `${name}: backend calls`);
  }
});

test("B22: request heads: 60 KiB served, 64 KiB + 1 and 101 header lines get 431", async (t) => {
  const cases = [
    ["60 KiB head", headOfSize(60 * KiB), 200],
    ["64 KiB + 1 head", headOfSize(MAX_HEAD + 1), 431],
    ["101 header lines", `GET /users/7 HTTP/1.1\r\nHost: gw\r\n${Array.from({ length: 100 }, (_, i) => `X-H${i}: v\r\n`).join("")}\r\n`, 431],
  ];
  for (const [what, head, status] of cases) {
    const a = await both(t, what, { head });
    for (const [name, answer] of Object.entries(a)) {
      assert.equal(answer.status, status, `${what}: ${name} status`);
      assert.deepStrictEqual(answer.calls, status === 200 ? ["/users/7"] : [], `${what}: ${name} backend calls`);
    }
    if (status === 431) {
      // The native server's 431 is hyper's (empty body); the Worker's is the core's check.
      assert.equal(a.native.body, "", `${what}: native body`);
      assert.equal(a.worker.body, "431 request header fields too large\n", `${what}: worker body (the core's answer)`);
    }
  }
});

test("B22: a head over 128 KiB: 431 on both, on the Worker from workerd itself", async (t) => {
  const a = await both(t, "128 KiB + 1 head", { head: headOfSize(WORKERD_MAX_HEAD + 1) });
  for (const [name, answer] of Object.entries(a)) {
    assert.equal(answer.status, 431, `${name}: status`);
    assert.deepStrictEqual(answer.calls, [], `${name}: backend calls`);
  }
  // workerd answers before the Worker runs, with its own text.
  assert.equal(a.worker.body, "ERROR: header too large.", "worker body (workerd's answer)");
});

// ---- E49: a client that hangs up ------------------------------------------------------------

test("E49: a client hanging up mid-request: the backend call is cancelled (Worker: by the endpoint timeout)", async (t) => {
  const endpointTimeout = 2000; // tests/worker/gateway.json's root timeout, /hang's
  const delays = {};
  for (const [name, target] of Object.entries(targets)) {
    const from = mock.tracked.length;
    const socket = net.connect(Number(target.port), "127.0.0.1");
    socket.on("error", () => {});
    const started = Date.now();
    socket.write("GET /hang HTTP/1.1\r\nHost: gw\r\n\r\n");
    // Hang up once the backend call is under way.
    const deadline = Date.now() + 2000;
    while (mock.tracked.length === from && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const hungUp = Date.now();
    socket.destroy();
    const calls = await trackedCalls(from, "/slow");
    assert.deepStrictEqual(calls.map((c) => c.aborted), [true], `${name}: the backend call was not cancelled`);
    delays[name] = { afterHangUp: calls[0].closedAt - hungUp, afterStart: calls[0].closedAt - started };
    t.diagnostic(`${name}: backend call closed ${delays[name].afterHangUp} ms after the client hung up`);
  }
  // Native: hyper drops the request's future when the connection goes, which drops the call.
  assert.ok(delays.native.afterHangUp < 500, `native: closed ${delays.native.afterHangUp} ms after the hang-up`);
  // workerd (under Miniflare) lets the request run on: the call ends at the endpoint timeout,
  // never later (docs/bad-input.md, E49).
  assert.ok(delays.worker.afterStart < endpointTimeout + 1000, `worker: closed ${delays.worker.afterStart} ms after the start`);
});

// ---- streaming passthrough (docs/streaming.md) ----------------------------------------------

test("streaming: the first SSE event reaches the client while the backend holds the stream open, on both", async (t) => {
  for (const [name, target] of Object.entries(targets)) {
    events.releasedFirst = null;
    const answer = await new Promise((resolve, reject) => {
      const req = http.get(`${target.base}/events`, (res) => {
        let first = null;
        let rest = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          if (first !== null) return void (rest += chunk);
          first = chunk;
          // The backend sends the rest only now: a gateway that buffered would still be waiting.
          releaseEvents();
        });
        res.on("end", () => resolve({ status: res.statusCode, type: res.headers["content-type"], first, rest }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.setTimeout(10_000, () => req.destroy(new Error("no complete answer in 10 s")));
    });
    assert.deepStrictEqual(
      answer,
      { status: 200, type: "text/event-stream", first: "data: one\n\n", rest: "data: two\n\n" },
      name,
    );
    assert.equal(events.releasedFirst, true, `${name}: the backend finished before the client saw the first event`);
    t.diagnostic(`${name}: first event read while the backend held the stream open`);
  }
});

// ---- security/http ssl_redirect on the second Worker (tests/worker/ssl.json) -----------------

const SSL_HOST = "secure.example"; // ssl.json's ssl_host
const STS = "max-age=31536000; includeSubDomains"; // ssl.json's sts_seconds + sts_include_subdomains

/** A Miniflare `dispatchFetch` answer, as `send` gives one. */
async function dispatch(url, init = {}) {
  const res = await ssl.worker.mf.dispatchFetch(url, { redirect: "manual", ...init });
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

test("ssl_redirect: http:// gets 301 to https://<ssl_host>/<path>, no HTTPS-only headers, on both", async (t) => {
  for (const headers of [{}, { "x-forwarded-proto": "https" }]) {
    // No `ssl_proxy_headers` configured: a client's own X-Forwarded-Proto proves nothing.
    const answers = {};
    for (const [name, target] of Object.entries(ssl)) {
      const callsFrom = mock.calls.length;
      const raw = await send(target.base, { method: "GET", path: "/users/7?x=1", headers });
      answers[name] = normalise(raw, target, {});
      assert.deepStrictEqual(mock.calls.slice(callsFrom), [], `${name}: a redirected request reached a backend`);
      t.diagnostic(`${name} ${JSON.stringify(headers)}: ${raw.status} ${raw.headers.location}`);
    }
    assert.deepStrictEqual(answers.worker, answers.native, "the Worker's answer differs from the native server's");
    checkExpect(answers.native, {
      status: 301,
      headers: { location: `https://${SSL_HOST}/users/7?x=1`, "strict-transport-security": null },
    }, "http://");
  }
});

test("ssl_redirect: the Worker requested with an https:// URL answers 200, no redirect, with HSTS", async (t) => {
  // dispatchFetch hands the URL to the Worker as the request URL, as the edge does for a
  // visitor on https://: its scheme is what the adapter reads.
  const https = await dispatch(`https://${SSL_HOST}/users/7?x=1`);
  t.diagnostic(`https://: ${https.status}`);
  assert.equal(https.status, 200, "https:// status (301 again would be a redirect loop)");
  assert.equal(https.headers.location, undefined, "https://: Location");
  assert.equal(https.headers["strict-transport-security"], STS, "https://: Strict-Transport-Security");
  assert.equal(https.headers["x-frame-options"], "DENY", "https://: X-Frame-Options");
  assert.deepStrictEqual(JSON.parse(https.body), { id_user: "7" }, "https://: body");
  // The same request over http:// through dispatchFetch: redirected, so the scheme decides.
  const plain = await dispatch(`http://gw.example/users/7?x=1`);
  assert.equal(plain.status, 301, "http:// status (200 would be a skipped redirect)");
  assert.equal(plain.headers["strict-transport-security"], undefined, "http://: no Strict-Transport-Security");
  // Following the redirect lands on the answer, not on another redirect.
  const followed = await dispatch(plain.headers.location);
  assert.equal(followed.status, 200, `following ${plain.headers.location}`);
});

test("ssl.json's own limits (max_header_bytes 8192, router.max_payload 1024) on both, before the redirect", async (t) => {
  const cases = [
    ["1025-byte body", { head: "POST /upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 1025\r\n\r\n", length: 1025 }, 413],
    ["1025-byte chunked body", { head: "POST /upload HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n", length: 1025, chunked: true }, 413],
    ["1024-byte body", { head: "POST /upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 1024\r\n\r\n", length: 1024 }, 301],
    ["9000-byte head", { head: headOfSize(9000) }, 431],
    ["7000-byte head", { head: headOfSize(7000) }, 301],
  ];
  for (const [what, request, status] of cases) {
    const a = await both(t, what, request, ssl);
    for (const [name, answer] of Object.entries(a)) {
      assert.equal(answer.status, status, `${what}: ${name} status`);
      assert.deepStrictEqual(answer.calls, [], `${what}: ${name} backend calls`);
    }
  }
  // Within the limit and over https://: served, the whole body at the backend.
  const ok = await dispatch(`https://${SSL_HOST}/upload`, { method: "POST", body: BODY.subarray(0, 1024) });
  assert.equal(ok.status, 200, "1024-byte body over https://");
  assert.equal(ok.body, SINK_OK(1024), "1024-byte body over https://: what the backend received");
});

// ---- WebSocket passthrough (docs/websockets.md): the same echo on both platforms ----------

/** The `ws` client that comes with miniflare (Node 20 has no WebSocket client of its own). */
function wsClient() {
  return createRequire(path.join(need("MANIFOLD_CACHE"), "npm", "package.json"))("ws");
}

/** Open a WebSocket on `target`: `{ ws, messages }` once open, `{ status }` when refused. */
function wsOpen(target, p, headers = {}) {
  const WebSocket = wsClient();
  const url = target.base.replace(/^http/, "ws") + p;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: 10_000 });
    const messages = [];
    const waiting = [];
    ws.on("message", (data, isBinary) => {
      const m = { data, isBinary };
      const next = waiting.shift();
      if (next) next(m);
      else messages.push(m);
    });
    const next = () => new Promise((ok) => (messages.length ? ok(messages.shift()) : waiting.push(ok)));
    ws.once("open", () => resolve({ ws, next }));
    ws.once("unexpected-response", (_req, res) => {
      resolve({ status: res.statusCode });
      res.resume();
      ws.terminate();
    });
    ws.once("error", reject);
  });
}

for (const which of ["native", "worker"]) {
  test(`websocket (${which}): text and binary messages echo both ways; a close comes back with its code`, async () => {
    const { ws, next } = await wsOpen(targets[which], "/ws/echo");
    ws.send("hello through the gateway");
    const text = await next();
    assert.equal(text.isBinary, false);
    assert.equal(text.data.toString(), "hello through the gateway");
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 256));
    ws.send(bytes);
    const binary = await next();
    assert.equal(binary.isBinary, true);
    assert.deepEqual(Buffer.from(binary.data), bytes);
    const closed = new Promise((ok) => ws.once("close", (code, reason) => ok([code, reason.toString()])));
    ws.close(4000, "bye");
    assert.deepEqual(await closed, [4000, "bye"]);
  });

  test(`websocket (${which}): no JWT is 401 and a bad one 401, never a socket; a valid one is upgraded`, async () => {
    assert.deepEqual(await wsOpen(targets[which], "/ws/jwt"), { status: 401 });
    const bad = { Authorization: `Bearer ${tokens.bad_signature}` };
    assert.deepEqual(await wsOpen(targets[which], "/ws/jwt", bad), { status: 401 });
    const good = { Authorization: `Bearer ${tokens.valid}` };
    const { ws, next } = await wsOpen(targets[which], "/ws/jwt", good);
    const seen = JSON.parse((await next()).data.toString());
    assert.equal(seen["x-user"], JSON.parse(Buffer.from(tokens.valid.split(".")[1], "base64url")).sub);
    ws.close(1000);
  });

  test(`websocket (${which}): a foreign Origin is 403, no socket`, async () => {
    assert.deepEqual(await wsOpen(targets[which], "/ws/echo", { Origin: "https://evil.example" }), { status: 403 });
  });
}
