//! What one request brings from its platform, handed to [`crate::Gateway::handle`] with the
//! request itself (lura's `context.Context`). Gateway-wide ports live in [`super::Platform`];
//! anything that exists only for the duration of one request lives here.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::{Defer, Live, StreamSlot};

/// The per-request platform handles: the client's address and where after-response work goes.
/// Built by the adapter for every request; the fields grow with the platforms' per-request
/// handles (bindings, environment), so it is built with the `with_*` methods.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct RequestContext {
    /// The peer address (`CF-Connecting-IP` on Workers, the request context on Lambda, the
    /// socket's peer natively).
    pub peer: Option<IpAddr>,
    /// Runs work after the response (shadow backends): `tokio::spawn` natively, this request's
    /// `ctx.wait_until` on Workers. `None` (Lambda: the sandbox freezes after the response):
    /// the work runs alongside the request, which then waits for it.
    pub defer: Option<Arc<dyn Defer>>,
    /// The client reached the platform over HTTPS, as only the adapter can tell: a TLS
    /// listener natively, the event's front end on Lambda (API Gateway and Function URLs are
    /// HTTPS-only; ALB says so in `X-Forwarded-Proto`), the request URL's scheme on Workers.
    /// `security/http`'s `ssl_redirect` and its HTTPS-only headers use it.
    pub https: bool,
    /// This request's trace and the backend calls that ended so far; set by the gateway.
    pub(crate) trace: Option<Arc<Live>>,
    /// Where a streamed answer's body goes; set only by [`crate::Gateway::handle_streaming`],
    /// so an adapter that cannot send a stream never gets one.
    pub(crate) stream: Option<StreamSlot>,
}

impl RequestContext {
    /// A context with nothing known about the client and no after-response facility.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same context with the client's address.
    pub fn with_peer(mut self, peer: Option<IpAddr>) -> Self {
        self.peer = peer;
        self
    }

    /// The same context, marked as reached over HTTPS (or not).
    pub fn with_https(mut self, https: bool) -> Self {
        self.https = https;
        self
    }

    /// The same context with after-response work handed to `defer`.
    pub fn with_defer(mut self, defer: Arc<dyn Defer>) -> Self {
        self.defer = Some(defer);
        self
    }
}

impl fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContext")
            .field("peer", &self.peer)
            .field("defer", &self.defer.is_some())
            .field("https", &self.https)
            .finish()
    }
}
