//! The state port on Cloudflare Workers ([`WorkerStores`]):
//!
//! * a `redis.connection_pools[]` entry is served by the Durable Object binding its
//!   `durable_object` key names ([`ManifoldStore`](crate::ManifoldStore)): one object per bucket
//!   key, so a rate limit in that pool counts exactly across every isolate and location;
//! * `qos/http-cache` with `shared: true` keeps its answers in the Cache API
//!   (`caches.default`), shared by every isolate of a location, under the digest the core
//!   makes of its key (which holds header values that do not belong in a URL).
//!
//! * `auth/api-keys` `keys_from.kv_namespace` reads API keys from a Workers KV namespace
//!   binding ([`KvKeys`], `get` only).
//!
//! Bindings come from the `env` the gateway is built with (fixed for the isolate's life). A
//! pool without a usable binding fails every take (its limits' failure policy applies), said
//! once per isolate in the log; so does a Durable Object that stops answering, and its
//! recovery.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use manifold_core::platform::{PoolSpec, Rate, Store, StoreError, Stores, Taken};
use manifold_core::BoxFuture;
use worker::kv::KvStore;
use worker::{console_error, console_log, Cache, Env, ObjectNamespace, Response};

/// The Workers [`Stores`]: Durable Objects for pools, the Cache API for the HTTP cache.
#[derive(Debug)]
pub struct WorkerStores {
    /// The Worker's bindings (fixed for the isolate's life).
    env: Env,
}

/// A pool's buckets in Durable Objects.
struct DurableStore {
    pool: String,
    namespace: ObjectNamespace,
    /// The last take failed (logged once until one succeeds again).
    failing: Cell<bool>,
}

/// Cached backend answers in `caches.default`.
struct CacheApi;

/// A KV namespace, read only (API keys).
struct KvKeys {
    binding: String,
    kv: KvStore,
    /// The last read failed (logged once until one succeeds again).
    failing: Cell<bool>,
}

// === impl WorkerStores ===

impl WorkerStores {
    /// The stores on the bindings of `env`.
    pub fn new(env: Env) -> Self {
        Self { env }
    }
}

impl Stores for WorkerStores {
    fn open(&self, pool: &PoolSpec) -> Result<Arc<dyn Store>, StoreError> {
        let name = &pool.name;
        let namespace = match pool.durable_object.as_deref() {
            None => Err(format!("redis pool `{name}` has no `durable_object`: on Workers a pool is served by a Durable Object binding")),
            Some(binding) => self
                .env
                .durable_object(binding)
                .map_err(|e| format!("redis pool `{name}`: no Durable Object binding `{binding}` ({e})")),
        };
        // The port hands out `Arc`s; an isolate is single-threaded, so `!Sync` is fine here.
        #[allow(clippy::arc_with_non_send_sync)]
        match namespace {
            Ok(namespace) => Ok(Arc::new(DurableStore {
                pool: name.clone(),
                namespace,
                failing: Cell::new(false),
            })),
            Err(e) => {
                console_error!("manifold: {e}; its rate limits refuse requests with 503, or let them through where `on_failure_allow` is true");
                Err(StoreError::new(e))
            }
        }
    }

    fn http_cache(&self) -> Option<Arc<dyn Store>> {
        Some(Arc::new(CacheApi))
    }

    fn kv_namespace(&self, binding: &str) -> Result<Arc<dyn Store>, StoreError> {
        match self.env.kv(binding) {
            // An isolate is single-threaded, as for the Durable Object stores.
            #[allow(clippy::arc_with_non_send_sync)]
            Ok(kv) => Ok(Arc::new(KvKeys {
                binding: binding.to_owned(),
                kv,
                failing: Cell::new(false),
            })),
            Err(e) => {
                let e = format!("no KV namespace binding `{binding}` ({e})");
                console_error!("manifold: {e}; only the config's API keys are accepted");
                Err(StoreError::new(e))
            }
        }
    }
}

// === impl KvKeys ===

impl Store for KvKeys {
    fn take(&self, _: &str, _: Rate, _: u64) -> BoxFuture<'_, Result<Taken, StoreError>> {
        Box::pin(async {
            Err(StoreError::new(
                "a KV namespace keeps no rate-limit buckets",
            ))
        })
    }

    fn get(&self, key: &str) -> BoxFuture<'_, Result<Option<Bytes>, StoreError>> {
        let read = self.kv.get(key).bytes();
        Box::pin(async move {
            let result = read.await.map(|v| v.map(Bytes::from));
            // The entry's name is a digest, never logged all the same; the error is the
            // runtime's.
            match (&result, self.failing.replace(result.is_err())) {
                (Err(e), false) => console_error!("manifold: KV namespace `{}` does not answer ({e}): keys that are not the config's get 503", self.binding),
                (Ok(_), true) => console_log!("manifold: KV namespace `{}` answers again", self.binding),
                _ => {}
            }
            result.map_err(|e| StoreError::new(format!("KV: {e}")))
        })
    }

    fn put(&self, _: &str, _: Bytes, _: Duration) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::new("API keys are read from KV, never written")) })
    }
}

// === impl DurableStore ===

impl DurableStore {
    /// One take by the object of `key`: (allowed, tokens left).
    async fn call(&self, key: &str, url: &str) -> Result<(bool, f64), String> {
        let stub = self
            .namespace
            .id_from_name(key)
            .and_then(|id| id.get_stub());
        let mut answer = stub.map_err(|e| e.to_string())?.fetch_with_str(url).await;
        let text = match answer.as_mut() {
            Ok(a) if a.status_code() == 200 => a.text().await.map_err(|e| e.to_string())?,
            Ok(a) => return Err(format!("status {}", a.status_code())),
            Err(e) => return Err(e.to_string()),
        };
        let parsed = text
            .split_once(' ')
            .and_then(|(a, t)| Some((a == "1", f64::from_bits(t.parse().ok()?))));
        parsed.ok_or_else(|| format!("unexpected answer `{text}`"))
    }

    /// Log the first failure and the first success after failures.
    fn note<T>(&self, result: &Result<T, String>) {
        match (result, self.failing.replace(result.is_err())) {
            (Err(e), false) => console_error!("manifold: redis pool `{}` (Durable Object) does not answer ({e}): its rate limits refuse requests with 503, or let them through where `on_failure_allow` is true", self.pool),
            (Ok(_), true) => console_log!("manifold: redis pool `{}` (Durable Object) answers again", self.pool),
            _ => {}
        }
    }
}

impl Store for DurableStore {
    fn take(&self, key: &str, rate: Rate, now_ms: u64) -> BoxFuture<'_, Result<Taken, StoreError>> {
        let (per_ms, capacity) = (rate.per_ms().to_bits(), rate.capacity().to_bits());
        let url =
            format!("https://manifold-store/take?per_ms={per_ms}&capacity={capacity}&now={now_ms}");
        let key = key.to_owned();
        Box::pin(async move {
            let result = self.call(&key, &url).await;
            self.note(&result);
            let (allowed, tokens) = result.map_err(StoreError::new)?;
            Ok(Taken::new(allowed, tokens, rate))
        })
    }

    fn get(&self, _: &str) -> BoxFuture<'_, Result<Option<Bytes>, StoreError>> {
        Box::pin(async {
            Err(StoreError::new(
                "a Durable Object pool keeps rate-limit buckets only",
            ))
        })
    }

    fn put(&self, _: &str, _: Bytes, _: Duration) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async {
            Err(StoreError::new(
                "a Durable Object pool keeps rate-limit buckets only",
            ))
        })
    }
}

// === impl CacheApi ===

/// The Cache API's key (a URL) of a core cache key. The core hands a shared store a digest
/// (`manifold:hc:<SHA-256>`), never the header values the key is made of.
fn cache_url(key: &str) -> String {
    format!("https://manifold-http-cache.invalid/{key}")
}

impl Store for CacheApi {
    fn take(&self, _: &str, _: Rate, _: u64) -> BoxFuture<'_, Result<Taken, StoreError>> {
        Box::pin(async { Err(StoreError::new("the Cache API keeps no rate-limit buckets")) })
    }

    fn get(&self, key: &str) -> BoxFuture<'_, Result<Option<Bytes>, StoreError>> {
        let url = cache_url(key);
        Box::pin(async move {
            let err = |e: worker::Error| StoreError::new(format!("Cache API: {e}"));
            match Cache::default().get(url, false).await.map_err(err)? {
                Some(mut hit) => Ok(Some(Bytes::from(hit.bytes().await.map_err(err)?))),
                None => Ok(None),
            }
        })
    }

    fn put(&self, key: &str, value: Bytes, ttl: Duration) -> BoxFuture<'_, Result<(), StoreError>> {
        let url = cache_url(key);
        Box::pin(async move {
            let err = |e: worker::Error| StoreError::new(format!("Cache API: {e}"));
            // Whole seconds, rounded up: the core checks freshness itself on every hit.
            let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
            if secs == 0 {
                return Ok(());
            }
            let mut entry = Response::from_bytes(value.to_vec()).map_err(err)?;
            let max_age = format!("max-age={secs}");
            entry
                .headers_mut()
                .set("cache-control", &max_age)
                .map_err(err)?;
            Cache::default().put(url, entry).await.map_err(err)
        })
    }
}
