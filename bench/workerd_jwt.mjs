// workerd's CPU per request for `auth/validator` tokens of each signature family, on one or more
// builds of the every-capability Worker (tests/worker/gateway.json, `/signed/<alg>`; `/__health`
// as the baseline without a token). Each build is served by Miniflare in turn, with the e2e
// mock backends on 127.0.0.1:18081 (so build with MANIFOLD_E2E_MOCK_PORT=18081, as below);
// after 100 warm-up requests, N sequential requests per route, and the CPU of the workerd
// process (every thread's /proc schedstat) over them. Rounds alternate the builds.
//
//   MANIFOLD_E2E_MOCK_PORT=18081 MANIFOLD_E2E_REFUSED_PORT=18082 MANIFOLD_E2E_WS_PORT=18083 \
//     MANIFOLD_CONFIG=tests/worker/gateway.json MANIFOLD_WORKER_FEATURES=all CI=true \
//     wrangler deploy --dry-run --outdir DIR
//   MANIFOLD_CACHE=~/.cache/manifold node bench/workerd_jwt.mjs NAME=DIR [NAME=DIR ...] [--n 600] [--rounds 3]
//
// Tokens are signed here with the test-only keys of tests/scenarios/jwt/keys.json.
import fs from "node:fs";
import crypto from "node:crypto";
import path from "node:path";

import { miniflare } from "../tests/worker/harness.mjs";
import { startMock } from "../tests/worker/mock.mjs";

const root = path.join(path.dirname(new URL(import.meta.url).pathname), "..");
const keys = JSON.parse(fs.readFileSync(path.join(root, "tests/scenarios/jwt/keys.json"), "utf8"));
const hmacKey = JSON.parse(fs.readFileSync(path.join(root, "tests/e2e-jwt/tokens.json"), "utf8")).jwk.k;
const b64url = (d) => Buffer.from(d).toString("base64url");

const KEY = { RS256: "rsa", PS256: "rsa", ES256: "p256", ES384: "p384", EdDSA: "ed25519" };

function sign(alg) {
  const claims = { sub: "u", exp: 4102444800 };
  const input = `${b64url(JSON.stringify({ alg, kid: "k1", typ: "JWT" }))}.${b64url(JSON.stringify(claims))}`;
  const key = crypto.createPrivateKey(keys[KEY[alg]]);
  const data = Buffer.from(input);
  const pss = { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
  const sig = {
    RS256: () => crypto.sign("sha256", data, key),
    PS256: () => crypto.sign("sha256", data, pss),
    ES256: () => crypto.sign("sha256", data, { key, dsaEncoding: "ieee-p1363" }),
    ES384: () => crypto.sign("sha384", data, { key, dsaEncoding: "ieee-p1363" }),
    EdDSA: () => crypto.sign(null, data, key),
  }[alg]();
  return `${input}.${b64url(sig)}`;
}

/** CPU time of process `pid` in ns, all threads. */
function cpu(pid) {
  let ns = 0;
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    ns += Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
  }
  return ns;
}

function workerdPids() {
  return fs.readdirSync("/proc").filter((p) => {
    try {
      return /^\d+$/.test(p) && fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes("workerd");
    } catch {
      return false;
    }
  });
}

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i < 0 ? fallback : Number(args.splice(i, 2)[1]);
};
const n = option("--n", 600);
const rounds = option("--rounds", 3);
const builds = args.map((a) => a.split("="));
const routes = [["none", "/__health", {}], ...Object.keys(KEY).map((alg) => [alg, `/signed/${alg.toLowerCase()}`, { Authorization: `Bearer ${sign(alg)}` }])];

const mock = await startMock(18081);
const results = {};
for (let r = 0; r < rounds; r++) {
  for (const [name, dir] of builds) {
    const running = new Set(workerdPids());
    const mf = miniflare(dir, { bindings: { E2E_JWT_K: hmacKey, E2E_BACKEND_KEY: "bench" } });
    const origin = (await mf.ready).origin;
    const pid = workerdPids().find((p) => !running.has(p));
    for (const [alg, route, headers] of routes) {
      const once = async () => {
        const res = await fetch(origin + route, { headers });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${name} ${route}: ${res.status}`);
      };
      for (let i = 0; i < 100; i++) await once();
      const start = cpu(pid);
      for (let i = 0; i < n; i++) await once();
      (results[`${alg} ${name}`] ??= []).push((cpu(pid) - start) / n / 1000);
    }
    await mf.dispose();
  }
}
await mock.close();
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
console.log(`| route | build | workerd CPU µs per request (rounds) | median |\n|---|---|---|---|`);
for (const [alg] of routes) {
  for (const [name] of builds) {
    const v = results[`${alg} ${name}`];
    console.log(`| ${alg === "none" ? "/__health" : alg} | ${name} | ${v.map((x) => x.toFixed(1)).join(" / ")} | ${median(v).toFixed(1)} |`);
  }
}
