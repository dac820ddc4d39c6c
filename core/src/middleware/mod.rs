//! Request checkpoints that answer before (or instead of) the endpoint's proxy: CORS, security
//! headers, bot detector, router rate limit. Each one returns `ControlFlow::Break(response)` to
//! answer now or `ControlFlow::Continue(..)` to let the request go on; the order they run in is
//! written down in `proxy::stack` (`Engine::around`, `Guards::check`).

pub(crate) mod bot_detector;
pub(crate) mod client_ip;
pub(crate) mod cors;
pub(crate) mod ratelimit;
pub(crate) mod secure;
