//! `qos/ratelimit/router`: token buckets for all clients of an endpoint (excess: 503) and for
//! each client (excess: 429). The buckets live in this process's memory (per process natively,
//! per isolate on Workers, per sandbox on Lambda), as KrakenD CE keeps them per instance; the
//! per-client key space is a bounded LRU. Time comes from the `Clock` port only.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderName, Response, StatusCode};

use super::client_ip::ClientIp;
use crate::config::extra::{RouterRateLimit, Strategy};
use crate::lru::Lru;
use crate::platform::Clock;

/// Client buckets kept per endpoint; the least recently seen client is forgotten beyond this
/// (it then starts again with a full bucket).
pub(crate) const MAX_CLIENT_KEYS: usize = 10_000;

/// A rate: tokens per millisecond and the bucket size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rate {
    per_ms: f64,
    capacity: f64,
}

/// A token bucket, refilled lazily from the clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    tokens: f64,
    at_ms: u64,
}

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

// === impl Rate ===

impl Rate {
    /// `max_rate` per `every`, burst `capacity` (0: `max_rate`, at least 1).
    pub(crate) fn new(max_rate: f64, capacity: u64, every: Option<Duration>) -> Option<Self> {
        if max_rate <= 0.0 {
            return None;
        }
        let every_ms = every.map_or(1000.0, |e| e.as_secs_f64() * 1000.0).max(1.0);
        #[allow(clippy::cast_precision_loss)]
        let capacity = if capacity == 0 {
            max_rate.floor().max(1.0)
        } else {
            capacity as f64
        };
        Some(Self {
            per_ms: max_rate / every_ms,
            capacity,
        })
    }
}

// === impl Bucket ===

impl Bucket {
    /// A full bucket.
    pub(crate) fn full(rate: Rate, now_ms: u64) -> Self {
        Self {
            tokens: rate.capacity,
            at_ms: now_ms,
        }
    }

    /// Take one token if there is one.
    pub(crate) fn take(&mut self, rate: Rate, now_ms: u64) -> bool {
        #[allow(clippy::cast_precision_loss)]
        let elapsed = now_ms.saturating_sub(self.at_ms) as f64;
        self.tokens = (self.tokens + elapsed * rate.per_ms).min(rate.capacity);
        self.at_ms = self.at_ms.max(now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
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

    /// Which client this request belongs to. A missing header or parameter is a key of its
    /// own (one shared bucket), never a way around the limit.
    fn client_key(
        &self,
        parts: &Parts,
        params: &[(&str, &str)],
        peer: Option<std::net::IpAddr>,
    ) -> String {
        match self.strategy {
            Strategy::Ip => self
                .client_ip
                .resolve(peer, &parts.headers)
                .map(|ip| ip.to_string())
                .unwrap_or_default(),
            Strategy::Header => self
                .key
                .as_ref()
                .and_then(|k| parts.headers.get(k))
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default(),
            Strategy::Param => params
                .iter()
                .find(|(k, _)| crate::url::param_eq(k, &self.param))
                .map(|(_, v)| (*v).to_owned())
                .unwrap_or_default(),
        }
    }

    /// Checkpoint: 429 when this client is over its rate, 503 when the endpoint is.
    pub(crate) fn check(
        &self,
        parts: &Parts,
        params: &[(&str, &str)],
        peer: Option<std::net::IpAddr>,
    ) -> ControlFlow<Response<Bytes>> {
        let now = self.clock.now_millis();
        // The client bucket first, so one client's rejected excess does not drain the shared
        // bucket for everybody else.
        if let Some((rate, buckets)) = &self.client {
            let key = self.client_key(parts, params, peer);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_with_time() {
        let rate = Rate::new(2.0, 0, Some(Duration::from_secs(1))).unwrap();
        let mut b = Bucket::full(rate, 0);
        assert!(b.take(rate, 0));
        assert!(b.take(rate, 0));
        assert!(!b.take(rate, 0));
        assert!(!b.take(rate, 499));
        assert!(b.take(rate, 500));
        assert!(b.take(rate, 10_000));
        assert!(b.take(rate, 10_000));
        assert!(!b.take(rate, 10_000));
    }
}
