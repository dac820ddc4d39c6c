//! THE request path, top to bottom. [`crate::Gateway::handle`] routes and runs the engine
//! guards; [`CompiledEndpoint::handle`] is everything after the route, in order. Which
//! guards run is written down here ([`engine_guards`], [`endpoint_guards`]); which proxies
//! run, in `proxy::stack`.
//!
//! ```text
//!  client request + RequestContext (peer, deferred work)            adapter: native / Lambda / Workers
//!   │
//!   ▼ Gateway::handle (gateway.rs)
//!   1. engine guards      CORS (preflight answered) → security/http (hosts, HTTPS redirect)
//!                         → root bot detector → service rate limit (qos/ratelimit/service/redis)
//!                                                   guard/{cors,secure,bot_detector,ratelimit}
//!   2. route              /__health, /__debug, /__echo (builtin.rs); method + path → endpoint,
//!                         else gin's redirects, 404 / 405           router.rs
//!   ▼ CompiledEndpoint::handle (pipeline/mod.rs)
//!   3. params             decoded and checked once (url::Params): guards and URLs see one value
//!   4. endpoint guards    bot detector → JWT (auth/validator + CEL on JWT) → API key
//!                         (auth/api-keys, then its per-key client_max_rate) → rate limit
//!                         (qos/ratelimit/router, keyed on checked values) → shared rate limit
//!                         (qos/ratelimit/router/redis)  guard/{bot_detector,jwt,api_keys,ratelimit}
//!   5. param check        400 `error: encoded url params`
//!   6. request building   input_query_strings / input_headers, claim headers, X-Forwarded-*
//!                                                                     pipeline/request.rs
//!   7. endpoint stack     signer → CEL → json-schema → static → shadow copies → [deadline]
//!                         → flatmap → merge | sequential | the single backend
//!        each backend:    error details → CEL → concurrent → rate limit → circuit breaker
//!                         → shape → http (url, send, redirects, status, decode) → cache → client
//!                                                                     proxy/stack.rs
//!   8. render             output_encoding, X-Krakend*, Cache-Control, errors   render.rs
//!   ▲ on the way out: endpoint guards, then engine guards, finish the answer (CORS,
//!     security and opt-in RateLimit-* headers), innermost first
//! ```

mod request;
mod stores;
mod websocket;

use crate::config::capability::when;
use std::ops::ControlFlow;

use bytes::Bytes;
use http::request::Parts;
use http::Response;

use crate::config::extra::{BotDetector, RedisRateLimit, RouterOptions, RouterRateLimit, Strategy};
use crate::config::{Config, Endpoint};
use crate::guard::{
    api_keys::ApiKeyGuard, bot_detector::Detector, client_ip::ClientIp, cors, jwt::Validator,
    ratelimit::Limiter, secure::Secure, Guard, GuardState, Guards, Inbound,
};
use crate::platform::{Platform, RequestContext};
use crate::proxy::websocket::Upgrader;
use crate::proxy::{stack, SharedProxy};
use crate::render;
use crate::url::Params;

pub(crate) use stores::SharedStores;
pub use websocket::Upgrade;

/// One endpoint, compiled: its plan, its guards and its proxy stack.
pub(crate) struct CompiledEndpoint {
    plan: Endpoint,
    /// The plan's endpoint template, shared with each request's telemetry record.
    route: std::sync::Arc<str>,
    /// Its own `telemetry/opentelemetry`, compiled, for each request's record.
    telemetry: Option<std::sync::Arc<crate::platform::EndpointOverride>>,
    guards: Guards,
    proxy: SharedProxy,
    /// `websocket`: how upgrades reach the backend (`websocket.rs`).
    websocket: Option<Upgrader>,
    /// Its answers' headers, made once.
    heads: render::Heads,
}

/// The engine-wide guards, around the router (KrakenD's server wrapper and gin middlewares):
/// CORS wraps the whole server, so a preflight is answered on any path, first; a foreign host
/// or a plain-HTTP request is answered before anything is served; the root bot detector
/// covers unknown paths too.
/// The service rate limit, last, counts only requests nothing else refused.
pub(crate) fn engine_guards(config: &Config, stores: &SharedStores, platform: &Platform) -> Guards {
    let g = &config.guards;
    Guards::new([
        when(cfg!(feature = "cors"), g.cors.as_ref()).map(|c| Guard::Cors(cors::Policy::new(c))),
        when(cfg!(feature = "security-http"), g.security_http.as_ref())
            .map(|s| Guard::Secure(Secure::new(s))),
        bots(g.bot_detector.as_ref()),
        when(cfg!(feature = "ratelimit"), g.ratelimit_redis.as_ref())
            .and_then(|r| shared_limit(config, r, "service", stores, platform)),
    ])
}

/// The bot detector guard; behind its cargo feature (config::capability), so a build without
/// it carries none of its code (the loader refused a config that needs it).
fn bots(config: Option<&BotDetector>) -> Option<Guard> {
    let config = when(cfg!(feature = "bot-detector"), config)?;
    Some(Guard::Bots(Detector::new(config)))
}

/// A rate limit whose buckets live in the shared store of its pool, under `scope`.
fn shared_limit(
    config: &Config,
    cfg: &RedisRateLimit,
    scope: &str,
    stores: &SharedStores,
    platform: &Platform,
) -> Option<Guard> {
    let store = stores.get(&cfg.pool)?;
    let ip = ClientIp::new(&config.router);
    let clock = platform.clock.clone();
    let limiter = Limiter::shared(&cfg.limit, store, scope, cfg.on_failure_allow, ip, clock);
    Some(Guard::RateLimit(Box::new(limiter)))
}

/// An endpoint's guards, in KrakenD CE's order: a bot never consumes anybody's rate-limit
/// tokens; a request without a valid token is refused before it can spend anyone's budget;
/// only requests that would otherwise be served count against the rate; the instance's own
/// buckets before the shared ones, so a request refused locally costs no round trip.
fn endpoint_guards(
    config: &Config,
    endpoint: &Endpoint,
    stores: &SharedStores,
    platform: &Platform,
) -> Guards {
    let g = &endpoint.guards;
    // The optional guards are behind their cargo features too (config::capability): a build
    // without one carries none of its code (the loader refused a config that needs it).
    let api_keys = when(cfg!(feature = "api-keys"), endpoint.api_keys.as_ref());
    Guards::new([
        bots(g.bot_detector.as_ref()),
        when(cfg!(feature = "jwt"), endpoint.auth_validator.as_ref()).map(|v| {
            let cel = when(cfg!(feature = "cel"), endpoint.cel.clone());
            let validator = Validator::new(v.clone(), cel, platform);
            Guard::Jwt(Box::new(validator))
        }),
        api_keys.map(|k| Guard::ApiKeys(ApiKeyGuard::new(k.clone(), stores.api_keys()))),
        when(cfg!(feature = "ratelimit"), api_keys)
            .filter(|k| k.client_max_rate > 0.0)
            .map(|k| {
                let per_key = RouterRateLimit {
                    client_max_rate: k.client_max_rate,
                    strategy: Strategy::ApiKey,
                    ..RouterRateLimit::default()
                };
                let ip = ClientIp::new(&config.router);
                let limiter = Limiter::new(&per_key, ip, platform.clock.clone());
                Guard::RateLimit(Box::new(limiter))
            }),
        when(cfg!(feature = "ratelimit"), g.ratelimit.as_ref()).map(|r| {
            let ip = ClientIp::new(&config.router);
            Guard::RateLimit(Box::new(Limiter::new(r, ip, platform.clock.clone())))
        }),
        when(cfg!(feature = "ratelimit"), g.ratelimit_redis.as_ref())
            .and_then(|r| shared_limit(config, r, &endpoint.label, stores, platform)),
    ])
}

// === impl CompiledEndpoint ===

impl CompiledEndpoint {
    /// Compile `endpoint` of `config` on `platform`.
    pub(crate) fn new(
        config: &Config,
        endpoint: &Endpoint,
        stores: &SharedStores,
        platform: &Platform,
    ) -> Self {
        Self {
            guards: endpoint_guards(config, endpoint, stores, platform),
            proxy: stack::endpoint_stack(endpoint, platform),
            websocket: when(cfg!(feature = "websocket"), endpoint.websocket.as_ref()).and_then(
                |ws| {
                    let backend = endpoint.backend.first()?;
                    Some(Upgrader::new(endpoint, ws.clone(), backend, platform))
                },
            ),
            heads: render::Heads::new(endpoint, render::version(&config.router)),
            plan: endpoint.clone(),
            route: endpoint.endpoint.as_str().into(),
            telemetry: crate::telemetry::endpoint_override(config, endpoint),
        }
    }

    /// Steps 3–8 for a request the router matched to this endpoint.
    pub(crate) async fn handle(
        &self,
        parts: &Parts,
        raw_params: &[(&str, &str)],
        body: Bytes,
        context: &RequestContext,
        router: &RouterOptions,
    ) -> Response<Bytes> {
        crate::telemetry::routed(context, &self.route, self.telemetry.as_ref());
        let params = Params::decode(raw_params);
        let inbound = Inbound {
            parts,
            params: &params,
            context,
        };
        let mut state = GuardState::default();
        if let ControlFlow::Break(response) = self.guards.check(&inbound, &mut state).await {
            return response;
        }
        if params.invalid {
            return render::encoded_params();
        }
        let request = request::build(&self.plan, parts, &state, body, &params, context.clone());
        let result = self.proxy.call(request).await;
        let accept = parts.headers.get(http::header::ACCEPT);
        let mut response = render::endpoint(&self.plan, router, &self.heads, accept, result);
        self.guards.finish(&inbound, &mut state, &mut response);
        response
    }
}

impl std::fmt::Debug for CompiledEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledEndpoint")
            .field("endpoint", &self.plan.endpoint)
            .field("method", &self.plan.method)
            .field("guards", &self.guards)
            .finish_non_exhaustive()
    }
}
