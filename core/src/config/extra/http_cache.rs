//! The `qos/http-cache` namespace (backend).

use serde::Deserialize;

use super::{checked, Namespace};
use crate::config::decode::Cx;
use crate::config::error::Path;

/// Options of `qos/http-cache`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HttpCache {
    /// Keep the answers in a cache shared by every instance (then `max_items`/`max_size` do
    /// not apply): the platform's own when it has one (the Cache API on Workers, shared by
    /// every isolate of a location), else the Redis pool `connection_name` names (natively
    /// and on Lambda). Without either every backend keeps its own store; its key holds the
    /// full URL, so KrakenD's sharing between backends would change nothing but the bound.
    pub shared: bool,
    /// Manifold only: the `redis.connection_pools[]` entry holding the shared answers (the
    /// key the Redis-backed features of KrakenD Enterprise use to name a pool). Needs
    /// `shared: true`.
    pub connection_name: Option<String>,
    /// Where `connection_name` is, for the pool reference check.
    #[serde(skip)]
    #[doc(hidden)]
    pub pool_at: Path,
    /// Most entries kept (LRU); set together with `max_size`. Default 1000.
    pub max_items: Option<usize>,
    /// Most body bytes kept (LRU); set together with `max_items`. Default 64 MiB.
    pub max_size: Option<usize>,
}

/// Entries kept when `max_items` is not set (KrakenD has no bound; Manifold must have one).
pub const DEFAULT_MAX_ITEMS: usize = 1000;
/// Body bytes kept when `max_size` is not set.
pub const DEFAULT_MAX_SIZE: usize = 64 * 1024 * 1024;

// === impl HttpCache ===

impl HttpCache {
    /// Problems found after decoding, as (key, message).
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.max_items.is_some() != self.max_size.is_some() {
            out.push((
                "max_items",
                "set both `max_items` and `max_size`, or neither (as KrakenD)".to_owned(),
            ));
        }
        if self.connection_name.is_some() && !self.shared {
            out.push((
                "connection_name",
                "`connection_name` shares the cache through a Redis pool: set `shared: true` too"
                    .to_owned(),
            ));
        }
        if self.max_items == Some(0) || self.max_size == Some(0) {
            out.push((
                "max_items",
                "`max_items` and `max_size` must be greater than zero".to_owned(),
            ));
        }
        out
    }

    /// The entry bound.
    pub fn items(&self) -> usize {
        self.max_items.unwrap_or(DEFAULT_MAX_ITEMS)
    }

    /// The byte bound.
    pub fn size(&self) -> usize {
        self.max_size.unwrap_or(DEFAULT_MAX_SIZE)
    }
}

impl Namespace for HttpCache {
    type Raw = Self;

    fn plan(mut raw: Self, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let problems = raw.problems();
        raw.pool_at = cx.path().key("connection_name");
        checked(cx, raw, &problems)
    }
}
