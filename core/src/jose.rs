//! JSON Web Signatures (RFC 7515/7518) for `auth/validator` and `auth/signer`, on pure-Rust
//! RustCrypto crates so the same code runs natively, on Lambda and on wasm32.
//!
//! The algorithm always comes from the config, never from the token: a key set is loaded for
//! one [`Alg`], keys of another type are dropped while loading, and a token whose header names
//! another algorithm is refused before any key is looked at (RFC 8725 §3.1).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
#[cfg(feature = "jwt-rsa")]
use sha2::Digest;
use sha2::{Sha256, Sha384, Sha512};

use crate::json::{self, Map, Value};

/// Longest token accepted; longer ones are refused before any decoding (bounded memory).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Smallest RSA modulus accepted, in bits (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (the `rsa` crate's default bound, kept by keys the
/// platform verifies so both paths take the same keys).
pub const MAX_RSA_BITS: usize = 4096;

/// A JWS algorithm this build verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms)]
pub enum Alg {
    /// HMAC SHA-256.
    HS256,
    /// HMAC SHA-384.
    HS384,
    /// HMAC SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 SHA-512.
    RS512,
    /// RSASSA-PSS SHA-256.
    PS256,
    /// RSASSA-PSS SHA-384.
    PS384,
    /// RSASSA-PSS SHA-512.
    PS512,
    /// ECDSA P-256 SHA-256.
    ES256,
    /// ECDSA P-384 SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

/// Public (or, for HMAC, shared) key material bound to one algorithm family.
#[derive(Clone)]
pub(crate) enum Key {
    Hmac(Vec<u8>),
    // The asymmetric families are cargo features (config::capability): a config that needs one
    // a build left out is refused at load; here its keys are simply never usable.
    #[cfg(feature = "jwt-rsa")]
    Rsa(Box<rsa::RsaPublicKey>),
    #[cfg(feature = "jwt-es256")]
    P256(p256::ecdsa::VerifyingKey),
    #[cfg(feature = "jwt-es384")]
    P384(p384::ecdsa::VerifyingKey),
    #[cfg(feature = "jwt-eddsa")]
    Ed25519(ed25519_dalek::VerifyingKey),
    // A family whose crate this build leaves out, verified by the platform's port instead
    // (`jwt-platform`: the Worker's WebCrypto).
    #[cfg(feature = "jwt-platform")]
    Platform(PlatformKey),
}

/// A public key that the platform's [`crate::platform::Signatures`] port verifies with: its
/// JWK rebuilt from the decoded members that define the key (`kty`, `crv`, `x`, `y`, `n`,
/// `e`), after the checks this module makes of every key (lengths, RSA size and exponent,
/// ROCA). The port imports it, and refuses what it cannot import (a point off its curve).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PlatformKey(pub std::sync::Arc<str>);

/// One usable key of a set.
#[derive(Clone)]
pub(crate) struct Jwk {
    pub(crate) kid: Option<String>,
    pub(crate) key: Key,
}

/// The keys of a JWK set usable with one algorithm.
#[derive(Clone, Default)]
pub struct KeySet {
    pub(crate) keys: Vec<Jwk>,
    /// A config's own set (`jwk_keys`, `jwk_local_path`): the algorithm and document it was
    /// parsed from, which a config compiled in writes (`config::bake`) to parse again at start.
    source: Option<(Alg, std::sync::Arc<str>)>,
}

/// A structurally valid compact JWS, not yet verified.
#[derive(Debug)]
pub(crate) struct Token<'a> {
    pub(crate) header: Map,
    payload: Vec<u8>,
    signing_input: &'a [u8],
    signature: Vec<u8>,
}

/// A compact JWS whose signature checked out under the configured algorithm.
#[derive(Debug)]
pub struct Verified {
    /// The protected header.
    pub header: Map,
    /// The payload, base64url-decoded; for a JWT, its claims set (a JSON object is checked
    /// by the caller).
    pub payload: Vec<u8>,
}

/// Why a compact JWS was refused. Clients never see it (they get an empty 401); it is for
/// tests and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not three base64url segments, a header that is not a JSON object, or oversized.
    Malformed,
    /// The header's `alg` is not the configured algorithm (`none`, HS256 with an RSA key...).
    Algorithm,
    /// The header has `crit`: no extension is understood, so none may be required
    /// (RFC 7515 §4.1.11).
    Critical,
    /// A `kid` that is not a string.
    KeyId,
    /// No usable key for this `kid`, or several keys and no `kid`.
    NoKey,
    /// The signature does not verify.
    Signature,
}

/// Verify a compact JWS the way `auth/validator` does before it reads any claim: the
/// header's `alg` must be `alg`, no `crit`, the key chosen by `kid` from `keys`, and the
/// signature checked over the exact signing input.
pub fn verify_compact(token: &str, alg: Alg, keys: &KeySet) -> Result<Verified, Refused> {
    let token = Token::decode(token).ok_or(Refused::Malformed)?;
    let kid = token.accept(alg)?;
    let key = keys.select(kid).ok_or(Refused::NoKey)?;
    token.verify_with(alg, key)
}

// === impl Alg ===

impl Alg {
    /// Every algorithm this build verifies, in declaration order.
    pub const ALL: [Alg; 12] = [
        Alg::HS256,
        Alg::HS384,
        Alg::HS512,
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::EdDSA,
    ];

    /// The algorithm named `name` (exact JOSE spelling).
    pub fn parse(name: &str) -> Option<Alg> {
        Some(match name {
            "HS256" => Alg::HS256,
            "HS384" => Alg::HS384,
            "HS512" => Alg::HS512,
            "RS256" => Alg::RS256,
            "RS384" => Alg::RS384,
            "RS512" => Alg::RS512,
            "PS256" => Alg::PS256,
            "PS384" => Alg::PS384,
            "PS512" => Alg::PS512,
            "ES256" => Alg::ES256,
            "ES384" => Alg::ES384,
            "EdDSA" => Alg::EdDSA,
            _ => return None,
        })
    }

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// An HMAC algorithm (the only ones `auth/signer` can sign with).
    pub fn is_hmac(self) -> bool {
        matches!(self, Alg::HS256 | Alg::HS384 | Alg::HS512)
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str(match self {
            Key::Hmac(_) => "Key::Hmac",
            #[cfg(feature = "jwt-rsa")]
            Key::Rsa(_) => "Key::Rsa",
            #[cfg(feature = "jwt-es256")]
            Key::P256(_) => "Key::P256",
            #[cfg(feature = "jwt-es384")]
            Key::P384(_) => "Key::P384",
            #[cfg(feature = "jwt-eddsa")]
            Key::Ed25519(_) => "Key::Ed25519",
            #[cfg(feature = "jwt-platform")]
            Key::Platform(_) => "Key::Platform",
        })
    }
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("key", &self.key)
            .finish()
    }
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("keys", &self.keys.len())
            // The document may hold secrets (HMAC keys): its algorithm and length only.
            .field(
                "source",
                &self.source().map(|(alg, text)| (alg, text.len())),
            )
            .finish()
    }
}

// === impl KeySet ===

impl KeySet {
    /// The keys of a JWK set document (`{"keys":[...]}`, or one bare JWK) usable with `alg`.
    /// Keys of another type, curve or declared `alg`, or not for signatures, are skipped; an
    /// unreadable document is an error.
    pub fn parse(document: &[u8], alg: Alg) -> Result<KeySet, String> {
        let doc = json::parse(document).map_err(|e| format!("invalid JWK set: {e}"))?;
        let Value::Object(obj) = doc else {
            return Err("invalid JWK set: not a JSON object".into());
        };
        let entries: Vec<&Map> = match obj.get("keys") {
            Some(Value::Array(keys)) => keys.iter().filter_map(Value::as_object).collect(),
            Some(_) => return Err("invalid JWK set: `keys` is not an array".into()),
            None if obj.contains_key("kty") => vec![&obj],
            None => return Err("invalid JWK set: no `keys`".into()),
        };
        // Two keys of one type under one `kid` make the id ambiguous (RFC 7517 §4.5 allows a
        // shared id only across key types): neither is used, even if one is malformed
        // (Wycheproof JWK tcId 4).
        fn id(k: &Map) -> (Option<&str>, Option<&str>) {
            let s = |name| k.get(name).and_then(Value::as_str);
            (s("kid"), s("kty"))
        }
        let ambiguous =
            |k: &Map| id(k).0.is_some() && entries.iter().filter(|o| id(o) == id(k)).count() > 1;
        let keys = entries
            .iter()
            .filter(|k| !ambiguous(k))
            .filter_map(|k| jwk(k, alg))
            .collect();
        Ok(KeySet { keys, source: None })
    }

    /// This set, with the document it was parsed from for `alg` kept (see [`KeySet::baked`]).
    pub(crate) fn with_source(mut self, alg: Alg, document: &str) -> KeySet {
        self.source = Some((alg, document.into()));
        self
    }

    /// The algorithm and document a config's own set was parsed from (public for the test
    /// that compares configs compiled in with decoded ones; `Debug` does not show it).
    #[doc(hidden)]
    pub fn source(&self) -> Option<(Alg, &str)> {
        self.source.as_ref().map(|(alg, text)| (*alg, &**text))
    }

    /// A config's own set compiled into a Worker (`config::bake`): `document` parsed for `alg`
    /// at start, as the build parsed it; an error when no key is usable then.
    #[doc(hidden)]
    pub fn baked(document: &str, alg: Alg) -> Result<KeySet, String> {
        let set = KeySet::parse(document.as_bytes(), alg)?;
        if set.is_empty() {
            return Err(format!(
                "no key in a compiled-in `jwk_keys` (or `jwk_local_path`) set is usable with {}",
                alg.as_str()
            ));
        }
        Ok(set.with_source(alg, document))
    }

    /// Whether no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verify a raw `signature` over `input` with the key `kid` selects (see
    /// [`KeySet::select`]): the primitive under [`verify_compact`].
    pub fn verify(&self, alg: Alg, kid: Option<&str>, input: &[u8], signature: &[u8]) -> bool {
        self.select(kid)
            .is_some_and(|key| verify(alg, key, input, signature))
    }

    /// Whether a key with this `kid` is present.
    pub(crate) fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The key a token with this `kid` header must be verified with: the one key with that
    /// id; without a `kid`, the only key of the set. Never a guess among several: an id that
    /// several keys share selects none (Wycheproof JWK tcId 4).
    pub(crate) fn select(&self, kid: Option<&str>) -> Option<&Key> {
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| kid.is_none_or(|id| k.kid.as_deref() == Some(id)));
        match (candidates.next(), candidates.next()) {
            (Some(only), None) => Some(&only.key),
            _ => None,
        }
    }
}

fn b64(v: Option<&Value>) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(v?.as_str()?.trim_end_matches('='))
        .ok()
}

/// Moduli made by Infineon's RSALib (ROCA, CVE-2017-15361) can be factored. They carry a
/// fingerprint: for each prime below 168, N mod p lies in the subgroup that 65537 generates
/// modulo p (the test of the ROCA authors' detector; a random modulus passes it with
/// negligible probability).
#[cfg_attr(not(feature = "jwt-rsa"), allow(dead_code))]
fn roca_fingerprint(n: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let residue = n.iter().fold(0, |r, &b| (r * 256 + u32::from(b)) % p);
        let generator = 65537 % p;
        let mut power = 1;
        loop {
            if power == residue {
                return true;
            }
            power = power * generator % p;
            if power == 1 {
                return false;
            }
        }
    })
}

/// Shortest HMAC key for `alg`: the hash's output size (RFC 7518 §3.2, a MUST).
fn min_hmac_key(alg: Alg) -> usize {
    match alg {
        Alg::HS384 => 48,
        Alg::HS512 => 64,
        _ => 32,
    }
}

/// One JWK as a key for `alg`, or `None` when it does not fit.
fn jwk(k: &Map, alg: Alg) -> Option<Jwk> {
    let s = |name: &str| k.get(name).and_then(Value::as_str);
    if s("use").is_some_and(|u| u != "sig") {
        return None;
    }
    // `key_ops` present: it must allow verifying (RFC 7517 §4.3).
    if let Some(ops) = k.get("key_ops") {
        let Value::Array(ops) = ops else { return None };
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return None;
        }
    }
    // A key declaring an algorithm is bound to it (no HS256 use of an A128KW key).
    if s("alg").is_some_and(|a| a != alg.as_str()) {
        return None;
    }
    let kty = s("kty")?;
    let key = match alg {
        Alg::HS256 | Alg::HS384 | Alg::HS512 if kty == "oct" => {
            let secret = b64(k.get("k"))?;
            if secret.len() < min_hmac_key(alg) {
                return None;
            }
            Key::Hmac(secret)
        }
        #[cfg(feature = "jwt-rsa")]
        Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512
            if kty == "RSA" =>
        {
            let n = b64(k.get("n"))?;
            if roca_fingerprint(&n) {
                return None;
            }
            let n = rsa::BigUint::from_bytes_be(&n);
            let e = rsa::BigUint::from_bytes_be(&b64(k.get("e"))?);
            let key = rsa::RsaPublicKey::new(n, e).ok()?;
            if rsa::traits::PublicKeyParts::size(&key) * 8 < MIN_RSA_BITS {
                return None;
            }
            Key::Rsa(Box::new(key))
        }
        #[cfg(feature = "jwt-es256")]
        Alg::ES256 if kty == "EC" && s("crv") == Some("P-256") => {
            let (x, y) = (b64(k.get("x"))?, b64(k.get("y"))?);
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            let point = p256::EncodedPoint::from_affine_coordinates(
                x.as_slice().into(),
                y.as_slice().into(),
                false,
            );
            Key::P256(p256::ecdsa::VerifyingKey::from_encoded_point(&point).ok()?)
        }
        #[cfg(feature = "jwt-es384")]
        Alg::ES384 if kty == "EC" && s("crv") == Some("P-384") => {
            let (x, y) = (b64(k.get("x"))?, b64(k.get("y"))?);
            if x.len() != 48 || y.len() != 48 {
                return None;
            }
            let point = p384::EncodedPoint::from_affine_coordinates(
                x.as_slice().into(),
                y.as_slice().into(),
                false,
            );
            Key::P384(p384::ecdsa::VerifyingKey::from_encoded_point(&point).ok()?)
        }
        #[cfg(feature = "jwt-eddsa")]
        Alg::EdDSA if kty == "OKP" && s("crv") == Some("Ed25519") => {
            let x: [u8; 32] = b64(k.get("x"))?.try_into().ok()?;
            Key::Ed25519(ed25519_dalek::VerifyingKey::from_bytes(&x).ok()?)
        }
        // Reached only for a family whose crate is not in this build (its arm above matches
        // first when it is).
        #[cfg(feature = "jwt-platform")]
        _ => Key::Platform(platform_key(k, alg, kty)?),
        #[cfg(not(feature = "jwt-platform"))]
        _ => return None,
    };
    Some(Jwk {
        kid: s("kid").map(str::to_owned),
        key,
    })
}

/// `k` as a [`PlatformKey`] for `alg`, with the checks the RustCrypto arms of [`jwk`] make
/// before a key is usable: exact coordinate lengths, and for RSA the ROCA fingerprint, a
/// modulus of 2048 to 4096 bits and an odd exponent from 3 to 2^33 - 1 (the `rsa` crate's
/// bounds).
#[cfg(feature = "jwt-platform")]
fn platform_key(k: &Map, alg: Alg, kty: &str) -> Option<PlatformKey> {
    let s = |name: &str| k.get(name).and_then(Value::as_str);
    let member =
        |name: &str, bytes: &[u8]| format!(r#","{name}":"{}""#, URL_SAFE_NO_PAD.encode(bytes));
    let curve = |crv: &str, len: usize| -> Option<String> {
        let (x, y) = (b64(k.get("x"))?, b64(k.get("y"))?);
        (x.len() == len && y.len() == len).then(|| {
            format!(
                r#"{{"kty":"EC","crv":"{crv}"{}{}}}"#,
                member("x", &x),
                member("y", &y)
            )
        })
    };
    let jwk = match alg {
        Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512
            if kty == "RSA" =>
        {
            let n = b64(k.get("n"))?;
            let n = &n[n.iter().position(|&b| b != 0)?..];
            let e = b64(k.get("e"))?;
            let e = &e[e.iter().position(|&b| b != 0)?..];
            let bits = n.len() * 8 - n.first()?.leading_zeros() as usize;
            let exponent = e
                .iter()
                .try_fold(0u64, |v, &b| v.checked_mul(256).map(|v| v + u64::from(b)));
            // As `RsaPublicKey::new` and the size check of the RustCrypto arm: whole bytes
            // against the minimum, bits against the maximum, both numbers odd.
            let odd = |v: &[u8]| v.last().is_some_and(|b| b & 1 == 1);
            if roca_fingerprint(n)
                || n.len() * 8 < MIN_RSA_BITS
                || bits > MAX_RSA_BITS
                || !(odd(n) && odd(e))
                || !exponent.is_some_and(|e| (2..1 << 33).contains(&e))
            {
                return None;
            }
            format!(r#"{{"kty":"RSA"{}{}}}"#, member("n", n), member("e", e))
        }
        Alg::ES256 if kty == "EC" && s("crv") == Some("P-256") => curve("P-256", 32)?,
        Alg::ES384 if kty == "EC" && s("crv") == Some("P-384") => curve("P-384", 48)?,
        Alg::EdDSA if kty == "OKP" && s("crv") == Some("Ed25519") => {
            let x = b64(k.get("x"))?;
            if x.len() != 32 {
                return None;
            }
            format!(r#"{{"kty":"OKP","crv":"Ed25519"{}}}"#, member("x", &x))
        }
        _ => return None,
    };
    Some(PlatformKey(jwk.into()))
}

// === impl Token ===

impl<'a> Token<'a> {
    /// Split and decode a compact JWS. `None` for anything malformed: wrong segment count,
    /// bad base64url, a header that is not a JSON object, or an oversized token. The payload
    /// stays bytes until the signature has been checked.
    pub(crate) fn decode(token: &'a str) -> Option<Token<'a>> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let mut parts = token.splitn(4, '.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let Ok(Value::Object(header)) = json::parse(&URL_SAFE_NO_PAD.decode(h).ok()?) else {
            return None;
        };
        let payload = URL_SAFE_NO_PAD.decode(p).ok()?;
        let signature = URL_SAFE_NO_PAD.decode(s).ok()?;
        let signing_input = token.get(..h.len() + 1 + p.len())?.as_bytes();
        Some(Token {
            header,
            payload,
            signing_input,
            signature,
        })
    }

    /// The `alg` header, if it is a string.
    pub(crate) fn alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }

    /// The `kid` header; `Err` when present but not a string.
    pub(crate) fn kid(&self) -> Result<Option<&str>, ()> {
        match self.header.get("kid") {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(()),
        }
    }

    /// The header checks made before any key is looked at: `alg` must be the configured one
    /// (so `none`, `None` and algorithm substitutions stop here) and `crit` must be absent.
    /// The `kid` to pick the key with.
    pub(crate) fn accept(&self, alg: Alg) -> Result<Option<&str>, Refused> {
        if self.alg() != Some(alg.as_str()) {
            return Err(Refused::Algorithm);
        }
        if self.header.contains_key("crit") {
            return Err(Refused::Critical);
        }
        self.kid().map_err(|()| Refused::KeyId)
    }

    /// The signing input and the decoded signature, for the platform's verifier.
    #[cfg(feature = "jwt-platform")]
    pub(crate) fn signed(&self) -> (&[u8], &[u8]) {
        (self.signing_input, &self.signature)
    }

    /// The token as verified, once its signature checked out (here, or by the platform).
    pub(crate) fn into_verified(self) -> Verified {
        Verified {
            header: self.header,
            payload: self.payload,
        }
    }

    /// Check the signature with `key` under the configured `alg`.
    pub(crate) fn verify_with(self, alg: Alg, key: &Key) -> Result<Verified, Refused> {
        if verify(alg, key, self.signing_input, &self.signature) {
            Ok(self.into_verified())
        } else {
            Err(Refused::Signature)
        }
    }
}

/// Verify `signature` over `input`. Every mismatch of algorithm family and key type is false.
pub(crate) fn verify(alg: Alg, key: &Key, input: &[u8], signature: &[u8]) -> bool {
    #[cfg(any(feature = "jwt-es256", feature = "jwt-es384"))]
    use signature_verify::Verifier as _;
    match (alg, key) {
        (Alg::HS256 | Alg::HS384 | Alg::HS512, Key::Hmac(secret)) => {
            hmac_verify(alg, secret, input, signature)
        }
        #[cfg(feature = "jwt-rsa")]
        (Alg::RS256, Key::Rsa(k)) => k
            .verify(
                rsa::Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(input),
                signature,
            )
            .is_ok(),
        #[cfg(feature = "jwt-rsa")]
        (Alg::RS384, Key::Rsa(k)) => k
            .verify(
                rsa::Pkcs1v15Sign::new::<Sha384>(),
                &Sha384::digest(input),
                signature,
            )
            .is_ok(),
        #[cfg(feature = "jwt-rsa")]
        (Alg::RS512, Key::Rsa(k)) => k
            .verify(
                rsa::Pkcs1v15Sign::new::<Sha512>(),
                &Sha512::digest(input),
                signature,
            )
            .is_ok(),
        #[cfg(feature = "jwt-rsa")]
        (Alg::PS256, Key::Rsa(k)) => k
            .verify(rsa::Pss::new::<Sha256>(), &Sha256::digest(input), signature)
            .is_ok(),
        #[cfg(feature = "jwt-rsa")]
        (Alg::PS384, Key::Rsa(k)) => k
            .verify(rsa::Pss::new::<Sha384>(), &Sha384::digest(input), signature)
            .is_ok(),
        #[cfg(feature = "jwt-rsa")]
        (Alg::PS512, Key::Rsa(k)) => k
            .verify(rsa::Pss::new::<Sha512>(), &Sha512::digest(input), signature)
            .is_ok(),
        // JWS ECDSA signatures are fixed-size r||s; `from_slice` refuses DER, other lengths
        // and zero scalars (the "psychic signature" r = s = 0).
        #[cfg(feature = "jwt-es256")]
        (Alg::ES256, Key::P256(k)) => p256::ecdsa::Signature::from_slice(signature)
            .is_ok_and(|sig| k.verify(input, &sig).is_ok()),
        #[cfg(feature = "jwt-es384")]
        (Alg::ES384, Key::P384(k)) => p384::ecdsa::Signature::from_slice(signature)
            .is_ok_and(|sig| k.verify(input, &sig).is_ok()),
        #[cfg(feature = "jwt-eddsa")]
        (Alg::EdDSA, Key::Ed25519(k)) => ed25519_dalek::Signature::from_slice(signature)
            .is_ok_and(|sig| k.verify_strict(input, &sig).is_ok()),
        _ => false,
    }
}

// The `signature` crate's trait for ECDSA, from whichever curve crate this build has (Ed25519
// verifies with its inherent `verify_strict`).
#[cfg(feature = "jwt-es256")]
mod signature_verify {
    pub(super) use p256::ecdsa::signature::Verifier;
}

#[cfg(all(feature = "jwt-es384", not(feature = "jwt-es256")))]
mod signature_verify {
    pub(super) use p384::ecdsa::signature::Verifier;
}

fn hmac_verify(alg: Alg, secret: &[u8], input: &[u8], signature: &[u8]) -> bool {
    // `verify_slice` compares in constant time.
    match alg {
        Alg::HS256 => Hmac::<Sha256>::new_from_slice(secret)
            .is_ok_and(|m| m.chain_update(input).verify_slice(signature).is_ok()),
        Alg::HS384 => Hmac::<Sha384>::new_from_slice(secret)
            .is_ok_and(|m| m.chain_update(input).verify_slice(signature).is_ok()),
        Alg::HS512 => Hmac::<Sha512>::new_from_slice(secret)
            .is_ok_and(|m| m.chain_update(input).verify_slice(signature).is_ok()),
        _ => false,
    }
}

/// Sign `claims` as a compact JWS with an HMAC key: header `{"alg","kid","typ":"JWT"}` and
/// payload in Go's encoding (sorted keys), as krakend-jose's signer writes them.
// Irrefutable in a build with no asymmetric key family (config::capability).
#[cfg_attr(
    not(any(
        feature = "jwt-rsa",
        feature = "jwt-es256",
        feature = "jwt-es384",
        feature = "jwt-eddsa",
        feature = "jwt-platform"
    )),
    allow(irrefutable_let_patterns)
)]
pub(crate) fn sign_hmac(alg: Alg, key: &Key, kid: Option<&str>, claims: &Value) -> Option<String> {
    let Key::Hmac(secret) = key else {
        return None;
    };
    let mut header = Map::new();
    header.insert("alg".into(), alg.as_str().into());
    if let Some(kid) = kid {
        header.insert("kid".into(), kid.into());
    }
    header.insert("typ".into(), "JWT".into());
    let mut out = URL_SAFE_NO_PAD.encode(Value::Object(header).to_json());
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(claims.to_json()));
    let tag = match alg {
        Alg::HS256 => Hmac::<Sha256>::new_from_slice(secret)
            .ok()?
            .chain_update(out.as_bytes())
            .finalize()
            .into_bytes()
            .to_vec(),
        Alg::HS384 => Hmac::<Sha384>::new_from_slice(secret)
            .ok()?
            .chain_update(out.as_bytes())
            .finalize()
            .into_bytes()
            .to_vec(),
        Alg::HS512 => Hmac::<Sha512>::new_from_slice(secret)
            .ok()?
            .chain_update(out.as_bytes())
            .finalize()
            .into_bytes()
            .to_vec(),
        _ => return None,
    };
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(tag));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIM: &[u8] = br#"{"keys":[{"kty":"oct","alg":"A128KW","k":"GawgguFyGrWKav7AX4VKUg","kid":"sim1"},{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow","kid":"sim2","alg":"HS256"}]}"#;

    #[test]
    fn krakend_tokens_verify_with_the_symmetric_set() {
        let set = KeySet::parse(SIM, Alg::HS256).unwrap();
        assert_eq!(set.keys.len(), 1, "the A128KW key is not an HS256 key");
        let t = "eyJhbGciOiJIUzI1NiIsImtpZCI6InNpbTIifQ.eyJhdWQiOiJodHRwOi8vYXBpLmV4YW1wbGUuY29tIiwiZXhwIjoyMDUxODgyNzU1LCJpc3MiOiJodHRwczovL2tyYWtlbmQuaW8iLCJqdGkiOiJtbmIyM3Zjc3J0NzU2eXVpb21uYnZjeDk4ZXJ0eXVpb3AiLCJyb2xlcyI6WyJyb2xlX2EiLCJyb2xlX2IiXSwic3ViIjoiMTIzNDU2Nzg5MHF3ZXJ0eXVpbyJ9.BSHRvJ9_QdIT3F2pVhIhyzFv0vQ43Ltz32ehrtLhlIw";
        let claims = verify_compact(t, Alg::HS256, &set).unwrap();
        assert!(claims.payload.starts_with(b"{\"aud\""));
        assert_eq!(
            verify_compact(t, Alg::HS384, &set).unwrap_err(),
            Refused::Algorithm
        );
        let key = set.select(Some("sim2")).unwrap();
        let tok = Token::decode(t).unwrap();
        assert_eq!(
            tok.verify_with(Alg::HS384, key).unwrap_err(),
            Refused::Signature
        );
    }

    #[test]
    fn signer_matches_krakend_output() {
        let set = KeySet::parse(SIM, Alg::HS256).unwrap();
        let claims = json::parse(br#"{"aud":"http://api.example.com","iss":"https://krakend.io","sub":"1234567890qwertyuio","jti":"mnb23vcsrt756yuiomnbvcx98ertyuiop","roles":["role_y"],"exp":1735689600}"#).unwrap();
        let key = set.select(Some("sim2")).unwrap();
        assert_eq!(
            sign_hmac(Alg::HS256, key, Some("sim2"), &claims).unwrap(),
            "eyJhbGciOiJIUzI1NiIsImtpZCI6InNpbTIiLCJ0eXAiOiJKV1QifQ.eyJhdWQiOiJodHRwOi8vYXBpLmV4YW1wbGUuY29tIiwiZXhwIjoxNzM1Njg5NjAwLCJpc3MiOiJodHRwczovL2tyYWtlbmQuaW8iLCJqdGkiOiJtbmIyM3Zjc3J0NzU2eXVpb21uYnZjeDk4ZXJ0eXVpb3AiLCJyb2xlcyI6WyJyb2xlX3kiXSwic3ViIjoiMTIzNDU2Nzg5MHF3ZXJ0eXVpbyJ9.zkfOW6Fsd0DzhYTXjc_SA3oOv2mG76JZTAvRaVibPNA"
        );
    }

    #[test]
    fn a_key_is_dropped_when_key_ops_do_not_allow_verify() {
        let key = |ops: &str| {
            format!(
                r#"{{"kty":"oct","k":"{}","key_ops":{ops}}}"#,
                "A".repeat(43)
            )
        };
        let usable = |ops: &str| {
            !KeySet::parse(key(ops).as_bytes(), Alg::HS256)
                .unwrap()
                .is_empty()
        };
        assert!(usable(r#"["sign","verify"]"#));
        assert!(!usable(r#"["encrypt"]"#));
        assert!(!usable(r#"["sign, verify"]"#));
        assert!(!usable(r#""verify""#));
    }

    #[test]
    fn hmac_keys_shorter_than_the_hash_are_dropped() {
        for (alg, bytes) in [(Alg::HS256, 32), (Alg::HS384, 48), (Alg::HS512, 64)] {
            let set = |n: usize| {
                let k = URL_SAFE_NO_PAD.encode(vec![7u8; n]);
                KeySet::parse(format!(r#"{{"kty":"oct","k":"{k}"}}"#).as_bytes(), alg).unwrap()
            };
            assert!(set(bytes - 1).is_empty(), "{alg:?}");
            assert_eq!(set(bytes).keys.len(), 1, "{alg:?}");
        }
    }

    #[test]
    fn a_kid_shared_by_two_keys_selects_neither() {
        let k = |byte: u8| URL_SAFE_NO_PAD.encode([byte; 32]);
        let doc = format!(
            r#"{{"keys":[{{"kty":"oct","kid":"a","k":"{}"}},{{"kty":"oct","kid":"a","k":"{}"}},{{"kty":"oct","kid":"b","k":"{}"}}]}}"#,
            k(1),
            k(2),
            k(3)
        );
        let set = KeySet::parse(doc.as_bytes(), Alg::HS256).unwrap();
        assert!(set.select(Some("a")).is_none());
        assert!(set.select(Some("b")).is_some());
        // One of the two malformed (too short): the id is still ambiguous.
        let doc = format!(
            r#"{{"keys":[{{"kty":"oct","kid":"a","k":"{}"}},{{"kty":"oct","kid":"a","k":"AA"}}]}}"#,
            k(1)
        );
        let set = KeySet::parse(doc.as_bytes(), Alg::HS256).unwrap();
        assert!(set.select(Some("a")).is_none());
        // Several usable keys and no kid: no guess either.
        let doc = format!(
            r#"{{"keys":[{{"kty":"oct","k":"{}"}},{{"kty":"oct","k":"{}"}}]}}"#,
            k(1),
            k(2)
        );
        let set = KeySet::parse(doc.as_bytes(), Alg::HS256).unwrap();
        assert!(set.select(None).is_none());
    }

    #[test]
    fn a_kid_may_be_shared_across_key_types() {
        // RFC 7517 §4.5: equivalent alternatives of different types may share an id.
        let doc = format!(
            r#"{{"keys":[{{"kty":"oct","kid":"a","k":"{}"}},{{"kty":"EC","kid":"a","crv":"P-256","x":"AA","y":"AA"}}]}}"#,
            URL_SAFE_NO_PAD.encode([1u8; 32])
        );
        let set = KeySet::parse(doc.as_bytes(), Alg::HS256).unwrap();
        assert!(set.select(Some("a")).is_some());
    }

    #[test]
    fn the_roca_fingerprint_is_recognised() {
        // 65537 itself is trivially in every subgroup 65537 generates.
        assert!(roca_fingerprint(&65537u32.to_be_bytes()));
        // A multiple of 3 fails the first prime; so does 2^2047 + 1 somewhere.
        assert!(!roca_fingerprint(&[0x03]));
        let mut n = vec![0u8; 256];
        n[0] = 0x80;
        n[255] = 1;
        assert!(!roca_fingerprint(&n));
    }

    /// The members of a JWK as a `Map` (test input).
    #[cfg(feature = "jwt-platform")]
    fn members(pairs: &[(&str, String)]) -> Map {
        let mut map = Map::new();
        for (name, value) in pairs {
            map.insert((*name).into(), value.as_str().into());
        }
        map
    }

    #[cfg(feature = "jwt-platform")]
    fn rsa(n: &[u8], e: &[u8]) -> Option<PlatformKey> {
        let b = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
        let k = members(&[("kty", "RSA".into()), ("n", b(n)), ("e", b(e))]);
        platform_key(&k, Alg::RS256, "RSA")
    }

    /// An odd modulus of `bytes` bytes whose top byte is `top` (not a product of primes:
    /// these checks are about size and form only, the platform verifies).
    #[cfg(feature = "jwt-platform")]
    fn modulus(bytes: usize, top: u8) -> Vec<u8> {
        let mut n = vec![0x5a; bytes];
        n[0] = top;
        n[bytes - 1] = 0x01;
        n
    }

    #[cfg(feature = "jwt-platform")]
    #[test]
    fn platform_keys_are_rebuilt_from_the_defining_members() {
        let b = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
        let n = modulus(256, 0x80);
        // A leading zero byte, padding and other members do not reach the platform.
        let mut padded = vec![0];
        padded.extend_from_slice(&n);
        let k = members(&[
            ("kty", "RSA".into()),
            ("kid", "k1".into()),
            ("n", b(&padded) + "=="),
            ("e", "AQAB".into()),
        ]);
        let want = format!(r#"{{"kty":"RSA","n":"{}","e":"AQAB"}}"#, b(&n));
        assert_eq!(
            platform_key(&k, Alg::PS384, "RSA").unwrap().0.as_ref(),
            want
        );
        let (x, y) = ([1u8; 48], [2u8; 48]);
        let ec = members(&[
            ("kty", "EC".into()),
            ("crv", "P-384".into()),
            ("x", b(&x)),
            ("y", b(&y)),
        ]);
        let want = format!(
            r#"{{"kty":"EC","crv":"P-384","x":"{}","y":"{}"}}"#,
            b(&x),
            b(&y)
        );
        assert_eq!(
            platform_key(&ec, Alg::ES384, "EC").unwrap().0.as_ref(),
            want
        );
        // Curve, length and family must fit the algorithm.
        assert_eq!(platform_key(&ec, Alg::ES256, "EC"), None);
        let short = members(&[
            ("kty", "EC".into()),
            ("crv", "P-384".into()),
            ("x", b(&x[1..])),
            ("y", b(&y)),
        ]);
        assert_eq!(platform_key(&short, Alg::ES384, "EC"), None);
        let okp = members(&[
            ("kty", "OKP".into()),
            ("crv", "Ed25519".into()),
            ("x", b(&[3; 32])),
        ]);
        let want = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{}"}}"#, b(&[3; 32]));
        assert_eq!(
            platform_key(&okp, Alg::EdDSA, "OKP").unwrap().0.as_ref(),
            want
        );
        assert_eq!(platform_key(&okp, Alg::RS256, "OKP"), None);
        let okp31 = members(&[
            ("kty", "OKP".into()),
            ("crv", "Ed25519".into()),
            ("x", b(&[3; 31])),
        ]);
        assert_eq!(platform_key(&okp31, Alg::EdDSA, "OKP"), None);
    }

    #[cfg(feature = "jwt-platform")]
    #[test]
    fn platform_rsa_keys_have_the_bounds_of_the_rsa_crate() {
        let f4 = [1, 0, 1];
        assert!(rsa(&modulus(256, 0x80), &f4).is_some());
        assert!(
            rsa(&modulus(256, 0x01), &f4).is_some(),
            "2041 bits fill 256 bytes"
        );
        assert!(rsa(&modulus(255, 0xff), &f4).is_none(), "2040 bits");
        assert!(rsa(&modulus(512, 0xff), &f4).is_some(), "4096 bits");
        assert!(rsa(&modulus(513, 0x01), &f4).is_none(), "4097 bits");
        let mut even = modulus(256, 0x80);
        even[255] = 2;
        assert!(rsa(&even, &f4).is_none(), "even modulus");
        assert!(rsa(&modulus(256, 0x80), &[3]).is_some());
        assert!(rsa(&modulus(256, 0x80), &[1]).is_none(), "exponent 1");
        assert!(rsa(&modulus(256, 0x80), &[4]).is_none(), "even exponent");
        assert!(
            rsa(&modulus(256, 0x80), &[0, 0, 1, 0, 1]).is_some(),
            "leading zeros"
        );
        assert!(
            rsa(&modulus(256, 0x80), &[1, 0xff, 0xff, 0xff, 0xff]).is_some(),
            "2^33 - 1"
        );
        assert!(
            rsa(&modulus(256, 0x80), &[2, 0, 0, 0, 1]).is_none(),
            "2^33 + 1"
        );
        assert!(
            rsa(&modulus(256, 0x80), &[1; 9]).is_none(),
            "wider than 64 bits"
        );
        assert!(rsa(&modulus(256, 0x80), &[]).is_none(), "no exponent");
        // ROCA: 2^2047 + r, made congruent to 65537^127 modulo each of the fingerprint's
        // primes (by the Chinese remainder theorem), has the fingerprint and is refused.
        let mut roca = vec![0u8; 256];
        roca[0] = 0x80;
        let r = "023913e4832c7d7029947253f0701a287bf5a3f33d9282811f749df9";
        for (i, byte) in roca[228..].iter_mut().enumerate() {
            *byte = u8::from_str_radix(&r[2 * i..2 * i + 2], 16).unwrap();
        }
        assert!(roca_fingerprint(&roca));
        assert!(rsa(&roca, &f4).is_none(), "ROCA");
        roca[255] ^= 2;
        assert!(!roca_fingerprint(&roca) && rsa(&roca, &f4).is_some());
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for t in [
            "",
            "a.bad.token",
            "a.b",
            "a.b.c.d",
            "..",
            "e30.e30.",
            "W10.e30.",
        ] {
            assert!(
                Token::decode(t).is_none_or(|t| t.signature.is_empty()),
                "{t}"
            );
        }
        assert!(Token::decode(&"a.".repeat(100_000)).is_none());
    }
}
