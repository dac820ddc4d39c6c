//! `qos/ratelimit/router` and its Redis-backed forms (`qos/ratelimit/router/redis` on an
//! endpoint, `qos/ratelimit/service/redis` for every request): token buckets for all clients
//! together (excess: 503) and for each client (excess: 429), taken through the state port.
//!
//! Without a pool the buckets live in this process's memory (per process natively, per isolate
//! on Workers, per sandbox on Lambda), as KrakenD CE keeps them per instance: a store of its
//! own for the endpoint-wide bucket and one for the clients, a bounded LRU so the key space a
//! client controls cannot grow memory. With a pool, every instance takes from the same
//! buckets, keyed `manifold:rl:<scope>:g` and `manifold:rl:<scope>:c:<client>`, and while the
//! store is unreachable `on_failure_allow` decides: refuse with 503 (the default, KrakenD's)
//! or serve unlimited. Time comes from the `Clock` port only.
//!
//! With `headers` on (a Manifold extension), answers carry the IETF httpapi draft's
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` for the bucket closest to
//! empty, and a refusal carries `Retry-After`.

use std::ops::ControlFlow;
use std::sync::Arc;

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::{HeaderName, HeaderValue, Response, StatusCode};

use super::client_ip::ClientIp;
use super::{GuardState, Inbound};
use crate::config::extra::{RouterRateLimit, Strategy};
use crate::platform::{Clock, MemoryStore, Rate, Store, Taken};

/// Client buckets kept per endpoint in memory; the least recently seen client is forgotten
/// beyond this (it then starts again with a full bucket).
pub(crate) const MAX_CLIENT_KEYS: usize = 10_000;

/// `RateLimit-Limit`: the bucket size.
const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`: whole tokens left.
const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`: seconds until the bucket is full again.
const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// The router rate limit of one endpoint (or of the whole service).
pub(crate) struct Limiter {
    global: Option<Rate>,
    client: Option<Rate>,
    global_store: Arc<dyn Store>,
    client_store: Arc<dyn Store>,
    /// Key prefix: empty in the endpoint's own memory, the scope in a shared store.
    prefix: String,
    /// What a store failure means: `true` lets the request through.
    on_failure_allow: bool,
    headers: bool,
    strategy: Strategy,
    key: Option<HeaderName>,
    param: String,
    client_ip: ClientIp,
    clock: Arc<dyn Clock>,
}

/// What one limiter found, for the `RateLimit-*` headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quota {
    limit: u64,
    taken: Taken,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

// === impl Limiter ===

impl Limiter {
    /// The limit with its buckets in this instance's memory.
    pub(crate) fn new(cfg: &RouterRateLimit, client_ip: ClientIp, clock: Arc<dyn Clock>) -> Self {
        let global = Arc::new(MemoryStore::buckets(1, clock.clone()));
        let clients = Arc::new(MemoryStore::buckets(MAX_CLIENT_KEYS, clock.clone()));
        Self::build(cfg, global, clients, String::new(), client_ip, clock)
    }

    /// The limit with its buckets in a shared `store`, under `scope` (the endpoint, or the
    /// service).
    pub(crate) fn shared(
        cfg: &RouterRateLimit,
        store: Arc<dyn Store>,
        scope: &str,
        on_failure_allow: bool,
        client_ip: ClientIp,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let prefix = format!("manifold:rl:{scope}:");
        let mut limiter = Self::build(cfg, store.clone(), store, prefix, client_ip, clock);
        limiter.on_failure_allow = on_failure_allow;
        limiter
    }

    fn build(
        cfg: &RouterRateLimit,
        global_store: Arc<dyn Store>,
        client_store: Arc<dyn Store>,
        prefix: String,
        client_ip: ClientIp,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            global: Rate::new(cfg.max_rate, cfg.capacity, cfg.every),
            client: Rate::new(cfg.client_max_rate, cfg.client_capacity, cfg.every),
            global_store,
            client_store,
            prefix,
            on_failure_allow: false,
            headers: cfg.headers,
            strategy: cfg.strategy,
            key: HeaderName::from_bytes(cfg.key.as_bytes()).ok(),
            param: cfg.key.clone(),
            client_ip,
            clock,
        }
    }

    /// Which client this request belongs to, from the checked parameter values and the
    /// header as received, or the API key's identity. A missing header or parameter is a key of its own (one shared
    /// bucket), never a way around the limit.
    fn client_key(&self, req: &Inbound<'_>, state: &GuardState) -> String {
        let mut key = String::with_capacity(self.prefix.len() + 42);
        key.push_str(&self.prefix);
        key.push_str("c:");
        match self.strategy {
            Strategy::Ip => {
                if let Some(ip) = self.client_ip.resolve(req.context.peer, &req.parts.headers) {
                    key.push_str(&ip.to_string());
                }
            }
            Strategy::Header => {
                if let Some(v) = self.key.as_ref().and_then(|k| req.parts.headers.get(k)) {
                    key.push_str(&String::from_utf8_lossy(v.as_bytes()));
                }
            }
            Strategy::Param => key.push_str(req.params.get(&self.param).unwrap_or_default()),
            Strategy::ApiKey => key.push_str(state.api_key.as_deref().unwrap_or_default()),
        }
        key
    }

    /// Checkpoint: 429 when this client is over its rate, 503 when the endpoint is (or when
    /// the shared store is unreachable and failures are not allowed).
    pub(crate) async fn check(
        &self,
        req: &Inbound<'_>,
        state: &mut GuardState,
    ) -> ControlFlow<Response<Bytes>> {
        let now = self.clock.now_millis();
        // The client bucket first, so one client's rejected excess does not drain the shared
        // bucket for everybody else.
        if let Some(rate) = self.client {
            let key = self.client_key(req, state);
            let taken = self.client_store.take(&key, rate, now).await.ok();
            self.admit(taken, rate, StatusCode::TOO_MANY_REQUESTS, state)?;
        }
        if let Some(rate) = self.global {
            let key = format!("{}g", self.prefix);
            let taken = self.global_store.take(&key, rate, now).await.ok();
            self.admit(taken, rate, StatusCode::SERVICE_UNAVAILABLE, state)?;
        }
        ControlFlow::Continue(())
    }

    /// One bucket's verdict: on, off with `status`, or (`None`: the store did not answer)
    /// the failure policy.
    fn admit(
        &self,
        taken: Option<Taken>,
        rate: Rate,
        status: StatusCode,
        state: &mut GuardState,
    ) -> ControlFlow<Response<Bytes>> {
        let Some(taken) = taken else {
            // The store logs the outage (once); here only the policy applies.
            if self.on_failure_allow {
                return ControlFlow::Continue(());
            }
            return ControlFlow::Break(crate::http_util::empty(StatusCode::SERVICE_UNAVAILABLE));
        };
        let quota = Quota::new(rate, taken);
        if !taken.allowed {
            let mut response = crate::http_util::empty(status);
            if self.headers {
                quota.apply(&mut response);
                let retry = taken.retry_ms.div_ceil(1000).max(1);
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(retry));
            }
            return ControlFlow::Break(response);
        }
        if self.headers && state.ratelimit.is_none_or(|q| quota.tighter_than(&q)) {
            state.ratelimit = Some(quota);
        }
        ControlFlow::Continue(())
    }

    /// On the way out: the `RateLimit-*` headers, when asked for.
    pub(crate) fn finish(&self, state: &GuardState, response: &mut Response<Bytes>) {
        if !self.headers {
            return;
        }
        if let Some(quota) = state.ratelimit {
            // An inner limit (the endpoint's) may already have answered with a tighter one.
            let shown = response
                .headers()
                .get(&REMAINING)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if shown.is_none_or(|r| quota.taken.remaining < r) {
                quota.apply(response);
            }
        }
    }
}

// === impl Quota ===

impl Quota {
    fn new(rate: Rate, taken: Taken) -> Self {
        // The capacity is a whole number of tokens (`Rate::new`); the cast saturates.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let limit = rate.capacity() as u64;
        Self { limit, taken }
    }

    /// Closer to refusing than `other`.
    fn tighter_than(&self, other: &Quota) -> bool {
        self.taken.remaining < other.taken.remaining
    }

    fn apply(&self, response: &mut Response<Bytes>) {
        let h = response.headers_mut();
        h.insert(LIMIT, HeaderValue::from(self.limit));
        h.insert(REMAINING, HeaderValue::from(self.taken.remaining));
        h.insert(RESET, HeaderValue::from(self.taken.reset_ms.div_ceil(1000)));
    }
}
