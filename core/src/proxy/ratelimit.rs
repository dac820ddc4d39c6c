//! `qos/ratelimit/proxy`: a token bucket in front of one backend. Over the rate, the call fails
//! at once without reaching the backend (krakend-ratelimit's proxy limiter). In memory, per
//! process / per isolate.

use std::sync::{Arc, Mutex, PoisonError};

use super::{ErrorSource, Proxy, ProxyError, ProxyRequest, ProxyResponse, SharedProxy};
use crate::bucket::{Bucket, Rate};
use crate::config::extra::ProxyRateLimit;
use crate::platform::{BoxFuture, Clock};

/// Error text of a call refused by the backend rate limit (KrakenD's).
pub(crate) const RATE_LIMITED: &str = "ERROR: rate limit exceeded";

struct Limited {
    rate: Rate,
    bucket: Mutex<Bucket>,
    clock: Arc<dyn Clock>,
    next: SharedProxy,
}

/// Limit the calls to `next`.
pub(crate) fn layer(cfg: &ProxyRateLimit, next: SharedProxy, clock: Arc<dyn Clock>) -> SharedProxy {
    let Some(rate) = Rate::new(cfg.max_rate, cfg.capacity, cfg.every) else {
        return next;
    };
    let bucket = Mutex::new(Bucket::full(rate, clock.now_millis()));
    Arc::new(Limited {
        rate,
        bucket,
        clock,
        next,
    })
}

impl Proxy for Limited {
    fn call(&self, request: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>> {
        let allowed = {
            let mut b = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
            b.take(self.rate, self.clock.now_millis())
        };
        if !allowed {
            return Box::pin(async { Err(ProxyError::new(ErrorSource::Backend, RATE_LIMITED)) });
        }
        self.next.call(request)
    }
}
