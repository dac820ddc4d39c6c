// `auth/validator`'s RSA, ECDSA and Ed25519 tokens on the built Worker (tests/worker/gateway.json,
// `/signed/<alg>`): the Worker verifies them with WebCrypto through worker-ports' `WebCrypto`
// port (its Wycheproof run is webcrypto.test.mjs). Tokens are signed here, with Node's crypto,
// by the test-only keys of tests/scenarios/jwt/keys.json, whose public halves the config holds
// inline (and the mock serves as a JWK set for `jwk_url`, `/signed/es384-url`). A valid token
// reaches the backend with its claim in the URL; a changed signature, a
// token of another key and a token of another algorithm are 401 and reach nothing.
//
// Run through scripts/worker-e2e.sh (after the build), which sets MANIFOLD_CACHE,
// E2E_WORKER_DIR, E2E_JWT_K, E2E_BACKEND_KEY and MANIFOLD_E2E_MOCK_PORT.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

import { need, miniflare } from "./harness.mjs";
import { startMock } from "./mock.mjs";

const here = path.dirname(new URL(import.meta.url).pathname);
const keys = JSON.parse(fs.readFileSync(path.join(here, "..", "scenarios", "jwt", "keys.json"), "utf8"));

let mock;
let mf;
let origin;

before(async () => {
  mock = await startMock(Number(need("MANIFOLD_E2E_MOCK_PORT")));
  const bindings = { E2E_JWT_K: need("E2E_JWT_K"), E2E_BACKEND_KEY: need("E2E_BACKEND_KEY") };
  mf = miniflare(need("E2E_WORKER_DIR"), { bindings });
  origin = (await mf.ready).origin;
});

after(async () => {
  await mf?.dispose();
  await mock?.close();
});

const b64url = (data) => Buffer.from(data).toString("base64url");

/** A compact JWS of `alg` over `claims`, signed with the test key `name` (kid `k1`). */
function sign(alg, name, claims) {
  const input = `${b64url(JSON.stringify({ alg, kid: "k1", typ: "JWT" }))}.${b64url(JSON.stringify(claims))}`;
  const key = crypto.createPrivateKey(keys[name]);
  const data = Buffer.from(input);
  const signature = {
    RS256: () => crypto.sign("sha256", data, key),
    PS256: () => crypto.sign("sha256", data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }),
    ES256: () => crypto.sign("sha256", data, { key, dsaEncoding: "ieee-p1363" }),
    ES384: () => crypto.sign("sha384", data, { key, dsaEncoding: "ieee-p1363" }),
    EdDSA: () => crypto.sign(null, data, key),
  }[alg]();
  return `${input}.${b64url(signature)}`;
}

const KEY = { RS256: "rsa", PS256: "rsa", ES256: "p256", ES384: "p384", EdDSA: "ed25519" };
const EXP = 4102444800; // 2100-01-01

async function call(alg, token) {
  const res = await fetch(`${origin}/signed/${alg.toLowerCase()}`, { headers: { Authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.text() };
}

for (const alg of Object.keys(KEY)) {
  test(`${alg}: a valid token passes with its claims, a changed one does not`, async () => {
    const sub = `user-${alg.toLowerCase()}`;
    const token = sign(alg, KEY[alg], { sub, exp: EXP });
    const ok = await call(alg, token);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(JSON.parse(ok.body).target, `/echo/signed/${sub}`);
    // The same signature over other claims; the last signature byte changed.
    const [header, , sig] = token.split(".");
    const other = `${header}.${b64url(JSON.stringify({ sub: "admin", exp: EXP }))}.${sig}`;
    const bytes = Buffer.from(sig, "base64url");
    bytes[bytes.length - 1] ^= 1;
    const flipped = `${token.slice(0, token.lastIndexOf(".") + 1)}${b64url(bytes)}`;
    const before = mock.calls.length;
    for (const bad of [other, flipped]) {
      const res = await call(alg, bad);
      assert.equal(res.status, 401, res.body);
      assert.equal(res.body, "");
    }
    assert.equal(mock.calls.length, before, "a refused token reached the backend");
  });
}

test("ES384 with the key fetched from jwk_url: verified by WebCrypto too", async () => {
  const token = sign("ES384", "p384", { sub: "fetched", exp: EXP });
  const res = await fetch(`${origin}/signed/es384-url`, { headers: { Authorization: `Bearer ${token}` } });
  const body = await res.text();
  assert.equal(res.status, 200, body);
  assert.equal(JSON.parse(body).target, "/echo/signed/fetched");
  assert.ok(mock.calls.some((c) => c.url === "/jwks/p384"), "the JWK set was not fetched");
  const other = sign("ES384", "p384", { sub: "fetched", exp: EXP }).replace(/\.[^.]+$/, `.${b64url(Buffer.alloc(96, 1))}`);
  const refused = await fetch(`${origin}/signed/es384-url`, { headers: { Authorization: `Bearer ${other}` } });
  assert.equal(refused.status, 401);
});

test("a token of another key or another algorithm is 401", async () => {
  const claims = { sub: "mallory", exp: EXP };
  for (const [alg, token] of [
    ["RS256", sign("RS256", "rsa_attacker", claims)],
    ["PS256", sign("RS256", "rsa", claims)],
    ["ES384", sign("ES256", "p256", claims)],
    ["RS256", sign("PS256", "rsa", claims)],
  ]) {
    const res = await call(alg, token);
    assert.equal(res.status, 401, `${alg}: ${res.body}`);
  }
});
