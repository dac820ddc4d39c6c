//! API keys kept in a store (`auth/api-keys` `keys_from`, a Manifold extension): looked up
//! when a presented key is not one of the config's, by the name
//! [`ApiKeys::entry_name`](crate::config::extra::ApiKeys) gives it — a prefix and the hex
//! SHA-256 of the key, so the store, its key names and this instance's cache hold no usable
//! secret, and the look-up's time says nothing about the key (it is a digest look-up).
//!
//! An entry's value is a JSON object: `{"roles": ["user"], "id": "acme"}` (`id` optional, as
//! in the config). Answers — a key, or no such key — are kept in this instance's memory for
//! `cache_ttl` (bounded, LRU), so a key added to the store is accepted, and one removed from
//! it refused, at most `cache_ttl` later; a store that does not answer is not cached: the
//! guard answers 503 (fail closed) until it answers again.

use std::sync::Arc;

use bytes::Bytes;

use crate::config::extra::{ApiKey, ApiKeys, KeysFrom};
use crate::json::{self, Value};
use crate::platform::{Clock, MemoryStore, Store, StoreError};

/// Answers kept per instance: at most this many keys (known or not)…
const CACHE_ENTRIES: usize = 10_000;
/// …and this many bytes of stored values.
const CACHE_BYTES: usize = 4 << 20;

/// The store of `keys_from` and this instance's cache of its answers.
pub(crate) struct StoredKeys {
    source: Arc<dyn Store>,
    cache: MemoryStore,
    from: KeysFrom,
}

/// A store entry's value.
#[derive(Debug, Default, PartialEq)]
struct Entry {
    roles: Vec<String>,
    id: Option<String>,
}

impl StoredKeys {
    /// Look-ups of `from` in `source`, answers cached on `clock`.
    pub(crate) fn new(source: Arc<dyn Store>, from: KeysFrom, clock: Arc<dyn Clock>) -> Self {
        Self {
            source,
            cache: MemoryStore::new(CACHE_ENTRIES, CACHE_BYTES, clock),
            from,
        }
    }

    /// The stored key `presented` is, if any; an error when the store did not answer.
    pub(crate) async fn find(
        &self,
        keys: &ApiKeys,
        presented: &str,
    ) -> Result<Option<ApiKey>, StoreError> {
        let name = keys.entry_name(&self.from.prefix, presented);
        let ttl = self.from.cache_ttl;
        let cached = if ttl.is_zero() {
            None
        } else {
            self.cache.get(&name).await.ok().flatten()
        };
        let value = match cached {
            Some(value) => value,
            None => {
                // An absent entry is cached as empty: a flood of unknown keys asks the store
                // once per key and `cache_ttl`, not once per request.
                let value = self.source.get(&name).await?.unwrap_or_default();
                if !ttl.is_zero() {
                    // The memory store only fails when the value is over its byte bound:
                    // then the next request asks the store again.
                    let _ = self.cache.put(&name, value.clone(), ttl).await;
                }
                value
            }
        };
        Ok(parse(&value).map(|e| ApiKeys::stored(keys.digest(presented), e.id, e.roles)))
    }
}

/// A stored value as an entry; none when it is empty (no such key), not a JSON object, or has
/// `roles` that are not a list of strings or an `id` that is not a string. Read with the
/// gateway's own JSON parser (a repeated member counts once, the last), not serde's: on the
/// Worker that deserializer would be linked for this alone.
fn parse(value: &Bytes) -> Option<Entry> {
    let Ok(Value::Object(entry)) = json::parse(value) else {
        return None;
    };
    let roles = match entry.get("roles") {
        None => Vec::new(),
        Some(Value::Array(roles)) => roles
            .iter()
            .map(|r| r.as_str().map(str::to_owned))
            .collect::<Option<_>>()?,
        Some(_) => return None,
    };
    let id = match entry.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.as_str().to_owned()),
        Some(_) => return None,
    };
    Some(Entry { roles, id })
}

impl std::fmt::Debug for StoredKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKeys")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod entry_tests {
    use super::*;

    #[test]
    fn entries_are_objects_with_string_roles_and_an_optional_string_id() {
        let entry = |text: &'static str| parse(&Bytes::from_static(text.as_bytes()));
        let roles = |r: &[&str]| r.iter().map(|&s| s.to_owned()).collect::<Vec<_>>();
        assert_eq!(
            entry(r#"{"roles":["a","b"],"id":"acme","other":1}"#),
            Some(Entry {
                roles: roles(&["a", "b"]),
                id: Some("acme".into())
            })
        );
        assert_eq!(entry("{}"), Some(Entry::default()));
        assert_eq!(entry(r#"{"id":null}"#), Some(Entry::default()));
        assert_eq!(
            entry(r#"{"roles":["x"],"roles":["y"]}"#),
            Some(Entry {
                roles: roles(&["y"]),
                id: None
            })
        );
        for no in [
            "",
            "[]",
            "null",
            "\"acme\"",
            "{",
            r#"{"roles":"a"}"#,
            r#"{"roles":[1]}"#,
            r#"{"roles":null}"#,
            r#"{"id":7}"#,
            r#"{"id":["acme"]}"#,
            r#"{"roles":[]} x"#,
        ] {
            assert_eq!(entry(no), None, "{no}");
        }
    }
}

// The tests declare `auth/api-keys` pools in `redis`: a build without either refuses them.
#[cfg(test)]
#[cfg(all(feature = "api-keys", feature = "redis"))]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use sha2::{Digest, Sha256};

    use super::*;
    use crate::guard::testing::World;
    use crate::platform::{BoxFuture, Platform, PoolSpec, RequestContext, Stores};
    use crate::Gateway;

    /// Every pool is `redis`; the KV namespace `KEYS` is `kv` when there is one (Workers).
    struct Platforms {
        redis: Arc<dyn Store>,
        kv: Option<Arc<dyn Store>>,
    }

    impl Stores for Platforms {
        fn open(&self, _: &PoolSpec) -> Result<Arc<dyn Store>, StoreError> {
            Ok(self.redis.clone())
        }

        fn kv_namespace(&self, binding: &str) -> Result<Arc<dyn Store>, StoreError> {
            match (&self.kv, binding) {
                (Some(kv), "KEYS") => Ok(kv.clone()),
                _ => Err(StoreError::new("no such binding")),
            }
        }
    }

    /// A store whose every call fails (an unreachable Redis).
    struct Down;

    impl Store for Down {
        fn take(
            &self,
            _: &str,
            _: crate::platform::Rate,
            _: u64,
        ) -> BoxFuture<'_, Result<crate::platform::Taken, StoreError>> {
            Box::pin(async { Err(StoreError::new("down")) })
        }

        fn get(&self, _: &str) -> BoxFuture<'_, Result<Option<Bytes>, StoreError>> {
            Box::pin(async { Err(StoreError::new("down")) })
        }

        fn put(&self, _: &str, _: Bytes, _: Duration) -> BoxFuture<'_, Result<(), StoreError>> {
            Box::pin(async { Err(StoreError::new("down")) })
        }
    }

    const CONFIG: &str = r#"{"version":3,"host":["http://b.internal"],
        "extra_config":{
          "redis":{"connection_pools":[{"name":"keys","address":"redis.internal:6379"}]},
          "auth/api-keys":{"keys":[{"key":"from-config","roles":["user"]}],
            "keys_from":{"connection_name":"keys","kv_namespace":"KEYS","cache_ttl":"2s"}}},
        "endpoints":[{"endpoint":"/a","backend":[{"url_pattern":"/x"}],
          "extra_config":{"auth/api-keys":{"roles":["user"]}}}]}"#;

    fn entry(key: &str) -> String {
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("manifold:apikey:{hex}")
    }

    fn put(store: &MemoryStore, key: &str, value: &str) {
        let value = Bytes::from(value.to_owned());
        let put = store.put(&entry(key), value, Duration::from_secs(3600));
        futures_executor::block_on(put).unwrap();
    }

    fn gateway(world: &Arc<World>, stores: Platforms) -> Gateway {
        let platform = Platform::new(world.clone(), world.clone(), world.clone());
        Gateway::from_json(CONFIG, platform.with_stores(Arc::new(stores))).unwrap()
    }

    fn status(gateway: &Gateway, key: &str) -> u16 {
        let mut request = http::Request::get("/a");
        if !key.is_empty() {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let request = request.body(Bytes::new()).unwrap();
        let answer = gateway.handle(request, RequestContext::new());
        futures_executor::block_on(answer).status().as_u16()
    }

    fn memory(world: &Arc<World>) -> Arc<MemoryStore> {
        Arc::new(MemoryStore::new(100, 1 << 20, world.clone()))
    }

    #[test]
    fn keys_in_a_pool_are_found_by_digest_with_their_roles() {
        let world = Arc::new(World::default());
        let redis = memory(&world);
        put(&redis, "stored-user", r#"{"roles":["user"],"id":"acme"}"#);
        put(&redis, "stored-guest", r#"{"roles":["guest"]}"#);
        put(&redis, "not-json", "user");
        let gw = gateway(&world, Platforms { redis, kv: None });
        assert_eq!(status(&gw, "from-config"), 200);
        assert_eq!(status(&gw, "stored-user"), 200);
        assert_eq!(status(&gw, "stored-guest"), 403);
        assert_eq!(status(&gw, "not-json"), 401);
        assert_eq!(status(&gw, "nobody"), 401);
    }

    #[test]
    fn a_key_added_or_removed_counts_after_the_cache_ttl() {
        let world = Arc::new(World::default());
        let redis = memory(&world);
        let gw = gateway(
            &world,
            Platforms {
                redis: redis.clone(),
                kv: None,
            },
        );
        assert_eq!(status(&gw, "late"), 401);
        put(&redis, "late", r#"{"roles":["user"]}"#);
        // "No such key" is cached for `cache_ttl` (2 s) too.
        assert_eq!(status(&gw, "late"), 401);
        world.0.fetch_add(2_001, Ordering::SeqCst);
        assert_eq!(status(&gw, "late"), 200);
        put(&redis, "late", "");
        assert_eq!(status(&gw, "late"), 200, "still cached");
        world.0.fetch_add(2_001, Ordering::SeqCst);
        assert_eq!(status(&gw, "late"), 401);
    }

    #[test]
    fn a_kv_namespace_is_preferred_where_the_platform_has_it() {
        let world = Arc::new(World::default());
        let (redis, kv) = (memory(&world), memory(&world));
        put(&kv, "in-kv", r#"{"roles":["user"]}"#);
        put(&redis, "in-redis", r#"{"roles":["user"]}"#);
        let gw = gateway(
            &world,
            Platforms {
                redis,
                kv: Some(kv),
            },
        );
        assert_eq!(status(&gw, "in-kv"), 200);
        assert_eq!(status(&gw, "in-redis"), 401);
    }

    #[test]
    fn only_a_kv_namespace_the_platform_lacks_leaves_the_config_keys() {
        let world = Arc::new(World::default());
        let config = CONFIG.replace(r#""connection_name":"keys","#, "");
        let stores = Platforms {
            redis: Arc::new(Down),
            kv: None,
        };
        let platform = Platform::new(world.clone(), world.clone(), world);
        let gw = Gateway::from_json(&config, platform.with_stores(Arc::new(stores))).unwrap();
        assert_eq!(status(&gw, "from-config"), 200);
        assert_eq!(
            status(&gw, "elsewhere"),
            401,
            "no store asked: not the pool's 503"
        );
    }

    #[test]
    fn a_store_that_does_not_answer_fails_closed_with_503() {
        let world = Arc::new(World::default());
        let gw = gateway(
            &world,
            Platforms {
                redis: Arc::new(Down),
                kv: None,
            },
        );
        assert_eq!(status(&gw, "anything"), 503);
        assert_eq!(
            status(&gw, "from-config"),
            200,
            "the config's keys need no store"
        );
        assert_eq!(status(&gw, ""), 401, "no key: nothing to look up");
    }
}
