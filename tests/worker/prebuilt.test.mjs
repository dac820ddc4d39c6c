// A config compiled into the Worker (issue #15 point 5; manifold_core::config::bake). The demo
// config has no run-time placeholder, so its per-config build carries the config as code and
// no decoder. This file serves that build in workerd and checks
//   * the module has no decoder (a message only the decoder writes is not in it, while the
//     every-capability config built with MANIFOLD_WORKER_DECODE=1, which decodes it at start,
//     has it); nor has the every-capability Worker, its `${env:…}` placeholders compiled in;
//   * it answers the demo's front page as the decoder-built gateway does (four backends
//     trimmed and merged; the same text as the native `manifold run` of the same config,
//     checked in the scenarios of e2e.test.mjs for the decoding Workers);
//   * a `MANIFOLD_*` override set on the Worker, which a compiled config cannot apply, fails
//     every request with a 500 naming it, instead of being ignored.
//
// Run through scripts/worker-e2e.sh (after the builds), which sets MANIFOLD_CACHE,
// E2E_DEMO_WORKER_DIR, E2E_WORKER_DIR and E2E_DECODE_WORKER_DIR.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import { need, miniflare } from "./harness.mjs";

const running = [];
after(async () => {
  await Promise.all(running.map((mf) => mf.dispose()));
});

/** The one .wasm module of wrangler's output `dir`. */
function wasmOf(dir) {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".wasm"));
  assert.equal(files.length, 1, `one .wasm in ${dir}`);
  return fs.readFileSync(path.join(dir, files[0]));
}

/** The demo's four backends, as the Worker's outbound `fetch` reaches them. */
const backends = {
  "http://api.store.server/products": { data: { items: [{ id: 1, name: "lamp" }], facets: ["x"] } },
  "http://api.store.server/marketing-promos": [{ code: "SPRING" }],
  "http://api.users.server/users/7": { id_user: 7, first_name: "Ada", password_hash: "no", address: { city: "Oslo", street: "no" } },
  "http://api.users.server/shopping-cart/7": { items: 2, session: "no", totals: { sum: 10, tax_breakdown: "no" } },
};

/** The demo Worker in workerd with these bindings; its origin. */
async function demo(bindings = {}) {
  const outboundService = (request) => {
    const body = backends[request.url];
    return body === undefined
      ? new Response("not found", { status: 404 })
      : Response.json(body);
  };
  const mf = miniflare(need("E2E_DEMO_WORKER_DIR"), { bindings, outboundService });
  running.push(mf);
  return (await mf.ready).origin;
}

test("the compiled-in config leaves the decoder out of the module", () => {
  const decoderOnly = "must be 3 (KrakenD v3 format)";
  assert.ok(wasmOf(need("E2E_DECODE_WORKER_DIR")).includes(decoderOnly), "the decoding Worker has the decoder's message");
  assert.ok(!wasmOf(need("E2E_DEMO_WORKER_DIR")).includes(decoderOnly), "the demo Worker has no decoder");
  assert.ok(!wasmOf(need("E2E_WORKER_DIR")).includes(decoderOnly), "the every-capability Worker (placeholders and all) has no decoder");
});

test("the demo Worker answers the front page from its compiled-in config", async () => {
  const origin = await demo();
  const response = await fetch(`${origin}/frontpage/7`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("x-krakend-completed"), "true");
  assert.deepEqual(await response.json(), {
    products: [{ id: 1, name: "lamp" }],
    promos: [{ code: "SPRING" }],
    user: { id_user: 7, first_name: "Ada", address: { city: "Oslo" } },
    cart: { items: 2, totals: { sum: 10 } },
  });
  const missing = await fetch(`${origin}/nope`);
  assert.equal(missing.status, 404);
  await missing.arrayBuffer();
});

test("an override the compiled-in config cannot apply fails closed, naming it", async () => {
  const response = await fetch(`${await demo({ MANIFOLD_TIMEOUT: "5s" })}/frontpage/7`);
  assert.equal(response.status, 500);
  const text = await response.text();
  assert.match(text, /MANIFOLD_TIMEOUT is set/);
  assert.match(text, /MANIFOLD_WORKER_DECODE=1/);
});
