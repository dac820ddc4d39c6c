//! The endpoint deadline as a proxy step, so the steps outside it (static data) still run
//! when the backends ran out of time, as in lura where the cancelled context only stops the
//! backend calls.

use std::sync::Arc;
use std::time::Duration;

use super::{Proxy, ProxyError, ProxyRequest, ProxyResponse, SharedProxy};
use crate::platform::{BoxFuture, Platform};

struct Deadline {
    timeout: Duration,
    next: SharedProxy,
    platform: Platform,
}

/// Fail `next` with `context deadline exceeded` once `timeout` has passed.
pub(crate) fn layer(timeout: Duration, next: SharedProxy, platform: Platform) -> SharedProxy {
    Arc::new(Deadline {
        timeout,
        next,
        platform,
    })
}

impl Proxy for Deadline {
    fn call(&self, request: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>> {
        Box::pin(async move {
            self.platform
                .timeout(self.timeout, self.next.call(request))
                .await
                .unwrap_or_else(|| Err(ProxyError::timeout()))
        })
    }
}
