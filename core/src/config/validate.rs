//! Raw config to [`Config`]: defaults, KrakenD's validation rules, located diagnostics.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use http::header::HeaderName;
use http::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{line_col, Diagnostic, Diags, Path};
use super::extra::{self, Level};
use super::plan::{Backend, Config, Encoding, Endpoint, HeaderFilter, OutputEncoding, QueryFilter};
use super::raw::{
    RawBackend, RawEndpoint, RawRoot, BACKEND_KEYS, BACKEND_NO_EFFECT, ENDPOINT_KEYS,
    ENDPOINT_NO_EFFECT, ROOT_KEYS, ROOT_NO_EFFECT,
};
use super::{parse_duration, ConfigErrors, DEFAULT_TIMEOUT};
use crate::url::{param_eq, UrlPattern, Var};

/// Paths the gateway serves itself.
const RESERVED_PATHS: &[&str] = &["/__debug", "/__echo", "/__health"];
/// Subrequests one request may make on the Cloudflare Workers Free plan: `check` flags
/// endpoints that can exceed it, since the Worker would fail them at run time.
const WORKERS_FREE_SUBREQUESTS: usize = 50;
/// Methods the router serves (KrakenD's set).
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

pub(crate) fn validate(text: &str) -> Result<Config, ConfigErrors> {
    let mut d = Diags::new(text);
    let root_value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            // serde_json reports column 0 at the start of a line (an empty text, or EOF right
            // after a newline); diagnostics are 1-based.
            let (line, column) = if e.line() == 0 {
                line_col(text, 0)
            } else {
                (e.line(), e.column().max(1))
            };
            let diag = Diagnostic {
                path: String::new(),
                context: None,
                message: format!("invalid JSON: {e}"),
                line,
                column,
            };
            return Err(ConfigErrors {
                errors: vec![diag],
                warnings: Vec::new(),
            });
        }
    };
    let root_path = Path::default();
    if !root_value.is_object() {
        d.error(&root_path, None, "the config must be a JSON object");
        return Err(d.out);
    }
    let Some(root) = section::<RawRoot>(
        &mut d,
        &root_path,
        None,
        &root_value,
        ROOT_KEYS,
        ROOT_NO_EFFECT,
    ) else {
        return Err(d.out);
    };

    if root.version.as_ref().and_then(Value::as_u64) != Some(3) {
        d.error(
            &root_path.key("version"),
            None,
            "unsupported version: `version` must be 3 (KrakenD v3 format)",
        );
    }
    let _ = (&root.schema, &root.name);
    let listen_ip = root
        .listen_ip
        .as_deref()
        .and_then(|ip| match ip.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                d.error(
                    &root_path.key("listen_ip"),
                    None,
                    format!("`{ip}` is not an IP address"),
                );
                None
            }
        });
    let timeout = duration(
        &mut d,
        &root_path.key("timeout"),
        None,
        root.timeout.as_deref(),
    )
    .unwrap_or(DEFAULT_TIMEOUT);
    let cache_ttl = duration(
        &mut d,
        &root_path.key("cache_ttl"),
        None,
        root.cache_ttl.as_deref(),
    )
    .unwrap_or_default();
    let output_encoding = root
        .output_encoding
        .as_deref()
        .map(|e| output_encoding(&mut d, &root_path.key("output_encoding"), None, e))
        .unwrap_or(OutputEncoding::Json);
    let root_extra = extra::decode(
        &mut d,
        &root_path.key("extra_config"),
        None,
        Level::Root,
        &root.extra_config,
    );

    let root_ratelimit = root_extra.ratelimit_router.clone();
    let defaults = Defaults {
        root_ratelimit: root_ratelimit.as_ref(),
        timeout,
        cache_ttl,
        output_encoding,
        host: &root.host,
        disable_rest: root.disable_rest,
    };
    let mut endpoints = Vec::new();
    let mut seen = BTreeSet::new();
    let mut routes = matchit::Router::new();
    let mut route_paths = BTreeSet::new();
    for (i, value) in root.endpoints.iter().enumerate() {
        let path = root_path.key("endpoints").index(i);
        for value in per_method(&mut d, &path, value) {
            let Some(ep) = endpoint(&mut d, &path, &value, &defaults) else {
                continue;
            };
            let calls = ep.backend.len() * ep.concurrent_calls as usize;
            if calls > WORKERS_FREE_SUBREQUESTS {
                d.warn(
                    &path.key("backend"),
                    Some(&ep.label),
                    format!("up to {calls} backend calls per request: above Cloudflare Workers' limit of {WORKERS_FREE_SUBREQUESTS} subrequests (Free plan); fine natively and on Lambda"),
                );
            }
            if !seen.insert((ep.endpoint.clone(), ep.method.clone())) {
                d.error(
                    &path.key("endpoint"),
                    Some(&ep.label),
                    "duplicate endpoint: the same path and method are declared more than once",
                );
            } else if route_paths.insert(ep.endpoint.clone()) {
                if let Err(e) = routes.insert(crate::router::matchit_pattern(&ep.endpoint), ()) {
                    d.error(
                        &path.key("endpoint"),
                        Some(&ep.label),
                        format!("path conflicts with another endpoint: {e}"),
                    );
                }
            }
            endpoints.push(ep);
        }
    }
    if root.endpoints.is_empty() {
        d.warn(&root_path.key("endpoints"), None, "no endpoints declared");
    }

    if !d.out.errors.is_empty() {
        return Err(d.out);
    }
    Ok(Config {
        port: root.port.unwrap_or(8080),
        listen_ip,
        timeout,
        cache_ttl,
        debug_endpoint: root.debug_endpoint,
        echo_endpoint: root.echo_endpoint,
        router: root_extra.router.unwrap_or_default(),
        guards: super::plan::RootGuards {
            cors: root_extra.cors,
            security_http: root_extra.security_http,
            bot_detector: root_extra.bot_detector,
        },
        endpoints,
        warnings: d.out.warnings,
    })
}

/// Manifold extension: `"method": ["GET", "HEAD"]` declares one endpoint per method (KrakenD
/// needs one entry each). Anything else is passed through unchanged.
fn per_method(d: &mut Diags<'_>, path: &Path, value: &Value) -> Vec<Value> {
    let Some(Value::Array(methods)) = value.get("method") else {
        return vec![value.clone()];
    };
    if methods.is_empty() {
        d.error(
            &path.key("method"),
            None,
            "`method` list is empty (Manifold extension: list at least one method)",
        );
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

struct Defaults<'a> {
    root_ratelimit: Option<&'a super::extra::RouterRateLimit>,
    timeout: Duration,
    cache_ttl: Duration,
    output_encoding: OutputEncoding,
    host: &'a [String],
    disable_rest: bool,
}

fn endpoint(
    d: &mut Diags<'_>,
    path: &Path,
    value: &Value,
    defaults: &Defaults<'_>,
) -> Option<Endpoint> {
    let guess_method = value
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("GET")
        .to_ascii_uppercase();
    let guess_path = value.get("endpoint").and_then(Value::as_str).unwrap_or("?");
    let label = format!("{guess_method} {guess_path}");
    let ctx = Some(label.as_str());
    let raw: RawEndpoint = section(d, path, ctx, value, ENDPOINT_KEYS, ENDPOINT_NO_EFFECT)?;

    let errors_before = d.out.errors.len();
    let Some(endpoint) = raw.endpoint.clone() else {
        d.error(
            &path.key("endpoint"),
            ctx,
            "missing `endpoint` (the path, e.g. \"/users/{id}\")",
        );
        return None;
    };
    let params = endpoint_params(
        d,
        &path.key("endpoint"),
        ctx,
        &endpoint,
        defaults.disable_rest,
    );
    let method = match &raw.method {
        None => Method::GET,
        Some(Value::String(m)) => method(d, &path.key("method"), ctx, m).unwrap_or(Method::GET),
        Some(_) => {
            d.error(
                &path.key("method"),
                ctx,
                "`method` must be a string such as \"GET\" (or a list of them)",
            );
            Method::GET
        }
    };
    let timeout = duration(d, &path.key("timeout"), ctx, raw.timeout.as_deref())
        .filter(|t| !t.is_zero())
        .unwrap_or(defaults.timeout);
    let cache_ttl = duration(d, &path.key("cache_ttl"), ctx, raw.cache_ttl.as_deref())
        .unwrap_or(defaults.cache_ttl);
    let output_encoding = raw
        .output_encoding
        .as_deref()
        .map(|e| output_encoding(d, &path.key("output_encoding"), ctx, e))
        .unwrap_or(defaults.output_encoding);
    let input_headers = header_filter(
        d,
        &path.key("input_headers"),
        ctx,
        raw.input_headers.as_deref(),
    )
    .unwrap_or(HeaderFilter::Only(Vec::new()));
    let input_query_strings =
        query_filter(raw.input_query_strings.as_deref()).unwrap_or(QueryFilter::Only(Vec::new()));
    let ep_extra = extra::decode(
        d,
        &path.key("extra_config"),
        ctx,
        Level::Endpoint,
        &raw.extra_config,
    );
    let proxy = ep_extra.proxy.unwrap_or_default();
    let proxy_path = path.key("extra_config").key("proxy");
    if let Some(at) = ep_extra.cel.as_ref().and_then(|c| c.jwt_at.as_ref()) {
        if ep_extra.auth_validator.is_none() {
            d.error(at, ctx, "this expression reads `JWT`, but the endpoint has no `auth/validator`: it could never be true");
        }
    }
    if proxy.shadow || proxy.shadow_timeout.is_some() {
        d.warn(
            &proxy_path,
            ctx,
            "`shadow` belongs on a backend's `proxy` namespace; it has no effect here",
        );
    }
    if proxy.force_sandboxed_request {
        d.warn(&proxy_path.key("force_sandboxed_request"), ctx, "`force_sandboxed_request` has no effect: every backend always gets its own copy of the request");
    }
    if !proxy.sequential_propagated_params.is_empty() {
        d.warn(&proxy_path.key("sequential_propagated_params"), ctx, "`sequential_propagated_params` has no effect: Manifold has no scripting that reads propagated params (use `{resp<N>_<path>}` in url_pattern)");
    }

    if raw.backend.is_empty() {
        d.error(
            &path.key("backend"),
            ctx,
            "an endpoint needs at least one backend",
        );
    }
    if output_encoding == OutputEncoding::NoOp && raw.backend.len() > 1 {
        d.error(
            &path.key("output_encoding"),
            ctx,
            "`no-op` output encoding supports exactly one backend",
        );
    }
    let label = format!("{method} {endpoint}");
    let mut backend = Vec::new();
    for (bi, value) in raw.backend.iter().enumerate() {
        let bpath = path.key("backend").index(bi);
        let bctx = format!("{label}, backend {bi}");
        let env = BackendEnv {
            method: &method,
            params: &params,
            output_encoding,
            defaults,
            index: bi,
            sequential: proxy.sequential,
            jwt: ep_extra.auth_validator.is_some(),
        };
        if let Some(b) = backend_entry(d, &bpath, &bctx, value, &env) {
            backend.push(b);
        }
    }
    let merged = backend.iter().filter(|b| !b.shadow).count();
    if merged == 0 && !backend.is_empty() {
        d.error(
            &path.key("backend"),
            ctx,
            "every backend is a shadow backend; at least one must answer the client",
        );
    }
    let mut flatmap_filter = proxy.flatmap_filter;
    if !flatmap_filter.is_empty() && merged < 2 {
        d.warn(&proxy_path.key("flatmap_filter"), ctx, "an endpoint-level flatmap_filter only applies with more than one backend (as KrakenD); it has no effect here (put it on the backend instead)");
        flatmap_filter.clear();
    }
    if d.out.errors.len() > errors_before {
        return None;
    }
    Some(Endpoint {
        endpoint,
        method,
        timeout,
        cache_ttl,
        concurrent_calls: raw.concurrent_calls.unwrap_or(1).max(1),
        input_headers,
        input_query_strings,
        output_encoding,
        backend,
        sequential: proxy.sequential,
        static_response: proxy.static_response,
        flatmap_filter,
        params,
        label,
        auth_validator: ep_extra.auth_validator.map(std::sync::Arc::new),
        auth_signer: ep_extra.auth_signer.map(std::sync::Arc::new),
        json_schema: ep_extra.json_schema.map(std::sync::Arc::new),
        cel: ep_extra.cel.map(std::sync::Arc::new),
        guards: super::plan::EndpointGuards {
            bot_detector: ep_extra.bot_detector,
            ratelimit: ep_extra
                .ratelimit_router
                .or_else(|| defaults.root_ratelimit.cloned()),
        },
    })
}

struct BackendEnv<'a> {
    method: &'a Method,
    params: &'a [String],
    output_encoding: OutputEncoding,
    defaults: &'a Defaults<'a>,
    index: usize,
    sequential: bool,
    /// The endpoint validates a JWT, so `{JWT.claim}` has a value.
    jwt: bool,
}

fn backend_entry(
    d: &mut Diags<'_>,
    path: &Path,
    ctx: &str,
    value: &Value,
    env: &BackendEnv<'_>,
) -> Option<Backend> {
    let ctx = Some(ctx);
    let raw: RawBackend = section(d, path, ctx, value, BACKEND_KEYS, BACKEND_NO_EFFECT)?;
    let errors_before = d.out.errors.len();

    let host_list = if raw.host.is_empty() {
        env.defaults.host
    } else {
        &raw.host[..]
    };
    if host_list.is_empty() {
        d.error(
            &path.key("host"),
            ctx,
            "no host: set `host` on the backend or at the root",
        );
    }
    let mut host = Vec::new();
    for (hi, h) in host_list.iter().enumerate() {
        let hpath = if raw.host.is_empty() {
            Path::default().key("host").index(hi)
        } else {
            path.key("host").index(hi)
        };
        match sanitize_host(h, raw.disable_host_sanitize) {
            Ok(h) => host.push(h),
            Err(e) => d.error(&hpath, ctx, e),
        }
    }

    let url_pattern = match raw.url_pattern.as_deref() {
        None => {
            d.error(&path.key("url_pattern"), ctx, "missing `url_pattern`");
            None
        }
        Some(p) => match UrlPattern::parse(p) {
            Ok(p) => Some(p),
            Err(e) => {
                d.error(&path.key("url_pattern"), ctx, e);
                None
            }
        },
    };
    if let Some(p) = &url_pattern {
        for var in p.vars() {
            match var {
                Var::Param(name) if !env.params.iter().any(|e| param_eq(e, name)) => d.error(
                    &path.key("url_pattern"),
                    ctx,
                    format!("undefined output param `{{{name}}}`: the endpoint has no such placeholder (it has: {})", list_or_none(env.params)),
                ),
                Var::Resp { .. } if !env.sequential => d.error(
                    &path.key("url_pattern"),
                    ctx,
                    "`{resp<N>_...}` placeholders need `extra_config.proxy.sequential: true` on the endpoint",
                ),
                Var::Resp { index, .. } if *index >= env.index => d.error(
                    &path.key("url_pattern"),
                    ctx,
                    format!("`{{resp{index}_...}}` must refer to an earlier backend (this is backend {})", env.index),
                ),
                Var::Jwt(claim) if !env.jwt => d.error(
                    &path.key("url_pattern"),
                    ctx,
                    format!("`{{JWT.{claim}}}` needs `auth/validator` on the endpoint"),
                ),
                _ => {}
            }
        }
    }
    let method = match raw.method.as_deref() {
        None => Some(env.method.clone()),
        Some(m) => method_token(d, &path.key("method"), ctx, m),
    };
    let encoding = if env.output_encoding == OutputEncoding::NoOp {
        Encoding::NoOp
    } else {
        raw.encoding.as_deref().map_or(Encoding::Json, |e| {
            encoding(d, &path.key("encoding"), ctx, e)
        })
    };
    let input_headers = header_filter(
        d,
        &path.key("input_headers"),
        ctx,
        raw.input_headers.as_deref(),
    );
    let input_query_strings = query_filter(raw.input_query_strings.as_deref());
    let extra = extra::decode(
        d,
        &path.key("extra_config"),
        ctx,
        Level::Backend,
        &raw.extra_config,
    );

    let proxy = extra.proxy.unwrap_or_default();
    let proxy_path = path.key("extra_config").key("proxy");
    if let Some(at) = extra.cel.as_ref().and_then(|c| c.jwt_at.as_ref()) {
        if !env.jwt {
            d.error(at, ctx, "this expression reads `JWT`, but the endpoint has no `auth/validator`: it could never be true");
        }
    }
    if proxy.sequential || proxy.static_response.is_some() {
        d.warn(
            &proxy_path,
            ctx,
            "`sequential` and `static` belong on the endpoint's `proxy` namespace; they have no effect here",
        );
    }
    if !proxy.flatmap_filter.is_empty() && encoding == Encoding::NoOp {
        d.warn(
            &proxy_path.key("flatmap_filter"),
            ctx,
            "flatmap_filter has no effect on a `no-op` backend",
        );
    }
    let shadow_timeout = duration(
        d,
        &proxy_path.key("shadow_timeout"),
        ctx,
        proxy.shadow_timeout.as_deref(),
    )
    .filter(|t| !t.is_zero());
    if proxy.shadow && env.sequential {
        d.warn(&proxy_path.key("shadow"), ctx, "a shadow backend is not part of the sequence; `{resp<N>_...}` counts only the other backends");
    }
    if d.out.errors.len() > errors_before {
        return None;
    }
    Some(Backend {
        host,
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
        cel: extra.cel.map(std::sync::Arc::new),
        flatmap_filter: proxy.flatmap_filter,
        shadow: proxy.shadow,
        shadow_timeout,
        index: env.index,
        qos: super::plan::BackendQos {
            ratelimit: extra.ratelimit_proxy,
            circuit_breaker: extra.circuit_breaker,
            http_cache: extra.http_cache,
        },
    })
}

/// Decode one object level into its raw struct: type errors are located errors; unknown keys
/// are warnings, except near-misses of known keys (`url_patern`), which are errors because
/// ignoring them would silently change what the gateway does.
fn section<T: DeserializeOwned>(
    d: &mut Diags<'_>,
    path: &Path,
    ctx: Option<&str>,
    value: &Value,
    known: &[&str],
    no_effect: &[&str],
) -> Option<T> {
    if !value.is_object() {
        d.error(path, ctx, "expected an object");
        return None;
    }
    let mut unknown = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let result: Result<T, _> = serde_ignored::deserialize(
        serde_path_to_error::Deserializer::new(value, &mut track),
        |p| unknown.push(p.to_string()),
    );
    for key in unknown {
        let at = path.dotted(&key);
        if key.starts_with('@') {
            continue;
        } else if no_effect.contains(&key.as_str()) {
            d.warn(
                &at,
                ctx,
                format!(
                    "`{key}` is accepted for KrakenD compatibility but has no effect in Manifold"
                ),
            );
        } else if let Some(near) = known.iter().find(|k| is_typo(&key, k)) {
            d.error(
                &at,
                ctx,
                format!("unknown key `{key}` (did you mean `{near}`?)"),
            );
        } else {
            d.warn(&at, ctx, format!("unknown key `{key}`; it has no effect"));
        }
    }
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            let at = path.dotted(&track.path().to_string());
            d.error(&at, ctx, e.to_string());
            None
        }
    }
}

/// A likely misspelling: same letters ignoring case and separators, or edit distance ≤ 2.
fn is_typo(key: &str, known: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .collect::<String>()
            .to_lowercase()
    };
    norm(key) == norm(known) || (known.len() > 4 && edit_distance(key, known) <= 2)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

fn duration(
    d: &mut Diags<'_>,
    path: &Path,
    ctx: Option<&str>,
    text: Option<&str>,
) -> Option<Duration> {
    match parse_duration(text?) {
        Ok(v) => Some(v),
        Err(e) => {
            d.error(path, ctx, e);
            None
        }
    }
}

fn method(d: &mut Diags<'_>, path: &Path, ctx: Option<&str>, m: &str) -> Option<Method> {
    let upper = m.to_ascii_uppercase();
    if !METHODS.contains(&upper.as_str()) {
        d.error(
            path,
            ctx,
            format!(
                "unsupported method `{m}` (supported: {})",
                METHODS.join(", ")
            ),
        );
        return None;
    }
    method_token(d, path, ctx, &upper)
}

fn method_token(d: &mut Diags<'_>, path: &Path, ctx: Option<&str>, m: &str) -> Option<Method> {
    match Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
        Ok(m) => Some(m),
        Err(_) => {
            d.error(path, ctx, format!("`{m}` is not a valid HTTP method"));
            None
        }
    }
}

fn output_encoding(d: &mut Diags<'_>, path: &Path, ctx: Option<&str>, e: &str) -> OutputEncoding {
    match e {
        "json" => OutputEncoding::Json,
        "json-collection" => OutputEncoding::JsonCollection,
        "string" => OutputEncoding::String,
        "no-op" => OutputEncoding::NoOp,
        "negotiate" => OutputEncoding::Negotiate,
        "xml" => OutputEncoding::Xml,
        "yaml" => OutputEncoding::Yaml,
        other => {
            d.warn(
                path,
                ctx,
                format!("output_encoding `{other}` is not supported; rendering json"),
            );
            OutputEncoding::Json
        }
    }
}

fn encoding(d: &mut Diags<'_>, path: &Path, ctx: Option<&str>, e: &str) -> Encoding {
    match e.to_ascii_lowercase().as_str() {
        "json" | "" => Encoding::Json,
        "safejson" => Encoding::SafeJson,
        "string" => Encoding::String,
        "no-op" => Encoding::NoOp,
        "xml" => Encoding::Xml,
        other => {
            d.warn(
                path,
                ctx,
                format!(
                    "encoding `{other}` is not supported; decoding as json (KrakenD's fallback)"
                ),
            );
            Encoding::Json
        }
    }
}

fn header_filter(
    d: &mut Diags<'_>,
    path: &Path,
    ctx: Option<&str>,
    list: Option<&[String]>,
) -> Option<HeaderFilter> {
    let list = list?;
    if list.iter().any(|h| h == "*") {
        return Some(HeaderFilter::All);
    }
    let mut names = Vec::new();
    for (i, h) in list.iter().enumerate() {
        match HeaderName::from_bytes(h.as_bytes()) {
            Ok(n) => names.push(n),
            Err(_) => d.error(
                &path.index(i),
                ctx,
                format!("`{h}` is not a valid header name"),
            ),
        }
    }
    Some(HeaderFilter::Only(names))
}

fn query_filter(list: Option<&[String]>) -> Option<QueryFilter> {
    let list = list?;
    if list.iter().any(|q| q == "*") {
        Some(QueryFilter::All)
    } else {
        Some(QueryFilter::Only(list.to_vec()))
    }
}

/// The endpoint's `{params}`; also enforces the path rules (leading `/`, reserved paths, no
/// wildcards, unique names).
fn endpoint_params(
    d: &mut Diags<'_>,
    path: &Path,
    ctx: Option<&str>,
    endpoint: &str,
    disable_rest: bool,
) -> Vec<String> {
    if !endpoint.starts_with('/') {
        d.error(
            path,
            ctx,
            format!("endpoint `{endpoint}` must start with '/'"),
        );
    }
    for reserved in RESERVED_PATHS {
        if let Some(rest) = endpoint.strip_prefix(reserved) {
            if rest.is_empty() || rest.starts_with('/') {
                d.error(
                    path,
                    ctx,
                    format!("`{reserved}` is reserved for the gateway's built-in endpoint"),
                );
            }
        }
    }
    // Manifold extension: a trailing `/*` forwards the rest of the path (KrakenD EE only).
    let body = endpoint.strip_suffix("/*").unwrap_or(endpoint);
    if body.contains('*') {
        d.error(
            path,
            ctx,
            "a wildcard is only supported as the last segment (`/api/*`, a Manifold extension)",
        );
    }
    let mut params: Vec<String> = Vec::new();
    for segment in body.split('/') {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if name.is_empty() || name.contains(['{', '}']) {
                d.error(path, ctx, format!("invalid placeholder `{segment}`"));
            } else if params.iter().any(|p| param_eq(p, name)) {
                d.error(path, ctx, format!("placeholder `{{{name}}}` appears twice"));
            } else {
                params.push(name.to_owned());
            }
        } else if segment.contains('{') && !disable_rest {
            d.warn(path, ctx, format!("`{segment}`: placeholders must be a whole path segment; this segment is matched literally"));
        }
    }
    params
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

fn dot_path(p: &str) -> Vec<String> {
    p.split('.').map(str::to_owned).collect()
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

    #[test]
    fn typo_detection() {
        assert!(is_typo("url_patern", "url_pattern"));
        assert!(is_typo("isCollection", "is_collection"));
        assert!(!is_typo("name", "host"));
        assert!(!is_typo("sd", "host"));
    }

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
    }
}
