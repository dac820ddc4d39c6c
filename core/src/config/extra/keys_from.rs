//! `keys_from` of the root `auth/api-keys` (a Manifold extension; KrakenD Enterprise has no
//! such key, its keys are the config's): API keys kept outside the config, in a store the
//! operator writes to at run time — a Redis pool (`connection_name`, natively and on Lambda) or
//! a Workers KV namespace binding (`kv_namespace`, on Cloudflare Workers). Each entry is named
//! by the prefix and the hex SHA-256 of the key, so neither the store nor its key names hold a
//! usable secret, and answers are cached per instance for `cache_ttl`.

use std::time::Duration;

use serde::Deserialize;

use crate::config::decode::Cx;
use crate::config::error::Path;
use crate::config::fields;

/// How long an answer of the store (a key, or "no such key") is reused by one instance.
pub const DEFAULT_KEYS_CACHE_TTL: Duration = Duration::from_secs(10);

/// The default prefix of the store's entry names.
pub const DEFAULT_KEYS_PREFIX: &str = "manifold:apikey:";

/// Where keys beyond the config's are looked up, planned.
#[derive(Debug, Clone, PartialEq)]
pub struct KeysFrom {
    /// The `redis.connection_pools[]` entry holding the keys (natively and on Lambda).
    pub connection_name: Option<String>,
    /// The Workers KV namespace binding holding the keys (on Cloudflare Workers).
    pub kv_namespace: Option<String>,
    /// Prepended to the key's hex SHA-256 to name its entry.
    pub prefix: String,
    /// How long one instance reuses an answer of the store; zero asks the store every time.
    pub cache_ttl: Duration,
    /// Where `connection_name` is written, for the pool check.
    #[doc(hidden)]
    pub pool_at: Path,
}

/// `keys_from` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawKeysFrom {
    connection_name: Option<String>,
    kv_namespace: Option<String>,
    prefix: Option<String>,
    cache_ttl: Option<String>,
}

// === impl KeysFrom ===

impl KeysFrom {
    /// Plan `keys_from` at `cx` (its own place); `None` after reporting what is wrong.
    pub(crate) fn plan(raw: RawKeysFrom, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let mut ok = true;
        let mut named = |key: &str, value: Option<String>| match value {
            Some(v) if v.is_empty() => {
                cx.at(key).error("must not be empty");
                ok = false;
                None
            }
            v => v,
        };
        let connection_name = named("connection_name", raw.connection_name);
        let kv_namespace = named("kv_namespace", raw.kv_namespace);
        if connection_name.is_none() && kv_namespace.is_none() && ok {
            cx.error("name the store holding the keys: `connection_name` (a `redis.connection_pools[]` entry, natively and on Lambda) and/or `kv_namespace` (a Workers KV binding)");
            ok = false;
        }
        let cache_ttl = match raw.cache_ttl.as_deref() {
            None => DEFAULT_KEYS_CACHE_TTL,
            text => match fields::duration(&mut cx.at("cache_ttl"), text) {
                Some(d) => d,
                None => {
                    ok = false;
                    DEFAULT_KEYS_CACHE_TTL
                }
            },
        };
        let pool_at = cx.path().key("connection_name");
        ok.then(|| KeysFrom {
            connection_name,
            kv_namespace,
            prefix: raw.prefix.unwrap_or_else(|| DEFAULT_KEYS_PREFIX.to_owned()),
            cache_ttl,
            pool_at,
        })
    }
}
