//! The Redis-backed rate limits of KrakenD Enterprise: `qos/ratelimit/router/redis` (an
//! endpoint's buckets, shared by every instance) and `qos/ratelimit/service/redis` (root: one
//! set of buckets for every request to the gateway). The keys are those of
//! `qos/ratelimit/router` plus `connection_name` (a `redis` pool; `connection_pool` is its
//! deprecated spelling) and `on_failure_allow` (what happens while the store is unreachable:
//! false, the default, refuses with 503; true lets requests through unlimited).

use std::time::Duration;

use serde::Deserialize;

use super::{Namespace, RouterRateLimit, Strategy};
use crate::config::decode::{Cx, Level};
use crate::config::error::Path;

/// Options of `qos/ratelimit/router/redis` and `qos/ratelimit/service/redis`.
#[derive(Debug, Clone)]
pub struct RedisRateLimit {
    /// The rates, the client strategy and `headers`, as `qos/ratelimit/router` has them.
    pub limit: RouterRateLimit,
    /// The `redis.connection_pools[]` entry holding the buckets.
    pub pool: String,
    /// While the store is unreachable, serve requests unlimited (else refuse them with 503).
    pub on_failure_allow: bool,
    /// Where the pool is named, for the reference check.
    #[doc(hidden)]
    pub pool_at: Path,
}

/// The Redis rate-limit namespaces as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawRedisRateLimit {
    max_rate: f64,
    capacity: u64,
    client_max_rate: f64,
    client_capacity: u64,
    strategy: Strategy,
    key: String,
    #[serde(deserialize_with = "super::go_duration")]
    every: Option<Duration>,
    headers: bool,
    connection_name: Option<String>,
    connection_pool: Option<String>,
    on_failure_allow: bool,
}

// === impl RedisRateLimit ===

impl Namespace for RedisRateLimit {
    type Raw = RawRedisRateLimit;

    /// The root one is the service's: it runs before routing, so no parameter is known yet.
    fn plan(raw: RawRedisRateLimit, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let limit = RouterRateLimit {
            max_rate: raw.max_rate,
            capacity: raw.capacity,
            client_max_rate: raw.client_max_rate,
            client_capacity: raw.client_capacity,
            strategy: raw.strategy,
            key: raw.key,
            every: raw.every,
            headers: raw.headers,
        };
        let mut problems = limit.problems();
        let service = cx.level() == Level::Root;
        let routed = matches!(limit.strategy, Strategy::Param | Strategy::ApiKey);
        if service && routed && limit.client_max_rate > 0.0 {
            problems.push((
                "strategy",
                "the service rate limit runs before routing: use `ip` or `header` (`param` and `api_key` need an endpoint)".to_owned(),
            ));
        }
        for (key, message) in &problems {
            cx.at(key).error(message.clone());
        }
        if limit.max_rate == 0.0 && limit.client_max_rate == 0.0 {
            cx.warn(
                "neither `max_rate` nor `client_max_rate` is set: this rate limit limits nothing",
            );
        }
        let (pool, pool_at) = match (raw.connection_name, raw.connection_pool) {
            (Some(name), _) => (name, cx.path().key("connection_name")),
            (None, Some(name)) => {
                cx.at("connection_pool")
                    .warn("`connection_pool` is deprecated (KrakenD); use `connection_name`");
                (name, cx.path().key("connection_pool"))
            }
            (None, None) => {
                cx.error(
                    "missing `connection_name`: the `redis` connection pool holding the buckets",
                );
                return None;
            }
        };
        problems.is_empty().then_some(RedisRateLimit {
            limit,
            pool,
            on_failure_allow: raw.on_failure_allow,
            pool_at,
        })
    }
}
