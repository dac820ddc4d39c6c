//! The shared stores a config names, opened once when the gateway is compiled: one per
//! `redis.connection_pools[]` entry that some feature uses, through the platform's
//! [`Stores`](crate::platform::Stores). Features that name no pool keep their state in a
//! `MemoryStore` of their own and never come here.
//!
//! Compiling never fails here: a pool the platform cannot open becomes a store that fails
//! every call, so each limit's failure policy applies (503 by default). Platforms report the
//! problem before compiling: natively `manifold_native::RedisStores::for_config` opens every
//! pool when `manifold run` starts and stops it with the pool's line:column.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::config::capability::when;
use crate::config::Config;
use crate::guard::stored_keys::StoredKeys;
use crate::platform::{
    BoxFuture, MaybeSend, Platform, PoolSpec, Rate, Store, StoreError, Stores, Taken,
};

/// The opened pools, by name, and the platform's own stores. It is the compiled gateway's
/// [`Stores`]: features find an opened pool by name through it (`Stores::pool`).
#[derive(Default)]
pub(crate) struct SharedStores {
    opened: BTreeMap<String, Arc<dyn Store>>,
    platform: Option<Arc<dyn Stores>>,
    /// `auth/api-keys` `keys_from`: the store of API keys and this instance's cache of it.
    keys: Option<Arc<StoredKeys>>,
}

/// A pool that could not be opened: every call fails with why.
struct Unavailable(StoreError);

// === impl SharedStores ===

impl SharedStores {
    /// Open every pool a rate limit, an HTTP cache, a client-credentials token or the API
    /// keys' `keys_from` names.
    pub(crate) fn open(config: &Config, platform: &Platform) -> Self {
        // Every endpoint's `auth/api-keys` shares the root's keys: the first one says.
        let keys_from = config
            .endpoints
            .iter()
            .find_map(|e| e.api_keys.as_ref()?.keys.keys_from.as_ref());
        // On a platform with the KV namespace (Workers) `kv_namespace` serves the keys, and
        // the pool is not opened for them; elsewhere the pool does. Without either (a Workers
        // config natively, where `kv_namespace` is ignored as `durable_object` is) only the
        // config's keys are known: other keys get 401, as without `keys_from`.
        let kv = keys_from.and_then(|from| {
            let binding = from.kv_namespace.as_deref()?;
            platform.stores.as_ref()?.kv_namespace(binding).ok()
        });
        let keys_pool = keys_from
            .filter(|_| kv.is_none())
            .and_then(|from| from.connection_name.as_deref());
        // A list, not a set: a config names a handful of pools, and collecting a set sorts.
        let used: Vec<&str> = config
            .guards
            .ratelimit_redis
            .iter()
            .chain(
                config
                    .endpoints
                    .iter()
                    .filter_map(|e| e.guards.ratelimit_redis.as_ref()),
            )
            .map(|limit| limit.pool.as_str())
            .chain(config.endpoints.iter().flat_map(|e| {
                e.backend.iter().filter_map(|b| {
                    let cache = b.qos.http_cache.as_ref()?;
                    cache.connection_name.as_deref()
                })
            }))
            .chain(config.endpoints.iter().flat_map(|e| {
                e.backend.iter().filter_map(|b| {
                    let cc = b.client_credentials.as_ref()?;
                    cc.connection_name.as_deref()
                })
            }))
            .chain(keys_pool)
            .collect();
        let mut out = Self {
            opened: BTreeMap::new(),
            platform: platform.stores.clone(),
            keys: None,
        };
        // No pool is declared in a build without the `redis` feature (config::capability);
        // constant there, so the store code is not in that build.
        let pools = when(cfg!(feature = "redis"), Some(&config.redis.pools));
        for pool in pools
            .into_iter()
            .flatten()
            .filter(|p| used.contains(&p.spec.name.as_str()))
        {
            let opened = match &platform.stores {
                Some(stores) => stores.open(&pool.spec),
                None => Err(StoreError::new(format!(
                    "pool `{}`: this platform has no shared store",
                    pool.spec.name
                ))),
            };
            let store = opened.unwrap_or_else(|e| Arc::new(Unavailable(e)));
            out.opened.insert(pool.spec.name.clone(), store);
        }
        if let Some(from) = keys_from {
            out.keys = kv.or_else(|| out.get(keys_pool?)).map(|source| {
                Arc::new(StoredKeys::new(
                    source,
                    from.clone(),
                    platform.clock.clone(),
                ))
            });
        }
        out
    }

    /// The API keys' `keys_from` store, if the config has one.
    pub(crate) fn api_keys(&self) -> Option<Arc<StoredKeys>> {
        self.keys.clone()
    }

    /// The store of the pool named `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<dyn Store>> {
        self.opened.get(name).cloned()
    }
}

impl Stores for SharedStores {
    fn open(&self, pool: &PoolSpec) -> Result<Arc<dyn Store>, StoreError> {
        match (self.get(&pool.name), &self.platform) {
            (Some(store), _) => Ok(store),
            (None, Some(platform)) => platform.open(pool),
            (None, None) => Err(StoreError::new("this platform has no shared store")),
        }
    }

    fn http_cache(&self) -> Option<Arc<dyn Store>> {
        self.platform.as_ref()?.http_cache()
    }

    fn pool(&self, name: &str) -> Option<Arc<dyn Store>> {
        self.get(name)
    }

    fn kv_namespace(&self, binding: &str) -> Result<Arc<dyn Store>, StoreError> {
        match &self.platform {
            Some(platform) => platform.kv_namespace(binding),
            None => Err(StoreError::new("this platform has no shared store")),
        }
    }
}

impl std::fmt::Debug for SharedStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.opened.keys()).finish()
    }
}

// === impl Unavailable ===

impl Unavailable {
    fn fail<T: MaybeSend + 'static>(&self) -> BoxFuture<'_, Result<T, StoreError>> {
        Box::pin(std::future::ready(Err(self.0.clone())))
    }
}

impl Store for Unavailable {
    fn take(&self, _: &str, _: Rate, _: u64) -> BoxFuture<'_, Result<Taken, StoreError>> {
        self.fail()
    }

    fn get(&self, _: &str) -> BoxFuture<'_, Result<Option<Bytes>, StoreError>> {
        self.fail()
    }

    fn put(
        &self,
        _: &str,
        _: Bytes,
        _: std::time::Duration,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        self.fail()
    }
}

// The test shares a `qos/http-cache` through a `redis` pool: a build without either refuses it.
#[cfg(test)]
#[cfg(all(feature = "redis", feature = "http-cache"))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use http::HeaderValue;

    use super::*;
    use crate::platform::{
        BackendRequest, BackendResponse, ClientError, Clock, HttpClient, MemoryStore,
        RequestContext, Sleep,
    };
    use crate::Gateway;

    /// A backend answering cacheable JSON that says how many calls it had; also the clock
    /// (fixed) and a timer that never fires.
    #[derive(Default)]
    struct Backend(AtomicUsize);

    impl HttpClient for Backend {
        fn send(
            &self,
            _: BackendRequest,
            _: usize,
        ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            Box::pin(async move {
                let mut r = http::Response::new(Bytes::from(format!("{{\"call\":{n}}}")));
                let h = r.headers_mut();
                h.insert("content-type", HeaderValue::from_static("application/json"));
                h.insert(
                    "cache-control",
                    HeaderValue::from_static("public, max-age=60"),
                );
                Ok(r)
            })
        }
    }

    impl Clock for Backend {
        fn now_millis(&self) -> u64 {
            1_767_225_600_000
        }
    }

    impl Sleep for Backend {
        fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
            Box::pin(std::future::pending())
        }
    }

    /// Every pool is the one store both instances reach, as two processes reach one Redis;
    /// no platform HTTP cache (natively and on Lambda).
    struct OneRedis(Arc<MemoryStore>);

    impl Stores for OneRedis {
        fn open(&self, _: &PoolSpec) -> Result<Arc<dyn Store>, StoreError> {
            Ok(self.0.clone())
        }
    }

    /// Two instances of `cache` (the backend's `qos/http-cache`) on one Redis: GET /a on the
    /// first, then on the second; the bodies and the backend's call count.
    fn twice(cache: &str) -> (Bytes, Bytes, usize) {
        let config = format!(
            r#"{{"version":3,"host":["http://b.internal"],
            "extra_config":{{"redis":{{"connection_pools":[{{"name":"cache","address":"redis.internal:6379"}}]}}}},
            "endpoints":[{{"endpoint":"/a","backend":[{{"url_pattern":"/x","extra_config":{{"qos/http-cache":{cache}}}}}]}}]}}"#
        );
        let backend = Arc::new(Backend::default());
        let redis = Arc::new(OneRedis(Arc::new(MemoryStore::new(
            100,
            1 << 20,
            backend.clone(),
        ))));
        let instance = || {
            let platform = Platform::new(backend.clone(), backend.clone(), backend.clone());
            Gateway::from_json(&config, platform.with_stores(redis.clone())).unwrap()
        };
        let get = |gateway: &Gateway| {
            let request = http::Request::get("/a").body(Bytes::new()).unwrap();
            let answer = gateway.handle(request, RequestContext::new());
            futures_executor::block_on(answer).into_body()
        };
        let (first, second) = (get(&instance()), get(&instance()));
        (first, second, backend.0.load(Ordering::SeqCst))
    }
    #[test]
    fn an_http_cache_in_a_pool_is_shared_by_every_instance() {
        let (first, second, calls) = twice(r#"{"shared":true,"connection_name":"cache"}"#);
        assert_eq!((first.as_ref(), calls), (&b"{\"call\":1}"[..], 1));
        assert_eq!(second, first);
        // Without a pool each instance keeps its own answers: the second one asks again.
        let (_, second, calls) = twice(r#"{"shared":true}"#);
        assert_eq!((second.as_ref(), calls), (&b"{\"call\":2}"[..], 2));
    }
}
