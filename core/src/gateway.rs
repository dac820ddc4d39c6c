//! The gateway: the router, the engine guards and one compiled endpoint per route. Its
//! [`Gateway::handle`] is steps 1–2 of the request path drawn in `crate::pipeline`; adapters
//! only convert their platform's request into `http::Request<Bytes>` and back.

use std::ops::ControlFlow;
use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, Response, StatusCode};

use futures_util::Stream;

use crate::body::{BoundedBody, TooLarge};
use crate::builtin;
use crate::config::capability::when;
use crate::config::{self, Config, ConfigErrors};
use crate::guard::{cors, GuardState, Guards, Inbound};
use crate::http_util::plain;
use crate::pipeline::{engine_guards, CompiledEndpoint, SharedStores, Upgrade};
use crate::platform::{Body, Platform, RequestContext, StreamSlot, Streamed};
use crate::render;
use crate::router::{Lookup, Redirects, Router};
use crate::telemetry::Telemetry;
use crate::url::Params;

/// A compiled gateway: config, engine guards and the routes to the compiled endpoints.
pub struct Gateway {
    config: Config,
    engine: Guards,
    /// Every (path, method) with its compiled endpoint.
    router: Router<CompiledEndpoint>,
    platform: Platform,
    version: HeaderValue,
    telemetry: Telemetry,
    /// Some endpoint passes WebSocket upgrades through (`websocket`).
    websockets: bool,
    /// The root `security/cors` origins, which WebSocket upgrades must come from.
    websocket_origins: Option<cors::Policy>,
}

/// The streamed body in `slot`, if `response` is the passthrough answer it belongs to; any
/// other answer keeps its whole body and the stream, if any, is dropped (cancelled).
fn attach(mut response: Response<Bytes>, slot: &StreamSlot) -> Response<Body> {
    let streamed = response.extensions_mut().remove::<Streamed>().is_some();
    let (parts, body) = response.into_parts();
    let body = match (streamed, slot.take()) {
        (true, Some(chunks)) => Body::Stream(chunks),
        _ => Body::Full(body),
    };
    Response::from_parts(parts, body)
}

/// Why a streamed request body was not read.
enum ReadError {
    TooLarge(TooLarge),
    Broken(String),
}

impl From<TooLarge> for ReadError {
    fn from(too_large: TooLarge) -> Self {
        Self::TooLarge(too_large)
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("endpoints", &self.config.endpoints.len())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Compile a validated config into a gateway on `platform`.
    pub fn new(config: Config, platform: Platform) -> Self {
        let stores = Arc::new(SharedStores::open(&config, &platform));
        // The endpoints find the opened pools through the platform (`Stores::pool`).
        let platform = platform.with_stores(stores.clone());
        let endpoints = config
            .endpoints
            .iter()
            .map(|e| CompiledEndpoint::new(&config, e, &stores, &platform))
            .collect();
        let version = render::version(&config.router);
        // Both behind their cargo features (config::capability): constant `false`/`None` in a
        // build without them, so their code is not in that build.
        let websockets =
            cfg!(feature = "websocket") && config.endpoints.iter().any(|e| e.websocket.is_some());
        let websocket_origins = when(cfg!(feature = "cors"), config.guards.cors.as_ref())
            .filter(|_| websockets)
            .map(cors::Policy::new);
        Self {
            websockets,
            websocket_origins,
            engine: engine_guards(&config, &stores, &platform),
            telemetry: Telemetry::new(&config),
            router: Router::new(config.routes.0.clone(), endpoints),
            config,
            platform,
            version,
        }
    }

    /// Parse, validate and compile a KrakenD v3 config text.
    pub fn from_json(text: &str, platform: Platform) -> Result<Self, ConfigErrors> {
        Ok(Self::new(config::parse(text)?, platform))
    }

    /// The config this gateway was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The ports this gateway uses.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// Answer a request whose body is still to be read, as the serverless adapters receive
    /// it: the head limit (431), the body read under the body limit (413 from the declared
    /// length or at the chunk that crosses it, never buffering more), then [`Self::handle`].
    /// A body that breaks off is a 400.
    pub async fn serve<S, C, E>(
        &self,
        request: http::Request<S>,
        context: RequestContext,
    ) -> Response<Bytes>
    where
        S: Stream<Item = Result<C, E>>,
        C: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        let (parts, chunks) = request.into_parts();
        let limits = self.config.limits;
        if let Some(answer) = limits.check_head(&parts) {
            return self.refused(&parts, context, answer);
        }
        let body = match BoundedBody::request(&parts.headers, limits.max_body) {
            Ok(body) => {
                body.collect(chunks, |e| ReadError::Broken(e.to_string()))
                    .await
            }
            Err(too_large) => Err(ReadError::TooLarge(too_large)),
        };
        match body {
            Ok(body) => {
                self.handle(http::Request::from_parts(parts, body), context)
                    .await
            }
            Err(ReadError::TooLarge(too_large)) => {
                self.refused(&parts, context, too_large.response())
            }
            Err(ReadError::Broken(e)) => {
                let answer = plain(StatusCode::BAD_REQUEST, format!("bad request: {e}\n"));
                self.refused(&parts, context, answer)
            }
        }
    }

    /// [`Self::handle`], but an endpoint that streams (docs/streaming.md) answers with its
    /// backend's body as a stream of chunks still arriving, for the adapter to send as they
    /// come; every other answer is whole. The request's record is written when the head is
    /// ready (its size counts no streamed bytes).
    pub async fn handle_streaming(
        &self,
        request: http::Request<Bytes>,
        mut context: RequestContext,
    ) -> Response<Body> {
        let slot = StreamSlot::default();
        context.stream = Some(slot.clone());
        // Pinned in place: awaiting the (large) future unpinned would move it first.
        let response = std::pin::pin!(self.handle(request, context)).await;
        attach(response, &slot)
    }

    /// [`Self::serve`] with [`Self::handle_streaming`]'s answers.
    pub async fn serve_streaming<S, C, E>(
        &self,
        request: http::Request<S>,
        mut context: RequestContext,
    ) -> Response<Body>
    where
        S: Stream<Item = Result<C, E>>,
        C: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        let slot = StreamSlot::default();
        context.stream = Some(slot.clone());
        let response = self.serve(request, context).await;
        attach(response, &slot)
    }

    /// Answer one client request. Never panics and never fails: every problem is a response.
    /// The answer carries the request id; the request's record (access log, spans) goes to the
    /// platform's sink.
    pub async fn handle(
        &self,
        request: http::Request<Bytes>,
        mut context: RequestContext,
    ) -> Response<Bytes> {
        let (parts, body) = request.into_parts();
        let started = self.telemetry.start(&self.platform, &parts, &mut context);
        let mut response = self.answer(&parts, body, &context).await;
        let (config, platform) = (&self.config, &self.platform);
        self.telemetry
            .finish(started, config, platform, &parts, &context, &mut response);
        crate::telemetry::flush(platform, &context).await;
        response
    }

    /// An answer the adapter gave itself before the gateway saw the request (a body over the
    /// limit, a body that stopped arriving): the request id added, the request recorded as
    /// any other.
    pub fn refused(
        &self,
        parts: &Parts,
        mut context: RequestContext,
        mut response: Response<Bytes>,
    ) -> Response<Bytes> {
        let started = self.telemetry.start(&self.platform, parts, &mut context);
        let (config, platform) = (&self.config, &self.platform);
        self.telemetry
            .finish(started, config, platform, parts, &context, &mut response);
        response
    }

    /// A WebSocket upgrade (an HTTP/1.1 `GET` with `Upgrade: websocket`) on a `websocket`
    /// endpoint: the engine guards, the origin check against the root `security/cors`, and the
    /// endpoint's guards decide, as for any request; an allowed upgrade gets the backend
    /// handshake to dial. Anything else is [`Upgrade::Pass`]: answer it with [`Self::handle`].
    /// Adapters call this before reading a body (an upgrade has none).
    pub async fn upgrade(&self, parts: &Parts, context: RequestContext) -> Upgrade {
        if !self.may_upgrade(parts) {
            return Upgrade::Pass;
        }
        let path = self.route_path(parts);
        let Lookup::Found { endpoint, params } = self.router.lookup(&parts.method, &path) else {
            return Upgrade::Pass;
        };
        if !endpoint.websocket() {
            return Upgrade::Pass;
        }
        let unrouted = Params::default();
        let inbound = Inbound {
            parts,
            params: &unrouted,
            context: &context,
        };
        let mut state = GuardState::default();
        let mut refused = match self.engine.check(&inbound, &mut state).await {
            ControlFlow::Break(response) => response,
            ControlFlow::Continue(()) => {
                let origin_ok = self
                    .websocket_origins
                    .as_ref()
                    .is_none_or(|cors| cors.origin_allowed(parts));
                let decided = if origin_ok {
                    endpoint.upgrade(parts, &params, &context).await
                } else {
                    Upgrade::Refused(plain(StatusCode::FORBIDDEN, "403 origin not allowed\n"))
                };
                let Upgrade::Refused(mut response) = decided else {
                    return decided;
                };
                self.engine.finish(&inbound, &mut state, &mut response);
                response
            }
        };
        refused = self.refused(parts, context.clone(), refused);
        Upgrade::Refused(refused)
    }

    /// Whether [`Self::upgrade`] may have something to decide: some endpoint is a `websocket`
    /// one and the request asks for a WebSocket. Cheap: adapters ask it for every request.
    pub fn may_upgrade(&self, parts: &Parts) -> bool {
        self.websockets && crate::proxy::websocket::is_upgrade(parts)
    }

    /// The path the router matches: cleaned of extra slashes when the router says so.
    fn route_path(&self, parts: &Parts) -> String {
        if self.config.router.remove_extra_slash {
            crate::router::clean_path(parts.uri.path())
        } else {
            parts.uri.path().to_owned()
        }
    }

    /// Steps 1–8: the engine guards around the route.
    async fn answer(
        &self,
        parts: &Parts,
        body: Bytes,
        context: &RequestContext,
    ) -> Response<Bytes> {
        let unrouted = Params::default();
        let inbound = Inbound {
            parts,
            params: &unrouted,
            context,
        };
        let mut state = GuardState::default();
        if let ControlFlow::Break(response) = self.engine.check(&inbound, &mut state).await {
            return response;
        }
        let mut response = std::pin::pin!(self.route(parts, body, context)).await;
        self.engine.finish(&inbound, &mut state, &mut response);
        response
    }

    /// The built-in endpoints, then the router; a matched request goes to its endpoint.
    async fn route(&self, parts: &Parts, body: Bytes, context: &RequestContext) -> Response<Bytes> {
        if let Some(response) = builtin::handle(&self.config, &self.platform, parts, &body) {
            return response;
        }
        let router = &self.config.router;
        let cleaned;
        let path = if router.remove_extra_slash {
            cleaned = crate::router::clean_path(parts.uri.path());
            cleaned.as_str()
        } else {
            parts.uri.path()
        };
        match self.router.lookup(&parts.method, path) {
            Lookup::Found { endpoint, params } => {
                endpoint.handle(parts, &params, body, context, router).await
            }
            Lookup::MethodNotAllowed if parts.method == Method::OPTIONS && router.auto_options => {
                render::auto_options(&self.router.allowed(path), &self.version)
            }
            Lookup::MethodNotAllowed if router.disable_handle_method_not_allowed => {
                self.miss(parts, StatusCode::NOT_FOUND)
            }
            Lookup::MethodNotAllowed => self.miss(parts, StatusCode::METHOD_NOT_ALLOWED),
            Lookup::NotFound => self.miss(parts, StatusCode::NOT_FOUND),
        }
    }

    /// No endpoint matched: gin tries its trailing-slash / fixed-path redirects before
    /// answering 405/404.
    fn miss(&self, parts: &Parts, status: StatusCode) -> Response<Bytes> {
        let how = Redirects {
            trailing_slash: !self.config.router.disable_redirect_trailing_slash,
            fixed_path: !self.config.router.disable_redirect_fixed_path,
        };
        match self.router.redirect(&parts.method, parts.uri.path(), how) {
            Some(location) => render::redirect(&parts.method, &location, parts.uri.query()),
            None => render::router_error(status, &self.config.router, &self.version),
        }
    }
}
