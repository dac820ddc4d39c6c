//! THE place where the pipeline order is written down (lura's `newStack`). Read top to bottom:
//! the request enters at the top of `endpoint_stack`, each backend's chain is in
//! `backend_stack`, and the endpoint handler (`crate::gateway`) wraps the whole thing with the
//! router checks and rendering.
//!
//! ```text
//! engine:   CORS (preflight answered here) → security/http (hosts, HTTPS) → root bot detector → handler
//! handler:  route → guards (bot detector → JWT (+ CEL on JWT) → rate limit) → param check → request filters → endpoint_stack → render
//! endpoint: signer → CEL → json-schema → static → shadow copies → [endpoint deadline] → flatmap → merge | sequential | the single backend
//! backend:  error details → CEL → concurrent calls → rate limit → circuit breaker → shape (target→allow/deny→mapping→group) → http (url, send, status, decode) → cache → client
//! ```

use std::future::Future;
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Response};

use super::{
    backend::HttpBackend, cel, circuit_breaker, concurrent, deadline, error_details, flatmap,
    http_cache, json_schema, jwt, merge, ratelimit, sequential, shadow, shape, static_response,
    RequestState, SharedGuard, SharedProxy,
};
use crate::config::{Backend, Config, Endpoint};
use crate::middleware::{bot_detector, client_ip::ClientIp, cors, secure};
use crate::platform::Platform;

/// Largest backend body accepted (after decompression) before the call counts as failed.
pub const DEFAULT_MAX_BACKEND_BODY: usize = 16 * 1024 * 1024;

/// The engine-wide steps around the router (KrakenD's server wrapper and gin middlewares).
#[derive(Debug, Default)]
pub(crate) struct Engine {
    cors: Option<cors::Policy>,
    secure: Option<secure::Secure>,
    bots: Option<bot_detector::Detector>,
}

/// The checks wrapping one endpoint's handler.
#[derive(Default)]
pub(crate) struct Guards {
    bots: Option<bot_detector::Detector>,
    jwt: Option<SharedGuard>,
    ratelimit: Option<crate::middleware::ratelimit::Limiter>,
}

/// The engine-wide steps of a config.
pub(crate) fn engine(config: &Config) -> Engine {
    let g = &config.guards;
    Engine {
        cors: g.cors.as_ref().map(cors::Policy::new),
        secure: g.security_http.as_ref().map(secure::Secure::new),
        bots: g.bot_detector.as_ref().map(bot_detector::Detector::new),
    }
}

/// The guards of one endpoint.
pub(crate) fn endpoint_guards(config: &Config, endpoint: &Endpoint, platform: &Platform) -> Guards {
    let g = &endpoint.guards;
    Guards {
        bots: g.bot_detector.as_ref().map(bot_detector::Detector::new),
        jwt: endpoint
            .auth_validator
            .as_ref()
            .map(|v| jwt::guard(v.clone(), endpoint.cel.clone(), platform)),
        ratelimit: g.ratelimit.as_ref().map(|r| {
            let ip = ClientIp::new(&config.router);
            crate::middleware::ratelimit::Limiter::new(r, ip, platform.clock.clone())
        }),
    }
}

// === impl Engine ===

impl Engine {
    /// Run `route` (router and endpoint handler) inside the engine-wide steps, in order.
    pub(crate) async fn around(
        &self,
        parts: &Parts,
        route: impl Future<Output = Response<Bytes>>,
    ) -> Response<Bytes> {
        // CORS wraps the whole server in KrakenD: a preflight is answered on any path, first.
        let cors_headers = match self.cors.as_ref().map(|c| c.check(parts)) {
            Some(ControlFlow::Break(preflight)) => return preflight,
            Some(ControlFlow::Continue(headers)) => headers,
            None => HeaderMap::new(),
        };
        let mut response = match self.secure.as_ref().map(|s| s.check(parts)) {
            // A foreign host or a plain-HTTP request is answered before anything is served.
            Some(ControlFlow::Break(r)) => r,
            _ => {
                // The root bot detector is a gin middleware: unknown paths are covered too.
                let mut r = match self.bots.as_ref().map(|b| b.check(parts)) {
                    Some(ControlFlow::Break(r)) => r,
                    _ => route.await,
                };
                if let Some(s) = &self.secure {
                    s.decorate(parts, &mut r);
                }
                r
            }
        };
        // Every answer after the preflight check carries them (rs/cors sets them before `next`).
        cors::apply(cors_headers, &mut response);
        response
    }
}

// === impl Guards ===

impl std::fmt::Debug for Guards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guards")
            .field("bots", &self.bots)
            .field("jwt", &self.jwt.is_some())
            .field("ratelimit", &self.ratelimit)
            .finish()
    }
}

impl Guards {
    /// The checks around the endpoint handler, outermost first (KrakenD CE's order).
    pub(crate) async fn check(
        &self,
        parts: &Parts,
        state: &mut RequestState,
        params: &[(&str, &str)],
        peer: Option<IpAddr>,
    ) -> ControlFlow<Response<Bytes>> {
        // Outermost: a bot never consumes anybody's rate-limit tokens.
        if let Some(b) = &self.bots {
            b.check(parts)?;
        }
        // A request without a valid token is refused before it can spend anyone's rate-limit
        // budget, and before any backend is called; its 401/403 carries no X-Krakend headers.
        if let Some(jwt) = &self.jwt {
            jwt.check(parts, state).await?;
        }
        // Innermost: only requests that would otherwise be served count against the rate.
        if let Some(l) = &self.ratelimit {
            l.check(parts, params, peer)?;
        }
        ControlFlow::Continue(())
    }
}

/// The proxy for one endpoint.
pub(crate) fn endpoint_stack(endpoint: &Endpoint, platform: &Platform) -> SharedProxy {
    let (shadows, answering): (Vec<&Backend>, Vec<&Backend>) =
        endpoint.backend.iter().partition(|b| b.shadow);
    let mut backends: Vec<SharedProxy> = answering
        .iter()
        .map(|b| backend_stack(endpoint, b, platform))
        .collect();
    let mut p = match backends.pop() {
        // A single backend has no merge budget: only the endpoint deadline applies (as KrakenD).
        Some(only) if backends.is_empty() => only,
        Some(last) => {
            backends.push(last);
            if endpoint.sequential {
                sequential::layer(backends, endpoint.timeout, platform.clone())
            } else {
                merge::layer(backends, endpoint.timeout, platform.clone())
            }
        }
        None => super::proxy_fn(|_| {
            Box::pin(async {
                Err(super::ProxyError::new(
                    super::ErrorSource::Internal,
                    "endpoint without backends",
                ))
            })
        }),
    };
    // On the merged data; validation kept it only when more than one backend answers.
    if !endpoint.flatmap_filter.is_empty() {
        p = flatmap::layer(endpoint.flatmap_filter.clone(), p);
    }
    // The deadline stops the calls but not what is outside it: static data still applies.
    p = deadline::layer(endpoint.timeout, p, platform.clone());
    // Shadow copies start with the real calls and are never part of the answer.
    let shadows = shadows
        .iter()
        .map(|b| {
            let timeout = b.shadow_timeout.unwrap_or(endpoint.timeout);
            (backend_stack(endpoint, b, platform), timeout)
        })
        .collect();
    p = shadow::layer(shadows, p, platform.clone());
    // Last, so it also covers a total failure or a timeout (lura: after merge and flatmap).
    if let Some(data) = &endpoint.static_response {
        p = static_response::layer(data.clone(), p);
    }
    // Outside everything that calls a backend (CE's proxy wrappers): an invalid body is
    // refused before any call.
    if let Some(schema) = &endpoint.json_schema {
        p = json_schema::layer(schema.clone(), p);
    }
    // CE wraps json-schema in CEL (krakend-ce's proxy factory): the request expressions run
    // after the guards (so `JWT` is set and a refused token never reaches them; the JWT-only
    // expressions already ran inside the validator) and before the body check and any call.
    if let Some(checks) = &endpoint.cel {
        p = cel::layer(checks.clone(), p, platform.clock.clone());
    }
    // Outside static data, so a static `access_token` gets signed too (KrakenD jwt_4).
    if let Some(signer) = &endpoint.auth_signer {
        p = jwt::signer(signer.clone(), p, platform);
    }
    p
}

/// The chain for one backend, innermost first.
pub(crate) fn backend_stack(
    endpoint: &Endpoint,
    backend: &Backend,
    platform: &Platform,
) -> SharedProxy {
    // The cache sits at the HTTP client, as KrakenD's httpcache transport: it keeps the raw
    // backend answers, keyed by everything that was sent.
    let client_platform = match &backend.qos.http_cache {
        Some(cache) => http_cache::platform(cache, platform),
        None => platform.clone(),
    };
    // The HTTP call: URL building, balancing, filters, send, status check, decode.
    let mut p: SharedProxy = Arc::new(HttpBackend::new(
        backend.clone(),
        client_platform,
        DEFAULT_MAX_BACKEND_BODY,
    ));
    // Shaping sees only successful, decoded data.
    p = shape::layer(backend, p);
    // Around the call and its decoding: a bad status or body is a backend failure too.
    if let Some(cb) = &backend.qos.circuit_breaker {
        p = circuit_breaker::layer(cb, p, platform.clock.clone());
    }
    // Outside the breaker (CE: the limiter wraps gobreaker): a refused call never reaches the
    // backend and is not the backend's failure.
    if let Some(rl) = &backend.qos.ratelimit {
        p = ratelimit::layer(rl, p, platform.clock.clone());
    }
    // Around the whole fetch-and-parse, so an incomplete or broken answer loses the race; each
    // copy balances its host on its own (lura's concurrent middleware).
    p = concurrent::layer(
        endpoint.concurrent_calls,
        endpoint.timeout,
        p,
        platform.clone(),
    );
    // KrakenD puts CEL inside the rate limit and the breaker; here a request its expressions
    // refuse never reaches the backend, so it is neither the backend's failure (a client could
    // otherwise open the circuit for everybody) nor a spent token, and it is checked once,
    // not once per concurrent copy. Response expressions see the shaped data (`group`...).
    if let Some(checks) = &backend.cel {
        p = cel::layer(checks.clone(), p, platform.clock.clone());
    }
    // Outside shaping, so `error_<alias>` is not wrapped by `group` or filtered away.
    if let Some(alias) = &backend.http.return_error_details {
        p = error_details::layer(alias, p);
    }
    p
}
