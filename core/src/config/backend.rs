//! One entry of an endpoint's `backend` list: hosts, `url_pattern` and its placeholders, the
//! backend's namespaces, and the typed [`Backend`].

use std::sync::Arc;

use http::Method;
use serde_json::Value;

use super::decode::Cx;
use super::endpoint::Defaults;
use super::error::Path;
use super::extra::{self, ProxyOptions};
use super::fields::{self, dot_path};
use super::plan::{Backend, BackendQos, Encoding, OutputEncoding};
use super::raw::{RawBackend, BACKEND_NO_EFFECT};
use crate::url::{UrlPattern, Var};

/// What a backend needs to know about its endpoint.
#[derive(Clone, Copy)]
pub(crate) struct BackendEnv<'a> {
    pub(crate) method: &'a Method,
    pub(crate) params: &'a [String],
    pub(crate) output_encoding: OutputEncoding,
    pub(crate) defaults: &'a Defaults<'a>,
    pub(crate) index: usize,
    pub(crate) sequential: bool,
    /// The endpoint validates a JWT, so `{JWT.claim}` has a value.
    pub(crate) jwt: bool,
    /// The endpoint passes WebSocket upgrades through: `ws://` and `wss://` hosts are allowed.
    pub(crate) websocket: bool,
}

/// Decode the backend at `cx` (its path and `METHOD /path, backend N` context).
pub(crate) fn backend(cx: &mut Cx<'_, '_>, value: &Value, env: &BackendEnv<'_>) -> Option<Backend> {
    let raw: RawBackend = cx.decode(value, BACKEND_NO_EFFECT)?;
    let mark = cx.mark();
    let discovery = super::discovery::decode(
        cx,
        raw.sd.as_deref(),
        raw.sd_scheme.as_deref(),
        &raw.host,
        env.defaults.host,
    );
    let host = match &discovery {
        Some(d) => vec![d.origin()],
        None if raw.sd.as_deref().is_some_and(|sd| sd != "static") => Vec::new(),
        None => hosts(cx, &raw, env.defaults.host, env.websocket),
    };
    let url_pattern = url_pattern(&mut cx.at("url_pattern"), raw.url_pattern.as_deref(), env);
    let method = match raw.method.as_deref() {
        None => Some(env.method.clone()),
        Some(m) => fields::method_token(&mut cx.at("method"), m),
    };
    let encoding = if env.output_encoding == OutputEncoding::NoOp {
        Encoding::NoOp
    } else {
        raw.encoding.as_deref().map_or(Encoding::Json, |e| {
            fields::encoding(&mut cx.at("encoding"), e)
        })
    };
    let input_headers =
        fields::header_filter(&mut cx.at("input_headers"), raw.input_headers.as_deref());
    let input_query_strings = fields::query_filter(raw.input_query_strings.as_deref());
    let extra = extra::decode(&mut cx.at("extra_config"), &raw.extra_config);
    fields::cel_needs_validator(cx, extra.cel.as_ref(), env.jwt);
    graphql_rules(cx, extra.graphql.as_ref(), encoding, env);
    let proxy = extra.proxy.unwrap_or_default();
    let shadow_timeout = proxy_rules(
        &mut cx.at("extra_config").key("proxy"),
        &proxy,
        encoding,
        env,
    );
    let required = extra.failure.is_some_and(|f| f.required);
    if required && proxy.shadow {
        cx.at("extra_config")
            .key(super::extra::FAILURE_NAMESPACE)
            .key("required")
            .error("a shadow backend never answers the client, so it cannot be required");
    }
    if let Some(super::extra::LambdaFunction::Param(p)) = extra.lambda.as_ref().map(|l| &l.function)
    {
        let mut cx = cx.at("extra_config").key("backend/lambda");
        match super::params::refers(env.params, p) {
            Ok(true) => {}
            Ok(false) => cx.error(format!(
                "the function name comes from the endpoint parameter `{{{p}}}` (`function_param_name`), but the endpoint has no such placeholder (it has: {})",
                list_or_none(env.params)
            )),
            Err(e) => cx.key("function_param_name").error(e),
        }
    }
    if let Some(d) = &discovery {
        discovery_rules(cx, env, extra.lambda.is_some(), d);
    }
    if cx.failed_since(mark) {
        return None;
    }
    Some(Backend {
        host,
        discovery: discovery.map(Arc::new),
        url_pattern: url_pattern?,
        method: method?,
        encoding,
        allow: raw.allow.iter().map(|p| dot_path(p)).collect(),
        deny: raw.deny.iter().map(|p| dot_path(p)).collect(),
        mapping: raw.mapping.into_iter().collect(),
        group: raw.group.filter(|g| !g.is_empty()),
        target: raw.target.filter(|t| !t.is_empty()).map(|t| dot_path(&t)),
        is_collection: raw.is_collection,
        input_headers,
        input_query_strings,
        http: extra.backend_http.unwrap_or_default(),
        martian: extra.martian.map(Arc::new),
        graphql: extra.graphql.map(Arc::new),
        client_credentials: extra.client_credentials.map(Arc::new),
        lambda: extra.lambda.map(|mut l| {
            l.payload_keys = super::params::lowered(env.params);
            Arc::new(l)
        }),
        cel: extra.cel.map(|mut c| {
            c.param_keys = super::params::keys(env.params);
            Arc::new(c)
        }),
        flatmap_filter: proxy.flatmap_filter,
        shadow: proxy.shadow,
        shadow_timeout,
        index: env.index,
        telemetry: super::extra::TelemetryOverride::for_backend(
            extra.telemetry_override,
            env.defaults.opentelemetry.is_some(),
            &mut cx.at("extra_config"),
        ),
        qos: BackendQos {
            ratelimit: extra.ratelimit_proxy,
            circuit_breaker: extra.circuit_breaker,
            http_cache: extra.http_cache,
        },
        required,
    })
}

/// The backend's hosts (the root `host` list when it has none), sanitised.
fn hosts(
    cx: &mut Cx<'_, '_>,
    raw: &RawBackend,
    root_hosts: &[String],
    websocket: bool,
) -> Vec<String> {
    let inherited = raw.host.is_empty();
    let list = if inherited { root_hosts } else { &raw.host[..] };
    if list.is_empty() {
        cx.at("host")
            .error("no host: set `host` on the backend or at the root");
    }
    let mut host = Vec::new();
    for (i, h) in list.iter().enumerate() {
        let (h, ws) = match websocket_scheme(h) {
            Some(http) if websocket => (http, false),
            Some(_) => (h.clone(), true),
            None => (h.clone(), false),
        };
        let sanitized = sanitize_host(&h, raw.disable_host_sanitize).map_err(|e| {
            if ws {
                format!("host `{h}`: ws:// and wss:// hosts belong to endpoints with the `websocket` namespace")
            } else {
                e
            }
        });
        match sanitized {
            Ok(h) => host.push(h),
            // An inherited host is reported where it is written: the root's `host`.
            Err(e) if inherited => cx.at_path(Path::default().key("host").index(i)).error(e),
            Err(e) => cx.at("host").index(i).error(e),
        }
    }
    host
}

/// What `"sd": "dns"` cannot be combined with.
fn discovery_rules(
    cx: &mut Cx<'_, '_>,
    env: &BackendEnv<'_>,
    lambda: bool,
    d: &super::DnsDiscovery,
) {
    let name = &d.name;
    if env.websocket {
        cx.at("sd").error(format!("`\"sd\": \"dns\"` ({name}) is not supported on a `websocket` endpoint: its handshake goes to a fixed `host`"));
    }
    if lambda {
        cx.at("sd").warn(
            "`sd` has no effect on a `backend/lambda` backend: it invokes a function, not a host",
        );
    }
}

/// `url_pattern`, with every placeholder checked against what the endpoint provides.
fn url_pattern(
    cx: &mut Cx<'_, '_>,
    text: Option<&str>,
    env: &BackendEnv<'_>,
) -> Option<UrlPattern> {
    let Some(text) = text else {
        cx.error("missing `url_pattern`");
        return None;
    };
    let pattern = match UrlPattern::parse(text) {
        Ok(p) => p,
        Err(e) => {
            cx.error(e);
            return None;
        }
    };
    for var in pattern.vars() {
        match var {
            Var::Param(name) => match super::params::refers(env.params, name) {
                Ok(true) => {}
                Ok(false) => cx.error(format!(
                    "undefined output param `{{{name}}}`: the endpoint has no such placeholder (it has: {})",
                    list_or_none(env.params)
                )),
                Err(e) => cx.error(e),
            },
            Var::Resp { .. } if !env.sequential => cx.error(
                "`{resp<N>_...}` placeholders need `extra_config.proxy.sequential: true` on the endpoint",
            ),
            Var::Resp { index, .. } if *index >= env.index => cx.error(format!(
                "`{{resp{index}_...}}` must refer to an earlier backend (this is backend {})",
                env.index
            )),
            Var::Jwt(claim) if !env.jwt => cx.error(format!(
                "`{{JWT.{claim}}}` needs `auth/validator` on the endpoint"
            )),
            _ => {}
        }
    }
    Some(pattern)
}

/// The backend's `proxy` options that depend on the backend and its endpoint; returns the
/// shadow call's deadline.
fn proxy_rules(
    cx: &mut Cx<'_, '_>,
    proxy: &ProxyOptions,
    encoding: Encoding,
    env: &BackendEnv<'_>,
) -> Option<std::time::Duration> {
    if !proxy.flatmap_filter.is_empty() && encoding == Encoding::NoOp {
        cx.at("flatmap_filter")
            .warn("flatmap_filter has no effect on a `no-op` backend");
    }
    let shadow_timeout = fields::duration(
        &mut cx.at("shadow_timeout"),
        proxy.shadow_timeout.as_deref(),
    )
    .filter(|t| !t.is_zero());
    if proxy.shadow && env.sequential {
        cx.at("shadow").warn("a shadow backend is not part of the sequence; `{resp<N>_...}` counts only the other backends");
    }
    shadow_timeout
}

/// `backend/graphql` against its backend: unknown `{param}` variables, and no effect on a
/// `no-op` backend (KrakenD skips it there).
fn graphql_rules(
    cx: &mut Cx<'_, '_>,
    graphql: Option<&extra::GraphQl>,
    encoding: Encoding,
    env: &BackendEnv<'_>,
) {
    let Some(g) = graphql else { return };
    let mut at = cx.at("extra_config");
    let mut at = at.at("backend/graphql");
    g.check_params(&mut at, env.params);
    if encoding == Encoding::NoOp {
        at.warn("`backend/graphql` has no effect on a `no-op` backend (as in KrakenD): the request is forwarded unchanged");
    }
}

fn list_or_none(params: &[String]) -> String {
    if params.is_empty() {
        "none".to_owned()
    } else {
        params
            .iter()
            .map(|p| format!("{{{p}}}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A `ws://` / `wss://` host (KrakenD's WebSocket backends) as the `http://` / `https://` host
/// its handshake goes to (a WebSocket connection starts as an HTTP/1.1 request); `None` for
/// any other host.
fn websocket_scheme(host: &str) -> Option<String> {
    let (scheme, rest) = host.split_once("://")?;
    match scheme.to_ascii_lowercase().as_str() {
        "ws" => Some(format!("http://{rest}")),
        "wss" => Some(format!("https://{rest}")),
        _ => None,
    }
}

/// KrakenD's host sanitising: default scheme `http://`, no trailing `/`, and nothing but
/// `scheme://host[:port]` unless `disable_host_sanitize`.
fn sanitize_host(host: &str, disable_sanitize: bool) -> Result<String, String> {
    let with_scheme = if host.contains("://") {
        host.to_owned()
    } else {
        format!("http://{host}")
    };
    let trimmed = with_scheme.trim_end_matches('/');
    let uri: http::Uri = trimmed
        .parse()
        .map_err(|_| format!("invalid host `{host}`"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(format!(
                "host `{host}`: only http:// and https:// are supported"
            ))
        }
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(format!("invalid host `{host}`"));
    }
    let has_path = uri
        .path_and_query()
        .is_some_and(|p| p.as_str() != "/" && !p.as_str().is_empty());
    if has_path && !disable_sanitize {
        return Err(format!("host `{host}` must be scheme://host[:port] (put paths in url_pattern, or set disable_host_sanitize)"));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::param_eq;

    #[test]
    fn hosts_are_sanitised() {
        assert_eq!(
            sanitize_host("localhost:8080/", false).unwrap(),
            "http://localhost:8080"
        );
        assert_eq!(
            sanitize_host("https://a.example", false).unwrap(),
            "https://a.example"
        );
        assert!(sanitize_host("http://a.example/api", false).is_err());
        assert_eq!(
            sanitize_host("http://a.example/api", true).unwrap(),
            "http://a.example/api"
        );
        assert!(sanitize_host("ftp://a.example", false).is_err());
    }

    #[test]
    fn param_names_compare_like_krakend() {
        assert!(param_eq("id", "Id"));
        assert!(!param_eq("id", "ID"));
        // Beyond ASCII only the exact letter (a config that relies on more does not load).
        assert!(param_eq("ñame", "ñame"));
        assert!(!param_eq("ñame", "Ñame"));
    }
}
