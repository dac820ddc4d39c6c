//! The root object: the JSON text, the root settings, the list of endpoints (with the checks
//! that span endpoints), and the whole [`Config`].

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::Value;

use super::decode::{Cx, Level};
use super::endpoint::{endpoint, per_method, Defaults};
use super::error::{line_col, Diagnostic, Diags};
use super::extra::{self, KeysFrom, OpenTelemetry, Redis, RedisRateLimit};
use super::fields;
use super::files::Files;
use super::plan::{
    Config, Endpoint, OutputEncoding, RootGuards, Routes, ServerTimeouts, TelemetryOptions,
};
use super::raw::{RawRoot, ROOT_NO_EFFECT};
use super::tls;
use super::{ConfigErrors, DEFAULT_TIMEOUT};
use crate::limits::RequestLimits;
use crate::router::{RouteError, Table};

/// Subrequests one request may make on the Cloudflare Workers Free plan: `check` flags
/// endpoints that can exceed it, since the Worker would fail them at run time.
const WORKERS_FREE_SUBREQUESTS: usize = 50;

/// Parse and decode a whole config text.
pub(crate) fn parse(text: &str) -> Result<Config, ConfigErrors> {
    let value = json(text)?;
    let mut diags = Diags::new(text);
    // What the config uses and this build compiled out fails here, at the key that uses it.
    super::capability::check(&mut diags, &value);
    let config = root(&mut Cx::root(&mut diags), &value);
    settle_unenforced(&mut diags, config.as_ref());
    match config {
        Some(mut config) if diags.out.errors.is_empty() => {
            config.warnings = diags.out.warnings;
            Ok(config)
        }
        _ => Err(diags.out),
    }
}

/// Each namespace Manifold cannot enforce is an error, unless the root's `ignore_unenforced`
/// lists it: then a warning that says, loudly, that it is not enforced.
fn settle_unenforced(diags: &mut Diags<'_>, config: Option<&Config>) {
    let ignored = config.map_or(&[][..], |c| c.ignore_unenforced.as_slice());
    for (namespace, mut d) in std::mem::take(&mut diags.unenforced) {
        if ignored.contains(&namespace) {
            d.message = format!(
                "NOT ENFORCED (listed in `ignore_unenforced`): {}",
                d.message
            );
            diags.out.warnings.push(d);
        } else {
            d.message = format!("{}; to accept it unenforced while migrating, list `{namespace}` in the root's `ignore_unenforced`", d.message);
            diags.out.errors.push(d);
        }
    }
}

/// The text as JSON; a syntax error is the only diagnostic then.
pub(super) fn json(text: &str) -> Result<Value, ConfigErrors> {
    serde_json::from_str(text).map_err(|e| {
        // serde_json reports column 0 at the start of a line (an empty text, or EOF right after
        // a newline; found by fuzzing); diagnostics are 1-based.
        let (line, column) = if e.line() == 0 {
            line_col(text, 0)
        } else {
            (e.line(), e.column().max(1))
        };
        ConfigErrors {
            errors: vec![Diagnostic {
                path: String::new(),
                context: None,
                message: format!("invalid JSON: {e}"),
                line,
                column,
            }],
            warnings: Vec::new(),
        }
    })
}

/// The root object and everything under it.
fn root(cx: &mut Cx<'_, '_>, value: &Value) -> Option<Config> {
    if !value.is_object() {
        cx.error("the config must be a JSON object");
        return None;
    }
    let mut raw: RawRoot = cx.decode(value, ROOT_NO_EFFECT)?;
    // First: every other decoder may need a file the config names.
    cx.parts().0.files = Files::new(
        std::mem::take(&mut raw.embedded_files),
        std::mem::take(&mut raw.embedded_file_errors),
    );
    if raw.version.as_ref().and_then(Value::as_u64) != Some(3) {
        cx.at("version")
            .error("unsupported version: `version` must be 3 (KrakenD v3 format)");
    }
    let _ = &raw.schema;
    let listen_ip = raw
        .listen_ip
        .as_deref()
        .and_then(|ip| match ip.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                cx.at("listen_ip")
                    .error(format!("`{ip}` is not an IP address"));
                None
            }
        });
    let timeout =
        fields::duration(&mut cx.at("timeout"), raw.timeout.as_deref()).unwrap_or(DEFAULT_TIMEOUT);
    let cache_ttl =
        fields::duration(&mut cx.at("cache_ttl"), raw.cache_ttl.as_deref()).unwrap_or_default();
    let output_encoding = raw
        .output_encoding
        .as_deref()
        .map_or(OutputEncoding::Json, |e| {
            fields::output_encoding(&mut cx.at("output_encoding"), e)
        });
    let tls = tls::server(&mut cx.at("tls"), raw.tls.as_ref());
    let client_tls = tls::client(&mut cx.at("client_tls"), raw.client_tls.as_ref());
    let mut extra = extra::decode(&mut cx.at("extra_config"), &raw.extra_config);
    let api_keys = extra.api_keys.map(Arc::new);
    let defaults = Defaults {
        api_keys: api_keys.as_ref(),
        root_ratelimit: extra.ratelimit_router.as_ref(),
        timeout,
        cache_ttl,
        output_encoding,
        host: &raw.host,
        disable_rest: raw.disable_rest,
        opentelemetry: extra.opentelemetry.as_ref(),
    };
    let (mut endpoints, routes) = endpoints(cx, &raw.endpoints, &defaults);
    unreported_credentials(&mut endpoints, extra.opentelemetry.as_mut());
    let router = extra.router.unwrap_or_default();
    let limits = limits(cx, raw.max_header_bytes, router.max_payload);
    let mut timeout_at = |key: &str, value: Option<&str>| {
        fields::duration(&mut cx.at(key), value).filter(|d| !d.is_zero())
    };
    let server = ServerTimeouts {
        read: timeout_at("read_timeout", raw.read_timeout.as_deref()),
        write: timeout_at("write_timeout", raw.write_timeout.as_deref()),
        idle: timeout_at("idle_timeout", raw.idle_timeout.as_deref()),
        read_header: timeout_at("read_header_timeout", raw.read_header_timeout.as_deref()),
    };
    let redis = extra.redis.unwrap_or_default();
    let service_redis = extra.ratelimit_service_redis;
    let keys_from = api_keys.as_ref().and_then(|k| k.keys_from.as_ref());
    check_pools(cx, &redis, service_redis.as_ref(), &endpoints, keys_from);
    Some(Config {
        port: raw.port.unwrap_or(8080),
        listen_ip,
        timeout,
        cache_ttl,
        debug_endpoint: raw.debug_endpoint,
        echo_endpoint: raw.echo_endpoint,
        ignore_unenforced: raw.ignore_unenforced,
        router,
        limits,
        server,
        telemetry: TelemetryOptions {
            logging: extra.logging,
            // `service_name` unset: the config's `name`, as in KrakenD CE.
            opentelemetry: extra.opentelemetry.map(|mut o| {
                if o.service_name.is_empty() {
                    o.service_name = (raw.name.clone())
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| "manifold".to_owned());
                }
                o
            }),
        },
        guards: RootGuards {
            cors: extra.cors,
            security_http: extra.security_http,
            bot_detector: extra.bot_detector,
            ratelimit_redis: service_redis,
        },
        tls,
        client_tls,
        endpoints,
        redis,
        routes: Routes(routes),
        compression: extra.compression,
        warnings: Vec::new(),
    })
}

/// The request limits: KrakenD's root `max_header_bytes` and `router.max_payload`, or the
/// defaults. A zero head limit would refuse every request, so it is an error.
fn limits(cx: &mut Cx<'_, '_>, head: Option<u64>, body: Option<u64>) -> RequestLimits {
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    if head == Some(0) {
        cx.at("max_header_bytes")
            .error("`max_header_bytes` must be at least 1 (every request would get 431)");
    }
    let defaults = RequestLimits::default();
    RequestLimits {
        max_head: head.map_or(defaults.max_head, size),
        max_body: body.map_or(defaults.max_body, size),
    }
}

/// Every entry of `endpoints` (one per method of a method list), checked against each other.
/// Returns them with their route table.
fn endpoints(
    cx: &mut Cx<'_, '_>,
    list: &[Value],
    defaults: &Defaults<'_>,
) -> (Vec<Endpoint>, Table) {
    let mut routes = Table::default();
    let mut out = Vec::new();
    for (i, value) in list.iter().enumerate() {
        let mut at = cx.at("endpoints").index(i);
        for value in per_method(&mut at, value) {
            let Some(ep) = endpoint(&mut at, &value, defaults) else {
                continue;
            };
            let mut cx = at.within(&ep.label, Level::Endpoint);
            workers_limit(&mut cx, &ep);
            route(&mut cx, &mut routes, &ep, out.len());
            out.push(ep);
        }
    }
    if list.is_empty() {
        cx.at("endpoints").warn("no endpoints declared");
    }
    (out, routes)
}

/// Every layer's `report_headers` leaves out the headers the config reads credentials from (an
/// `auth/api-keys` header, a token validator's `auth_header_name`, on any endpoint): they are
/// added to the `skip_headers` of the service's layers and of each endpoint's and backend's
/// own, so telemetry never reports them.
fn unreported_credentials(endpoints: &mut [Endpoint], service: Option<&mut OpenTelemetry>) {
    let names = credential_headers(endpoints);
    if names.is_empty() {
        return;
    }
    if let Some(layers) = service.map(|o| &mut o.layers) {
        for skip in [
            &mut layers.global.skip_headers,
            &mut layers.proxy.skip_headers,
            &mut layers.backend.traces.skip_headers,
        ] {
            skip.extend(names.iter().cloned());
        }
    }
    for endpoint in endpoints {
        if let Some(own) = endpoint.telemetry.as_mut() {
            if let Some(proxy) = Arc::make_mut(own).proxy.as_mut() {
                proxy.skip_headers.extend(names.iter().cloned());
            }
        }
        for backend in &mut endpoint.backend {
            if let Some(own) = backend.telemetry.as_mut() {
                let traces = &mut Arc::make_mut(own).traces;
                traces.skip_headers.extend(names.iter().cloned());
            }
        }
    }
}

/// The request headers the endpoints read credentials from: an `auth/api-keys` header and a
/// token validator's `auth_header_name`.
fn credential_headers(endpoints: &[Endpoint]) -> Vec<String> {
    use super::extra::KeyIn;
    let mut names = Vec::new();
    for endpoint in endpoints {
        if let Some(keys) = endpoint.api_keys.as_deref() {
            if keys.strategy == KeyIn::Header {
                names.push(keys.identifier.clone());
            }
        }
        if let Some(jwt) = endpoint.auth_validator.as_deref() {
            names.push(jwt.auth_header_name.as_str().to_owned());
        }
    }
    names
}

/// Flag an endpoint that can exceed the Workers Free plan's subrequests per request.
fn workers_limit(cx: &mut Cx<'_, '_>, ep: &Endpoint) {
    let calls = ep.backend.len() * ep.concurrent_calls as usize;
    if calls > WORKERS_FREE_SUBREQUESTS {
        cx.at("backend").warn(format!("up to {calls} backend calls per request: above Cloudflare Workers' limit of {WORKERS_FREE_SUBREQUESTS} subrequests (Free plan); fine natively and on Lambda"));
    }
}

/// Add `ep`'s route to the table: the same path and method twice is an error, and so is a
/// path the router cannot tell apart from an earlier one. The table is the gateway's router
/// later, so this is the only place routes are checked.
fn route(cx: &mut Cx<'_, '_>, routes: &mut Table, ep: &Endpoint, index: usize) {
    match routes.add(&ep.endpoint, &ep.method, index) {
        Ok(()) => {}
        Err(RouteError::Duplicate) => cx
            .at("endpoint")
            .error("duplicate endpoint: the same path and method are declared more than once"),
        Err(RouteError::Conflict(e)) => cx
            .at("endpoint")
            .error(format!("path conflicts with another endpoint: {e}")),
    }
}

/// Every Redis rate limit, shared HTTP cache and shared client-credentials token must name a
/// declared pool: a located error
/// for each one that does not (`manifold check` reports them like any other config error).
fn check_pools(
    cx: &mut Cx<'_, '_>,
    redis: &Redis,
    service: Option<&RedisRateLimit>,
    endpoints: &[Endpoint],
    keys_from: Option<&KeysFrom>,
) {
    let limits = service.map(|s| (s, None)).into_iter().chain(
        endpoints
            .iter()
            .filter_map(|e| Some((e.guards.ratelimit_redis.as_ref()?, Some(e.label.as_str())))),
    );
    let limits = limits.map(|(l, label)| (l.pool.as_str(), &l.pool_at, label));
    let caches = endpoints.iter().flat_map(|e| {
        e.backend.iter().filter_map(|b| {
            let cache = b.qos.http_cache.as_ref()?;
            let pool = cache.connection_name.as_deref()?;
            Some((pool, &cache.pool_at, Some(e.label.as_str())))
        })
    });
    let tokens = endpoints.iter().flat_map(|e| {
        e.backend.iter().filter_map(|b| {
            let cc = b.client_credentials.as_ref()?;
            let pool = cc.connection_name.as_deref()?;
            Some((pool, &cc.pool_at, Some(e.label.as_str())))
        })
    });
    let keys = keys_from.and_then(|k| Some((k.connection_name.as_deref()?, &k.pool_at, None)));
    for (pool, pool_at, label) in limits.chain(caches).chain(tokens).chain(keys) {
        if redis.pools.iter().any(|p| p.spec.name == pool) {
            continue;
        }
        let message = if redis.clusters.iter().any(|c| c == pool) {
            format!(
                "`{pool}` is a Redis cluster, which Manifold does not support; name a `connection_pools` entry"
            )
        } else {
            let declared: Vec<&str> = redis.pools.iter().map(|p| p.spec.name.as_str()).collect();
            let declared = if declared.is_empty() {
                "none is declared (root `extra_config.redis.connection_pools`)".to_owned()
            } else {
                format!("declared: {}", declared.join(", "))
            };
            format!("unknown Redis pool `{pool}`; {declared}")
        };
        let mut at = cx.at_path(pool_at.clone());
        match label {
            Some(label) => at.within(label, Level::Endpoint).error(message),
            None => at.error(message),
        }
    }
}
