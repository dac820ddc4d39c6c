//! `auth/api-keys` (KrakenD Enterprise's shape): at the root, the known keys with their roles
//! and where clients send them; at an endpoint, the roles it admits, where to read the key if
//! not where the root says, and an optional per-key `client_max_rate`.
//!
//! The keys themselves are kept only as SHA-256 digests of their stored form (see
//! [`ApiKeys::digest`]), so a plan printed or logged never shows one, and comparing a
//! presented key means comparing two 32-byte digests in constant time. Each key has an
//! identity (`id`, a Manifold extension; by default derived from the digest) that rate limits
//! key on with `strategy: "api_key"` — never the key itself.

use std::sync::Arc;

use http::HeaderName;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::keys_from::{KeysFrom, RawKeysFrom};
use super::Namespace;
use crate::config::decode::Cx;
use crate::platform::hex;

/// Where clients send their key: `strategy` of `auth/api-keys`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyIn {
    /// A request header (`Authorization` by default, with or without `Bearer `).
    #[default]
    Header,
    /// A query-string parameter (`key` by default).
    QueryString,
}

/// How the `key` values are written: `hash` of `auth/api-keys`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyHash {
    /// As the client sends it.
    #[default]
    Plain,
    /// The lowercase hex SHA-256 of `salt` followed by the key.
    Sha256,
    /// KrakenD's SHA-1 form: refused (not implemented).
    Sha1,
    /// KrakenD's FNV-128 form: refused (not implemented).
    Fnv128,
}

/// The root `auth/api-keys`: every key the gateway knows.
#[derive(Clone, PartialEq)]
// Read by the guard only (compiled out without `api-keys`).
#[cfg_attr(not(feature = "api-keys"), allow(dead_code))]
pub struct ApiKeys {
    /// The keys, in declaration order.
    pub keys: Vec<ApiKey>,
    /// Where keys are read unless an endpoint says otherwise.
    pub strategy: KeyIn,
    /// The header or query parameter holding the key, when set at the root.
    pub identifier: Option<String>,
    /// A header carrying the matched role to the backends.
    pub propagate_role: Option<HeaderName>,
    /// How the configured keys are written.
    pub hash: KeyHash,
    /// Prepended to a presented key before hashing it (`sha256` only).
    #[doc(hidden)]
    pub salt: String,
    /// Keys kept in a store, looked up when a presented key is not one of `keys`.
    pub keys_from: Option<KeysFrom>,
}

/// One known key: its identity and roles (the key itself only as a digest).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The identity rate limits key on: `id` as written, else `key-` and 16 hex digits of the
    /// digest.
    pub id: Arc<str>,
    /// The roles this key has.
    pub roles: Vec<String>,
    /// SHA-256 of the key's stored form.
    #[doc(hidden)]
    pub digest: [u8; 32],
}

/// An endpoint's `auth/api-keys`, resolved against the root's.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointApiKeys {
    /// The root's keys.
    pub keys: Arc<ApiKeys>,
    /// Roles admitted here (any of them); empty admits every known key.
    pub roles: Vec<String>,
    /// Where the key is read here.
    pub strategy: KeyIn,
    /// The header or query parameter holding the key here.
    pub identifier: String,
    /// Requests per second per key (in this instance's memory); 0: none.
    pub client_max_rate: f64,
}

/// An endpoint's `auth/api-keys` as written, before it is resolved against the root.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ApiKeyEndpoint {
    /// Roles admitted (any of them).
    pub roles: Option<Vec<String>>,
    /// Where the key is read, overriding the root.
    pub strategy: Option<KeyIn>,
    /// The header or query parameter, overriding the root.
    pub identifier: Option<String>,
    /// Requests per second per key; excess gets 429.
    pub client_max_rate: f64,
}

/// The root namespace as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawApiKeys {
    keys: Option<Vec<RawKey>>,
    strategy: KeyIn,
    identifier: Option<String>,
    propagate_role: Option<String>,
    hash: KeyHash,
    salt: String,
    keys_from: Option<RawKeysFrom>,
}

/// One `keys[]` entry as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawKey {
    key: Option<String>,
    roles: Vec<String>,
    id: Option<String>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field("keys", &self.keys)
            .field("strategy", &self.strategy)
            .field("identifier", &self.identifier)
            .field("hash", &self.hash)
            .field("keys_from", &self.keys_from)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ApiKey {
    /// The identity and roles only: never the digest.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

// === impl KeyIn ===

impl KeyIn {
    /// KrakenD's default identifier for this strategy.
    pub fn default_identifier(self) -> &'static str {
        match self {
            Self::Header => "Authorization",
            Self::QueryString => "key",
        }
    }
}

// === impl ApiKeys ===

#[cfg_attr(not(feature = "api-keys"), allow(dead_code))]
impl ApiKeys {
    /// SHA-256 of the stored form of a key `presented` by a client: the key itself with
    /// `plain`, the hex SHA-256 of salt + key with `sha256`.
    pub(crate) fn digest(&self, presented: &str) -> [u8; 32] {
        match self.hash {
            KeyHash::Sha256 => {
                let inner = Sha256::new()
                    .chain_update(self.salt.as_bytes())
                    .chain_update(presented.as_bytes())
                    .finalize();
                sha256(hex(&inner).as_bytes())
            }
            KeyHash::Plain | KeyHash::Sha1 | KeyHash::Fnv128 => sha256(presented.as_bytes()),
        }
    }

    /// The name of a presented key's entry in the `keys_from` store: the prefix, then the
    /// lowercase hex SHA-256 of the key (of `salt` + key with `hash: sha256`, i.e. the form a
    /// `sha256` config key is written in). The store never sees the key itself.
    pub(crate) fn entry_name(&self, prefix: &str, presented: &str) -> String {
        let salt = match self.hash {
            KeyHash::Sha256 => self.salt.as_bytes(),
            KeyHash::Plain | KeyHash::Sha1 | KeyHash::Fnv128 => b"",
        };
        let digest = Sha256::new()
            .chain_update(salt)
            .chain_update(presented.as_bytes())
            .finalize();
        format!("{prefix}{}", hex(&digest))
    }

    /// A key found in the store: its roles, and its identity (`id` as stored, else derived
    /// from `digest` as for a config key without `id`).
    pub(crate) fn stored(digest: [u8; 32], id: Option<String>, roles: Vec<String>) -> ApiKey {
        let id = match id {
            Some(id) if !id.is_empty() => id.into(),
            _ => default_id(&digest),
        };
        ApiKey { id, roles, digest }
    }

    /// The known key whose digest is `digest`. Every key is compared, each in constant time,
    /// so the time taken says nothing about how close a guess was.
    pub(crate) fn find(&self, digest: &[u8; 32]) -> Option<&ApiKey> {
        let mut found = None;
        for key in &self.keys {
            if ct_eq(&key.digest, digest) && found.is_none() {
                found = Some(key);
            }
        }
        found
    }
}

impl Namespace for ApiKeys {
    type Raw = RawApiKeys;

    fn plan(raw: RawApiKeys, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let mut ok = true;
        if matches!(raw.hash, KeyHash::Sha1 | KeyHash::Fnv128) {
            cx.at("hash").error(
                "Manifold supports `plain` and `sha256` key hashes (lowercase hex of SHA-256 over salt + key)",
            );
            ok = false;
        }
        if !raw.salt.is_empty() && raw.hash == KeyHash::Plain {
            cx.at("salt")
                .warn("`salt` has no effect with `hash: plain`");
        }
        if let Some(id) = &raw.identifier {
            ok &= identifier_ok(&mut cx.at("identifier"), raw.strategy, id);
        }
        let propagate_role = match raw.propagate_role.as_deref() {
            None | Some("") => None,
            Some(name) => match HeaderName::from_bytes(name.as_bytes()) {
                Ok(h) => Some(h),
                Err(_) => {
                    cx.at("propagate_role")
                        .error(format!("`{name}` is not a valid header name"));
                    ok = false;
                    None
                }
            },
        };
        let keys_from = match raw.keys_from {
            Some(from) => {
                let planned = KeysFrom::plan(from, &mut cx.at("keys_from"));
                ok &= planned.is_some();
                planned
            }
            None => None,
        };
        let raw_keys = match (raw.keys, &keys_from) {
            (Some(keys), _) => keys,
            (None, Some(_)) => Vec::new(),
            (None, None) => {
                cx.error("missing `keys`: the list of API keys with their roles (or `keys_from`, a store holding them)");
                return None;
            }
        };
        let mut keys: Vec<ApiKey> = Vec::with_capacity(raw_keys.len());
        for (i, k) in raw_keys.into_iter().enumerate() {
            let mut at = cx.at("keys").index(i);
            let Some(key) = k.key.filter(|k| !k.is_empty()) else {
                at.at("key").error("missing `key`: the secret clients send");
                ok = false;
                continue;
            };
            let stored = if raw.hash == KeyHash::Sha256 {
                key.trim().to_ascii_lowercase()
            } else {
                key
            };
            if raw.hash == KeyHash::Sha256
                && (stored.len() != 64 || !stored.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                at.at("key").error(
                    "with `hash: sha256` a key is the 64 hex digits of SHA-256 over salt + key",
                );
                ok = false;
                continue;
            }
            let digest = sha256(stored.as_bytes());
            if keys.iter().any(|other| other.digest == digest) {
                at.at("key").error("this key is declared twice");
                ok = false;
                continue;
            }
            let id: Arc<str> = match k.id {
                Some(id) if id.is_empty() => {
                    at.at("id").error("`id` must not be empty");
                    ok = false;
                    continue;
                }
                Some(id) => id.into(),
                None => default_id(&digest),
            };
            if keys.iter().any(|other| other.id == id) {
                at.at("id")
                    .error(format!("the identity `{id}` is given to two keys"));
                ok = false;
                continue;
            }
            keys.push(ApiKey {
                id,
                roles: k.roles,
                digest,
            });
        }
        ok.then_some(ApiKeys {
            keys,
            strategy: raw.strategy,
            identifier: raw.identifier,
            propagate_role,
            hash: raw.hash,
            salt: raw.salt,
            keys_from,
        })
    }
}

// === impl ApiKeyEndpoint ===

impl ApiKeyEndpoint {
    /// Resolve against the root's `auth/api-keys` (reported at `cx` when missing).
    pub(crate) fn resolve(
        self,
        root: Option<&Arc<ApiKeys>>,
        cx: &mut Cx<'_, '_>,
    ) -> Option<EndpointApiKeys> {
        let Some(keys) = root else {
            cx.error("an endpoint's `auth/api-keys` needs the root `extra_config.auth/api-keys` declaring the keys");
            return None;
        };
        let strategy = self.strategy.unwrap_or(keys.strategy);
        let identifier = self
            .identifier
            .clone()
            .or_else(|| keys.identifier.clone())
            .unwrap_or_else(|| strategy.default_identifier().to_owned());
        Some(EndpointApiKeys {
            keys: keys.clone(),
            roles: self.roles.unwrap_or_default(),
            strategy,
            identifier,
            client_max_rate: self.client_max_rate,
        })
    }
}

impl Namespace for ApiKeyEndpoint {
    type Raw = Self;

    fn plan(raw: Self, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let mut ok = true;
        if raw.roles.is_none() {
            cx.error("missing `roles`: the roles admitted here (`[]` admits every key)");
            ok = false;
        }
        if !raw.client_max_rate.is_finite() || raw.client_max_rate < 0.0 {
            cx.at("client_max_rate")
                .error("must be a non-negative number");
            ok = false;
        }
        if let Some(id) = &raw.identifier {
            let strategy = raw.strategy.unwrap_or_default();
            ok &= identifier_ok(&mut cx.at("identifier"), strategy, id);
        }
        ok.then_some(raw)
    }
}

/// An identifier is a header name (header strategy) or a non-empty parameter name.
fn identifier_ok(cx: &mut Cx<'_, '_>, strategy: KeyIn, id: &str) -> bool {
    let ok = match strategy {
        KeyIn::Header => HeaderName::from_bytes(id.as_bytes()).is_ok(),
        KeyIn::QueryString => !id.is_empty(),
    };
    if !ok {
        cx.error(format!("`{id}` is not a valid header or parameter name"));
    }
    ok
}

/// The identity of a key without `id`: `key-` and 16 hex digits of its digest.
fn default_id(digest: &[u8; 32]) -> Arc<str> {
    format!("key-{}", hex(&digest[..8])).into()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Equal in time independent of where the digests differ.
#[cfg_attr(not(feature = "api-keys"), allow(dead_code))]
fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq_tells_equal_from_different() {
        let a = sha256(b"one");
        let mut b = a;
        assert!(ct_eq(&a, &b));
        b[31] ^= 1;
        assert!(!ct_eq(&a, &b));
    }

    #[test]
    fn hex_is_lowercase_and_complete() {
        assert_eq!(hex(&[0x00, 0xab, 0x0f]), "00ab0f");
    }
}
