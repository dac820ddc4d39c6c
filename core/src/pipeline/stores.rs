//! The shared stores a config names, opened once when the gateway is compiled: one per
//! `redis.connection_pools[]` entry that some feature uses, through the platform's
//! [`Stores`](crate::platform::Stores). Features that name no pool keep their state in a
//! `MemoryStore` of their own and never come here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::config::{Config, ConfigErrors, Diagnostic};
use crate::platform::{Platform, Store, StoreError};

/// The opened pools, by name.
#[derive(Default)]
pub(crate) struct SharedStores(BTreeMap<String, Arc<dyn Store>>);

// === impl SharedStores ===

impl SharedStores {
    /// Open every pool a rate limit names. A platform without shared stores, or one that
    /// cannot open a pool, stops the gateway with an error at the pool's entry.
    pub(crate) fn open(config: &Config, platform: &Platform) -> Result<Self, ConfigErrors> {
        let used: BTreeSet<&str> = config
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
        let mut errors = Vec::new();
        for pool in config
            .redis
            .pools
            .iter()
            .filter(|p| used.contains(p.spec.name.as_str()))
        {
            let opened = match &platform.stores {
                Some(stores) => stores.open(&pool.spec),
                None => Err(StoreError::new(
                    "this platform has no shared store for Redis pools yet",
                )),
            };
            match opened {
                Ok(store) => {
                    out.0.insert(pool.spec.name.clone(), store);
                }
                Err(e) => errors.push(Diagnostic {
                    path: pool.path.clone(),
                    context: Some(format!("redis pool `{}`", pool.spec.name)),
                    message: format!("cannot open the pool: {e}"),
                    line: pool.line,
                    column: pool.column,
                }),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(ConfigErrors {
                errors,
                warnings: Vec::new(),
            })
        }
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
