// The Worker's token signatures (worker-ports/src/webcrypto.js) against Project Wycheproof's
// vectors, in workerd: the RSA, ECDSA and Ed25519 families of `auth/validator` are verified
// there by WebCrypto, not by the RustCrypto code that tests/wycheproof.rs checks natively. Each
// group's key goes in as the core hands it over (`jose::PlatformKey`: only the members that
// define the key, in that order) and each case must come out as natively: every `valid` case
// verifies, every `invalid` one and the one `acceptable` case (a DigestInfo without its NULL)
// are refused. The counts are asserted, so a change in any outcome fails.
//
// Run through scripts/worker-e2e.sh, which sets MANIFOLD_CACHE and MANIFOLD_TEST_VECTORS (the
// vectors are read from ../shared, never copied).

import { after, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { miniflare } from "./harness.mjs";

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.join(here, "..", "..");
const vectors = path.join(process.env.MANIFOLD_TEST_VECTORS || path.join(root, "..", "shared", "test-vectors"), "wycheproof");

// A Worker that runs the port's `verify` on a batch of cases: [{alg, jwk, msg, sig}] (hex).
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "manifold-webcrypto-"));
fs.copyFileSync(path.join(root, "worker-ports", "src", "webcrypto.js"), path.join(dir, "webcrypto.js"));
fs.writeFileSync(path.join(dir, "index.js"), `
import { verify } from "./webcrypto.js";
const bytes = (hex) => new Uint8Array(hex.match(/../g)?.map((b) => parseInt(b, 16)) ?? []);
export default {
  async fetch(request) {
    const out = [];
    for (const c of await request.json()) out.push(await verify(c.alg, c.jwk, bytes(c.msg), bytes(c.sig)));
    return Response.json(out);
  },
};
`);
const mf = miniflare(dir, {});
after(async () => {
  await mf.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

const b64url = (hex) => Buffer.from(hex, "hex").toString("base64url");

/** The group's key as `jose::PlatformKey` holds it; null when the core refuses it first. */
function platformKey(group, alg) {
  const jwk = group.publicKeyJwk ?? group.keyJwk;
  if (jwk?.kty === "RSA") return JSON.stringify({ kty: "RSA", n: jwk.n, e: jwk.e });
  if (jwk?.kty === "OKP") return JSON.stringify({ kty: "OKP", crv: jwk.crv, x: jwk.x });
  const size = alg === "ES256" ? 32 : 48;
  if (jwk) return JSON.stringify({ kty: "EC", crv: jwk.crv, x: jwk.x, y: jwk.y });
  // The few EC groups without a JWK (edge-case coordinates): built as tests/wycheproof.rs
  // builds them, the coordinates left-padded to the field size; longer ones are refused.
  const coordinate = (hex) => {
    const trimmed = hex.replace(/^(00)+/, "");
    return trimmed.length > 2 * size ? null : b64url(trimmed.padStart(2 * size, "0"));
  };
  const [x, y] = [coordinate(group.publicKey.wx), coordinate(group.publicKey.wy)];
  return x && y ? JSON.stringify({ kty: "EC", crv: alg === "ES256" ? "P-256" : "P-384", x, y }) : null;
}

/** Each case of `file` through the Worker: the tally of outcomes, and any unexpected ones. */
async function run(file, alg) {
  const doc = JSON.parse(fs.readFileSync(path.join(vectors, file), "utf8"));
  const cases = doc.testGroups.flatMap((group) => {
    const jwk = platformKey(group, alg);
    return group.tests.map((t) => ({ alg, jwk, msg: t.msg, sig: t.sig, tc: t.tcId, result: t.result }));
  });
  const asked = cases.filter((c) => c.jwk !== null);
  const res = await fetch((await mf.ready).origin, { method: "POST", body: JSON.stringify(asked) });
  assert.equal(res.status, 200, await res.clone().text());
  const answers = await res.json();
  asked.forEach((c, i) => (c.verified = answers[i]));
  const tally = { valid: 0, invalid: 0, acceptable: 0, unexpected: [] };
  for (const c of cases) {
    const verified = c.verified === true;
    tally[c.result] += 1;
    if (verified !== (c.result === "valid")) tally.unexpected.push(`tcId ${c.tc} (${c.result}): ${verified ? "verified" : "refused"}`);
  }
  return tally;
}

const files = [
  ["ecdsa_secp256r1_sha256_p1363_test.json", "ES256", { valid: 173, invalid: 89, acceptable: 0 }],
  ["ecdsa_secp384r1_sha384_p1363_test.json", "ES384", { valid: 193, invalid: 87, acceptable: 0 }],
  ["rsa_signature_2048_sha256_test.json", "RS256", { valid: 9, invalid: 249, acceptable: 1 }],
  ["rsa_pss_2048_sha256_mgf1_32_test.json", "PS256", { valid: 63, invalid: 45, acceptable: 0 }],
  ["ed25519_test.json", "EdDSA", { valid: 88, invalid: 63, acceptable: 0 }],
];

for (const [file, alg, counts] of files) {
  test(`${alg}: ${file} verifies in workerd as natively`, async () => {
    const tally = await run(file, alg);
    assert.deepEqual(tally, { ...counts, unexpected: [] });
  });
}

test("a key the runtime cannot import verifies nothing", async () => {
  // P-256 coordinates of a point that is not on the curve (x = y = 1).
  const one = b64url("00".repeat(31) + "01");
  const jwk = JSON.stringify({ kty: "EC", crv: "P-256", x: one, y: one });
  const res = await fetch((await mf.ready).origin, {
    method: "POST",
    body: JSON.stringify([{ alg: "ES256", jwk, msg: "00", sig: "01".repeat(64) }, { alg: "RS1", jwk, msg: "", sig: "" }]),
  });
  assert.deepEqual(await res.json(), [false, false]);
});
