//! JSON Web Signatures (RFC 7515/7518) for `auth/validator` and `auth/signer`, on pure-Rust
//! RustCrypto crates so the same code runs natively, on Lambda and on wasm32.
//!
//! The algorithm always comes from the config, never from the token: a key set is loaded for
//! one [`Alg`], keys of another type are dropped while loading, and a token whose header names
//! another algorithm is refused before any key is looked at (RFC 8725 §3.1).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::json::{self, Map, Value};

/// Longest token accepted; longer ones are refused before any decoding (bounded memory).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Smallest RSA modulus accepted, in bits (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;

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
    Rsa(Box<rsa::RsaPublicKey>),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

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
}

/// A structurally valid compact JWS, not yet verified.
#[derive(Debug)]
pub(crate) struct Token<'a> {
    pub(crate) header: Map,
    pub(crate) claims: Map,
    signing_input: &'a [u8],
    signature: Vec<u8>,
}

// === impl Alg ===

impl Alg {
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
            Key::Rsa(_) => "Key::Rsa",
            Key::P256(_) => "Key::P256",
            Key::P384(_) => "Key::P384",
            Key::Ed25519(_) => "Key::Ed25519",
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
        let list: Vec<&Value> = match obj.get("keys") {
            Some(Value::Array(keys)) => keys.iter().collect(),
            Some(_) => return Err("invalid JWK set: `keys` is not an array".into()),
            None if obj.contains_key("kty") => vec![&Value::Null],
            None => return Err("invalid JWK set: no `keys`".into()),
        };
        let bare = Value::Object(obj.clone());
        let mut keys = Vec::new();
        for v in list {
            let v = if matches!(v, Value::Null) { &bare } else { v };
            if let Some(Value::Object(k)) = Some(v) {
                if let Some(jwk) = jwk(k, alg) {
                    keys.push(jwk);
                }
            }
        }
        Ok(KeySet { keys })
    }

    /// Whether no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key with this `kid` is present.
    pub(crate) fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The key a token with this `kid` header must be verified with: the key with that id;
    /// without a `kid`, the only key of the set (never a guess among several).
    pub(crate) fn select(&self, kid: Option<&str>) -> Option<&Key> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .map(|k| &k.key),
            None if self.keys.len() == 1 => self.keys.first().map(|k| &k.key),
            None => None,
        }
    }
}

fn b64(v: Option<&Value>) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(v?.as_str()?.trim_end_matches('='))
        .ok()
}

/// One JWK as a key for `alg`, or `None` when it does not fit.
fn jwk(k: &Map, alg: Alg) -> Option<Jwk> {
    let s = |name: &str| k.get(name).and_then(Value::as_str);
    if s("use").is_some_and(|u| u != "sig") {
        return None;
    }
    // A key declaring an algorithm is bound to it (no HS256 use of an A128KW key).
    if s("alg").is_some_and(|a| a != alg.as_str()) {
        return None;
    }
    let kty = s("kty")?;
    let key = match alg {
        Alg::HS256 | Alg::HS384 | Alg::HS512 if kty == "oct" => {
            let secret = b64(k.get("k"))?;
            if secret.is_empty() {
                return None;
            }
            Key::Hmac(secret)
        }
        Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512
            if kty == "RSA" =>
        {
            let n = rsa::BigUint::from_bytes_be(&b64(k.get("n"))?);
            let e = rsa::BigUint::from_bytes_be(&b64(k.get("e"))?);
            let key = rsa::RsaPublicKey::new(n, e).ok()?;
            if rsa::traits::PublicKeyParts::size(&key) * 8 < MIN_RSA_BITS {
                return None;
            }
            Key::Rsa(Box::new(key))
        }
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
        Alg::EdDSA if kty == "OKP" && s("crv") == Some("Ed25519") => {
            let x: [u8; 32] = b64(k.get("x"))?.try_into().ok()?;
            Key::Ed25519(ed25519_dalek::VerifyingKey::from_bytes(&x).ok()?)
        }
        _ => return None,
    };
    Some(Jwk {
        kid: s("kid").map(str::to_owned),
        key,
    })
}

// === impl Token ===

impl<'a> Token<'a> {
    /// Split and decode a compact JWS. `None` for anything malformed: wrong segment count,
    /// bad base64url, a header or payload that is not a JSON object, or an oversized token.
    pub(crate) fn decode(token: &'a str) -> Option<Token<'a>> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let mut parts = token.splitn(4, '.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let object = |seg: &str| match json::parse(&URL_SAFE_NO_PAD.decode(seg).ok()?) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        };
        let header = object(h)?;
        let claims = object(p)?;
        let signature = URL_SAFE_NO_PAD.decode(s).ok()?;
        let signing_input = token.get(..h.len() + 1 + p.len())?.as_bytes();
        Some(Token {
            header,
            claims,
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

    /// Check the signature with `key` under the configured `alg`.
    pub(crate) fn verify(&self, alg: Alg, key: &Key) -> bool {
        verify(alg, key, self.signing_input, &self.signature)
    }
}

/// Verify `signature` over `input`. Every mismatch of algorithm family and key type is false.
pub(crate) fn verify(alg: Alg, key: &Key, input: &[u8], signature: &[u8]) -> bool {
    use ecdsa_verify::Verifier as _;
    match (alg, key) {
        (Alg::HS256 | Alg::HS384 | Alg::HS512, Key::Hmac(secret)) => {
            hmac_verify(alg, secret, input, signature)
        }
        (Alg::RS256, Key::Rsa(k)) => k
            .verify(
                rsa::Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(input),
                signature,
            )
            .is_ok(),
        (Alg::RS384, Key::Rsa(k)) => k
            .verify(
                rsa::Pkcs1v15Sign::new::<Sha384>(),
                &Sha384::digest(input),
                signature,
            )
            .is_ok(),
        (Alg::RS512, Key::Rsa(k)) => k
            .verify(
                rsa::Pkcs1v15Sign::new::<Sha512>(),
                &Sha512::digest(input),
                signature,
            )
            .is_ok(),
        (Alg::PS256, Key::Rsa(k)) => k
            .verify(rsa::Pss::new::<Sha256>(), &Sha256::digest(input), signature)
            .is_ok(),
        (Alg::PS384, Key::Rsa(k)) => k
            .verify(rsa::Pss::new::<Sha384>(), &Sha384::digest(input), signature)
            .is_ok(),
        (Alg::PS512, Key::Rsa(k)) => k
            .verify(rsa::Pss::new::<Sha512>(), &Sha512::digest(input), signature)
            .is_ok(),
        // JWS ECDSA signatures are fixed-size r||s; `from_slice` refuses DER, other lengths
        // and zero scalars (the "psychic signature" r = s = 0).
        (Alg::ES256, Key::P256(k)) => p256::ecdsa::Signature::from_slice(signature)
            .is_ok_and(|sig| k.verify(input, &sig).is_ok()),
        (Alg::ES384, Key::P384(k)) => p384::ecdsa::Signature::from_slice(signature)
            .is_ok_and(|sig| k.verify(input, &sig).is_ok()),
        (Alg::EdDSA, Key::Ed25519(k)) => ed25519_dalek::Signature::from_slice(signature)
            .is_ok_and(|sig| k.verify_strict(input, &sig).is_ok()),
        _ => false,
    }
}

mod ecdsa_verify {
    pub(super) use p256::ecdsa::signature::Verifier;
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
        let tok = Token::decode(t).unwrap();
        let key = set.select(tok.kid().unwrap()).unwrap();
        assert!(tok.verify(Alg::HS256, key));
        assert!(!tok.verify(Alg::HS384, key));
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
