// JWS signature verification with WebCrypto, for worker-ports/src/signatures.rs: the RSA,
// ECDSA and Ed25519 families of `auth/validator` verified by the runtime (BoringSSL) instead of
// RustCrypto code compiled into the Worker. The core has already checked the token's header,
// chosen the key and rebuilt its JWK (`jose::PlatformKey`); this only answers whether the
// signature verifies. tests/worker/webcrypto.test.mjs runs the Wycheproof vectors through it
// in workerd.

// JWS algorithm -> [importKey parameters, verify parameters] (RFC 7518 §3, RFC 8037).
const HASH = { 256: "SHA-256", 384: "SHA-384", 512: "SHA-512" };
function parameters(alg) {
  const bits = alg.slice(2);
  const hash = HASH[bits];
  switch (alg.slice(0, 2)) {
    case "RS":
      return hash && [{ name: "RSASSA-PKCS1-v1_5", hash }, { name: "RSASSA-PKCS1-v1_5" }];
    // The salt is as long as the hash (RFC 7518 §3.5).
    case "PS":
      return hash && [{ name: "RSA-PSS", hash }, { name: "RSA-PSS", saltLength: bits / 8 }];
    case "ES":
      if (alg === "ES256") return [{ name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash }];
      if (alg === "ES384") return [{ name: "ECDSA", namedCurve: "P-384" }, { name: "ECDSA", hash }];
      return undefined;
    case "Ed":
      return alg === "EdDSA" ? [{ name: "Ed25519" }, { name: "Ed25519" }] : undefined;
  }
  return undefined;
}

// Imported keys by algorithm and JWK text, per isolate: a key is imported once, not per
// token. Bounded: the keys come from the config or its JWK set, and a set that keeps rotating
// only ever costs a re-import.
const IMPORTED = new Map();
const MAX_IMPORTED = 64;

// Resolves to whether `signature` is `alg`'s signature of `input` under the public key `jwk`
// (a JWK's JSON text); false for a key the runtime refuses (a point off its curve) and for
// anything else that fails.
export function verify(alg, jwk, input, signature) {
  // Copies: the arguments are views of the wasm memory, which may change before the key's
  // import settles.
  const data = input.slice();
  const sig = signature.slice();
  const p = parameters(alg);
  if (p === undefined) return Promise.resolve(false);
  const id = alg + " " + jwk;
  let key = IMPORTED.get(id);
  if (key === undefined) {
    if (IMPORTED.size >= MAX_IMPORTED) IMPORTED.clear();
    key = crypto.subtle.importKey("jwk", JSON.parse(jwk), p[0], false, ["verify"]).catch(() => null);
    IMPORTED.set(id, key);
  }
  return key
    .then((k) => (k === null ? false : crypto.subtle.verify(p[1], k, sig, data)))
    .then((ok) => ok === true, () => false);
}
