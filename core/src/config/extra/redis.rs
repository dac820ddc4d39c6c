//! The root `redis` namespace (KrakenD Enterprise): named `connection_pools[]` that stateful
//! features refer to by name (`connection_name`). Keys as KrakenD's: `name`, `address`, `db`,
//! `user_name`, `password`, `client_name`, `dial_timeout`, `pool_size`, `tls`; the go-redis
//! tuning keys (retries, idle/lifetime limits, OpenTelemetry) are accepted with a warning.
//! Manifold adds `command_timeout` (KrakenD has no key for it). `clusters[]` are not supported.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::typed;
use crate::config::error::{Diags, Path};
use crate::platform::{PoolSpec, PoolTls};

/// One `redis.connection_pools[]` entry, with where it is declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisPool {
    /// What the platform needs to reach it.
    pub spec: PoolSpec,
    /// JSON path of the entry, for problems found when the gateway starts.
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

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawRedis {
    connection_pools: Vec<Value>,
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
    // go-redis tuning, accepted for compatibility (no effect; see `NO_EFFECT`).
    pool_timeout: Option<Value>,
    max_retries: Option<Value>,
    min_retry_backoff: Option<Value>,
    max_retry_backoff: Option<Value>,
    conn_max_idle_time: Option<Value>,
    conn_max_life_time: Option<Value>,
    max_active_conns: Option<Value>,
    max_idle_conns: Option<Value>,
    min_idle_conns: Option<Value>,
    opentelemetry: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawTls {
    allow_insecure_connections: bool,
    ca_certs: Vec<String>,
    client_certs: Vec<RawClientCert>,
    disable_system_ca_pool: Option<Value>,
    cipher_suites: Option<Value>,
    curve_preferences: Option<Value>,
    min_version: Option<Value>,
    max_version: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawClientCert {
    certificate: String,
    private_key: String,
}

/// Connections of a pool whose `pool_size` is 0 or absent (KrakenD's default).
const DEFAULT_POOL_SIZE: usize = 10;
/// Longest wait for a connection when `dial_timeout` is absent (KrakenD's default).
const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for one command when `command_timeout` is absent: a rate-limit take on a
/// healthy Redis answers in about a millisecond; beyond this the store counts as down.
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// Decode the `redis` namespace at `path`.
pub(crate) fn decode(
    diags: &mut Diags<'_>,
    path: &Path,
    context: Option<&str>,
    value: &Value,
) -> Option<Redis> {
    let raw: RawRedis = typed(diags, path, context, value)?;
    let mut out = Redis::default();
    let mut names = BTreeSet::new();
    for (i, value) in raw.connection_pools.iter().enumerate() {
        let at = path.key("connection_pools").index(i);
        if let Some(name) = value.get("name").and_then(Value::as_str) {
            if !name.is_empty() && !names.insert(name.to_owned()) {
                let message = format!("duplicate pool name `{name}`");
                diags.error(&at.key("name"), context, message);
                continue;
            }
        }
        if let Some(pool) = decode_pool(diags, &at, context, value) {
            out.pools.push(pool);
        }
    }
    for (i, cluster) in raw.clusters.iter().enumerate() {
        let at = path.key("clusters").index(i);
        diags.warn(&at, context, "Redis clusters are not supported by Manifold; declare a `connection_pools` entry for one writeable member instead");
        if let Some(name) = cluster.get("name").and_then(Value::as_str) {
            out.clusters.push(name.to_owned());
        }
    }
    Some(out)
}

fn decode_pool(
    diags: &mut Diags<'_>,
    at: &Path,
    context: Option<&str>,
    value: &Value,
) -> Option<RedisPool> {
    let raw: RawPool = typed(diags, at, context, value)?;
    let errors = diags.out.errors.len();
    if raw.name.is_empty() {
        diags.error(
            &at.key("name"),
            context,
            "a pool needs a `name` (features refer to it by `connection_name`)",
        );
    }
    if let Err(problem) = check_address(&raw.address) {
        diags.error(&at.key("address"), context, problem);
    }
    if raw.db < 0 {
        diags.error(&at.key("db"), context, "must be 0 or greater");
    }
    let connect_timeout = duration(
        diags,
        at,
        context,
        "dial_timeout",
        raw.dial_timeout.as_deref(),
    )
    .unwrap_or(DEFAULT_DIAL_TIMEOUT);
    let command_timeout = duration(
        diags,
        at,
        context,
        "command_timeout",
        raw.command_timeout.as_deref(),
    )
    .unwrap_or(DEFAULT_COMMAND_TIMEOUT);
    let no_effect = [
        ("pool_timeout", raw.pool_timeout.is_some()),
        ("max_retries", raw.max_retries.is_some()),
        ("min_retry_backoff", raw.min_retry_backoff.is_some()),
        ("max_retry_backoff", raw.max_retry_backoff.is_some()),
        ("conn_max_idle_time", raw.conn_max_idle_time.is_some()),
        ("conn_max_life_time", raw.conn_max_life_time.is_some()),
        ("max_active_conns", raw.max_active_conns.is_some()),
        ("max_idle_conns", raw.max_idle_conns.is_some()),
        ("min_idle_conns", raw.min_idle_conns.is_some()),
        ("opentelemetry", raw.opentelemetry.is_some()),
    ];
    for (key, _) in no_effect.iter().filter(|(_, set)| *set) {
        diags.warn(&at.key(key), context, format!("`{key}` is accepted for KrakenD compatibility but has no effect in Manifold (connections pipeline commands and a take is never retried, so it cannot count twice)"));
    }
    let tls = raw.tls.map(|t| tls(diags, &at.key("tls"), context, t));
    if diags.out.errors.len() > errors {
        return None;
    }
    let mut spec = PoolSpec::new(raw.name, raw.address);
    spec.db = raw.db;
    spec.username = raw.user_name.filter(|u| !u.is_empty());
    spec.password = raw.password.filter(|p| !p.is_empty());
    spec.client_name = raw.client_name.filter(|c| !c.is_empty());
    spec.tls = tls;
    spec.connect_timeout = connect_timeout;
    spec.command_timeout = command_timeout;
    spec.connections = if raw.pool_size == 0 {
        DEFAULT_POOL_SIZE
    } else {
        raw.pool_size
    };
    let (line, column) = diags.position(at);
    Some(RedisPool {
        spec,
        path: at.to_string(),
        line,
        column,
    })
}

fn tls(diags: &mut Diags<'_>, at: &Path, context: Option<&str>, raw: RawTls) -> PoolTls {
    let no_effect = [
        (
            "disable_system_ca_pool",
            raw.disable_system_ca_pool.is_some(),
        ),
        ("cipher_suites", raw.cipher_suites.is_some()),
        ("curve_preferences", raw.curve_preferences.is_some()),
        ("min_version", raw.min_version.is_some()),
        ("max_version", raw.max_version.is_some()),
    ];
    for (key, _) in no_effect.iter().filter(|(_, set)| *set) {
        diags.warn(&at.key(key), context, format!("`{key}` has no effect in Manifold: TLS 1.2 and 1.3 with rustls' default suites, the bundled Mozilla roots plus `ca_certs`"));
    }
    if raw.client_certs.len() > 1 {
        diags.warn(
            &at.key("client_certs").index(1),
            context,
            "only the first client certificate is used",
        );
    }
    let client_cert = raw.client_certs.into_iter().next().and_then(|c| {
        if c.certificate.is_empty() || c.private_key.is_empty() {
            diags.error(
                &at.key("client_certs").index(0),
                context,
                "a client certificate needs `certificate` and `private_key` (PEM file paths)",
            );
            return None;
        }
        Some((c.certificate, c.private_key))
    });
    PoolTls::new(raw.allow_insecure_connections, raw.ca_certs, client_cert)
}

/// A positive Go duration under `key`, if set.
fn duration(
    diags: &mut Diags<'_>,
    at: &Path,
    context: Option<&str>,
    key: &str,
    text: Option<&str>,
) -> Option<Duration> {
    match crate::config::parse_duration(text?) {
        Ok(d) if !d.is_zero() => Some(d),
        Ok(_) => {
            diags.error(&at.key(key), context, "must be longer than zero");
            None
        }
        Err(e) => {
            diags.error(&at.key(key), context, e);
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
}
