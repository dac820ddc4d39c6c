//! WebSocket passthrough, the core's half: whether a request is an upgrade on a `websocket`
//! endpoint, the endpoint's guards on it (exactly those of a normal request: bot detector,
//! JWT, API key, rate limits), and the backend handshake to dial. The adapters call
//! [`crate::Gateway::upgrade`] before the buffered path and, for [`Upgrade::Dial`], connect
//! the sockets themselves; a refused upgrade is an ordinary answer, never a socket.

use std::ops::ControlFlow;

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};

use super::{request, CompiledEndpoint};
use crate::guard::{GuardState, Inbound};
use crate::http_util::plain;
use crate::platform::RequestContext;
use crate::proxy::websocket::Dial;
use crate::render;
use crate::url::Params;

/// What the gateway decided about a request that may be a WebSocket upgrade.
#[derive(Debug)]
pub enum Upgrade {
    /// Not an upgrade on a `websocket` endpoint: answer it as any other request
    /// ([`crate::Gateway::handle`]).
    Pass,
    /// Refused (a guard's 401/403/429, a bad parameter): send this answer and no socket.
    Refused(Response<Bytes>),
    /// Allowed: send this handshake to the backend and, when it answers `101`, connect the
    /// client's socket to the backend's.
    Dial(Dial),
}

impl CompiledEndpoint {
    /// Whether this endpoint passes WebSocket upgrades through.
    pub(crate) fn websocket(&self) -> bool {
        self.websocket.is_some()
    }

    /// Steps 3–6 of the request path for an upgrade: the params, the endpoint's guards, the
    /// param check and the request building; then the backend's handshake instead of the proxy
    /// stack.
    pub(crate) async fn upgrade(
        &self,
        parts: &Parts,
        raw_params: &[(&str, &str)],
        context: &RequestContext,
    ) -> Upgrade {
        let Some(upgrader) = &self.websocket else {
            return Upgrade::Pass;
        };
        crate::telemetry::routed(context, &self.route, self.telemetry.as_ref());
        let params = Params::decode(raw_params);
        let inbound = Inbound {
            parts,
            params: &params,
            context,
        };
        let mut state = GuardState::default();
        if let ControlFlow::Break(response) = self.guards.check(&inbound, &mut state).await {
            return Upgrade::Refused(response);
        }
        if params.invalid {
            return Upgrade::Refused(render::encoded_params());
        }
        let request = request::build(
            &self.plan,
            parts,
            &state,
            Bytes::new(),
            &params,
            context.clone(),
        );
        match upgrader.dial(parts, &request) {
            Ok(dial) => Upgrade::Dial(dial),
            // As for a normal call whose URL cannot be built: a 500 that does not say why.
            Err(_) => Upgrade::Refused(plain(StatusCode::INTERNAL_SERVER_ERROR, "")),
        }
    }
}
