//! One entry of `endpoints`: the path and its `{params}`, method, timeouts, encodings, the
//! endpoint's namespaces, its backends, and the typed [`Endpoint`].

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde_json::Value;

use super::backend::{backend, BackendEnv};
use super::decode::{Cx, Level};
use super::extra::{self, ApiKeys, FlatmapOp, RedisRateLimit, RouterRateLimit, Strategy};
use super::fields;
use super::plan::{Backend, Endpoint, EndpointGuards, HeaderFilter, OutputEncoding, QueryFilter};
use super::raw::{RawEndpoint, ENDPOINT_NO_EFFECT};

/// Paths the gateway serves itself.
const RESERVED_PATHS: &[&str] = &["/__debug", "/__echo", "/__health"];

/// What endpoints inherit from the root.
pub(crate) struct Defaults<'a> {
    pub(crate) root_ratelimit: Option<&'a RouterRateLimit>,
    pub(crate) timeout: Duration,
    pub(crate) cache_ttl: Duration,
    pub(crate) output_encoding: OutputEncoding,
    pub(crate) host: &'a [String],
    pub(crate) disable_rest: bool,
    /// The root `auth/api-keys`: the keys endpoints admit.
    pub(crate) api_keys: Option<&'a Arc<ApiKeys>>,
    /// The root `telemetry/opentelemetry` (an endpoint's or backend's overrides its layers).
    pub(crate) opentelemetry: Option<&'a extra::OpenTelemetry>,
}

/// The endpoint-wide settings, decoded and defaulted.
struct Settings {
    method: Method,
    timeout: Duration,
    cache_ttl: Duration,
    output_encoding: OutputEncoding,
    input_headers: HeaderFilter,
    input_query_strings: QueryFilter,
}

/// Manifold extension: `"method": ["GET", "HEAD"]` declares one endpoint per method (KrakenD
/// needs one entry each). Anything else is passed through unchanged.
pub(crate) fn per_method(cx: &mut Cx<'_, '_>, value: &Value) -> Vec<Value> {
    let Some(Value::Array(methods)) = value.get("method") else {
        return vec![value.clone()];
    };
    if methods.is_empty() {
        cx.at("method")
            .error("`method` list is empty (Manifold extension: list at least one method)");
        return Vec::new();
    }
    methods
        .iter()
        .map(|m| {
            let mut one = value.clone();
            if let Some(obj) = one.as_object_mut() {
                obj.insert("method".to_owned(), m.clone());
            }
            one
        })
        .collect()
}

/// Decode the endpoint at `cx` (its place in `endpoints`).
pub(crate) fn endpoint(
    cx: &mut Cx<'_, '_>,
    value: &Value,
    defaults: &Defaults<'_>,
) -> Option<Endpoint> {
    let guess_method = value.get("method").and_then(Value::as_str).unwrap_or("GET");
    let guess_path = value.get("endpoint").and_then(Value::as_str).unwrap_or("?");
    let guess = format!("{} {guess_path}", guess_method.to_ascii_uppercase());
    let mut cx = cx.within(&guess, Level::Endpoint);
    let raw: RawEndpoint = cx.decode(value, ENDPOINT_NO_EFFECT)?;
    let mark = cx.mark();
    let Some(path) = raw.endpoint.clone() else {
        cx.at("endpoint")
            .error("missing `endpoint` (the path, e.g. \"/users/{id}\")");
        return None;
    };
    let params = endpoint_params(&mut cx.at("endpoint"), &path, defaults.disable_rest);
    let settings = settings(&mut cx, &raw, defaults);
    let extra = extra::decode(&mut cx.at("extra_config"), &raw.extra_config);
    fields::cel_needs_validator(&mut cx, extra.cel.as_ref(), extra.auth_validator.is_some());
    let proxy = extra.proxy.unwrap_or_default();
    if extra.failure.as_ref().is_some_and(|f| f.problem_details)
        && extra.json_schema.is_none()
        && extra.cel.is_none()
    {
        cx.at("extra_config").key(extra::FAILURE_NAMESPACE).key("problem_details").warn("`problem_details` shapes the answers of `validation/json-schema` and `validation/cel`; this endpoint has neither, so it has no effect");
    }
    let label = format!("{} {path}", settings.method);
    // Written at all, valid or not: its endpoint rules and `ws://` hosts are checked either way.
    let websocket = raw.extra_config.contains_key(extra::WEBSOCKET_NAMESPACE);
    if websocket {
        websocket_rules(&mut cx, &settings);
    }
    let env = BackendEnv {
        method: &settings.method,
        params: &params,
        output_encoding: settings.output_encoding,
        defaults,
        index: 0,
        sequential: proxy.sequential,
        jwt: extra.auth_validator.is_some(),
        websocket,
    };
    let mut backend = backends(&mut cx, &raw.backend, &label, env);
    let telemetry = extra::TelemetryOverride::for_endpoint(
        extra.telemetry_override,
        defaults.opentelemetry,
        &mut backend,
        &mut cx.at("extra_config"),
    );
    let flatmap_filter = flatmap_filter(&mut cx, proxy.flatmap_filter, &backend);
    let api_keys = extra.api_keys_endpoint.and_then(|e| {
        e.resolve(
            defaults.api_keys,
            &mut cx.at("extra_config").at("auth/api-keys"),
        )
    });
    let ratelimit = extra
        .ratelimit_router
        .or_else(|| defaults.root_ratelimit.cloned());
    api_key_strategy(
        &mut cx,
        api_keys.is_some(),
        ratelimit.as_ref(),
        extra.ratelimit_router_redis.as_ref(),
    );
    param_strategy(
        &mut cx,
        &params,
        ratelimit.as_ref(),
        extra.ratelimit_router_redis.as_ref(),
    );
    if cx.failed_since(mark) {
        return None;
    }
    let cel = extra.cel.map(|mut c| {
        c.param_keys = super::params::keys(&params);
        Arc::new(c)
    });
    Some(Endpoint {
        endpoint: path,
        method: settings.method,
        timeout: settings.timeout,
        cache_ttl: settings.cache_ttl,
        concurrent_calls: raw.concurrent_calls.unwrap_or(1).max(1),
        input_headers: settings.input_headers,
        input_query_strings: settings.input_query_strings,
        output_encoding: settings.output_encoding,
        backend,
        sequential: proxy.sequential,
        static_response: proxy.static_response,
        flatmap_filter,
        params,
        label,
        auth_validator: extra.auth_validator.map(Arc::new),
        api_keys: api_keys.map(Arc::new),
        auth_signer: extra.auth_signer.map(Arc::new),
        json_schema: extra.json_schema.map(Arc::new),
        cel,
        guards: EndpointGuards {
            bot_detector: extra.bot_detector,
            ratelimit,
            ratelimit_redis: extra.ratelimit_router_redis,
        },
        failure: extra.failure.unwrap_or_default(),
        websocket: extra.websocket.map(Arc::new),
        telemetry: telemetry.map(Arc::new),
    })
}

/// A `websocket` endpoint passes the upgrade through to its one backend: it must be a `no-op`
/// `GET` (an upgrade is an HTTP/1.1 `GET`); the one backend is checked with the rest.
fn websocket_rules(cx: &mut Cx<'_, '_>, settings: &Settings) {
    let mut at = cx.at("extra_config").key(extra::WEBSOCKET_NAMESPACE);
    if settings.output_encoding != OutputEncoding::NoOp {
        at.error("a `websocket` endpoint is a passthrough: it needs `\"output_encoding\": \"no-op\"` (and exactly one backend)");
    }
    if settings.method != Method::GET {
        at.error(format!(
            "a `websocket` endpoint must be a GET endpoint (WebSocket upgrades are GET requests), not {}",
            settings.method
        ));
    }
}

/// A rate limit keyed on the API key (`strategy: "api_key"`) needs the endpoint's
/// `auth/api-keys`, which establishes the key before the limit runs.
/// A rate limit keyed by a parameter names it as the request path compares names
/// (`config::params`): one that only a non-ASCII first letter's case would match is an error.
fn param_strategy(
    cx: &mut Cx<'_, '_>,
    params: &[String],
    local: Option<&RouterRateLimit>,
    shared: Option<&RedisRateLimit>,
) {
    let limits = [
        ("qos/ratelimit/router", local),
        ("qos/ratelimit/router/redis", shared.map(|s| &s.limit)),
    ];
    for (ns, limit) in limits {
        let Some(limit) = limit.filter(|l| l.strategy == Strategy::Param) else {
            continue;
        };
        if let Err(e) = super::params::refers(params, &limit.key) {
            cx.at("extra_config").at(ns).at("key").error(e);
        }
    }
}

fn api_key_strategy(
    cx: &mut Cx<'_, '_>,
    has_api_keys: bool,
    local: Option<&RouterRateLimit>,
    shared: Option<&RedisRateLimit>,
) {
    if has_api_keys {
        return;
    }
    let limits = [
        ("qos/ratelimit/router", local),
        ("qos/ratelimit/router/redis", shared.map(|s| &s.limit)),
    ];
    for (ns, limit) in limits {
        if limit.is_some_and(|l| l.strategy == Strategy::ApiKey) {
            cx.at("extra_config").at(ns).at("strategy").error(
                "`strategy: \"api_key\"` needs `auth/api-keys` on this endpoint (the key's identity is the client)",
            );
        }
    }
}

/// Method, timeouts, encoding and input filters, with the root's values as defaults.
fn settings(cx: &mut Cx<'_, '_>, raw: &RawEndpoint, defaults: &Defaults<'_>) -> Settings {
    let method = match &raw.method {
        None => Method::GET,
        Some(Value::String(m)) => fields::method(&mut cx.at("method"), m).unwrap_or(Method::GET),
        Some(_) => {
            cx.at("method")
                .error("`method` must be a string such as \"GET\" (or a list of them)");
            Method::GET
        }
    };
    let timeout = fields::duration(&mut cx.at("timeout"), raw.timeout.as_deref())
        .filter(|t| !t.is_zero())
        .unwrap_or(defaults.timeout);
    let cache_ttl = fields::duration(&mut cx.at("cache_ttl"), raw.cache_ttl.as_deref())
        .unwrap_or(defaults.cache_ttl);
    let output_encoding = raw
        .output_encoding
        .as_deref()
        .map_or(defaults.output_encoding, |e| {
            fields::output_encoding(&mut cx.at("output_encoding"), e)
        });
    let input_headers =
        fields::header_filter(&mut cx.at("input_headers"), raw.input_headers.as_deref());
    Settings {
        method,
        timeout,
        cache_ttl,
        output_encoding,
        input_headers: input_headers.unwrap_or(HeaderFilter::Only(Vec::new())),
        input_query_strings: fields::query_filter(raw.input_query_strings.as_deref())
            .unwrap_or(QueryFilter::Only(Vec::new())),
    }
}

/// The endpoint's backends, each in its own `METHOD /path, backend N` context.
fn backends(cx: &mut Cx<'_, '_>, list: &[Value], label: &str, env: BackendEnv<'_>) -> Vec<Backend> {
    if list.is_empty() {
        cx.at("backend")
            .error("an endpoint needs at least one backend");
    }
    if env.output_encoding == OutputEncoding::NoOp && list.len() > 1 {
        cx.at("output_encoding")
            .error("`no-op` output encoding supports exactly one backend");
    }
    let mut out = Vec::new();
    for (index, value) in list.iter().enumerate() {
        let context = format!("{label}, backend {index}");
        let mut at = cx.at("backend").index(index);
        let env = BackendEnv { index, ..env };
        if let Some(b) = backend(&mut at.within(&context, Level::Backend), value, &env) {
            out.push(b);
        }
    }
    if !out.is_empty() && out.iter().all(|b| b.shadow) {
        cx.at("backend")
            .error("every backend is a shadow backend; at least one must answer the client");
    }
    out
}

/// The endpoint-level `flatmap_filter`, kept only with more than one merged backend.
fn flatmap_filter(
    cx: &mut Cx<'_, '_>,
    filter: Vec<FlatmapOp>,
    backends: &[Backend],
) -> Vec<FlatmapOp> {
    let merged = backends.iter().filter(|b| !b.shadow).count();
    if !filter.is_empty() && merged < 2 {
        cx.at("extra_config").key("proxy").key("flatmap_filter").warn("an endpoint-level flatmap_filter only applies with more than one backend (as KrakenD); it has no effect here (put it on the backend instead)");
        return Vec::new();
    }
    filter
}

/// The endpoint's `{params}`; also enforces the path rules (leading `/`, reserved paths, no
/// wildcards, unique names).
fn endpoint_params(cx: &mut Cx<'_, '_>, endpoint: &str, disable_rest: bool) -> Vec<String> {
    if !endpoint.starts_with('/') {
        cx.error(format!("endpoint `{endpoint}` must start with '/'"));
    }
    for reserved in RESERVED_PATHS {
        if let Some(rest) = endpoint.strip_prefix(reserved) {
            if rest.is_empty() || rest.starts_with('/') {
                cx.error(format!(
                    "`{reserved}` is reserved for the gateway's built-in endpoint"
                ));
            }
        }
    }
    // Manifold extension: a trailing `/*` forwards the rest of the path (KrakenD EE only).
    let body = endpoint.strip_suffix("/*").unwrap_or(endpoint);
    if body.contains('*') {
        cx.error(
            "a wildcard is only supported as the last segment (`/api/*`, a Manifold extension)",
        );
    }
    let mut params: Vec<String> = Vec::new();
    for segment in body.split('/') {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if name.is_empty() || name.contains(['{', '}']) {
                cx.error(format!("invalid placeholder `{segment}`"));
            } else if params.iter().any(|p| super::params::same(p, name)) {
                cx.error(format!("placeholder `{{{name}}}` appears twice"));
            } else {
                params.push(name.to_owned());
            }
        } else if segment.contains('{') && !disable_rest {
            cx.warn(format!("`{segment}`: placeholders must be a whole path segment; this segment is matched literally"));
        }
    }
    params
}
