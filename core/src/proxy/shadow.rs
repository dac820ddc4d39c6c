//! Shadow backends (`proxy.shadow: true` on a backend): each gets a copy of the request, its
//! answer is ignored and it never takes part in the merge. The copy runs through
//! the request's [`RequestContext::defer`](crate::platform::RequestContext) when the adapter offers it (work that outlives the
//! response: `tokio::spawn`, `ctx.wait_until`), otherwise alongside the real call, which then
//! waits for it (bounded by the shadow timeout).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join;

use super::{Proxy, ProxyError, ProxyRequest, ProxyResponse, SharedProxy};
use crate::platform::{BoxFuture, Platform};

struct Shadow {
    shadows: Vec<(SharedProxy, Duration)>,
    next: SharedProxy,
    platform: Platform,
}

/// Send copies of each request to `shadows` (each with its deadline) and answer with `next`.
pub(crate) fn layer(
    shadows: Vec<(SharedProxy, Duration)>,
    next: SharedProxy,
    platform: Platform,
) -> SharedProxy {
    if shadows.is_empty() {
        return next;
    }
    Arc::new(Shadow {
        shadows,
        next,
        platform,
    })
}

impl Shadow {
    /// The fire-and-forget part, owning everything it needs.
    fn copies(&self, request: &ProxyRequest) -> BoxFuture<'static, ()> {
        let calls: Vec<_> = self
            .shadows
            .iter()
            .map(|(proxy, timeout)| {
                let (proxy, timeout, request) = (proxy.clone(), *timeout, request.clone());
                let platform = self.platform.clone();
                async move {
                    let _ignored = platform.timeout(timeout, proxy.call(request)).await;
                }
            })
            .collect();
        Box::pin(async move {
            futures_util::future::join_all(calls).await;
        })
    }
}

impl Proxy for Shadow {
    fn call(&self, request: ProxyRequest) -> BoxFuture<'_, Result<ProxyResponse, ProxyError>> {
        let copies = self.copies(&request);
        match request.context.defer.clone() {
            Some(defer) => {
                defer.defer(copies);
                self.next.call(request)
            }
            None => Box::pin(async move { join(self.next.call(request), copies).await.0 }),
        }
    }
}
