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

use crate::config::Config;
use crate::platform::{BoxFuture, MaybeSend, Platform, Rate, Store, StoreError, Taken};

/// The opened pools, by name.
#[derive(Default)]
pub(crate) struct SharedStores(BTreeMap<String, Arc<dyn Store>>);

/// A pool that could not be opened: every call fails with why.
struct Unavailable(StoreError);

// === impl SharedStores ===

impl SharedStores {
    /// Open every pool a rate limit names.
    pub(crate) fn open(config: &Config, platform: &Platform) -> Self {
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
            .collect();
        let mut out = Self::default();
        for pool in config
            .redis
            .pools
            .iter()
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
            out.0.insert(pool.spec.name.clone(), store);
        }
        out
    }

    /// The store of the pool named `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<dyn Store>> {
        self.0.get(name).cloned()
    }
}

impl std::fmt::Debug for SharedStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
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
