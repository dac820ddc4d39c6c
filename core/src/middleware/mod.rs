//! Request checkpoints that answer before (or instead of) the endpoint's proxy: CORS, security
//! headers, bot detector, router rate limit. Each one returns `ControlFlow::Break(response)` to
//! answer now or `ControlFlow::Continue(..)` to let the request go on; the order they run in is
//! written down in `proxy::stack` (`Engine::around`, `Guards::check`).

pub(crate) mod bot_detector;
pub(crate) mod client_ip;
pub(crate) mod cors;
pub(crate) mod ratelimit;
pub(crate) mod secure;

use bytes::Bytes;
use http::{Response, StatusCode};

/// An empty answer with only a status: what KrakenD's gin middlewares write when they abort
/// (no `Content-Type`, no `X-Krakend` headers).
pub(crate) fn empty(status: StatusCode) -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = status;
    r
}
