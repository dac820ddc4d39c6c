//! The validated, defaulted, typed plan the pipeline is built from. Nothing here is looked up
//! in JSON at request time.

use std::net::IpAddr;
use std::time::Duration;

use http::header::HeaderName;
use http::Method;

use super::extra::{
    BackendHttp, BotDetector, CelChecks, CircuitBreaker, Cors, FlatmapOp, HttpCache, JsonSchema,
    JwtSigner, JwtValidator, ProxyRateLimit, Redis, RedisRateLimit, RouterOptions, RouterRateLimit,
    SecurityHttp, StaticResponse,
};
use super::Diagnostic;
use crate::router::RouteError;
use crate::url::UrlPattern;

/// A whole gateway: root settings plus endpoints.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listening port (native server); default 8080.
    pub port: u16,
    /// Listening address (native server), if set.
    pub listen_ip: Option<IpAddr>,
    /// Default endpoint timeout; default 2s.
    pub timeout: Duration,
    /// Default `Cache-Control` max-age for complete responses; zero means none.
    pub cache_ttl: Duration,
    /// Serve `/__debug/*`.
    pub debug_endpoint: bool,
    /// Namespaces accepted although Manifold does not enforce them (`ignore_unenforced`).
    pub ignore_unenforced: Vec<String>,
    /// Serve `/__echo/*`.
    pub echo_endpoint: bool,
    /// The `router` namespace.
    pub router: RouterOptions,
    /// Request head and body limits (`max_header_bytes`, `router.max_payload`).
    pub limits: crate::limits::RequestLimits,
    /// The native server's timeouts (the platforms own theirs).
    pub server: ServerTimeouts,
    /// `telemetry/logging` and `telemetry/opentelemetry`.
    pub telemetry: TelemetryOptions,
    /// Engine-wide traffic control: CORS, security headers, the root bot detector.
    pub guards: RootGuards,
    /// Root `tls`: the native server serves HTTPS only (`None`: plain HTTP, or the platform
    /// terminates TLS).
    pub tls: Option<super::tls::ServerTls>,
    /// Root `client_tls`: how backends are called over HTTPS.
    pub client_tls: Option<super::tls::ClientTls>,
    /// Endpoints in declaration order.
    pub endpoints: Vec<Endpoint>,
    /// The `redis` namespace: shared-state pools the platform opens (issue 13).
    pub redis: Redis,
    /// `manifold/compression`: response compression (native server and Lambda).
    pub compression: Option<super::extra::Compression>,
    /// Non-fatal findings (unknown keys, ignored namespaces).
    pub warnings: Vec<Diagnostic>,
    /// The endpoints' routes, checked for duplicates and conflicts while decoding.
    pub routes: Routes,
}

/// The route table of a config's endpoints: each (path, method) to its endpoint's index.
#[derive(Debug, Clone)]
pub struct Routes(pub(crate) crate::router::Table);

// === impl Routes ===

impl Routes {
    /// The routes of `endpoints`, added in order as the decoder adds them (for a config compiled
    /// in, whose decoder checked them when it was built): a clash is an error.
    pub fn of(endpoints: &[Endpoint]) -> Result<Self, String> {
        let mut table = crate::router::Table::default();
        for (index, ep) in endpoints.iter().enumerate() {
            table
                .add(&ep.endpoint, &ep.method, index)
                .map_err(|e| match e {
                    RouteError::Duplicate => format!("{}: duplicate endpoint", ep.label),
                    RouteError::Conflict(why) => format!("{}: path conflict: {why}", ep.label),
                })?;
        }
        Ok(Self(table))
    }
}

/// KrakenD's (Go `http.Server`'s) root timeouts, honoured by the native server; unset is
/// `None` (zero in KrakenD means the same).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerTimeouts {
    /// `read_timeout`: the whole request, head and body.
    pub read: Option<Duration>,
    /// `write_timeout`: from the request read to the response ready.
    pub write: Option<Duration>,
    /// `idle_timeout`: the wait for the next request on a kept-alive connection (default:
    /// `read_timeout`).
    pub idle: Option<Duration>,
    /// `read_header_timeout`: the request head (default: `read_timeout`).
    pub read_header: Option<Duration>,
}

/// The root telemetry namespaces.
#[derive(Debug, Clone, Default)]
pub struct TelemetryOptions {
    /// `telemetry/logging`, when present.
    pub logging: Option<super::extra::Logging>,
    /// `telemetry/opentelemetry`, when present.
    pub opentelemetry: Option<super::extra::OpenTelemetry>,
}

// === impl TelemetryOptions ===

impl TelemetryOptions {
    /// `telemetry/opentelemetry` for the places that export: `None`, visibly to the optimizer,
    /// in a build without the `opentelemetry` feature, so the exporters are not in that build.
    #[inline(always)]
    pub fn otel(&self) -> Option<&super::extra::OpenTelemetry> {
        super::capability::when(cfg!(feature = "opentelemetry"), self.opentelemetry.as_ref())
    }
}

/// One endpoint entry.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The path template, e.g. `/users/{id}`.
    pub endpoint: String,
    /// HTTP method.
    pub method: Method,
    /// Whole-pipeline deadline.
    pub timeout: Duration,
    /// `Cache-Control: public, max-age` for complete responses (zero: none).
    pub cache_ttl: Duration,
    /// Identical calls per backend (first complete answer wins).
    pub concurrent_calls: u32,
    /// Which client headers reach backends.
    pub input_headers: HeaderFilter,
    /// Which client query parameters reach backends.
    pub input_query_strings: QueryFilter,
    /// How the response is rendered.
    pub output_encoding: OutputEncoding,
    /// Backends in declaration order (the merge order).
    pub backend: Vec<Backend>,
    /// `proxy.sequential`: backends run in order, later ones may use `{resp<N>_...}`.
    pub sequential: bool,
    /// `proxy.static`: data merged over the response when its strategy applies.
    pub static_response: Option<StaticResponse>,
    /// Endpoint-level `proxy.flatmap_filter`, run on the merged data. Kept only with more
    /// than one backend (KrakenD ignores it with a single one).
    pub flatmap_filter: Vec<FlatmapOp>,
    /// Names of the `{params}` in the path, in order.
    pub params: Vec<String>,
    /// `"METHOD /path"`, for messages.
    pub label: String,
    /// `auth/validator`: the JWT every request must carry.
    pub auth_validator: Option<std::sync::Arc<JwtValidator>>,
    /// `auth/api-keys`: the API key every request must carry, and the roles admitted.
    pub api_keys: Option<std::sync::Arc<super::extra::EndpointApiKeys>>,
    /// `auth/signer`: response keys signed as JWTs.
    pub auth_signer: Option<std::sync::Arc<JwtSigner>>,
    /// `validation/json-schema`: the schema request bodies must satisfy (else 400).
    pub json_schema: Option<std::sync::Arc<JsonSchema>>,
    /// `validation/cel`: request, response and JWT expressions.
    pub cel: Option<std::sync::Arc<CelChecks>>,
    /// Checks that wrap this endpoint's handler: bot detector, router rate limit.
    pub guards: EndpointGuards,
    /// `manifold/failure`: all-or-nothing, the partial status, problem+json rejections.
    pub failure: super::extra::FailurePolicy,
    /// `websocket`: upgrades on this `no-op` endpoint are passed through to its backend.
    pub websocket: Option<std::sync::Arc<super::extra::WebSocket>>,
    /// Its own `telemetry/opentelemetry`, when it has one and the service has
    /// `telemetry/opentelemetry`: `global` as written, `proxy` its own or the service's (its
    /// `backend` went into its backends).
    pub telemetry: Option<std::sync::Arc<super::extra::TelemetryOverride>>,
}

/// One backend of an endpoint.
#[derive(Debug, Clone)]
pub struct Backend {
    /// `scheme://authority` entries, balanced round-robin; with `"sd": "dns"`, the one
    /// `sd_scheme://srv-name` (the calls go to its targets: `discovery`).
    pub host: Vec<String>,
    /// `"sd": "dns"`: the targets are the SRV records of a name, resolved at run time.
    pub discovery: Option<std::sync::Arc<super::DnsDiscovery>>,
    /// Path and query template.
    pub url_pattern: UrlPattern,
    /// Method sent to the backend.
    pub method: Method,
    /// How the backend body is decoded.
    pub encoding: Encoding,
    /// Dot paths to keep (wins over `deny`).
    pub allow: Vec<Vec<String>>,
    /// Dot paths to remove.
    pub deny: Vec<Vec<String>>,
    /// Top-level renames, in key order.
    pub mapping: Vec<(String, String)>,
    /// Wrap the data under this key.
    pub group: Option<String>,
    /// Dot path to extract before filtering.
    pub target: Option<Vec<String>>,
    /// The body is an array, wrapped as `{"collection": [...]}`.
    pub is_collection: bool,
    /// Second-level header filter.
    pub input_headers: Option<HeaderFilter>,
    /// Second-level query filter.
    pub input_query_strings: Option<QueryFilter>,
    /// The `backend/http` namespace.
    pub http: BackendHttp,
    /// `modifier/martian`: static request and response modifiers.
    pub martian: Option<std::sync::Arc<super::extra::Martian>>,
    /// `backend/graphql`: the call is a GraphQL operation.
    pub graphql: Option<std::sync::Arc<super::extra::GraphQl>>,
    /// `auth/client-credentials`: an OAuth2 token sent with every call.
    pub client_credentials: Option<std::sync::Arc<super::extra::ClientCredentials>>,
    /// `backend/lambda`: the calls invoke this AWS Lambda function instead.
    pub lambda: Option<std::sync::Arc<super::extra::Lambda>>,
    /// `validation/cel`: a false request expression skips this backend (a failed backend).
    pub cel: Option<std::sync::Arc<CelChecks>>,
    /// Backend-level `proxy.flatmap_filter`; when non-empty it replaces allow/deny/mapping.
    pub flatmap_filter: Vec<FlatmapOp>,
    /// `proxy.shadow`: called with a copy of the request, answer ignored, not merged.
    pub shadow: bool,
    /// `proxy.shadow_timeout`: deadline of a shadow call (default: the endpoint timeout).
    pub shadow_timeout: Option<Duration>,
    /// Position in the endpoint's list.
    pub index: usize,
    /// Rate limit, circuit breaker and cache of the calls to this backend.
    pub qos: BackendQos,
    /// `manifold/failure.required`: this backend failing fails the endpoint.
    pub required: bool,
    /// Its `telemetry/opentelemetry` `backend` layer, or its endpoint's, when either has one
    /// (in place of the service's `layers.backend`).
    pub telemetry: Option<std::sync::Arc<super::extra::BackendLayer>>,
}

/// Root-level traffic-control namespaces.
#[derive(Debug, Clone, Default)]
pub struct RootGuards {
    /// `security/cors`.
    pub cors: Option<Cors>,
    /// `security/http`.
    pub security_http: Option<SecurityHttp>,
    /// Root `security/bot-detector`: every request, before routing.
    pub bot_detector: Option<BotDetector>,
    /// `qos/ratelimit/service/redis`: every request, before routing, in a shared store.
    pub ratelimit_redis: Option<RedisRateLimit>,
}

/// Endpoint-level traffic-control namespaces.
#[derive(Debug, Clone, Default)]
pub struct EndpointGuards {
    /// Endpoint `security/bot-detector`.
    pub bot_detector: Option<BotDetector>,
    /// `qos/ratelimit/router` (the endpoint's own, else the root one; buckets are per endpoint).
    pub ratelimit: Option<RouterRateLimit>,
    /// `qos/ratelimit/router/redis`: the endpoint's buckets in a shared store.
    pub ratelimit_redis: Option<RedisRateLimit>,
}

/// Backend-level traffic-control namespaces.
#[derive(Debug, Clone, Default)]
pub struct BackendQos {
    /// `qos/ratelimit/proxy`.
    pub ratelimit: Option<ProxyRateLimit>,
    /// `qos/circuit-breaker`.
    pub circuit_breaker: Option<CircuitBreaker>,
    /// `qos/http-cache`.
    pub http_cache: Option<HttpCache>,
}

/// Client headers allowed through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderFilter {
    /// `["*"]`: everything.
    All,
    /// Exactly these (empty list: only `Content-Type`, as in KrakenD).
    Only(Vec<HeaderName>),
}

/// Client query parameters allowed through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryFilter {
    /// `["*"]`: everything.
    All,
    /// Exactly these names (case-sensitive).
    Only(Vec<String>),
}

/// Backend body decoding (`encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// A JSON object (or array with `is_collection`).
    Json,
    /// Any JSON: arrays become `collection`, scalars `content`.
    SafeJson,
    /// The raw body as `{"content": "..."}`.
    String,
    /// An XML document (attributes as `-name` keys, text next to attributes as `#text`).
    Xml,
    /// An RSS or Atom feed, mapped as KrakenD's gofeed-based decoder maps it.
    Rss,
    /// Not decoded: status, headers and body pass through.
    NoOp,
}

/// Endpoint rendering (`output_encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputEncoding {
    /// Compact JSON object, sorted keys.
    Json,
    /// The `collection` key as a top-level array.
    JsonCollection,
    /// The `content` key as text.
    String,
    /// The single backend's response as received.
    NoOp,
    /// Chosen by the client's `Accept`: JSON (default), XML, or YAML for `text/plain`/yaml.
    Negotiate,
    /// XML (`application/xml`); a response with several top-level keys is wrapped in `<doc>`.
    Xml,
    /// YAML (`application/yaml; charset=utf-8`).
    Yaml,
}

// === impl HeaderFilter ===

impl HeaderFilter {
    /// Whether the named header passes.
    pub fn allows(&self, name: &HeaderName) -> bool {
        match self {
            HeaderFilter::All => true,
            HeaderFilter::Only(list) if list.is_empty() => name == http::header::CONTENT_TYPE,
            HeaderFilter::Only(list) => list.contains(name),
        }
    }
}

// === impl QueryFilter ===

impl QueryFilter {
    /// Whether the named query parameter passes.
    pub fn allows(&self, name: &str) -> bool {
        match self {
            QueryFilter::All => true,
            QueryFilter::Only(list) => list.iter().any(|n| n == name),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn routes_of_decoded_endpoints_are_rebuilt_and_a_clash_is_refused() {
        let text = r#"{"version": 3, "endpoints": [{"endpoint": "/a",
          "backend": [{"host": ["http://b"], "url_pattern": "/a"}]}]}"#;
        let config = crate::config::parse(text).unwrap();
        let rebuilt = Routes::of(&config.endpoints).unwrap();
        assert_eq!(format!("{rebuilt:?}"), format!("{:?}", config.routes));
        let twice = [config.endpoints[0].clone(), config.endpoints[0].clone()];
        let err = Routes::of(&twice).unwrap_err();
        assert_eq!(err, "GET /a: duplicate endpoint");
    }
}
