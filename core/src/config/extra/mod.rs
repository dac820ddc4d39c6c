//! `extra_config` namespaces: one typed struct per namespace, decoded once at load time. The
//! mapping from namespace name to decoder is this one explicit `match`, not a registry.

mod auth;
mod backend_http;
mod bot_detector;
mod cel;
mod circuit_breaker;
mod cors;
mod http_cache;
mod json_schema;
mod proxy;
mod ratelimit;
mod redis;
mod redis_ratelimit;
mod router;
mod security_http;

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

pub use auth::{
    JwtSigner, JwtValidator, KeySource, ScopesMatcher, DEFAULT_KEY_TTL, JWK_FETCH_TIMEOUT,
    MAX_JWK_BYTES, MAX_LEEWAY,
};
pub use backend_http::BackendHttp;
pub use bot_detector::{BotDetector, Pattern};
pub use cel::CelChecks;
pub use circuit_breaker::CircuitBreaker;
pub use cors::Cors;
pub use http_cache::{HttpCache, DEFAULT_MAX_ITEMS, DEFAULT_MAX_SIZE};
pub use json_schema::JsonSchema;
pub use proxy::{FlatmapOp, ProxyOptions, StaticResponse, StaticStrategy};
pub use ratelimit::{ProxyRateLimit, RouterRateLimit, Strategy};
pub use redis::{Redis, RedisPool};
pub(crate) use redis_ratelimit::check_pools;
pub use redis_ratelimit::RedisRateLimit;
pub use router::{Cidr, ErrorBodies, RouterOptions};
pub use security_http::SecurityHttp;

use super::error::{Diags, Path};

/// Where a namespace appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Root,
    Endpoint,
    Backend,
}

/// Namespaces decoded at one level.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    pub(crate) router: Option<RouterOptions>,
    pub(crate) backend_http: Option<BackendHttp>,
    pub(crate) proxy: Option<ProxyOptions>,
    /// `auth/validator` (endpoint).
    pub(crate) auth_validator: Option<JwtValidator>,
    /// `auth/signer` (endpoint).
    pub(crate) auth_signer: Option<JwtSigner>,
    /// `validation/json-schema` (endpoint): the request body's schema.
    pub(crate) json_schema: Option<JsonSchema>,
    /// `validation/cel` (endpoint or backend).
    pub(crate) cel: Option<CelChecks>,
    // Traffic control (issue 8, part a).
    pub(crate) cors: Option<Cors>,
    pub(crate) security_http: Option<SecurityHttp>,
    pub(crate) bot_detector: Option<BotDetector>,
    pub(crate) ratelimit_router: Option<RouterRateLimit>,
    pub(crate) ratelimit_proxy: Option<ProxyRateLimit>,
    pub(crate) circuit_breaker: Option<CircuitBreaker>,
    pub(crate) http_cache: Option<HttpCache>,
    // Shared state (issue 13): the root `redis` pools and the rate limits kept in them.
    pub(crate) redis: Option<Redis>,
    pub(crate) ratelimit_router_redis: Option<RedisRateLimit>,
    pub(crate) ratelimit_service_redis: Option<RedisRateLimit>,
}

/// KrakenD's long legacy names for the short namespaces.
fn canonical(ns: &str) -> &str {
    match ns {
        "github.com/devopsfaith/krakend/proxy" => "proxy",
        "github_com/luraproject/lura/router/gin" | "github_com/devopsfaith/krakend/router/gin" => {
            "router"
        }
        "github.com/devopsfaith/krakend/http" => "backend/http",
        other => other,
    }
}

/// Decode every namespace of one `extra_config` object; unknown or unsupported ones become
/// warnings (never silently dropped).
pub(crate) fn decode(
    diags: &mut Diags<'_>,
    path: &Path,
    context: Option<&str>,
    level: Level,
    extra: &BTreeMap<String, Value>,
) -> Extra {
    let mut out = Extra::default();
    for (name, value) in extra {
        let at = path.key(name);
        match (canonical(name), level) {
            ("router", Level::Root) => out.router = typed(diags, &at, context, value),
            ("backend/http", Level::Backend) => out.backend_http = typed(diags, &at, context, value),
            ("proxy", Level::Endpoint | Level::Backend) => out.proxy = typed(diags, &at, context, value),
            ("security/cors", Level::Root) => out.cors = checked(diags, &at, context, value, Cors::problems),
            ("security/http", Level::Root) => out.security_http = checked(diags, &at, context, value, SecurityHttp::problems),
            ("security/bot-detector", Level::Root | Level::Endpoint) => out.bot_detector = typed(diags, &at, context, value),
            ("qos/ratelimit/router", Level::Root | Level::Endpoint) => out.ratelimit_router = checked(diags, &at, context, value, RouterRateLimit::problems),
            ("qos/ratelimit/proxy", Level::Backend) => out.ratelimit_proxy = checked(diags, &at, context, value, ProxyRateLimit::problems),
            ("qos/circuit-breaker", Level::Backend) => out.circuit_breaker = typed(diags, &at, context, value),
            ("qos/http-cache", Level::Backend) => out.http_cache = checked(diags, &at, context, value, HttpCache::problems),
            ("redis", Level::Root) => out.redis = redis::decode(diags, &at, context, value),
            ("qos/ratelimit/router/redis", Level::Endpoint) => out.ratelimit_router_redis = redis_ratelimit::decode(diags, &at, context, value, false),
            ("qos/ratelimit/service/redis", Level::Root) => out.ratelimit_service_redis = redis_ratelimit::decode(diags, &at, context, value, true),
            (
                "telemetry/logging" | "telemetry/metrics" | "telemetry/opentelemetry"
                | "telemetry/opencensus" | "telemetry/influx" | "telemetry/gelf"
                | "telemetry/logstash" | "telemetry/newrelic" | "telemetry/moesif",
                _,
            ) => diags.warn(&at, context, format!("namespace `{name}` is not supported by Manifold; it has no effect (the adapters log requests themselves)")),
            (ns, _) if ns.starts_with("modifier/lua") || ns.starts_with("plugin/") || ns == "modifier/martian" => {
                diags.warn(&at, context, format!("namespace `{name}` (scripting/plugins) is not supported by Manifold; it has no effect"));
            }
            ("auth/validator", Level::Endpoint) => {
                let raw: Option<auth::RawValidator> = typed(diags, &at, context, value);
                out.auth_validator = raw.and_then(|r| r.plan(diags, &at, context));
            }
            ("auth/signer", Level::Endpoint) => {
                let raw: Option<auth::RawSigner> = typed(diags, &at, context, value);
                out.auth_signer = raw.and_then(|r| r.plan(diags, &at, context));
            }
            ("validation/json-schema", Level::Endpoint) => {
                out.json_schema = JsonSchema::compile(diags, &at, context, value);
            }
            ("validation/cel", Level::Endpoint | Level::Backend) => {
                out.cel = CelChecks::compile(diags, &at, context, level == Level::Endpoint, value);
            }
            (
                "auth/validator" | "auth/signer" | "validation/json-schema"
                | "router" | "backend/http" | "proxy" | "security/cors" | "security/http"
                | "security/bot-detector" | "qos/ratelimit/router" | "qos/ratelimit/proxy"
                | "qos/circuit-breaker" | "qos/http-cache" | "validation/cel"
                | "redis" | "qos/ratelimit/router/redis" | "qos/ratelimit/service/redis",
                _,
            ) => {
                diags.warn(&at, context, format!("namespace `{name}` does not belong at this level; it has no effect"));
            }
            _ => diags.warn(&at, context, format!("unknown namespace `{name}`; it has no effect")),
        }
    }
    out
}

/// [`typed`], then the namespace's own cross-field rules as located errors.
fn checked<T: DeserializeOwned>(
    diags: &mut Diags<'_>,
    path: &Path,
    context: Option<&str>,
    value: &Value,
    problems: fn(&T) -> Vec<(&'static str, String)>,
) -> Option<T> {
    let v: T = typed(diags, path, context, value)?;
    let found = problems(&v);
    for (key, message) in &found {
        diags.error(&path.key(key), context, message.clone());
    }
    found.is_empty().then_some(v)
}

/// A Go duration string (`"12h"`, `"1s"`) as an optional [`std::time::Duration`].
fn go_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::time::Duration>, D::Error> {
    let text: Option<String> = serde::Deserialize::deserialize(d)?;
    text.map(|t| super::parse_duration(&t).map_err(serde::de::Error::custom))
        .transpose()
}

/// Decode one namespace into its struct, reporting unknown keys as warnings and type errors
/// as located errors.
pub(crate) fn typed<T: DeserializeOwned>(
    diags: &mut Diags<'_>,
    path: &Path,
    context: Option<&str>,
    value: &Value,
) -> Option<T> {
    let mut unknown = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let result: Result<T, _> = serde_ignored::deserialize(
        serde_path_to_error::Deserializer::new(value, &mut track),
        |p| unknown.push(p.to_string()),
    );
    for key in unknown {
        diags.warn(
            &path.dotted(&key),
            context,
            format!("unknown key `{key}`; it has no effect"),
        );
    }
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            let at = path.dotted(&track.path().to_string());
            diags.error(&at, context, e.to_string());
            None
        }
    }
}
