//! The backend half of a WebSocket passthrough (`websocket` namespace): the HTTP/1.1 upgrade
//! request the platform sends to the endpoint's one backend. Its URL is built exactly as a
//! normal call's (`url_pattern`, host balancing, query and header filters: the same
//! [`HttpBackend`] code), then the handshake headers are added. Sending it and copying the
//! bytes is the platform's half (`manifold_native::websocket`, the Workers adapter).

use std::time::Duration;

use http::header::{ACCEPT_ENCODING, CONNECTION, CONTENT_LENGTH, UPGRADE, USER_AGENT};
use http::request::Parts;
use http::{HeaderValue, Method};

use super::backend::HttpBackend;
use super::{ProxyError, ProxyRequest};
use crate::config::extra::WebSocket;
use crate::config::{Backend, Endpoint, HeaderFilter};
use crate::platform::Platform;

/// What a platform needs to connect a client's WebSocket to its backend.
#[derive(Debug)]
pub struct Dial {
    /// The backend's upgrade request: `GET http(s)://host/path?query` with the forwarded
    /// headers, `Sec-WebSocket-*`, `Connection: Upgrade` and `Upgrade: websocket` (the
    /// platform sets `Host` from the URL).
    pub request: http::Request<()>,
    /// Close both sides when the backend sent nothing for this long (`websocket.timeout`).
    pub idle_timeout: Duration,
    /// The backend must have answered the handshake within the endpoint's `timeout`.
    pub handshake_timeout: Duration,
    /// The endpoint (`METHOD /path`), for logs.
    pub endpoint: String,
}

/// Builds the upgrade requests of one `websocket` endpoint.
pub(crate) struct Upgrader {
    backend: HttpBackend,
    options: std::sync::Arc<WebSocket>,
    endpoint: String,
    timeout: Duration,
}

impl Upgrader {
    /// The upgrader of a `websocket` endpoint whose one backend is `backend`.
    pub(crate) fn new(
        endpoint: &Endpoint,
        options: std::sync::Arc<WebSocket>,
        backend: &Backend,
        platform: &Platform,
    ) -> Self {
        // No body is ever read through it: the limit is for the type only.
        let backend = HttpBackend::new(backend.clone(), platform.clone(), 0);
        Self {
            backend,
            options,
            endpoint: endpoint.label.clone(),
            timeout: endpoint.timeout,
        }
    }

    /// The backend's upgrade request for the client request `client` (its head) after the
    /// endpoint's filters built `request`.
    pub(crate) fn dial(&self, client: &Parts, request: &ProxyRequest) -> Result<Dial, ProxyError> {
        let built = self.backend.build(request)?;
        let (mut parts, _) = built.into_parts();
        parts.method = Method::GET;
        let headers = &mut parts.headers;
        // The normal call asks for gzip on the client's behalf; a handshake has no body.
        if !client.headers.contains_key(ACCEPT_ENCODING) {
            headers.remove(ACCEPT_ENCODING);
        }
        headers.remove(CONTENT_LENGTH);
        if let Some(filter) = &self.options.input_headers {
            let from_client: Vec<_> = headers
                .keys()
                .filter(|name| client.headers.contains_key(*name) && **name != USER_AGENT)
                .filter(|name| !allows(filter, name))
                .cloned()
                .collect();
            for name in from_client {
                headers.remove(name);
            }
        }
        for (name, value) in &client.headers {
            if name.as_str().starts_with("sec-websocket-") {
                headers.append(name.clone(), value.clone());
            }
        }
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        Ok(Dial {
            request: http::Request::from_parts(parts, ()),
            idle_timeout: self.options.idle_timeout,
            handshake_timeout: self.timeout,
            endpoint: self.endpoint.clone(),
        })
    }
}

/// Whether `filter` lets `name` through (`websocket.input_headers`; an empty list lets none).
fn allows(filter: &HeaderFilter, name: &http::HeaderName) -> bool {
    match filter {
        HeaderFilter::All => true,
        HeaderFilter::Only(names) => names.contains(name),
    }
}

/// Whether a client request asks to become a WebSocket (RFC 6455 §4.1: an HTTP/1.1 `GET` with
/// `Connection: Upgrade` and `Upgrade: websocket`, tokens compared case-insensitively).
pub(crate) fn is_upgrade(parts: &Parts) -> bool {
    let has_token = |name: http::HeaderName, token: &str| {
        parts.headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    parts.method == Method::GET
        && parts.version == http::Version::HTTP_11
        && has_token(CONNECTION, "upgrade")
        && has_token(UPGRADE, "websocket")
}
