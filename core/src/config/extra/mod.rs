//! `extra_config` namespaces: one typed struct per namespace, decoded once at load time through
//! the one [`Namespace`] trait (so the key rules of [`Cx::decode`] hold in every namespace).
//! The mapping from namespace name to decoder is the one explicit `match` in [`Extra::set`],
//! not a registry.

mod api_keys;
mod auth;
mod backend_http;
mod bot_detector;
mod cel;
mod circuit_breaker;
mod client_credentials;
mod compression;
mod cors;
mod failure;
mod graphql;
mod http_cache;
mod json_schema;
mod keys_from;
mod lambda;
mod martian;
mod proxy;
mod ratelimit;
mod redis;
mod redis_ratelimit;
mod router;
mod security_http;
mod telemetry;
mod websocket;

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

pub use api_keys::{ApiKey, ApiKeyEndpoint, ApiKeys, EndpointApiKeys, KeyHash, KeyIn};
pub use auth::{
    JwtSigner, JwtValidator, KeySource, ScopesMatcher, DEFAULT_KEY_TTL, JWK_FETCH_TIMEOUT,
    MAX_JWK_BYTES, MAX_LEEWAY,
};
pub use backend_http::BackendHttp;
pub use bot_detector::{BotDetector, Pattern};
pub use cel::CelChecks;
pub use circuit_breaker::CircuitBreaker;
pub use client_credentials::ClientCredentials;
pub use compression::{
    Coding, Compression, COMPRESSION_NAMESPACE, DEFAULT_BROTLI_LEVEL, DEFAULT_GZIP_LEVEL,
    DEFAULT_MIN_SIZE,
};
pub use cors::Cors;
pub use failure::{FailurePolicy, FAILURE_NAMESPACE};
pub use graphql::GraphQl;
pub use http_cache::{HttpCache, DEFAULT_MAX_ITEMS, DEFAULT_MAX_SIZE};
pub use json_schema::JsonSchema;
pub use keys_from::{KeysFrom, DEFAULT_KEYS_CACHE_TTL, DEFAULT_KEYS_PREFIX};
pub use lambda::{Lambda, LambdaFunction};
pub use martian::{
    Condition, Cookie, Kind as MartianKind, Martian, Modifier, PortChange, UrlParts,
};
pub use proxy::{FlatmapOp, ProxyOptions, StaticResponse, StaticStrategy};
pub use ratelimit::{ProxyRateLimit, RouterRateLimit, Strategy};
pub use redis::{Redis, RedisPool};
pub use redis_ratelimit::RedisRateLimit;
pub use router::{Cidr, ErrorBodies, RouterOptions};
pub use security_http::SecurityHttp;
pub(crate) use telemetry::prometheus_label;
pub use telemetry::{
    BackendDetail, BackendLayer, Collector, Exporters, Histograms, Layer, Layers, Logging,
    OpenTelemetry, Otlp, Prometheus, StaticAttribute, TelemetryOverride, GRPC_METRICS, GRPC_TRACES,
    SIZE_BUCKETS, TIME_BUCKETS,
};
pub use websocket::{WebSocket, DEFAULT_WEBSOCKET_TIMEOUT, WEBSOCKET_NAMESPACE};

use super::decode::{near_miss, Cx, Level};
use Level::{Backend, Endpoint, Root};

/// One `extra_config` namespace: its options as written, and how they become the plan's value.
pub(crate) trait Namespace: Sized {
    /// The options as written: a serde type whose field names are KrakenD's keys.
    type Raw: DeserializeOwned;

    /// Keys KrakenD knows here (at any depth) that Manifold accepts without using: a
    /// "no effect" warning each instead of "unknown key".
    const NO_EFFECT: &'static [&'static str] = &[];

    /// Unknown keys are errors, not warnings (Manifold's own namespaces).
    const STRICT: bool = false;

    /// Check the decoded options and build the typed value; problems are reported at `cx`
    /// (the namespace's place) and make it `None`.
    fn plan(raw: Self::Raw, cx: &mut Cx<'_, '_>) -> Option<Self>;
}

/// Namespaces decoded at one level.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    pub(crate) router: Option<RouterOptions>,
    pub(crate) backend_http: Option<BackendHttp>,
    /// `backend/graphql` (backend).
    pub(crate) graphql: Option<GraphQl>,
    /// `modifier/martian` (backend).
    pub(crate) martian: Option<Martian>,
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
    /// `telemetry/logging` (root).
    pub(crate) logging: Option<Logging>,
    /// `telemetry/opentelemetry` (root).
    pub(crate) opentelemetry: Option<OpenTelemetry>,
    /// `telemetry/opentelemetry` (endpoint or backend): the service's layers overridden.
    pub(crate) telemetry_override: Option<TelemetryOverride>,
    // Shared state (issue 13): the root `redis` pools and the rate limits kept in them.
    pub(crate) redis: Option<Redis>,
    pub(crate) ratelimit_router_redis: Option<RedisRateLimit>,
    pub(crate) ratelimit_service_redis: Option<RedisRateLimit>,
    /// `manifold/compression` (root).
    pub(crate) compression: Option<Compression>,
    /// `manifold/failure` (endpoint or backend).
    pub(crate) failure: Option<FailurePolicy>,
    // API products (issue 18): `auth/api-keys` at the root (the keys) and at endpoints.
    pub(crate) api_keys: Option<ApiKeys>,
    pub(crate) api_keys_endpoint: Option<ApiKeyEndpoint>,
    /// `auth/client-credentials` (backend).
    pub(crate) client_credentials: Option<ClientCredentials>,
    /// `backend/lambda` (backend).
    pub(crate) lambda: Option<Lambda>,
    /// `websocket` (endpoint): upgrades passed through to the one backend (issue 19).
    pub(crate) websocket: Option<WebSocket>,
}

/// Every namespace Manifold implements, with the levels where it has an effect.
const SUPPORTED: &[(&str, &[Level])] = &[
    ("router", &[Root]),
    ("security/cors", &[Root]),
    ("security/http", &[Root]),
    ("security/bot-detector", &[Root, Endpoint]),
    ("qos/ratelimit/router", &[Root, Endpoint]),
    ("auth/validator", &[Endpoint]),
    ("auth/signer", &[Endpoint]),
    ("validation/json-schema", &[Endpoint]),
    ("validation/cel", &[Endpoint, Backend]),
    ("proxy", &[Endpoint, Backend]),
    ("backend/http", &[Backend]),
    ("modifier/martian", &[Backend]),
    ("backend/graphql", &[Backend]),
    ("qos/ratelimit/proxy", &[Backend]),
    ("qos/circuit-breaker", &[Backend]),
    ("qos/http-cache", &[Backend]),
    ("telemetry/logging", &[Root]),
    ("telemetry/opentelemetry", &[Root, Endpoint, Backend]),
    ("redis", &[Root]),
    ("qos/ratelimit/router/redis", &[Endpoint]),
    ("qos/ratelimit/service/redis", &[Root]),
    (FAILURE_NAMESPACE, &[Endpoint, Backend]),
    (COMPRESSION_NAMESPACE, &[Root]),
    ("auth/api-keys", &[Root, Endpoint]),
    ("auth/client-credentials", &[Backend]),
    ("backend/lambda", &[Backend]),
    (WEBSOCKET_NAMESPACE, &[Endpoint]),
];

/// KrakenD's other telemetry namespaces: known exporters Manifold does not have.
const TELEMETRY: &[&str] = &[
    "telemetry/metrics",
    "telemetry/opencensus",
    "telemetry/influx",
    "telemetry/gelf",
    "telemetry/logstash",
    "telemetry/newrelic",
    "telemetry/moesif",
];

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

/// Decode every namespace of the `extra_config` object at `cx`. Namespaces at the wrong level,
/// unsupported and unknown ones become warnings (never silently dropped); a near-miss of a
/// supported name is an error, as for any other key.
pub(crate) fn decode(cx: &mut Cx<'_, '_>, extra: &BTreeMap<String, Value>) -> Extra {
    let mut out = Extra::default();
    for (name, value) in extra {
        if name.starts_with('@') {
            continue;
        }
        let ns = canonical(name);
        let mut at = cx.at(name);
        match SUPPORTED.iter().find(|(known, _)| *known == ns) {
            Some((_, levels)) if levels.contains(&at.level()) => out.set(ns, &mut at, value),
            Some(_) if is_restricting(ns) => at.unenforced(ns, format!("namespace `{name}` would restrict access or traffic, but it has no effect at this level: it would not be enforced")),
            Some(_) => at.warn(format!(
                "namespace `{name}` does not belong at this level; it has no effect"
            )),
            None => unsupported(&mut at, name, value),
        }
    }
    out
}

/// Families of namespaces that restrict who gets in or how much: one Manifold does not
/// implement must not be ignored, or the endpoint would be served unprotected.
const RESTRICTING_PREFIXES: &[&str] = &["auth/", "security/", "qos/", "validation/"];

/// Scripting namespaces: their scripts are not run, and a script may be a check.
const SCRIPTING_PREFIX: &str = "modifier/lua";

/// Plugins (`plugin/http-server`, `plugin/http-client`, `plugin/req-resp-modifier`) whose
/// `name` is one of these restrict access.
const RESTRICTING_PLUGINS: &[&str] = &["ip-filter", "basic-auth", "jwk-aggregator", "geoip"];

/// Unsupported namespaces in those families that do not restrict the client (known and named
/// honestly, with what is lost); none left since `auth/client-credentials` is implemented.
const NOT_RESTRICTING: &[(&str, &str)] = &[];

/// Report a namespace Manifold does not implement: unenforced when it would restrict access
/// or traffic (an error unless the config opts out), a warning saying what is lost otherwise.
fn unsupported(cx: &mut Cx<'_, '_>, name: &str, value: &Value) {
    let supported: Vec<&str> = SUPPORTED.iter().map(|(ns, _)| *ns).collect();
    if let Some(near) = near_miss(name, &supported) {
        cx.error(format!(
            "unknown namespace `{name}` (did you mean `{near}`?)"
        ));
    } else if let Some((_, lost)) = NOT_RESTRICTING.iter().find(|(ns, _)| *ns == name) {
        cx.warn(format!(
            "namespace `{name}` is not supported by Manifold: {lost}"
        ));
    } else if is_restricting(name) {
        cx.unenforced(name, format!("namespace `{name}` would restrict access or traffic, but Manifold does not enforce it: the endpoint would be served without it"));
    } else if name.starts_with(SCRIPTING_PREFIX) {
        cx.unenforced(name, format!("namespace `{name}`: Manifold does not run Lua scripts, and a script may check or reject requests"));
    } else if let Some(plugin) = restricting_plugin(name, value) {
        cx.unenforced(name, format!("namespace `{name}` loads the `{plugin}` plugin, which restricts access; Manifold does not run Go plugins"));
    } else if TELEMETRY.contains(&name) {
        cx.warn(format!("namespace `{name}` is not supported by Manifold; it has no effect (the access log follows `telemetry/logging`; traces and metrics are exported by `telemetry/opentelemetry`)"));
    } else if name.starts_with("plugin/") || name == "modifier/martian" {
        cx.warn(format!(
            "namespace `{name}` (plugins/modifiers) is not supported by Manifold; it has no effect"
        ));
    } else {
        cx.warn(format!("unknown namespace `{name}`; it has no effect"));
    }
}

/// Whether a namespace belongs to a family that restricts access or traffic.
fn is_restricting(name: &str) -> bool {
    // Client credentials authenticate the gateway to its backends; they restrict nobody.
    RESTRICTING_PREFIXES.iter().any(|p| name.starts_with(p)) && name != "auth/client-credentials"
}

/// The restricting plugin a `plugin/*` namespace loads by `name` (a string or a list).
fn restricting_plugin<'v>(name: &str, value: &'v Value) -> Option<&'v str> {
    if !name.starts_with("plugin/") {
        return None;
    }
    let names: Vec<&str> = match value.get("name") {
        Some(Value::String(n)) => vec![n.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    names.into_iter().find(|n| RESTRICTING_PLUGINS.contains(n))
}

/// Decode one namespace: its raw options with the config-wide key rules, then its own plan.
fn namespace<N: Namespace>(cx: &mut Cx<'_, '_>, value: &Value) -> Option<N> {
    let raw = if N::STRICT {
        cx.decode_strict::<N::Raw>(value)?
    } else {
        cx.decode::<N::Raw>(value, N::NO_EFFECT)?
    };
    N::plan(raw, cx)
}

/// Report each (key, message) of a namespace's cross-field rules as an error under that key;
/// the options are kept only when there is none.
fn checked<T>(cx: &mut Cx<'_, '_>, options: T, problems: &[(&str, String)]) -> Option<T> {
    for (key, message) in problems {
        cx.at(key).error(message.clone());
    }
    problems.is_empty().then_some(options)
}

/// A Go duration string (`"12h"`, `"1s"`) as an optional [`std::time::Duration`].
fn go_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::time::Duration>, D::Error> {
    let text: Option<String> = serde::Deserialize::deserialize(d)?;
    text.map(|t| super::parse_duration(&t).map_err(serde::de::Error::custom))
        .transpose()
}

// === impl Extra ===

impl Extra {
    /// The one place a namespace name is mapped to its decoder. A namespace behind a cargo
    /// feature this build left out is not decoded (so none of its code is in the build):
    /// `config::capability` already reported it as an error naming the feature.
    fn set(&mut self, ns: &str, cx: &mut Cx<'_, '_>, value: &Value) {
        match ns {
            "router" => self.router = namespace(cx, value),
            "security/cors" if cfg!(feature = "cors") => self.cors = namespace(cx, value),
            "security/http" if cfg!(feature = "security-http") => {
                self.security_http = namespace(cx, value);
            }
            "security/bot-detector" if cfg!(feature = "bot-detector") => {
                self.bot_detector = namespace(cx, value);
            }
            "qos/ratelimit/router" if cfg!(feature = "ratelimit") => {
                self.ratelimit_router = namespace(cx, value);
            }
            "auth/validator" if cfg!(feature = "jwt") => self.auth_validator = namespace(cx, value),
            "auth/signer" if cfg!(feature = "jwt") => self.auth_signer = namespace(cx, value),
            "validation/json-schema" if cfg!(feature = "json-schema") => {
                self.json_schema = namespace(cx, value);
            }
            "validation/cel" if cfg!(feature = "cel") => self.cel = namespace(cx, value),
            "proxy" => self.proxy = namespace(cx, value),
            "backend/http" => self.backend_http = namespace(cx, value),
            "modifier/martian" if cfg!(feature = "martian") => self.martian = namespace(cx, value),
            "backend/graphql" if cfg!(feature = "graphql") => self.graphql = namespace(cx, value),
            "qos/ratelimit/proxy" if cfg!(feature = "ratelimit") => {
                self.ratelimit_proxy = namespace(cx, value);
            }
            "qos/circuit-breaker" if cfg!(feature = "circuit-breaker") => {
                self.circuit_breaker = namespace(cx, value);
            }
            "qos/http-cache" if cfg!(feature = "http-cache") => {
                self.http_cache = namespace(cx, value);
            }
            "telemetry/logging" if cfg!(feature = "telemetry") => {
                self.logging = namespace(cx, value);
            }
            "telemetry/opentelemetry" if !cfg!(feature = "opentelemetry") => {}
            "telemetry/opentelemetry" if cx.level() == Root => {
                self.opentelemetry = namespace(cx, value);
            }
            "telemetry/opentelemetry" => self.telemetry_override = namespace(cx, value),
            "redis" if cfg!(feature = "redis") => self.redis = namespace(cx, value),
            "qos/ratelimit/router/redis" if cfg!(feature = "ratelimit") => {
                self.ratelimit_router_redis = namespace(cx, value);
            }
            "qos/ratelimit/service/redis" if cfg!(feature = "ratelimit") => {
                self.ratelimit_service_redis = namespace(cx, value);
            }
            FAILURE_NAMESPACE if cfg!(feature = "failure") => {
                self.failure = namespace(cx, value);
            }
            COMPRESSION_NAMESPACE if cfg!(feature = "compression") => {
                self.compression = namespace(cx, value);
            }
            "auth/api-keys" if !cfg!(feature = "api-keys") => {}
            "auth/api-keys" if cx.level() == Root => self.api_keys = namespace(cx, value),
            "auth/api-keys" => self.api_keys_endpoint = namespace(cx, value),
            "auth/client-credentials" if cfg!(feature = "client-credentials") => {
                self.client_credentials = namespace(cx, value);
            }
            "backend/lambda" if cfg!(feature = "lambda") => self.lambda = namespace(cx, value),
            WEBSOCKET_NAMESPACE if cfg!(feature = "websocket") => {
                self.websocket = namespace(cx, value);
            }
            _ => {}
        }
    }
}

// === impl JsonSchema ===

impl Namespace for JsonSchema {
    /// A JSON Schema document: its keywords follow JSON Schema's rules (an unsupported keyword
    /// is a warning), not the config's key rules.
    type Raw = Value;

    fn plan(raw: Value, cx: &mut Cx<'_, '_>) -> Option<Self> {
        let (diags, path, context) = cx.parts();
        JsonSchema::compile(diags, path, context, &raw)
    }
}
