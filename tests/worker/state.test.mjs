// Shared state on Workers (docs/workers.md, "Shared state"): the Worker that
// scripts/worker-e2e.sh built, in workerd (Miniflare) with the Durable Object binding and the
// migration wrangler.toml declares, its Durable Object storage and its Cache API persisted to
// disk as `wrangler dev` keeps them. Worker only: the native server counts these limits in
// Redis (scripts/redis-e2e.sh).
//
//   * concurrent requests to a limit kept in a Durable Object: exactly `max_rate` pass, and
//     the passing ones saw every count from max_rate - 1 down to 0 once (each take atomic);
//   * client buckets: exactly `client_max_rate` per client;
//   * a pool without a binding: the failure policy (503, or served with `on_failure_allow`);
//   * `qos/http-cache` with `shared: true`: the second request is served by the Cache API;
//   * a quota per API key (`strategy: api_key`) in Durable Objects: key A exhausts it with the
//     RateLimit-* headers counting down, key B still passes;
//   * `keys_from` a KV namespace (the binding MANIFOLD_KEYS, seeded here through Miniflare's
//     local KV): a key written at run time is accepted within the cache TTL (polled), has its
//     own quota under its stored id, and is refused again once deleted;
//   * the Worker restarted (new workerd, same storage): the exhausted buckets stay exhausted
//     and the cached answer is served without calling the backend.
//
// Environment (set by scripts/worker-e2e.sh): MANIFOLD_CACHE, MANIFOLD_E2E_MOCK_PORT,
// E2E_WORKER_DIR, E2E_LOG_DIR (the persisted storage goes there), E2E_JWT_K and
// E2E_BACKEND_KEY (the config's run-time secrets).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import crypto from "node:crypto";
import path from "node:path";

import { need, miniflare, wranglerToml } from "./harness.mjs";
import { startMock } from "./mock.mjs";

// The binding exactly as wrangler.toml declares it (checked by the first test).
const binding = wranglerToml.match(/\[\[durable_objects\.bindings\]\]\s*name\s*=\s*"([^"]+)"\s*class_name\s*=\s*"([^"]+)"/);
const persist = fs.mkdtempSync(path.join(need("E2E_LOG_DIR"), "state-"));

let mock;
let mf;
let base;
// The port of the first start, reused by the restart: the gateway sends its own host:port to
// the backend (X-Forwarded-Host), and every header sent is part of the HTTP cache's key.
let port = 0;

/** workerd with the built Worker, the Durable Object binding and the persisted storage. */
async function startWorker() {
  mf = miniflare(need("E2E_WORKER_DIR"), {
    port,
    // The config's run-time secrets (`${env:...}`), as e2e.test.mjs binds them.
    bindings: { E2E_JWT_K: need("E2E_JWT_K"), E2E_BACKEND_KEY: need("E2E_BACKEND_KEY") },
    durableObjects: { [binding[1]]: { className: binding[2], useSQLite: true } },
    durableObjectsPersist: path.join(persist, "do"),
    // API keys (`keys_from.kv_namespace` in tests/worker/gateway.json), local as `wrangler dev`.
    kvNamespaces: ["MANIFOLD_KEYS"],
    kvPersist: path.join(persist, "kv"),
    cachePersist: path.join(persist, "cache"),
  });
  const url = await mf.ready;
  base = url.origin;
  port = Number(url.port);
}

async function get(p, headers = {}) {
  const r = await fetch(new URL(p, base), { headers });
  return { status: r.status, headers: r.headers, body: await r.text() };
}

/** `n` requests at once; their answers. */
function burst(n, p, headers) {
  return Promise.all(Array.from({ length: n }, () => get(p, headers)));
}

/** Requests the mock backends received for `url`. */
function backendCalls(url) {
  return mock.calls.filter((c) => c.url === url).length;
}

function statuses(answers) {
  const out = {};
  for (const a of answers) out[a.status] = (out[a.status] ?? 0) + 1;
  return out;
}

before(async () => {
  mock = await startMock(Number(need("MANIFOLD_E2E_MOCK_PORT")));
  await startWorker();
});

after(async () => {
  await mf?.dispose();
  await mock?.close();
});

test("wrangler.toml binds the Durable Object class and declares its migration", () => {
  assert.ok(binding, "a [[durable_objects.bindings]] entry with name and class_name");
  assert.equal(binding[2], "ManifoldStore");
  assert.match(wranglerToml, /\[\[migrations\]\][^[]*new_sqlite_classes\s*=\s*\[\s*"ManifoldStore"\s*\]/);
});

test("30 concurrent requests to a max_rate 10 limit in a Durable Object: exactly 10 pass", async () => {
  const answers = await burst(30, "/shared/limit");
  assert.deepStrictEqual(statuses(answers), { 200: 10, 503: 20 });
  const left = answers
    .filter((a) => a.status === 200)
    .map((a) => Number(a.headers.get("ratelimit-remaining")))
    .sort((a, b) => a - b);
  assert.deepStrictEqual(left, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "each take saw its own count");
  for (const a of answers.filter((a) => a.status === 503)) {
    assert.ok(a.headers.get("retry-after"), "a refusal by the bucket, not by a store failure");
  }
});

test("client buckets in Durable Objects: exactly client_max_rate per client", async () => {
  const [a, b] = await Promise.all([
    burst(8, "/shared/clients", { "x-client": "a" }),
    burst(8, "/shared/clients", { "x-client": "b" }),
  ]);
  assert.deepStrictEqual(statuses(a), { 200: 3, 429: 5 });
  assert.deepStrictEqual(statuses(b), { 200: 3, 429: 5 });
});

test("a pool without a Durable Object binding: the failure policy", async () => {
  assert.equal((await get("/shared/unbound")).status, 503);
  assert.equal((await get("/shared/unbound-open")).status, 200);
});

test("qos/http-cache with shared: true answers from the Cache API", async () => {
  const first = await get("/shared/cached");
  const second = await get("/shared/cached");
  assert.equal(first.status, 200);
  assert.deepStrictEqual(JSON.parse(second.body), JSON.parse(first.body));
  assert.equal(JSON.parse(first.body).call, 1);
  assert.equal(backendCalls("/counted/cached"), 1, "the backend was called once");
});

const bearer = (key) => ({ authorization: `Bearer ${key}` });

/** Ask until `want` answers, within `ms`: the Worker caches a KV answer for 1 s. */
async function poll(p, headers, want, ms = 6000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await get(p, headers);
    if (last.status === want) return last;
    await new Promise((ok) => setTimeout(ok, 50));
  }
  return last;
}

test("a quota per API key in Durable Objects: key A exhausts it, key B still passes", async () => {
  const a = [];
  for (let i = 0; i < 5; i++) a.push(await get("/shared/quota", bearer("e2e-quota-key-a-31c9")));
  assert.deepStrictEqual(a.map((x) => x.status), [200, 200, 200, 429, 429]);
  assert.deepStrictEqual(a.slice(0, 3).map((x) => x.headers.get("ratelimit-remaining")), ["2", "1", "0"]);
  assert.equal(a[0].headers.get("ratelimit-limit"), "3");
  assert.equal(a[4].headers.get("retry-after"), "1200", "the next token: 1 h / 3");
  const b = await get("/shared/quota", bearer("e2e-quota-key-b-8e02"));
  assert.equal(b.status, 200);
  assert.equal(b.headers.get("ratelimit-remaining"), "2", "key B has its own bucket");
  assert.equal((await get("/shared/quota", bearer("nobody"))).status, 401);
});

test("keys_from a KV namespace: a key written at run time is accepted, deleted it is refused", async () => {
  const key = `e2e-kv-key-${crypto.randomBytes(8).toString("hex")}`;
  const entry = `apikey:${crypto.createHash("sha256").update(key).digest("hex")}`;
  const kv = await mf.getKVNamespace("MANIFOLD_KEYS");
  assert.equal((await get("/shared/keyed", bearer(key))).status, 401, "not yet in KV");
  await kv.put(entry, JSON.stringify({ roles: ["customer"], id: "kv-tenant" }));
  assert.equal((await poll("/shared/keyed", bearer(key), 200)).status, 200, "accepted once written");
  const quota = [];
  for (let i = 0; i < 4; i++) quota.push(await get("/shared/quota", bearer(key)));
  assert.deepStrictEqual(quota.map((x) => x.status), [200, 200, 200, 429], "its own quota");
  assert.equal(quota[0].headers.get("ratelimit-remaining"), "2");
  await kv.put(`apikey:${crypto.createHash("sha256").update("guest-role").digest("hex")}`, JSON.stringify({ roles: ["guest"] }));
  assert.equal((await poll("/shared/keyed", bearer("guest-role"), 403)).status, 403, "a stored key without the role: 403");
  await kv.delete(entry);
  assert.equal((await poll("/shared/keyed", bearer(key), 401)).status, 401, "refused once deleted");
});

test("after a restart of the Worker: buckets still exhausted, the cached answer still served", async () => {
  await mf.dispose();
  await startWorker();
  const limit = await get("/shared/limit");
  assert.equal(limit.status, 503);
  assert.equal(limit.headers.get("ratelimit-remaining"), "0");
  assert.equal((await get("/shared/clients", { "x-client": "a" })).status, 429);
  assert.equal((await get("/shared/clients", { "x-client": "c" })).status, 200, "a new client still gets in");
  const cached = await get("/shared/cached");
  assert.equal(cached.status, 200);
  assert.equal(JSON.parse(cached.body).call, 1);
  assert.equal(backendCalls("/counted/cached"), 1, "served without calling the backend");
});
