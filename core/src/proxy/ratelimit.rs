//! `qos/ratelimit/proxy`: a token bucket in front of one backend. Over the rate, the call fails
//! at once without reaching the backend (krakend-ratelimit's proxy limiter). The bucket is
//! taken through the state port, in a `MemoryStore` of its own: per process / per isolate, as
//! KrakenD keeps it (KrakenD has no shared form of this limit).

use std::sync::Arc;

use super::{ErrorSource, Proxy, ProxyError, ProxyRequest, ProxyResponse, SharedProxy};
use crate::config::extra::ProxyRateLimit;
use crate::platform::{BoxFuture, Clock, MemoryStore, Rate, Store};

/// Error text of a call refused by the backend rate limit (KrakenD's).
pub(crate) const RATE_LIMITED: &str = "ERROR: rate limit exceeded";

/// The one key of the backend's bucket in its store.
const KEY: &str = "backend";

struct Limited {
    rate: Rate,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    next: SharedProxy,
}

/// Limit the calls to `next`.
pub(crate) fn layer(cfg: &ProxyRateLimit, next: SharedProxy, clock: Arc<dyn Clock>) -> SharedProxy {
    let Some(rate) = Rate::new(cfg.max_rate, cfg.capacity, cfg.every) else {
        return next;
    };
    Arc::new(Limited {
        rate,
        store: Arc::new(MemoryStore::buckets(1, clock.clone())),
        clock,
        next,
    })
}

impl Proxy for Limited {
    fn call(&self, request: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>> {
        Box::pin(async move {
            let now = self.clock.now_millis();
            // A store that cannot answer refuses like an empty bucket: the memory one never
            // fails, and a shared one must not turn an outage into unlimited backend calls.
            let allowed = self
                .store
                .take(KEY, self.rate, now)
                .await
                .is_ok_and(|t| t.allowed);
            if !allowed {
                return Err(ProxyError::new(ErrorSource::Backend, RATE_LIMITED));
            }
            self.next.call(request).await
        })
    }
}
