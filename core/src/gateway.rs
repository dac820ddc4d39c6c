//! The gateway: the router, the engine guards and one compiled endpoint per route. Its
//! [`Gateway::handle`] is steps 1–2 of the request path drawn in `crate::pipeline`; adapters
//! only convert their platform's request into `http::Request<Bytes>` and back.

use std::ops::ControlFlow;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode};

use crate::builtin;
use crate::config::{self, Config, ConfigErrors};
use crate::guard::{GuardState, Guards, Inbound};
use crate::pipeline::{engine_guards, CompiledEndpoint, SharedStores};
use crate::platform::{Platform, RequestContext};
use crate::render;
use crate::router::{Lookup, Redirects, Router};
use crate::url::Params;

/// A compiled gateway: config, engine guards and the routes to the compiled endpoints.
pub struct Gateway {
    config: Config,
    engine: Guards,
    /// Every (path, method) with its compiled endpoint.
    router: Router<CompiledEndpoint>,
    platform: Platform,
    version: HeaderValue,
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
        let stores = SharedStores::open(&config, &platform);
        let endpoints = config
            .endpoints
            .iter()
            .map(|e| CompiledEndpoint::new(&config, e, &stores, &platform))
            .collect();
        let version = if config.router.hide_version_header {
            HeaderValue::from_static("Version undefined")
        } else {
            HeaderValue::from_static(crate::USER_AGENT)
        };
        Self {
            engine: engine_guards(&config, &stores, &platform),
            router: Router::new(config.routes.clone(), endpoints),
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

    /// Answer one client request. Never panics and never fails: every problem is a response.
    pub async fn handle(
        &self,
        request: http::Request<Bytes>,
        context: RequestContext,
    ) -> Response<Bytes> {
        let (parts, body) = request.into_parts();
        let unrouted = Params::default();
        let inbound = Inbound {
            parts: &parts,
            params: &unrouted,
            context: &context,
        };
        let mut state = GuardState::default();
        if let ControlFlow::Break(response) = self.engine.check(&inbound, &mut state).await {
            return response;
        }
        let mut response = self.route(&parts, body, &context).await;
        self.engine.finish(&inbound, &mut state, &mut response);
        response
    }

    /// The built-in endpoints, then the router; a matched request goes to its endpoint.
    async fn route(&self, parts: &Parts, body: Bytes, context: &RequestContext) -> Response<Bytes> {
        if let Some(response) = builtin::handle(&self.config, &self.platform, parts, &body) {
            return response;
        }
        match self.router.lookup(&parts.method, parts.uri.path()) {
            Lookup::Found { endpoint, params } => {
                let router = &self.config.router;
                endpoint
                    .handle(parts, &params, body, context, router, &self.version)
                    .await
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
