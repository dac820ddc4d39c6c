// Secrets at run time on Workers (issue #11 point 8). tests/worker/gateway.json takes its JWT
// key and a backend credential from run-time placeholders (`${env:E2E_JWT_K}`,
// `${env:E2E_BACKEND_KEY}`): the build leaves them in the embedded config and the Worker
// resolves them from its `env` (vars and secrets; Miniflare `bindings` here) at its first
// request. e2e.test.mjs runs every scenario with both bound; this file checks
//   * the built wasm holds the placeholders but not the secrets' bytes, though both were in the
//     build's environment;
//   * a Worker missing one answers 500 naming it and its place in the config, and never shows
//     a value; the same with a key that is not a usable JWK.
// Each for the Worker with the config compiled in (its placeholders read at start through
// `manifold_core::config::compiled_env`) and for the same config decoded at start.
//
// Run through scripts/worker-e2e.sh (after the builds), which sets MANIFOLD_CACHE,
// E2E_WORKER_DIR, E2E_DECODE_WORKER_DIR, E2E_JWT_K and E2E_BACKEND_KEY.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import { need, miniflare } from "./harness.mjs";

const secrets = { E2E_JWT_K: need("E2E_JWT_K"), E2E_BACKEND_KEY: need("E2E_BACKEND_KEY") };
// The same config compiled in (the default: its placeholders read through the compiled
// config's values) and decoded at start (MANIFOLD_WORKER_DECODE=1).
const builds = { "compiled in": need("E2E_WORKER_DIR"), "decoded at start": need("E2E_DECODE_WORKER_DIR") };
const running = [];

after(async () => {
  await Promise.all(running.map((mf) => mf.dispose()));
});

/** The Worker built in `dir`, in workerd with these bindings; its origin. */
async function worker(dir, bindings) {
  const mf = miniflare(dir, { bindings });
  running.push(mf);
  return (await mf.ready).origin;
}

for (const [build, dir] of Object.entries(builds)) {
  test(`${build}: the wasm holds the placeholders, not the secrets`, () => {
    const wasm = fs.readdirSync(dir).filter((f) => f.endsWith(".wasm")).map((f) => fs.readFileSync(path.join(dir, f)));
    assert.equal(wasm.length, 1, `one .wasm in ${dir}`);
    for (const [name, value] of Object.entries(secrets)) {
      assert.ok(wasm[0].includes(`\${env:${name}}`), `the placeholder \${env:${name}} is not in the wasm: wrong build?`);
      assert.equal(wasm[0].includes(value), false, `the value of ${name} is in the wasm`);
    }
  });

  test(`${build}: a missing secret: 500 naming it, every request, no value shown`, async () => {
    const origin = await worker(dir, { E2E_BACKEND_KEY: secrets.E2E_BACKEND_KEY });
    for (const target of ["/users/1", "/__health"]) {
      const res = await fetch(origin + target);
      const body = await res.text();
      assert.equal(res.status, 500, `${target}: ${body}`);
      assert.match(body, /manifold: cannot start: .*\n.* \d+:\d+: run-time variable `E2E_JWT_K` is not set/, body);
      assert.equal(body.includes(secrets.E2E_BACKEND_KEY), false, body);
    }
  });

  test(`${build}: an unusable key: 500 at the key, the value not shown`, async () => {
    const bad = "this-is-no-jwk-key!";
    const origin = await worker(dir, { E2E_JWT_K: bad, E2E_BACKEND_KEY: secrets.E2E_BACKEND_KEY });
    const res = await fetch(origin + "/users/1");
    const body = await res.text();
    assert.equal(res.status, 500, body);
    assert.match(body, /jwk_keys/, body);
    assert.equal(body.includes(bad) || body.includes(secrets.E2E_BACKEND_KEY), false, body);
  });
}
