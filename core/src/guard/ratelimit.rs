//! `qos/ratelimit/router`: token buckets for all clients of an endpoint (excess: 503) and for
//! each client (excess: 429). The buckets live in this process's memory (per process natively,
//! per isolate on Workers, per sandbox on Lambda), as KrakenD CE keeps them per instance; the
//! per-client key space is a bounded LRU. Time comes from the `Clock` port only.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::{HeaderName, Response, StatusCode};

use super::client_ip::ClientIp;
use super::Inbound;
use crate::bucket::{Bucket, Rate};
use crate::config::extra::{RouterRateLimit, Strategy};
use crate::lru::Lru;
use crate::platform::Clock;

/// Client buckets kept per endpoint; the least recently seen client is forgotten beyond this
/// (it then starts again with a full bucket).
pub(crate) const MAX_CLIENT_KEYS: usize = 10_000;

/// The router rate limit of one endpoint.
pub(crate) struct Limiter {
    global: Option<(Rate, Mutex<Bucket>)>,
    client: Option<(Rate, Mutex<Lru<Bucket>>)>,
    strategy: Strategy,
    key: Option<HeaderName>,
    param: String,
    client_ip: ClientIp,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").finish_non_exhaustive()
    }
}

// === impl Limiter ===

impl Limiter {
    pub(crate) fn new(cfg: &RouterRateLimit, client_ip: ClientIp, clock: Arc<dyn Clock>) -> Self {
        let now = clock.now_millis();
        let global = Rate::new(cfg.max_rate, cfg.capacity, cfg.every)
            .map(|r| (r, Mutex::new(Bucket::full(r, now))));
        let client = Rate::new(cfg.client_max_rate, cfg.client_capacity, cfg.every)
            .map(|r| (r, Mutex::new(Lru::new(MAX_CLIENT_KEYS))));
        Self {
            global,
            client,
            strategy: cfg.strategy,
            key: HeaderName::from_bytes(cfg.key.as_bytes()).ok(),
            param: cfg.key.clone(),
            client_ip,
            clock,
        }
    }

    /// Which client this request belongs to, from the checked parameter values and the
    /// header as received. A missing header or parameter is a key of its own (one shared
    /// bucket), never a way around the limit.
    fn client_key(&self, req: &Inbound<'_>) -> String {
        match self.strategy {
            Strategy::Ip => self
                .client_ip
                .resolve(req.context.peer, &req.parts.headers)
                .map(|ip| ip.to_string())
                .unwrap_or_default(),
            Strategy::Header => self
                .key
                .as_ref()
                .and_then(|k| req.parts.headers.get(k))
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default(),
            Strategy::Param => req.params.get(&self.param).unwrap_or_default().to_owned(),
        }
    }

    /// Checkpoint: 429 when this client is over its rate, 503 when the endpoint is.
    pub(crate) fn check(&self, req: &Inbound<'_>) -> ControlFlow<Response<Bytes>> {
        let now = self.clock.now_millis();
        // The client bucket first, so one client's rejected excess does not drain the shared
        // bucket for everybody else.
        if let Some((rate, buckets)) = &self.client {
            let key = self.client_key(req);
            let mut buckets = buckets.lock().unwrap_or_else(PoisonError::into_inner);
            let bucket = buckets.get_or_insert_with(&key, || Bucket::full(*rate, now));
            if !bucket.take(*rate, now) {
                return ControlFlow::Break(crate::http_util::empty(StatusCode::TOO_MANY_REQUESTS));
            }
        }
        if let Some((rate, bucket)) = &self.global {
            let mut bucket = bucket.lock().unwrap_or_else(PoisonError::into_inner);
            if !bucket.take(*rate, now) {
                return ControlFlow::Break(crate::http_util::empty(
                    StatusCode::SERVICE_UNAVAILABLE,
                ));
            }
        }
        ControlFlow::Continue(())
    }
}
