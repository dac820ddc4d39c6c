//! The endpoint handler: route, check parameters, build the filtered request, run the
//! endpoint's proxy under its deadline, render. This is lura's router layer; adapters only
//! convert their platform's request into `http::Request<Bytes>` and back.

use std::ops::ControlFlow;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HOST, USER_AGENT as UA};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

use crate::builtin;
use crate::config::{self, Config, ConfigErrors, Endpoint};
use crate::http_util::{parse_query, HOP_BY_HOP};
use crate::platform::{Platform, RequestContext};
use crate::proxy::{stack, ProxyRequest, RequestState, SharedProxy};
use crate::render;
use crate::router::{Lookup, Redirects, Router};
use crate::url::decode_param;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_VIA: HeaderName = HeaderName::from_static("x-forwarded-via");

/// A compiled gateway: config, routes and one proxy stack per endpoint.
pub struct Gateway {
    config: Config,
    router: Router,
    endpoints: Vec<SharedProxy>,
    engine: stack::Engine,
    guards: Vec<stack::Guards>,
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
    pub fn new(config: Config, platform: Platform) -> Result<Self, ConfigErrors> {
        let router = Router::new(
            config
                .endpoints
                .iter()
                .map(|e| (e.endpoint.as_str(), &e.method)),
        )
        .map_err(|e| {
            let diag = config::Diagnostic {
                path: "endpoints".into(),
                context: None,
                message: e,
                line: 1,
                column: 1,
            };
            ConfigErrors {
                errors: vec![diag],
                warnings: Vec::new(),
            }
        })?;
        let endpoints = config
            .endpoints
            .iter()
            .map(|e| stack::endpoint_stack(e, &platform))
            .collect();
        let engine = stack::engine(&config);
        let guards = config
            .endpoints
            .iter()
            .map(|e| stack::endpoint_guards(&config, e, &platform))
            .collect();
        let version = if config.router.hide_version_header {
            HeaderValue::from_static("Version undefined")
        } else {
            HeaderValue::from_static(crate::USER_AGENT)
        };
        Ok(Self {
            config,
            router,
            endpoints,
            engine,
            guards,
            platform,
            version,
        })
    }

    /// Parse, validate and compile a KrakenD v3 config text.
    pub fn from_json(text: &str, platform: Platform) -> Result<Self, ConfigErrors> {
        Self::new(config::parse(text)?, platform)
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
        // CORS, security headers and the root bot detector run around everything (stack.rs).
        self.engine
            .around(&parts, self.route(&parts, body, context))
            .await
    }

    /// The router and the endpoint handler.
    async fn route(&self, parts: &Parts, body: Bytes, context: RequestContext) -> Response<Bytes> {
        if let Some(response) = builtin::handle(&self.config, &self.platform, parts, &body) {
            return response;
        }
        let (index, raw_params) = match self.router.lookup(&parts.method, parts.uri.path()) {
            Lookup::Found { endpoint, params } => (endpoint, params),
            miss => {
                // gin tries its redirects before answering 405/404.
                if let Some(location) = self.redirect_to(parts) {
                    return render::redirect(&parts.method, &location, parts.uri.query());
                }
                let status = match miss {
                    Lookup::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
                    _ => StatusCode::NOT_FOUND,
                };
                return render::router_error(status, &self.config.router, &self.version);
            }
        };
        let (Some(endpoint), Some(proxy), Some(guards)) = (
            self.config.endpoints.get(index),
            self.endpoints.get(index),
            self.guards.get(index),
        ) else {
            return render::router_error(StatusCode::NOT_FOUND, &self.config.router, &self.version);
        };
        let mut state = RequestState::default();
        // Bot detector, JWT and rate limit wrap the endpoint handler (stack.rs has the order).
        if let ControlFlow::Break(response) = guards
            .check(parts, &mut state, &raw_params, context.peer)
            .await
        {
            return response;
        }
        let mut params = Vec::with_capacity(raw_params.len());
        let mut rest = None;
        for (name, raw) in raw_params {
            if name == crate::router::REST {
                match crate::url::rest_path(raw) {
                    Some(path) => rest = Some(path),
                    None => return render::encoded_params(),
                }
                continue;
            }
            match decode_param(raw) {
                Some(value) => params.push((name.to_owned(), value)),
                None => return render::encoded_params(),
            }
        }
        let mut request = proxy_request(endpoint, parts, &state, body, params, context);
        request.rest = rest;
        request.jwt = state.jwt;
        // The endpoint deadline is a step of the stack (`proxy::stack`), inside static data.
        let result = proxy.call(request).await;
        render::endpoint(
            endpoint,
            &self.config.router,
            &self.version,
            parts.headers.get(http::header::ACCEPT),
            result,
        )
    }
}

impl Gateway {
    /// gin's trailing-slash / fixed-path redirect target for an unmatched request.
    fn redirect_to(&self, parts: &Parts) -> Option<String> {
        let how = Redirects {
            trailing_slash: !self.config.router.disable_redirect_trailing_slash,
            fixed_path: !self.config.router.disable_redirect_fixed_path,
        };
        self.router.redirect(&parts.method, parts.uri.path(), how)
    }
}

/// The request the endpoint's proxies see: query and headers filtered by the endpoint's
/// `input_query_strings` / `input_headers`, plus KrakenD's forwarding headers.
fn proxy_request(
    endpoint: &Endpoint,
    parts: &Parts,
    state: &RequestState,
    body: Bytes,
    params: Vec<(String, String)>,
    context: RequestContext,
) -> ProxyRequest {
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(parse_query)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| endpoint.input_query_strings.allows(k))
        .collect();

    let mut headers = HeaderMap::new();
    let connection_named: Vec<String> = parts
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    for (name, value) in &parts.headers {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || connection_named.iter().any(|c| c == n) {
            continue;
        }
        // A guard's value (a propagated JWT claim) replaces whatever the client sent.
        if state.headers.iter().any(|(h, _)| h == name) {
            continue;
        }
        if endpoint.input_headers.allows(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    for (name, value) in &state.headers {
        if let Some(value) = value
            .as_ref()
            .filter(|_| endpoint.input_headers.allows(name))
        {
            headers.insert(name.clone(), value.clone());
        }
    }
    // The client's own X-Forwarded-For is not trusted: the peer address replaces it.
    headers.remove(&X_FORWARDED_FOR);
    if let Some(peer) = context.peer {
        if let Ok(v) = HeaderValue::from_str(&peer.to_string()) {
            headers.insert(X_FORWARDED_FOR, v);
        }
    }
    let host = parts.headers.get(HOST).cloned().or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    if let Some(host) = host {
        headers.insert(X_FORWARDED_HOST, host);
    }
    if headers.contains_key(UA) {
        headers.insert(X_FORWARDED_VIA, HeaderValue::from_static(crate::USER_AGENT));
    } else {
        headers.insert(UA, HeaderValue::from_static(crate::USER_AGENT));
    }
    ProxyRequest {
        method: parts.method.clone(),
        path: parts.uri.path().into(),
        params: params.into(),
        query: query.into(),
        headers,
        body,
        previous: Arc::new([]),
        rest: None,
        jwt: None,
        context,
    }
}

/// A gateway shared between concurrent requests.
pub type SharedGateway = Arc<Gateway>;
