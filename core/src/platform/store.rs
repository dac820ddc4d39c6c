//! The state port: what shared features need from wherever their state lives. Two operations
//! only — an atomic token-bucket take and a cache get/put with a time to live — so every
//! platform can offer them in its own way: memory (the default, per process / isolate /
//! sandbox), Redis natively and on Lambda, a Durable Object or the Cache API on Workers.
//!
//! A feature holds an `Arc<dyn Store>`. Without configuration it is a [`MemoryStore`] of its
//! own, with the feature's bounds (per-endpoint client buckets, per-backend cache entries);
//! a config naming a shared pool (`redis.connection_pools[]`) gets the store the platform's
//! [`Stores`] opens for that pool, one per pool, shared by every feature that names it.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;

use super::{BoxFuture, Clock, MaybeSend, MaybeSync};
pub use crate::bucket::{Bucket, Rate, Taken};
use crate::lru::Lru;

/// Where shared state lives. Every method is one round trip at most, and `take` is atomic:
/// two instances taking from the same key at once never both get the last token.
pub trait Store: MaybeSend + MaybeSync {
    /// Take one token from the bucket `key` (created full) at `now_ms` (the caller's
    /// clock, Unix ms): refill by the time elapsed since the bucket's last take, then take.
    fn take(&self, key: &str, rate: Rate, now_ms: u64) -> BoxFuture<'_, Result<Taken, StoreError>>;

    /// The value stored under `key`, unless it expired.
    fn get(&self, key: &str) -> BoxFuture<'_, Result<Option<Bytes>, StoreError>>;

    /// Store `value` under `key` for `ttl`, replacing any previous value.
    fn put(&self, key: &str, value: Bytes, ttl: Duration) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// Opens the shared stores a config declares: one implementation per platform (Redis pools
/// natively and on Lambda), each pool opened once when the gateway is compiled.
pub trait Stores: MaybeSend + MaybeSync {
    /// The store for `pool`. Connecting may happen later (and again after an outage); an
    /// error here is a configuration the platform cannot use (a certificate file it cannot
    /// read, a binding it does not have): that pool's calls all fail, so the features'
    /// failure policy applies.
    fn open(&self, pool: &PoolSpec) -> Result<Arc<dyn Store>, StoreError>;

    /// The platform's own shared HTTP cache, if it has one (the Cache API on Workers):
    /// `qos/http-cache` with `shared: true` keeps its answers there instead of in the
    /// backend's own memory.
    fn http_cache(&self) -> Option<Arc<dyn Store>> {
        None
    }

    /// The store of a pool already opened for this gateway, by name (`qos/http-cache`'s
    /// `connection_name`). The core answers it itself (it opens every pool once, through
    /// [`Stores::open`], before compiling the endpoints); platforms need not implement it.
    fn pool(&self, _name: &str) -> Option<Arc<dyn Store>> {
        None
    }

    /// A key-value namespace the platform binds by name (a Workers KV namespace), read
    /// through [`Store::get`] only: where `auth/api-keys` `keys_from.kv_namespace` finds keys.
    /// An error: the platform has no such binding (natively and on Lambda: none at all).
    fn kv_namespace(&self, binding: &str) -> Result<Arc<dyn Store>, StoreError> {
        Err(StoreError::new(format!(
            "no KV namespace `{binding}`: this platform has no KV namespaces"
        )))
    }
}

/// One named pool of connections to a shared store, as the config declares it (the root
/// `redis` namespace's `connection_pools[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolSpec {
    /// The name features refer to it by (`connection_name`).
    pub name: String,
    /// `host:port`.
    pub address: String,
    /// The database number selected after connecting.
    pub db: i64,
    /// ACL user name.
    pub username: Option<String>,
    /// Password (`AUTH`).
    pub password: Option<String>,
    /// How the connections show in `CLIENT LIST`.
    pub client_name: Option<String>,
    /// Connect over TLS, with these options.
    pub tls: Option<PoolTls>,
    /// Longest wait for a connection to be established.
    pub connect_timeout: Duration,
    /// Longest wait for one command's answer.
    pub command_timeout: Duration,
    /// Connections kept (each one pipelines any number of concurrent commands).
    pub connections: usize,
    /// On Cloudflare Workers: the Durable Object namespace binding that serves this pool
    /// instead of Redis (`durable_object`, a Manifold key; ignored on other platforms).
    pub durable_object: Option<String>,
}

/// TLS options of a pool (KrakenD's client TLS keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolTls {
    /// Accept any certificate and host name (`allow_insecure_connections`).
    pub insecure: bool,
    /// PEM files of extra CA certificates (`ca_certs`).
    pub ca_certs: Vec<String>,
    /// A PEM certificate and private key file for mutual TLS (`client_certs[0]`).
    pub client_cert: Option<(String, String)>,
}

/// Why a store could not answer (unreachable, timed out, refused the command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    /// Human-readable detail (platform specific).
    pub message: String,
}

/// An in-memory [`Store`]: LRU-bounded by entries and value bytes, in this process / isolate /
/// sandbox only. The default of every feature that names no shared pool.
pub struct MemoryStore {
    state: Mutex<Memory>,
    max_bytes: usize,
    clock: Arc<dyn Clock>,
}

/// The two maps of a [`MemoryStore`]; a store is used for one or the other.
struct Memory {
    buckets: Lru<Bucket>,
    values: Lru<(Bytes, u64)>,
    bytes: usize,
}

// === impl PoolSpec ===

impl PoolSpec {
    /// A pool named `name` at `address`, with the defaults of everything else (database 0,
    /// no credentials, plain TCP, 5 s to connect, 1 s per command, 10 connections).
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            address: address.into(),
            db: 0,
            username: None,
            password: None,
            client_name: None,
            tls: None,
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(1),
            connections: 10,
            durable_object: None,
        }
    }
}

// === impl PoolTls ===

impl PoolTls {
    /// TLS with the given options.
    pub fn new(
        insecure: bool,
        ca_certs: Vec<String>,
        client_cert: Option<(String, String)>,
    ) -> Self {
        Self {
            insecure,
            ca_certs,
            client_cert,
        }
    }
}

// === impl StoreError ===

impl StoreError {
    /// A store error with this detail.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

// === impl MemoryStore ===

impl MemoryStore {
    /// A store of at most `max_entries` keys and `max_bytes` value bytes; expiry is read
    /// from `clock`.
    pub fn new(max_entries: usize, max_bytes: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Mutex::new(Memory {
                buckets: Lru::new(max_entries),
                values: Lru::new(max_entries),
                bytes: 0,
            }),
            max_bytes,
            clock,
        }
    }

    /// A store of at most `max_entries` token buckets.
    pub fn buckets(max_entries: usize, clock: Arc<dyn Clock>) -> Self {
        Self::new(max_entries, 0, clock)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl Store for MemoryStore {
    fn take(&self, key: &str, rate: Rate, now_ms: u64) -> BoxFuture<'_, Result<Taken, StoreError>> {
        let taken = {
            let mut memory = self.lock();
            let bucket = memory
                .buckets
                .get_or_insert_with(key, || Bucket::full(rate, now_ms));
            bucket.take(rate, now_ms)
        };
        Box::pin(std::future::ready(Ok(taken)))
    }

    fn get(&self, key: &str) -> BoxFuture<'_, Result<Option<Bytes>, StoreError>> {
        let now = self.clock.now_millis();
        let hit = {
            let mut memory = self.lock();
            match memory.values.get_mut(key) {
                Some((value, expires)) if *expires > now => Some(value.clone()),
                Some(_) => {
                    if let Some((old, _)) = memory.values.remove(key) {
                        memory.bytes = memory.bytes.saturating_sub(old.len());
                    }
                    None
                }
                None => None,
            }
        };
        Box::pin(std::future::ready(Ok(hit)))
    }

    fn put(&self, key: &str, value: Bytes, ttl: Duration) -> BoxFuture<'_, Result<(), StoreError>> {
        let size = value.len();
        if size <= self.max_bytes {
            let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
            let expires = self.clock.now_millis().saturating_add(ttl_ms);
            let mut memory = self.lock();
            let Memory { values, bytes, .. } = &mut *memory;
            for (old, _) in values.insert(key.to_owned(), (value, expires)) {
                *bytes = bytes.saturating_sub(old.len());
            }
            *bytes += size;
            while *bytes > self.max_bytes {
                match values.pop_oldest() {
                    Some((old, _)) => *bytes = bytes.saturating_sub(old.len()),
                    None => break,
                }
            }
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[derive(Default)]
    struct Fixed(AtomicU64);

    impl Clock for Fixed {
        fn now_millis(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn block<T>(f: BoxFuture<'_, T>) -> T {
        futures_executor::block_on(f)
    }

    #[test]
    fn buckets_are_bounded_per_store() {
        let store = MemoryStore::buckets(2, Arc::new(Fixed::default()));
        let rate = Rate::new(1.0, 0, Some(Duration::from_secs(60))).unwrap();
        assert!(block(store.take("a", rate, 0)).unwrap().allowed);
        assert!(!block(store.take("a", rate, 0)).unwrap().allowed);
        // Two more keys push `a` out: it comes back full (the documented cost of the bound).
        assert!(block(store.take("b", rate, 0)).unwrap().allowed);
        assert!(block(store.take("c", rate, 0)).unwrap().allowed);
        assert!(block(store.take("a", rate, 0)).unwrap().allowed);
    }

    #[test]
    fn values_expire_and_respect_the_byte_bound() {
        let clock = Arc::new(Fixed::default());
        let store = MemoryStore::new(10, 8, clock.clone());
        let ttl = Duration::from_secs(1);
        block(store.put("a", Bytes::from_static(b"12345"), ttl)).unwrap();
        assert_eq!(
            block(store.get("a")).unwrap().as_deref(),
            Some(&b"12345"[..])
        );
        // Too large for the bound: not stored at all.
        block(store.put("big", Bytes::from_static(b"123456789"), ttl)).unwrap();
        assert_eq!(block(store.get("big")).unwrap(), None);
        // Fits only if `a` goes.
        block(store.put("b", Bytes::from_static(b"1234"), ttl)).unwrap();
        assert_eq!(block(store.get("a")).unwrap(), None);
        assert!(block(store.get("b")).unwrap().is_some());
        clock.0.store(1000, Ordering::SeqCst);
        assert_eq!(block(store.get("b")).unwrap(), None);
    }
}
