//! The Redis-backed rate limits of KrakenD Enterprise: `qos/ratelimit/router/redis` (an
//! endpoint's buckets, shared by every instance) and `qos/ratelimit/service/redis` (root: one
//! set of buckets for every request to the gateway). The keys are those of
//! `qos/ratelimit/router` plus `connection_name` (a `redis` pool; `connection_pool` is its
//! deprecated spelling) and `on_failure_allow` (what happens while the store is unreachable:
//! false, the default, refuses with 503; true lets requests through unlimited).

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::redis::Redis;
use super::{typed, RouterRateLimit, Strategy};
use crate::config::error::{Diags, Path};
use crate::config::Endpoint;

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
    pub(crate) pool_at: Path,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawRedisRateLimit {
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

/// Decode one Redis rate-limit namespace at `path`; `service` for the root one, where no
/// route (and so no parameter) is known yet.
pub(crate) fn decode(
    diags: &mut Diags<'_>,
    path: &Path,
    context: Option<&str>,
    value: &Value,
    service: bool,
) -> Option<RedisRateLimit> {
    let raw: RawRedisRateLimit = typed(diags, path, context, value)?;
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
    if service && limit.strategy == Strategy::Param && limit.client_max_rate > 0.0 {
        problems.push((
            "strategy",
            "the service rate limit runs before routing: use `ip` or `header` (`param` needs an endpoint)".to_owned(),
        ));
    }
    for (key, message) in &problems {
        diags.error(&path.key(key), context, message.clone());
    }
    if limit.max_rate == 0.0 && limit.client_max_rate == 0.0 {
        diags.warn(
            path,
            context,
            "neither `max_rate` nor `client_max_rate` is set: this rate limit limits nothing",
        );
    }
    let (pool, pool_at) = match (raw.connection_name, raw.connection_pool) {
        (Some(name), _) => (name, path.key("connection_name")),
        (None, Some(name)) => {
            let at = path.key("connection_pool");
            diags.warn(
                &at,
                context,
                "`connection_pool` is deprecated (KrakenD); use `connection_name`",
            );
            (name, at)
        }
        (None, None) => {
            diags.error(
                path,
                context,
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

/// Every Redis rate limit must name a declared pool: a located error for each one that does
/// not (`manifold check` reports them like any other config error).
pub(crate) fn check_pools(
    diags: &mut Diags<'_>,
    redis: &Redis,
    service: Option<&RedisRateLimit>,
    endpoints: &[Endpoint],
) {
    let uses = service.map(|s| (s, None)).into_iter().chain(
        endpoints
            .iter()
            .filter_map(|e| Some((e.guards.ratelimit_redis.as_ref()?, Some(e.label.as_str())))),
    );
    for (limit, context) in uses {
        if redis.pools.iter().any(|p| p.spec.name == limit.pool) {
            continue;
        }
        let message = if redis.clusters.contains(&limit.pool) {
            format!(
                "`{}` is a Redis cluster, which Manifold does not support; name a `connection_pools` entry",
                limit.pool
            )
        } else {
            let declared: Vec<&str> = redis.pools.iter().map(|p| p.spec.name.as_str()).collect();
            let declared = if declared.is_empty() {
                "none is declared (root `extra_config.redis.connection_pools`)".to_owned()
            } else {
                format!("declared: {}", declared.join(", "))
            };
            format!("unknown Redis pool `{}`; {declared}", limit.pool)
        };
        diags.error(&limit.pool_at, context, message);
    }
}
