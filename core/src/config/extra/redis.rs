//! The root `redis` namespace (KrakenD Enterprise): named `connection_pools[]` that stateful
//! features refer to by name (`connection_name`). Keys as KrakenD's: `name`, `address`, `db`,
//! `user_name`, `password`, `client_name`, `dial_timeout`, `pool_size`, `tls`; the go-redis
//! tuning keys (retries, idle/lifetime limits, OpenTelemetry) are accepted with a warning.
//! Manifold adds `command_timeout` (KrakenD has no key for it) and `durable_object` (the
//! Durable Object binding that serves the pool on Cloudflare Workers, where there is no Redis).
//! `clusters[]` are not supported.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::Namespace;
use crate::config::decode::Cx;
use crate::platform::{PoolSpec, PoolTls};

/// One `redis.connection_pools[]` entry, with where it is declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisPool {
    /// What the platform needs to reach it.
    pub spec: PoolSpec,
    /// JSON path of the entry, for problems found when the platform opens it.
    pub path: String,
    /// 1-based line of the entry.
    pub line: usize,
    /// 1-based column of the entry.
    pub column: usize,
}

/// The `redis` namespace: its pools, and the names of the clusters it declares (which
/// Manifold does not support, kept to say so when a feature names one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redis {
    /// `connection_pools[]`, in declaration order.
    pub pools: Vec<RedisPool>,
    /// `clusters[].name`.
    pub clusters: Vec<String>,
}

/// The `redis` namespace as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawRedis {
    connection_pools: Vec<RawPool>,
    /// Not supported: read as any JSON, only for the names.
    clusters: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawPool {
    name: String,
    address: String,
    db: i64,
    user_name: Option<String>,
    password: Option<String>,
    client_name: Option<String>,
    dial_timeout: Option<String>,
    command_timeout: Option<String>,
    pool_size: usize,
    tls: Option<RawTls>,
    /// Manifold only: the Durable Object binding serving this pool on Workers.
    durable_object: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawTls {
    allow_insecure_connections: bool,
    ca_certs: Vec<String>,
    client_certs: Vec<RawClientCert>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawClientCert {
    certificate: String,
    private_key: String,
}

/// KrakenD's keys (go-redis tuning, OpenTelemetry, TLS details) accepted without effect:
/// connections are multiplexed and a take is never retried (a retry after a lost answer could
/// take twice); TLS is 1.2 and 1.3 with rustls' default suites.
const NO_EFFECT: &[&str] = &[
    "pool_timeout",
    "max_retries",
    "min_retry_backoff",
    "max_retry_backoff",
    "conn_max_idle_time",
    "conn_max_life_time",
    "max_active_conns",
    "max_idle_conns",
    "min_idle_conns",
    "opentelemetry",
    "disable_system_ca_pool",
    "cipher_suites",
    "curve_preferences",
    "min_version",
    "max_version",
];

/// Connections of a pool whose `pool_size` is 0 or absent (KrakenD's default).
const DEFAULT_POOL_SIZE: usize = 10;
/// Longest wait for a connection when `dial_timeout` is absent (KrakenD's default).
const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for one command when `command_timeout` is absent: a rate-limit take on a
/// healthy Redis answers in about a millisecond; beyond this the store counts as down.
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

// === impl Redis ===

impl Namespace for Redis {
    type Raw = RawRedis;
    const NO_EFFECT: &'static [&'static str] = NO_EFFECT;

    fn plan(raw: RawRedis, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let mut out = Redis::default();
        let mut names = BTreeSet::new();
        for (i, pool) in raw.connection_pools.into_iter().enumerate() {
            let mut at = cx.at("connection_pools").index(i);
            if !pool.name.is_empty() && !names.insert(pool.name.clone()) {
                let message = format!("duplicate pool name `{}`", pool.name);
                at.at("name").error(message);
                continue;
            }
            if let Some(pool) = pool.plan(&mut at) {
                out.pools.push(pool);
            }
        }
        for (i, cluster) in raw.clusters.iter().enumerate() {
            cx.at("clusters").index(i).warn("Redis clusters are not supported by Manifold; declare a `connection_pools` entry for one writeable member instead");
            if let Some(name) = cluster.get("name").and_then(Value::as_str) {
                out.clusters.push(name.to_owned());
            }
        }
        Some(out)
    }
}

// === impl RawPool ===

impl RawPool {
    /// The pool's spec, or `None` after reporting its problems at `cx`.
    fn plan(self, cx: &mut Cx<'_, '_>) -> Option<RedisPool> {
        let mark = cx.mark();
        if self.name.is_empty() {
            cx.at("name")
                .error("a pool needs a `name` (features refer to it by `connection_name`)");
        }
        if let Err(problem) = check_address(&self.address) {
            cx.at("address").error(problem);
        }
        if self.db < 0 {
            cx.at("db").error("must be 0 or greater");
        }
        let connect_timeout = positive(&mut cx.at("dial_timeout"), self.dial_timeout.as_deref())
            .unwrap_or(DEFAULT_DIAL_TIMEOUT);
        let command_timeout = positive(
            &mut cx.at("command_timeout"),
            self.command_timeout.as_deref(),
        )
        .unwrap_or(DEFAULT_COMMAND_TIMEOUT);
        let tls = self.tls.map(|t| t.plan(&mut cx.at("tls")));
        if self
            .durable_object
            .as_deref()
            .is_some_and(|b| !is_js_name(b))
        {
            cx.at("durable_object").error(
                "must be the name of a Durable Object binding in wrangler.toml, e.g. \"MANIFOLD_STORE\"",
            );
        }
        if cx.failed_since(mark) {
            return None;
        }
        let mut spec = PoolSpec::new(self.name, self.address);
        spec.db = self.db;
        spec.username = self.user_name.filter(|u| !u.is_empty());
        spec.password = self.password.filter(|p| !p.is_empty());
        spec.client_name = self.client_name.filter(|c| !c.is_empty());
        spec.tls = tls;
        spec.durable_object = self.durable_object;
        spec.connect_timeout = connect_timeout;
        spec.command_timeout = command_timeout;
        spec.connections = if self.pool_size == 0 {
            DEFAULT_POOL_SIZE
        } else {
            self.pool_size
        };
        let (diags, path, _) = cx.parts();
        let (line, column) = diags.position(path);
        Some(RedisPool {
            spec,
            path: path.to_string(),
            line,
            column,
        })
    }
}

// === impl RawTls ===

impl RawTls {
    fn plan(self, cx: &mut Cx<'_, '_>) -> PoolTls {
        if self.client_certs.len() > 1 {
            cx.at("client_certs")
                .index(1)
                .warn("only the first client certificate is used");
        }
        let client_cert = self.client_certs.into_iter().next().and_then(|c| {
            if c.certificate.is_empty() || c.private_key.is_empty() {
                cx.at("client_certs").index(0).error(
                    "a client certificate needs `certificate` and `private_key` (PEM file paths)",
                );
                return None;
            }
            Some((c.certificate, c.private_key))
        });
        PoolTls::new(self.allow_insecure_connections, self.ca_certs, client_cert)
    }
}

/// A binding name as wrangler.toml takes it: a JavaScript identifier.
fn is_js_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// A Go duration longer than zero, if set.
fn positive(cx: &mut Cx<'_, '_>, text: Option<&str>) -> Option<Duration> {
    match crate::config::parse_duration(text?) {
        Ok(d) if !d.is_zero() => Some(d),
        Ok(_) => {
            cx.error("must be longer than zero");
            None
        }
        Err(e) => {
            cx.error(e);
            None
        }
    }
}

/// `host:port`, as go-redis takes it (no scheme, a numeric port).
fn check_address(address: &str) -> Result<(), String> {
    let hint = "expected `host:port`, e.g. \"redis.internal:6379\"";
    if address.is_empty() {
        return Err(format!("a pool needs an `address` ({hint})"));
    }
    if address.contains("://") {
        return Err(format!(
            "`{address}` has a scheme; {hint} (TLS is the `tls` key)"
        ));
    }
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("`{address}` has no port; {hint}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(format!("`{address}` is not a valid address; {hint}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_host_and_port() {
        assert!(check_address("127.0.0.1:6379").is_ok());
        assert!(check_address("redis.internal:6380").is_ok());
        assert!(check_address("[::1]:6379").is_ok());
        assert!(check_address("redis.internal").is_err());
        assert!(check_address("redis://redis.internal:6379").is_err());
        assert!(check_address(":6379").is_err());
        assert!(check_address("host:0").is_err());
        assert!(check_address("host:99999").is_err());
    }

    #[test]
    fn binding_names_are_identifiers() {
        assert!(is_js_name("MANIFOLD_STORE"));
        assert!(is_js_name("_rl2"));
        assert!(!is_js_name(""));
        assert!(!is_js_name("2RL"));
        assert!(!is_js_name("RATE-LIMIT"));
    }
}
